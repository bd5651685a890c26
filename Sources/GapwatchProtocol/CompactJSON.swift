/// JSON for Codable types in plain Swift, without Foundation: what `gapwatch-agent run` encodes and
/// decodes with (`ReportCodec.engine`), so that the agent never runs Foundation's JSON code and
/// keeps about 1.5 MiB less of it resident (bench/README.md, "Agent memory").
///
/// It writes what `JSONEncoder` with `.sortedKeys` writes, byte for byte, and reads what
/// `JSONDecoder` reads into the same values, with the same `DecodingError` cases and coding paths
/// (so `ReportCodec.describe` gives the same messages), the first of duplicate keys and at most 512
/// levels of nesting. It is stricter and clearer in two places: it refuses what RFC 8259 forbids
/// and JSONDecoder lets pass (trailing commas; bad escapes, control characters or surrogates in a
/// string nobody reads), and a number that does not fit its field is an error at that field's
/// path ("count: -1 is not a whole number from 0 to ..."), where JSONDecoder gives no path.
/// CompactJSONTests hold it to Foundation's answers.
public enum CompactJSON {
    /// Compact JSON with keys sorted; throws `EncodingError.invalidValue` for NaN and infinities.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try EncodedValue.of(value, codingPath: []).write(into: &out)
        return out
    }

    /// Throws `DecodingError`, as `JSONDecoder` does.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let node: JSONNode
        do {
            node = try bytes.withUnsafeBufferPointer { buffer in
                var parser = JSONParser(bytes: buffer)
                return try parser.parseDocument()
            }
        } catch let error as JSONSyntaxError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: [], debugDescription: "The given data was not valid JSON.", underlyingError: error))
        }
        return try NodeDecoder(node: node, codingPath: []).unbox(node, as: T.self)
    }

    /// The deepest nesting of arrays and objects read, as JSONDecoder.
    static let maxDepth = 512
}

// MARK: - Encoding

/// A value being encoded. Objects and arrays are shared boxes, so that several containers asked of
/// one encoder (a struct that encodes its fields, then its body's, into the same object) fill one.
enum EncodedValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case object(ObjectBox)
    case array(ArrayBox)
    /// A `superEncoder`: its value is whatever was encoded into it by the time of writing.
    case deferred(ValueEncoder)

    final class ObjectBox {
        var fields: [String: EncodedValue] = [:]
    }

    final class ArrayBox {
        var items: [EncodedValue] = []
    }

    static func of<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> EncodedValue {
        switch value {
        case let v as String: return .string(v)
        case let v as Bool: return .bool(v)
        case let v as Int: return .number(String(v))
        case let v as Int64: return .number(String(v))
        case let v as UInt64: return .number(String(v))
        case let v as Int32: return .number(String(v))
        case let v as UInt32: return .number(String(v))
        case let v as UInt: return .number(String(v))
        case let v as Int16: return .number(String(v))
        case let v as UInt16: return .number(String(v))
        case let v as Int8: return .number(String(v))
        case let v as UInt8: return .number(String(v))
        case let v as Double: return try float(v, codingPath: codingPath)
        case let v as Float: return try float(v, codingPath: codingPath)
        default:
            let encoder = ValueEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            return encoder.value ?? .object(ObjectBox())
        }
    }

    static func float<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, codingPath: [any CodingKey]) throws -> EncodedValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: codingPath, debugDescription: "Unable to encode \(F.self).\(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }  // 3.0 is written 3, as JSONEncoder does
        return .number(text)
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let v): out += Array((v ? "true" : "false").utf8)
        case .number(let text): out += Array(text.utf8)
        case .string(let text): Self.writeString(text, into: &out)
        case .object(let box):
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in box.fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                Self.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                box.fields[key]?.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .deferred(let encoder): (encoder.value ?? .object(ObjectBox())).write(into: &out)
        }
    }

    /// Escapes as JSONEncoder does by default: quote, backslash, slash, and control characters.
    static func writeString(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "/"): out += [UInt8(ascii: "\\"), UInt8(ascii: "/")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

final class ValueEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var value: EncodedValue?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: EncodedValue.ObjectBox
        if case .object(let existing)? = value {
            box = existing
        } else {
            box = EncodedValue.ObjectBox()
            value = .object(box)
        }
        return KeyedEncodingContainer(ObjectEncodingContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: EncodedValue.ArrayBox
        if case .array(let existing)? = value {
            box = existing
        } else {
            box = EncodedValue.ArrayBox()
            value = .array(box)
        }
        return ArrayEncodingContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueEncoder(encoder: self) }
}

struct ObjectEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: EncodedValue.ObjectBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.fields[key.stringValue] = .null }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.fields[key.stringValue] = try EncodedValue.of(value, codingPath: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedValue.ObjectBox()
        box.fields[key.stringValue] = .object(nested)
        return KeyedEncodingContainer(ObjectEncodingContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = EncodedValue.ArrayBox()
        box.fields[key.stringValue] = .array(nested)
        return ArrayEncodingContainer(box: nested, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder { superEncoder(named: IndexKey.superKey) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }
    private func superEncoder(named key: any CodingKey) -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [key])
        box.fields[key.stringValue] = .deferred(encoder)
        return encoder
    }
}

struct ArrayEncodingContainer: UnkeyedEncodingContainer {
    let box: EncodedValue.ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { box.items.count }

    private var nextKey: IndexKey { IndexKey(box.items.count) }
    mutating func encodeNil() throws { box.items.append(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try EncodedValue.of(value, codingPath: codingPath + [nextKey]))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedValue.ObjectBox()
        let path = codingPath + [nextKey]
        box.items.append(.object(nested))
        return KeyedEncodingContainer(ObjectEncodingContainer<NestedKey>(box: nested, codingPath: path))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = EncodedValue.ArrayBox()
        let path = codingPath + [nextKey]
        box.items.append(.array(nested))
        return ArrayEncodingContainer(box: nested, codingPath: path)
    }
    mutating func superEncoder() -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [nextKey])
        box.items.append(.deferred(encoder))
        return encoder
    }
}

struct SingleValueEncoder: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    mutating func encodeNil() throws { encoder.value = .null }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.value = try EncodedValue.of(value, codingPath: codingPath) }
}

/// An array index or `super` in a coding path, as JSONEncoder/JSONDecoder name them.
struct IndexKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(_ index: Int) {
        stringValue = "Index \(index)"
        intValue = index
    }
    init?(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }
    init?(intValue: Int) { self.init(intValue) }
    static let superKey = IndexKey(stringValue: "super") ?? IndexKey(0)
}

// MARK: - Parsing

/// A parsed JSON value. Numbers keep their text until a type asks for them.
enum JSONNode {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONNode])
    /// Keys in document order, the first of duplicates kept.
    case object(keys: [String], values: [String: JSONNode])

    /// How JSONDecoder names what it found, in a type mismatch.
    var found: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "a string"
        case .array: "an array"
        case .object: "a dictionary"
        }
    }
}

struct JSONSyntaxError: Error, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "\(reason) at byte \(offset)" }
}

/// RFC 8259, strictly: no comments, no trailing commas, no leading zeros, no unescaped control
/// characters, valid UTF-8, and nothing after the value but whitespace.
struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected text after the value") }
        return value
    }

    private func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
    }

    private mutating func expect(_ word: String) throws(JSONSyntaxError) {
        for byte in word.utf8 {
            guard current == byte else { throw fail("invalid literal") }
            index += 1
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONNode {
        switch current {
        case UInt8(ascii: "{")?: return try parseObject()
        case UInt8(ascii: "[")?: return try parseArray()
        case UInt8(ascii: "\"")?: return .string(try parseString())
        case UInt8(ascii: "t")?:
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f")?:
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n")?:
            try expect("null")
            return .null
        case let b? where b == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b): return try parseNumber()
        case nil: throw fail("unexpected end of data")
        default: throw fail("unexpected character")
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= CompactJSON.maxDepth else { throw fail("too many nested arrays or objects") }
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONNode {
        try enter()
        defer { depth -= 1 }
        index += 1
        var keys: [String] = []
        var values: [String: JSONNode] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(keys: keys, values: values)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            if values[key] == nil {
                keys.append(key)
                values[key] = value
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "}")?:
                index += 1
                return .object(keys: keys, values: values)
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONNode {
        try enter()
        defer { depth -= 1 }
        index += 1
        var items: [JSONNode] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "]")?:
                index += 1
                return .array(items)
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONNode {
        let start = index
        func digits(_ parser: inout JSONParser) -> Int {
            let from = parser.index
            while let b = parser.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { parser.index += 1 }
            return parser.index - from
        }
        if current == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw fail("a number needs digits") }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("a number has no leading zeros") }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw fail("a fraction needs digits") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw fail("an exponent needs digits") }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1  // the opening quote
        let start = index
        // The common case, no escapes: one validated copy of the bytes.
        while let b = current, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\"), b >= 0x20 { index += 1 }
        if current == UInt8(ascii: "\"") {
            let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let text else { throw fail("invalid UTF-8") }
            index += 1
            return text
        }
        var out = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while true {
            guard let b = current else { throw fail("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                guard let text = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard let escaped = current else { throw fail("unterminated escape") }
                index += 1
                if let byte = JSONEscape.byte(escaped) {
                    out.append(byte)
                    continue
                }
                switch escaped {
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                    out += Array(String(Character(unicode)).utf8)
                default: throw fail("invalid escape")
                }
            case 0x00..<0x20: throw fail("unescaped control character in a string")
            default:
                out.append(b)
                index += 1
            }
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current else { throw fail("unterminated escape") }
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// The one-character escapes of RFC 8259: `\n` stands for a newline, and so on.
enum JSONEscape {
    /// The byte that `\` followed by `escaped` stands for; nil for `\u` and for invalid escapes.
    static func byte(_ escaped: UInt8) -> UInt8? {
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): escaped
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
    }
}

// MARK: - Decoding

struct NodeDecoder: Decoder {
    let node: JSONNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch node {
        case .object(let keys, let values):
            return KeyedDecodingContainer(ObjectDecodingContainer<Key>(keys: keys, values: values, codingPath: codingPath))
        case .null:
            throw DecodingError.valueNotFound(
                [String: Any].self,
                DecodingError.Context(codingPath: codingPath, debugDescription: "Cannot get keyed decoding container -- found null value instead"))
        default:
            throw mismatch([String: Any].self, node, codingPath)
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch node {
        case .array(let items): return ArrayDecodingContainer(items: items, codingPath: codingPath)
        case .null:
            throw DecodingError.valueNotFound(
                [Any].self,
                DecodingError.Context(codingPath: codingPath, debugDescription: "Cannot get unkeyed decoding container -- found null value instead"))
        default:
            throw mismatch([Any].self, node, codingPath)
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueDecoder(decoder: self) }

    /// Decodes `node`, a value at `codingPath`, as `T`: scalars here, anything else by its init.
    func unbox<T: Decodable>(_ node: JSONNode, as type: T.Type) throws -> T {
        if case .null = node, !(T.self is any OptionalMarker.Type) {
            // JSONDecoder says "found null" for scalars; other types find out in their init.
            if T.self is any ScalarMarker.Type {
                throw DecodingError.valueNotFound(
                    T.self,
                    DecodingError.Context(codingPath: codingPath, debugDescription: "Cannot get value of type \(T.self) -- found null value instead"))
            }
        }
        if T.self == String.self {
            guard case .string(let text) = node, let value = text as? T else { throw mismatch(T.self, node, codingPath) }
            return value
        }
        if T.self == Bool.self {
            guard case .bool(let flag) = node, let value = flag as? T else { throw mismatch(T.self, node, codingPath) }
            return value
        }
        if let integer = T.self as? any FixedWidthInteger.Type {
            guard case .number(let text) = node else { throw mismatch(T.self, node, codingPath) }
            if let value = Self.integer(text, as: integer) as? T { return value }
            throw notRepresentable("\(text) is not a whole number from \(integer.minAsText) to \(integer.maxAsText)")
        }
        if T.self == Double.self || T.self == Float.self {
            guard case .number(let text) = node else { throw mismatch(T.self, node, codingPath) }
            let parsed: Any? =
                T.self == Double.self ? Double(text).flatMap { $0.isFinite ? $0 : nil } : Float(text).flatMap { $0.isFinite ? $0 : nil }
            if let value = parsed as? T { return value }
            throw notRepresentable("\(text) is too large for a \(T.self)")
        }
        return try T(from: NodeDecoder(node: node, codingPath: codingPath))
    }

    private func notRepresentable(_ message: String) -> DecodingError {
        DecodingError.dataCorrupted(DecodingError.Context(codingPath: codingPath, debugDescription: message))
    }

    /// Digits alone are read exactly; a fraction or exponent only when the value is a whole number
    /// that fits (1.0, 1e3), as JSONDecoder reads them.
    static func integer<I: FixedWidthInteger>(_ text: String, as type: I.Type) -> I? {
        if let exact = I(text, radix: 10) { return exact }
        guard text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let real = Double(text), real.isFinite,
            real.rounded(.towardZero) == real
        else { return nil }
        return I(exactly: real)
    }
}

extension FixedWidthInteger {
    fileprivate static var minAsText: String { String(Self.min) }
    fileprivate static var maxAsText: String { String(Self.max) }
}

func mismatch(_ type: Any.Type, _ node: JSONNode, _ codingPath: [any CodingKey]) -> DecodingError {
    DecodingError.typeMismatch(
        type, DecodingError.Context(codingPath: codingPath, debugDescription: "Expected to decode \(type) but found \(node.found) instead."))
}

/// Optional, whatever it wraps: a `null` is its value, not a missing one.
protocol OptionalMarker {}
extension Optional: OptionalMarker {}
/// The types JSONDecoder reads itself and reports `null` for as "value not found".
protocol ScalarMarker {}
extension String: ScalarMarker {}
extension Bool: ScalarMarker {}
extension Double: ScalarMarker {}
extension Float: ScalarMarker {}
extension Int: ScalarMarker {}
extension Int8: ScalarMarker {}
extension Int16: ScalarMarker {}
extension Int32: ScalarMarker {}
extension Int64: ScalarMarker {}
extension UInt: ScalarMarker {}
extension UInt8: ScalarMarker {}
extension UInt16: ScalarMarker {}
extension UInt32: ScalarMarker {}
extension UInt64: ScalarMarker {}

struct ObjectDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let keys: [String]
    let values: [String: JSONNode]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { values[key.stringValue] != nil }

    private func node(_ key: Key) throws -> JSONNode {
        guard let node = values[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key, DecodingError.Context(codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return node
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try node(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let node = try node(key)
        return try NodeDecoder(node: node, codingPath: codingPath + [key]).unbox(node, as: T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try NodeDecoder(node: try node(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try NodeDecoder(node: try node(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        NodeDecoder(node: values["super"] ?? .null, codingPath: codingPath + [IndexKey.superKey])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        NodeDecoder(node: values[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

struct ArrayDecodingContainer: UnkeyedDecodingContainer {
    let items: [JSONNode]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(items: [JSONNode], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private func next<T>(_ type: T.Type) throws -> JSONNode {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard case .null = try next(Never?.self) else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let node = try next(type)
        let value = try NodeDecoder(node: node, codingPath: codingPath + [IndexKey(currentIndex)]).unbox(node, as: T.self)
        currentIndex += 1
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try NodeDecoder(node: try next(type), codingPath: codingPath + [IndexKey(currentIndex)]).container(keyedBy: type)
        currentIndex += 1
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try NodeDecoder(node: try next([Any].self), codingPath: codingPath + [IndexKey(currentIndex)]).unkeyedContainer()
        currentIndex += 1
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = NodeDecoder(node: try next((any Decoder).self), codingPath: codingPath + [IndexKey(currentIndex)])
        currentIndex += 1
        return decoder
    }
}

struct SingleValueDecoder: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool {
        if case .null = decoder.node { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.unbox(decoder.node, as: T.self) }
}
