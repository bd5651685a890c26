import Foundation
import GapwatchProtocol
import XCTest

/// CompactJSON (the running agent's JSON) held to Foundation's JSONEncoder (`.sortedKeys`) and
/// JSONDecoder: the same bytes out, the same values in, the same errors for the same inputs.
final class CompactJSONTests: XCTestCase {
    private func foundationEncode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    private func assertSameBytes<T: Encodable>(_ value: T, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let compact = try CompactJSON.encode(value)
        let foundation = try foundationEncode(value)
        XCTAssertEqual(
            String(decoding: compact, as: UTF8.self), String(decoding: foundation, as: UTF8.self), what, file: file, line: line)
    }

    /// Both decoders on `json`: equal values, or errors that are the same case at the same path
    /// with the same words from `ReportCodec.describe`.
    private func assertSameDecoding<T: Decodable & Equatable>(
        _ type: T.Type, _ json: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) {
        let label = String(decoding: json.prefix(120), as: UTF8.self)
        let compact = Result { try CompactJSON.decode(T.self, from: json) }
        let foundation = Result { try JSONDecoder().decode(T.self, from: Data(json)) }
        switch (compact, foundation) {
        case (.success(let a), .success(let b)):
            XCTAssertEqual(a, b, label, file: file, line: line)
        case (.failure(let a as DecodingError), .failure(let b as DecodingError)):
            XCTAssertEqual(ReportCodec.describe(a), ReportCodec.describe(b), label, file: file, line: line)
            XCTAssertEqual(caseName(a), caseName(b), label, file: file, line: line)
        default:
            XCTFail("\(label): CompactJSON gave \(compact), JSONDecoder gave \(foundation)", file: file, line: line)
        }
    }

    private func assertSameDecoding<T: Decodable & Equatable>(_ type: T.Type, _ json: String, file: StaticString = #filePath, line: UInt = #line) {
        assertSameDecoding(type, Array(json.utf8), file: file, line: line)
    }

    private func caseName(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound: "keyNotFound"
        case .typeMismatch: "typeMismatch"
        case .valueNotFound: "valueNotFound"
        case .dataCorrupted: "dataCorrupted"
        @unknown default: "unknown"
        }
    }

    func testEveryGoldenExampleEncodesToTheSameBytesAsJSONEncoder() throws {
        var checked = 0
        for name in try exampleNames() {
            let bytes = try exampleBytes(name)
            switch name {
            case let n where n.hasPrefix("report-"): try assertSameBytes(try ReportCodec.decode(Report.self, from: bytes), n)
            case let n where n.hasPrefix("response-"): try assertSameBytes(try ReportCodec.decode(ReportResponse.self, from: bytes), n)
            case let n where n.hasPrefix("error-"): try assertSameBytes(try ReportCodec.decode(ErrorBody.self, from: bytes), n)
            case "push-response.json": try assertSameBytes(try ReportCodec.decode(PushResponse.self, from: bytes), name)
            case let n where n.hasPrefix("push-"): try assertSameBytes(try ReportCodec.decode(PushObservation.self, from: bytes), n)
            default: continue
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 10)
    }

    func testEveryGoldenExampleDecodesToTheSameValues() throws {
        for name in try exampleNames() {
            let bytes = try exampleBytes(name)
            switch name {
            case let n where n.hasPrefix("report-"): assertSameDecoding(Report.self, bytes)
            case let n where n.hasPrefix("response-"): assertSameDecoding(ReportResponse.self, bytes)
            case let n where n.hasPrefix("error-"): assertSameDecoding(ErrorBody.self, bytes)
            case "push-response.json": assertSameDecoding(PushResponse.self, bytes)
            case let n where n.hasPrefix("push-"): assertSameDecoding(PushObservation.self, bytes)
            default: continue
            }
        }
    }

    func testStringsNumbersAndKeysAreWrittenAsJSONEncoderWritesThem() throws {
        let strings = [
            "", "plain", "quote \" backslash \\ slash /", "tab\tnewline\nreturn\r", "\u{01}\u{08}\u{0C}\u{1F}\u{7F}",
            "é ü 中文 😀", "http://127.0.0.1:7070/v1/reports",
        ]
        try assertSameBytes(strings, "strings")
        let keys = ["b": 1, "a_b": 2, "ab": 3, "B": 4, "a1": 5, "a10": 6, "a2": 7, "Z": 8, "é": 9, "a": 10, "_": 11, "-": 12]
        try assertSameBytes(keys, "key order")
        try assertSameBytes([Int64.min, Int64.max, 0, -1], "Int64")
        try assertSameBytes([UInt64.max, 0], "UInt64")
        try assertSameBytes([0.1, 1.0, 3.0, -2.5, 1e-7, 1e21, 123456789.125, 1.7976931348623157e308, 5e-324], "Double")
        try assertSameBytes([Float(0.1), 2, 1e10], "Float")
        try assertSameBytes([true, false], "Bool")
        try assertSameBytes(["a": [String?.none, "x"]], "null in an array")
        XCTAssertThrowsError(try CompactJSON.encode([Double.nan]))
        XCTAssertThrowsError(try CompactJSON.encode([Double.infinity]))
    }

    /// Nested and super containers, and two keyed containers asked of one encoder (as
    /// `Observation` does with its body).
    func testContainerShapesEncodeAsJSONEncoderDoes() throws {
        struct Shapes: Codable, Equatable {
            var name = "x"
            var points = [1, 2]
            var inner = ["k": "v"]
            enum Keys: String, CodingKey { case name, nested, list, extra, sup }
            enum Inner: String, CodingKey { case deep }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode(name, forKey: .name)
                var nested = c.nestedContainer(keyedBy: Inner.self, forKey: .nested)
                try nested.encode(inner, forKey: .deep)
                var list = c.nestedUnkeyedContainer(forKey: .list)
                for p in points { try list.encode(p) }
                var more = list.nestedContainer(keyedBy: Inner.self)
                try more.encode("in a list", forKey: .deep)
                try "super".encode(to: c.superEncoder(forKey: .sup))
                var second = encoder.container(keyedBy: Keys.self)
                try second.encode(true, forKey: .extra)
            }
            init() {}
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: Keys.self)
                name = try c.decode(String.self, forKey: .name)
                inner = try c.nestedContainer(keyedBy: Inner.self, forKey: .nested).decode([String: String].self, forKey: .deep)
                var list = try c.nestedUnkeyedContainer(forKey: .list)
                points = []
                while !list.isAtEnd {
                    if let p = try? list.decode(Int.self) { points.append(p) } else { break }
                }
                _ = try String(from: c.superDecoder(forKey: .sup))
            }
        }
        try assertSameBytes(Shapes(), "shapes")
        assertSameDecoding(Shapes.self, try CompactJSON.encode(Shapes()))
    }

    func testBadJSONIsRefusedAsJSONDecoderRefusesIt() {
        let bad = [
            "", " ", "not json", "tru", "nul", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "{\"a\" 1}", "{a:1}",
            "[1] x", "\"unterminated", "[\"\\u12\"]", "['a']", "[NaN]", "[Infinity]", "{\"a\":1}}", "[1 2]", "/* c */ 1",
        ]
        for text in bad { assertSameDecoding([Int].self, text) }
        assertSameDecoding([String].self, [UInt8(ascii: "["), UInt8(ascii: "\""), 0xFF, 0xFE, UInt8(ascii: "\""), UInt8(ascii: "]")])
        assertSameDecoding([String].self, [UInt8(ascii: "["), UInt8(ascii: "\""), 0xC3, UInt8(ascii: "\""), UInt8(ascii: "]")])
        // JSONDecoder allows 512 levels of nesting.
        assertSameDecoding(Nested.self, String(repeating: "[", count: 512) + String(repeating: "]", count: 512))
        assertSameDecoding(Nested.self, String(repeating: "[", count: 513) + String(repeating: "]", count: 513))
    }

    /// Where RFC 8259 and JSONDecoder part: trailing commas, and escapes, control characters or
    /// lone surrogates in a string that JSONDecoder never reads. CompactJSON refuses them all.
    func testWhatRFC8259ForbidsIsRefusedEvenWhereJSONDecoderLetsItPass() {
        let lenient = ["[1,]", "{\"a\":1,}", "[\"\\x\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"tab\there\"]"]
        for text in lenient {
            XCTAssertThrowsError(try CompactJSON.decode([Int].self, from: Array(text.utf8)), text) { error in
                guard case .dataCorrupted(let context)? = error as? DecodingError else { return XCTFail("\(text): \(error)") }
                XCTAssertTrue(context.codingPath.isEmpty, text)
            }
        }
    }

    /// JSONDecoder reports a number that does not fit its field without a path ("body is not valid
    /// JSON, or a number ..."); CompactJSON says which field and what would fit.
    func testANumberThatDoesNotFitItsFieldIsNamedAtItsPath() throws {
        let count = #"{"kind":"count","dataset":"d","partition":"2026-01-22","count":%@}"#
        for (value, words) in [
            ("1.5", "1.5 is not a whole number from -9223372036854775808 to 9223372036854775807"),
            ("2e-1", "2e-1 is not a whole number from -9223372036854775808 to 9223372036854775807"),
            ("18446744073709551616", "18446744073709551616 is not a whole number from -9223372036854775808 to 9223372036854775807"),
            ("1e400", "1e400 is not a whole number from -9223372036854775808 to 9223372036854775807"),
        ] {
            let json = Array(count.replacingOccurrences(of: "%@", with: value).utf8)
            XCTAssertThrowsError(try JSONDecoder().decode(PushObservation.self, from: Data(json)))
            XCTAssertThrowsError(try CompactJSON.decode(PushObservation.self, from: json)) { error in
                XCTAssertEqual((error as? DecodingError).map(ReportCodec.describe), "count: \(words)")
            }
        }
        XCTAssertThrowsError(try CompactJSON.decode([UInt64].self, from: Array("[1, -1]".utf8))) { error in
            XCTAssertEqual((error as? DecodingError).map(ReportCodec.describe), "[1]: -1 is not a whole number from 0 to 18446744073709551615")
        }
        XCTAssertThrowsError(try CompactJSON.decode([Float].self, from: Array("[1e39]".utf8))) { error in
            XCTAssertEqual((error as? DecodingError).map(ReportCodec.describe), "[0]: 1e39 is too large for a Float")
        }
    }

    func testValuesAndTypeErrorsDecodeAsJSONDecoderDecodesThem() throws {
        let count = #"{"kind":"count","dataset":"d","partition":"2026-01-22","count":%@}"#
        for value in ["282", "0", "-1", "1.0", "1e2", "9223372036854775807", "\"282\"", "null", "true", "[1]", "{}"] {
            assertSameDecoding(PushObservation.self, count.replacingOccurrences(of: "%@", with: value))
        }
        assertSameDecoding(PushObservation.self, #"{"kind":"count","dataset":"d","partition":"2026-01-22"}"#)
        assertSameDecoding(PushObservation.self, #"{"kind":"count","dataset":null,"partition":"p","count":1}"#)
        assertSameDecoding(PushObservation.self, #"{"kind":"nope"}"#)
        assertSameDecoding(PushObservation.self, #"{"kind":"count","dataset":"d","partition":"p","count":1,"observed_at":"x"}"#)
        assertSameDecoding(PushObservation.self, #"[{"kind":"count"}]"#)
        assertSameDecoding(PushObservation.self, "null")
        // Duplicate keys: the first one counts.
        assertSameDecoding(PushObservation.self, #"{"kind":"count","dataset":"first","dataset":"second","partition":"p","count":1}"#)
        // Escapes and unicode in strings.
        assertSameDecoding([String].self, #"["\u00e9\ud83d\ude00\n\t\/\\\"", "é😀", "\u0000"]"#)
        // Scalars at the top, and numbers as each integer width and as floating point.
        assertSameDecoding(Int.self, "42")
        assertSameDecoding(String.self, "\"top\"")
        assertSameDecoding(UInt8.self, "-0")
        assertSameDecoding(Int32.self, "-2147483648")
        assertSameDecoding(Double.self, "-0.0")
        assertSameDecoding(Double.self, "1e308")
        assertSameDecoding([Int].self, "[1, 2, null]")
        assertSameDecoding([Int?].self, "[1, 2, null]")
        assertSameDecoding([String: Int].self, #"{"a": 1, "b": "x"}"#)
        assertSameDecoding(Report.self, #"{"protocol":1}"#)
        assertSameDecoding(Report.self, #"{"protocol":1,"agent":{"id":"a"},"observations":[{"seq":1}]}"#)
    }

    func testReportCodecUsesTheCompactEngineWhenSelected() throws {
        let report = report([heartbeat(seq: 1), heartbeat(seq: 2, name: "a/b \"c\"")])
        let foundation = ReportCodec.encode(report)
        ReportCodec.engine = .compact
        defer { ReportCodec.engine = .foundation }
        XCTAssertEqual(ReportCodec.encode(report), foundation)
        XCTAssertEqual(try ReportCodec.decode(Report.self, from: foundation), report)
        XCTAssertThrowsError(try ReportCodec.decode(Report.self, from: Array("{".utf8))) { error in
            XCTAssertEqual(
                error as? ReportDecodeError, .badJSON("body is not valid JSON, or a number in it is fractional, negative or too large for its field"))
        }
    }
}

/// Arrays of arrays to any depth, for the nesting limit.
private indirect enum Nested: Decodable, Equatable {
    case list([Nested])
    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        var items: [Nested] = []
        while !c.isAtEnd { items.append(try c.decode(Nested.self)) }
        self = .list(items)
    }
}
