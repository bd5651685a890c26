import Foundation
import GapwatchProtocol
import XCTest

/// Inputs the libFuzzer run (faults/suite-fuzz.sh, oracle in Sources/GapwatchFuzz) found, kept as
/// tests, and the committed fuzz corpus replayed under the same rules in the normal test run.
final class FuzzRegressionTests: XCTestCase {
    private let minimalJSON: [UInt8] = ReportCodec.encode(report([heartbeat(seq: 1)]))

    /// Found by the fuzzer: `"seq":01` was read as 1, though RFC 8259 (and JSONDecoder) refuse
    /// leading zeros; the same loose grammar let malformed numbers through in unknown fields.
    func testMalformedNumbersAreBadJSON() {
        for bad in ["01", "-01", "00", "1.", "1.e5", "1e", "1e+", "-", "-a", "1-2", "1+2", "1.5.5", "1ee2", ".5", "+1"] {
            let inKnownField = edited(minimalJSON, replacing: #""seq":1"#, with: #""seq":\#(bad)"#)
            let inUnknownField = edited(minimalJSON, replacing: #""protocol":1"#, with: #""protocol":1,"future":\#(bad)"#)
            for body in [inKnownField, inUnknownField] {
                guard case .badJSON? = decodeError(body) else {
                    return XCTFail("accepted \(bad): \(String(describing: decodeError(body)))")
                }
            }
            // The reference refuses them where it reads them (it does not look inside unknown fields).
            XCTAssertThrowsError(try JSONDecoder().decode(Report.self, from: Data(inKnownField)), "the reference decoder accepts \(bad)")
        }
        // Well-formed numbers in unknown fields are still skipped.
        for good in ["0", "-0", "10", "1.5", "-1.5e-3", "2E+10", "0.0", "1e400"] {
            let body = edited(minimalJSON, replacing: #""protocol":1"#, with: #""protocol":1,"future":\#(good)"#)
            XCTAssertNil(decodeError(body), "refused the well-formed number \(good)")
        }
    }

    /// Found by the fuzzer: with a key twice, ReportParser kept the last value and JSONDecoder the
    /// first, so ingest stored seq 2 where the reference reads seq 1. An ambiguous body is refused.
    func testADuplicateKnownKeyIsBadJSONAndNamesTheField() {
        let cases: [(String, String, String)] = [
            (#""seq":1"#, #""seq":1,"seq":2"#, "observations[0].seq: a key appears twice in one object"),
            (#""kind":"heartbeat""#, #""kind":"heartbeat","kind":"count""#, "observations[0].kind: a key appears twice"),
            (#""sent_at":1769140860000"#, #""sent_at":1769140860000,"sent_at":1769140860000"#, "sent_at: a key appears twice"),
            (#""agent":{"#, #""agent":{"id":"other","#, "agent.id: a key appears twice"),
            (#""labels":{"env":"prod"}"#, #""labels":{"env":"prod","env":"dev"}"#, "agent.labels: a key appears twice"),
            (#""protocol":1"#, #""protocol":1,"protocol":1"#, "protocol: a key appears twice"),
        ]
        for (needle, replacement, message) in cases {
            assertBadJSON(edited(minimalJSON, replacing: needle, with: replacement), messagePrefix: message)
        }
        // Unknown fields are ignored, so repeating one changes nothing.
        let body = edited(minimalJSON, replacing: #""protocol":1"#, with: #""protocol":1,"x":1,"x":2"#)
        XCTAssertNil(decodeError(body))
    }

    /// Found by the fuzzer: an unknown kind or enum value was quoted whole in the error, so an 8 MB
    /// `kind` came back as an 8 MB message (and log line). Quotes are cut to 64 bytes.
    func testRefusalsQuoteAtMostAnExcerptOfTheInput() {
        let long = String(repeating: "k", count: 100_000)
        let cases: [(String, String, String)] = [
            (#""kind":"heartbeat""#, #""kind":"\#(long)""#, "observations[0].kind: '"),
            (#""status":"ok""#, #""status":"\#(long)""#, "observations[0].status: '"),
            (#""labels":{"env":"prod"}"#, #""labels":{"\#(long)":7}"#, "agent.labels.kkk"),
        ]
        for (needle, replacement, prefix) in cases {
            let body = edited(minimalJSON, replacing: needle, with: replacement)
            guard case .badJSON(let message)? = decodeError(body) else { return XCTFail("accepted \(prefix)") }
            XCTAssertTrue(message.hasPrefix(prefix), message)
            XCTAssertLessThan(message.utf8.count, 300, message)
            XCTAssertTrue(message.contains(String(repeating: "k", count: 64) + "…"), message)
        }
        XCTAssertEqual(excerpt("short"), "short")
        XCTAssertEqual(excerpt(String(repeating: "é", count: 40), max: 5), "éé…")  // cut on a character, not inside one
    }

    /// Found by the fuzzer: a body that starts with a number, `true` or `null` before the object
    /// ("900{...}") was accepted: the scalar was skipped as if it were whitespace.
    func testAScalarBeforeTheReportIsBadJSON() {
        for prefix in ["900", "-1", "true", "null", "1.5e3"] {
            assertBadJSON(Array(prefix.utf8) + minimalJSON, messagePrefix: "body")
            assertBadJSON(Array(prefix.utf8), messagePrefix: "body: expected an object")
        }
        assertBadJSON(Array("tru".utf8), messagePrefix: "body is not valid JSON")
    }

    /// Every input of fuzz/corpus/ (seeds and what libFuzzer kept) is either refused with a typed,
    /// clear error or accepted as a valid report that JSONDecoder reads the same way.
    func testTheFuzzCorpusIsRefusedClearlyOrDecodedAsTheReferenceDoes() throws {
        let folder = repoRoot.appendingPathComponent("fuzz/corpus")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertGreaterThan(names.count, 30, "the corpus is missing")
        var accepted = 0
        for name in names {
            let body = Array(try Data(contentsOf: folder.appendingPathComponent(name)))
            for gzip in [false, true] {
                do {
                    let decoded = try ReportCodec.decodeReport(body: body, gzip: gzip)
                    accepted += 1
                    XCTAssertNoThrow(try decoded.validate(), name)
                    let json = gzip ? (try? Gzip.decompress(body, limit: ReportLimits.default.maxInflatedBytes)) ?? [] : body
                    XCTAssertEqual(try JSONDecoder().decode(Report.self, from: Data(json)), decoded, name)
                } catch {
                    XCTAssertFalse(error.body.message.isEmpty, name)
                    XCTAssertLessThanOrEqual(error.body.message.utf8.count, 1024, "\(name): \(error.body.message.prefix(200))")
                }
            }
        }
        XCTAssertGreaterThanOrEqual(accepted, 4, "the golden seeds, raw and gzipped, must decode")
    }
}
