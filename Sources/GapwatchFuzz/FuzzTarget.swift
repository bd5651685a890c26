// Full Foundation (not just Essentials): the replay tool reads folders, and the reference decoder
// is the same JSONDecoder the Codable tests use.
import CFuzzerDriver
import Foundation
import GapwatchProtocol

/// The fuzz oracle for the report decode path, exactly as `POST /v1/reports` runs it:
/// `ReportCodec.decodeReport` (gunzip under the inflate limit, `ReportParser`, version check,
/// validation), once as `Content-Encoding: gzip` and once as identity, since ingest takes both.
///
/// A finding is a crash: an accepted report that breaks a rule, a refusal without a clear message,
/// a disagreement with the Codable reference, or a gzip limit that lies. Built two ways:
/// - with `-sanitize=fuzzer -DGAPWATCH_FUZZ`: `main` runs libFuzzer's driver with the oracle as its
///   callback (faults/suite-fuzz.sh);
/// - in the normal build: a replay tool, `gapwatch-fuzz FILE|DIR...`, that runs the same oracle on
///   corpus files, so the package builds without the sanitizer and a corpus can be checked anywhere.
enum FuzzOracle {
    static let limits = ReportLimits.default
    /// A second, small inflate limit: above one 64 KiB inflate chunk, so inputs of a few KB reach
    /// the limit logic at a chunk boundary as well as inside the first chunk.
    static let smallInflateLimit = 70_000
    /// Longest refusal message: the sender reads it, the collector logs it, and it must not echo an
    /// 8 MB field back.
    static let maxMessageBytes = 1024

    static func check(_ input: [UInt8]) {
        decode(input, gzip: false)
        decode(input, gzip: true)
        inflateLimitIsExact(input)
    }

    static func decode(_ body: [UInt8], gzip: Bool) {
        let report: Report
        do {
            report = try ReportCodec.decodeReport(body: body, gzip: gzip, limits: limits)
        } catch {
            refusalIsClear(error, body: body, gzip: gzip)
            return
        }
        // Accepted: it must satisfy every rule, and the Codable reference must read the same report.
        do {
            try report.validate(limits: limits)
        } catch {
            fail("accepted a report that fails validation: \(error)", body)
        }
        if !ProtocolVersion.supported.contains(report.protocolVersion) {
            fail("accepted protocol version \(report.protocolVersion)", body)
        }
        let json: [UInt8]
        if gzip {
            guard let inflated = try? Gzip.decompress(body, limit: limits.maxInflatedBytes) else {
                fail("decodeReport inflated a body that Gzip.decompress refuses", body)
            }
            json = inflated
        } else {
            json = body
        }
        let reference: Report
        do {
            reference = try JSONDecoder().decode(Report.self, from: Data(json))
        } catch {
            fail("ReportParser accepted a body that JSONDecoder refuses: \(error)", body)
        }
        if reference != report {
            fail("ReportParser and JSONDecoder read different reports:\n  parser:  \(report)\n  decoder: \(reference)", body)
        }
        // The collector stores what it decoded; re-encoding and decoding it must be lossless.
        let again = try? ReportCodec.decodeReport(body: ReportCodec.encode(report), gzip: false, limits: limits)
        if again != report { fail("re-encoding the accepted report does not decode to the same report", body) }
    }

    static func refusalIsClear(_ error: ReportDecodeError, body: [UInt8], gzip: Bool) {
        let answer = error.body
        if answer.message.isEmpty { fail("refused with an empty message: \(error)", body) }
        if answer.message.utf8.count > maxMessageBytes {
            fail("refusal message is \(answer.message.utf8.count) bytes: \(answer.message.prefix(200))…", body)
        }
        // The error body goes on the wire as JSON; it must encode.
        _ = ReportCodec.encode(answer)
        switch error {
        case .invalid(let v):
            if v.field.isEmpty { fail("invalid_report without a field: \(v)", body) }
        case .tooLarge:
            // Identity bodies are only too large when they are; gzip ones are checked below.
            if !gzip && body.count <= limits.maxInflatedBytes { fail("identity body of \(body.count) bytes called too large", body) }
        case .badGzip:
            if !gzip { fail("bad_gzip for an identity body", body) }
        case .badJSON, .unsupportedVersion:
            break
        }
    }

    /// Inflating under a limit gives the unlimited result, or `tooLarge` exactly when that result
    /// (or the output before the stream's corruption) is longer than the limit.
    static func inflateLimitIsExact(_ body: [UInt8]) {
        let unlimited = Result { () throws(GzipError) in try Gzip.decompress(body, limit: limits.maxInflatedBytes) }
        let limited = Result { () throws(GzipError) in try Gzip.decompress(body, limit: smallInflateLimit) }
        switch (limited, unlimited) {
        case (.success(let a), .success(let b)):
            if a != b { fail("the inflate limit changed the output", body) }
            if a.count > smallInflateLimit { fail("inflated \(a.count) bytes past a limit of \(smallInflateLimit)", body) }
            // What inflates must be what deflate round-trips.
            if (try? Gzip.decompress(Gzip.compress(a), limit: a.count)) != a { fail("gzip round trip changed the data", body) }
        case (.failure(.tooLarge), .success(let b)):
            if b.count <= smallInflateLimit { fail("called \(b.count) bytes too large for a limit of \(smallInflateLimit)", body) }
        case (.failure(.tooLarge), .failure):
            break  // corrupt after the limit, or larger than both limits
        case (.failure(let a), .failure(let b)):
            if a != b { fail("the inflate limit changed the error: \(a) vs \(b)", body) }
        case (.success, .failure(let b)):
            fail("inflates under the small limit, refused under the large one: \(b)", body)
        case (.failure(let a), .success):
            fail("refused under the small limit (\(a)) but inflates under the large one", body)
        }
    }

    static func fail(_ what: String, _ body: [UInt8]) -> Never {
        let preview = String(decoding: body.prefix(300), as: UTF8.self)
        fatalError("fuzz oracle: \(what)\n  input (\(body.count) bytes): \(preview.debugDescription)")
    }
}

#if GAPWATCH_FUZZ
    /// The libFuzzer callback, by the name libFuzzer's own main (linked by -sanitize=fuzzer) refers to.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        FuzzOracle.check(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }

    /// SwiftPM points an executable's `main` at `GapwatchFuzz_main`, so that must exist too: it runs
    /// libFuzzer's driver with the same callback, so either entry point fuzzes the same way.
    @main
    enum Fuzz {
        static func main() {
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTestOneInput(data, size) })
        }
    }
#else
    /// Replay: runs the oracle on every file named, or in each folder named; a finding crashes as it
    /// does under libFuzzer, so a non-zero exit means a corpus or crash input still fails.
    @main
    enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            if arguments.isEmpty {
                FileHandle.standardError.write(Data("usage: gapwatch-fuzz FILE|DIR... (replays inputs through the decoder oracle)\n".utf8))
                exit(2)
            }
            var count = 0
            for argument in arguments {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                    FileHandle.standardError.write(Data("gapwatch-fuzz: no such file: \(argument)\n".utf8))
                    exit(2)
                }
                let files =
                    isDirectory.boolValue
                    ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 }
                    : [argument]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    FuzzOracle.check(Array(data))
                    count += 1
                }
            }
            print("\(count) inputs replayed, no finding")
        }
    }
#endif
