#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Why a report body was refused before it reached storage.
public enum ReportDecodeError: Error, Sendable, Equatable {
    case badGzip(String)
    case tooLarge(limit: Int)
    case badJSON(String)
    case invalid(ValidationError)
    case unsupportedVersion(Int)

    /// The error body the collector answers with.
    public var body: ErrorBody {
        switch self {
        case .badGzip(let m): ErrorBody(error: "bad_gzip", message: m)
        case .tooLarge(let limit):
            ErrorBody(error: "payload_too_large", message: "the body inflates to more than \(limit) bytes")
        case .badJSON(let m): ErrorBody(error: "bad_json", message: m)
        case .invalid(let v): ErrorBody(error: "invalid_report", message: v.description, field: v.field)
        case .unsupportedVersion(let v):
            ErrorBody(
                error: "unsupported_version",
                message:
                    "protocol version \(v) is not supported; this collector speaks \(ProtocolVersion.supported.map(String.init).joined(separator: ", "))",
                field: "protocol", supported: ProtocolVersion.supported)
        }
    }
}

/// Which JSON implementation `ReportCodec.encode` and `decode` use in this process.
public enum JSONEngine: Sendable {
    /// Foundation's JSONEncoder and JSONDecoder: the collector and the CLI.
    case foundation
    /// `CompactJSON`: the running agent, whose steady state then never executes Foundation's JSON
    /// code (about 1.5 MiB less resident memory).
    case compact
}

/// Encodes and decodes protocol bodies. One place so both sides agree on the JSON shape.
public enum ReportCodec {
    /// Set once at process start, before any thread runs (`gapwatch-agent run` picks `.compact`);
    /// both engines write the same JSON and read it the same way.
    nonisolated(unsafe) public static var engine = JSONEngine.foundation

    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        // Every protocol type encodes cleanly; a failure here is a programming error.
        if engine == .compact { return try! CompactJSON.encode(value) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try! encoder.encode(value))
    }

    /// Decodes with this process's engine, throwing the `DecodingError` (or syntax error) as is:
    /// for callers that word errors themselves (`describe`).
    public static func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if engine == .compact { return try CompactJSON.decode(T.self, from: bytes) }
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    }

    /// Pretty, key-sorted JSON for golden files and `--json` output.
    public static func encodePretty<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try! encoder.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(ReportDecodeError) -> T {
        do {
            return try decodeJSON(T.self, from: bytes)
        } catch let error as DecodingError {
            throw .badJSON(describe(error))
        } catch {
            throw .badJSON("\(error)")
        }
    }

    /// Inflates (when `gzip`), decodes and validates a report body.
    public static func decodeReport(
        body: [UInt8], gzip: Bool, limits: ReportLimits = .default
    ) throws(ReportDecodeError) -> Report {
        let json: [UInt8]
        if gzip {
            do {
                json = try Gzip.decompress(body, limit: limits.maxInflatedBytes)
            } catch {
                switch error {
                case .tooLarge(let limit): throw .tooLarge(limit: limit)
                case .corrupt(let m): throw .badGzip(m)
                }
            }
        } else {
            if body.count > limits.maxInflatedBytes { throw .tooLarge(limit: limits.maxInflatedBytes) }
            json = body
        }
        let report: Report
        do {
            report = try ReportParser.parse(json)
        } catch {
            // An unknown version wins over any other complaint: a v2 body may look nothing like v1.
            if let version = try? decode(VersionProbe.self, from: json).protocolVersion,
                !ProtocolVersion.supported.contains(version)
            {
                throw .unsupportedVersion(version)
            }
            throw .badJSON(error.message)
        }
        if !ProtocolVersion.supported.contains(report.protocolVersion) {
            throw .unsupportedVersion(report.protocolVersion)
        }
        do {
            try report.validate(limits: limits)
        } catch {
            throw .invalid(error)
        }
        return report
    }

    private struct VersionProbe: Decodable {
        var protocolVersion: Int
        enum CodingKeys: String, CodingKey { case protocolVersion = "protocol" }
    }

    /// Turns a DecodingError into "field: what is wrong" with a JSON path such as `observations[2].seq`.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return out.isEmpty ? "body" : out
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required field is missing"
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "body is not valid JSON, or a number in it is fractional, negative or too large for its field"
            }
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: "an integer"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}
