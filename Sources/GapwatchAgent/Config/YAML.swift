/// A parsed YAML value with the line it started on.
///
/// The agent reads a small, strict subset of YAML (block maps and lists, flow `[...]` and
/// `{...}`, quoted and plain scalars, `#` comments) so it needs no YAML library.
public struct YAMLNode: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case null
        case scalar(String, quoted: Bool)
        case list([YAMLNode])
        case map([YAMLEntry])
    }

    public var value: Value
    public var line: Int

    public init(_ value: Value, line: Int) {
        self.value = value
        self.line = line
    }

    /// The scalar text, if this is a scalar.
    public var scalar: String? {
        if case .scalar(let s, _) = value { return s }
        return nil
    }

    public var list: [YAMLNode]? {
        if case .list(let items) = value { return items }
        return nil
    }

    public var entries: [YAMLEntry]? {
        if case .map(let entries) = value { return entries }
        return nil
    }

    /// The value for `key` in a map.
    public subscript(key: String) -> YAMLNode? {
        entries?.first { $0.key == key }?.value
    }

    /// Unquoted `null`, `~` and missing values.
    public var isNull: Bool {
        switch value {
        case .null: true
        case .scalar(let s, let quoted): !quoted && (s == "null" || s == "~")
        default: false
        }
    }
}

/// One `key: value` of a map, in file order.
public struct YAMLEntry: Sendable, Equatable {
    public var key: String
    public var line: Int
    public var value: YAMLNode
}

/// A syntax error, with the 1-based line it was found on.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }

    public init(line: Int, _ message: String) {
        self.line = line
        self.message = message
    }
}

/// Parser for the YAML subset described on `YAMLNode`.
public enum YAML {
    /// Parses one document. An empty document is an empty map.
    public static func parse(_ text: String) throws(YAMLError) -> YAMLNode {
        var parser = BlockParser(lines: try logicalLines(text))
        return try parser.parseDocument()
    }

    struct Line {
        var number: Int
        var indent: Int
        var text: Substring
    }

    /// Splits `text` into non-blank lines with comments removed; rejects tab indentation.
    static func logicalLines(_ text: String) throws(YAMLError) -> [Line] {
        var text = Substring(text)
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }  // a UTF-8 byte order mark
        var lines: [Line] = []
        var number = 0
        var sawContent = false
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var raw = rawLine
            if raw.last == "\r" { raw = raw.dropLast() }
            var indent = 0
            var index = raw.startIndex
            while index < raw.endIndex, raw[index] == " " {
                indent += 1
                index = raw.index(after: index)
            }
            let rest = raw[index...]
            let stripped = stripComment(rest)
            if stripped.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if rest.first == "\t" {
                throw YAMLError(line: number, "tab character in indentation; indent with spaces")
            }
            if indent == 0 && (stripped == "---" || stripped.hasPrefix("--- ")) {
                if sawContent { throw YAMLError(line: number, "more than one document ('---') is not supported") }
                if stripped != "---" { throw YAMLError(line: number, "content after '---' is not supported") }
                continue
            }
            if indent == 0 && stripped == "..." { break }
            sawContent = true
            lines.append(Line(number: number, indent: indent, text: stripped))
        }
        return lines
    }

    /// Removes a trailing `# comment` (a `#` at the start or after whitespace, outside quotes)
    /// and trailing whitespace.
    static func stripComment(_ text: Substring) -> Substring {
        var quote: Character? = nil
        var previous: Character? = nil  // last character outside quotes
        var previousNonSpace: Character? = nil
        var index = text.startIndex
        var end = text.endIndex
        while index < text.endIndex {
            let c = text[index]
            if let q = quote {
                if c == "\\" && q == "\"" {
                    index = text.index(after: index)
                    if index < text.endIndex { index = text.index(after: index) }
                    continue
                }
                if c == q { quote = nil }
            } else if c == "#" && (previous == nil || previous == " " || previous == "\t") {
                end = index
                break
            } else if (c == "\"" || c == "'")
                && (previousNonSpace == nil || ":-[{,".contains(previousNonSpace!))
            {
                quote = c
            }
            previous = c
            if c != " " && c != "\t" { previousNonSpace = c }
            index = text.index(after: index)
        }
        var result = text[text.startIndex..<end]
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }
}

/// Recursive descent over indented lines.
private struct BlockParser {
    var lines: [YAML.Line]
    var pos = 0

    init(lines: [YAML.Line]) { self.lines = lines }

    mutating func parseDocument() throws(YAMLError) -> YAMLNode {
        guard let first = lines.first else { return YAMLNode(.map([]), line: 1) }
        let node: YAMLNode
        if isListItem(first.text) || splitKey(first.text, line: first.number) != nil {
            node = try parseBlock(indent: first.indent)
        } else {
            node = try parseInline(first.text, line: first.number)
            pos += 1
        }
        if pos < lines.count {
            let line = lines[pos]
            throw YAMLError(line: line.number, "unexpected indentation or content after the document")
        }
        return node
    }

    func isListItem(_ text: Substring) -> Bool { text == "-" || text.hasPrefix("- ") }

    mutating func parseBlock(indent: Int) throws(YAMLError) -> YAMLNode {
        if isListItem(lines[pos].text) { return try parseList(indent: indent) }
        return try parseMap(indent: indent)
    }

    mutating func parseMap(indent: Int) throws(YAMLError) -> YAMLNode {
        let startLine = lines[pos].number
        var entries: [YAMLEntry] = []
        var seen: [String: Int] = [:]
        while pos < lines.count {
            let line = lines[pos]
            if line.indent < indent { break }
            if line.indent > indent { throw YAMLError(line: line.number, "unexpected indentation") }
            if isListItem(line.text) {
                throw YAMLError(line: line.number, "a list item ('- ') where a 'key: value' was expected")
            }
            guard let (key, rest) = try splitKeyChecked(line.text, line: line.number) else {
                throw YAMLError(line: line.number, "expected 'key: value', found '\(line.text)'")
            }
            if let first = seen[key] {
                throw YAMLError(line: line.number, "duplicate key '\(key)' (first given on line \(first))")
            }
            seen[key] = line.number
            pos += 1
            let value: YAMLNode
            if rest.isEmpty {
                if pos < lines.count, lines[pos].indent > indent {
                    value = try parseBlock(indent: lines[pos].indent)
                } else if pos < lines.count, lines[pos].indent == indent, isListItem(lines[pos].text) {
                    value = try parseList(indent: indent)
                } else {
                    value = YAMLNode(.null, line: line.number)
                }
            } else {
                value = try parseInline(rest, line: line.number)
            }
            entries.append(YAMLEntry(key: key, line: line.number, value: value))
        }
        return YAMLNode(.map(entries), line: startLine)
    }

    mutating func parseList(indent: Int) throws(YAMLError) -> YAMLNode {
        let startLine = lines[pos].number
        var items: [YAMLNode] = []
        while pos < lines.count {
            let line = lines[pos]
            if line.indent < indent { break }
            if line.indent > indent { throw YAMLError(line: line.number, "unexpected indentation") }
            if !isListItem(line.text) { break }
            var rest = line.text.dropFirst()
            var offset = indent + 1
            while rest.first == " " {
                rest = rest.dropFirst()
                offset += 1
            }
            if rest.isEmpty {
                pos += 1
                if pos < lines.count, lines[pos].indent > indent {
                    items.append(try parseBlock(indent: lines[pos].indent))
                } else {
                    items.append(YAMLNode(.null, line: line.number))
                }
            } else if try startsBlock(rest, line: line.number) {
                // "- key: value" starts a map (or "- - x" a list) whose lines align with `rest`.
                lines[pos] = YAML.Line(number: line.number, indent: offset, text: rest)
                items.append(try parseBlock(indent: offset))
            } else {
                pos += 1
                items.append(try parseInline(rest, line: line.number))
            }
        }
        return YAMLNode(.list(items), line: startLine)
    }

    /// Whether a list item's text starts a nested map ("- key: value") or list ("- - x").
    func startsBlock(_ text: Substring, line: Int) throws(YAMLError) -> Bool {
        if isListItem(text) { return true }
        return try splitKeyChecked(text, line: line) != nil
    }

    /// `key: rest` when `text` is a map entry; nil otherwise.
    func splitKey(_ text: Substring, line: Int) -> (String, Substring)? {
        try? splitKeyChecked(text, line: line)
    }

    func splitKeyChecked(_ text: Substring, line: Int) throws(YAMLError) -> (String, Substring)? {
        guard let first = text.first else { return nil }
        if first == "[" || first == "{" { return nil }
        if first == "\"" || first == "'" {
            var cursor = Cursor(text, line: line)
            guard let key = try? cursor.quoted() else { return nil }
            cursor.skipSpaces()
            guard cursor.peek() == ":" else { return nil }
            cursor.advance()
            if let c = cursor.peek(), c != " " { return nil }
            return (key, cursor.rest.drop { $0 == " " })
        }
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == ":" {
                let next = text.index(after: index)
                if next == text.endIndex || text[next] == " " {
                    var key = text[text.startIndex..<index]
                    while key.last == " " { key = key.dropLast() }
                    if key.isEmpty { throw YAMLError(line: line, "empty key before ':'") }
                    return (String(key), text[next...].drop { $0 == " " })
                }
            }
            index = text.index(after: index)
        }
        return nil
    }

    func parseInline(_ text: Substring, line: Int) throws(YAMLError) -> YAMLNode {
        var cursor = Cursor(text, line: line)
        let node = try cursor.value(inFlow: false)
        cursor.skipSpaces()
        if !cursor.atEnd {
            throw YAMLError(line: line, "unexpected '\(cursor.rest)' after the value")
        }
        return node
    }
}

/// Reads scalars and flow collections from one line.
private struct Cursor {
    let chars: [Character]
    var index = 0
    let line: Int

    init(_ text: Substring, line: Int) {
        chars = Array(text)
        self.line = line
    }

    var atEnd: Bool { index >= chars.count }
    var rest: Substring { Substring(String(chars[min(index, chars.count)...])) }
    func peek() -> Character? { index < chars.count ? chars[index] : nil }
    mutating func advance() { index += 1 }
    mutating func skipSpaces() { while let c = peek(), c == " " || c == "\t" { advance() } }

    mutating func value(inFlow: Bool) throws(YAMLError) -> YAMLNode {
        skipSpaces()
        guard let c = peek() else { return YAMLNode(.null, line: line) }
        switch c {
        case "[": return try flowList()
        case "{": return try flowMap()
        case "\"", "'": return YAMLNode(.scalar(try quoted(), quoted: true), line: line)
        case "|", ">":
            throw YAMLError(line: line, "block scalars ('\(c)') are not supported; write the value on one line, quoted")
        case "&", "*", "!", "%", "@", "`":
            throw YAMLError(line: line, "values starting with '\(c)' are not supported (anchors, aliases and tags); quote the value")
        default:
            let text = plain(inFlow: inFlow, stopAtColon: false)
            if text.isEmpty { return YAMLNode(.null, line: line) }
            return YAMLNode(.scalar(text, quoted: false), line: line)
        }
    }

    /// A plain scalar: up to the end, or in flow context up to `,` `]` `}` (and `: ` for keys).
    mutating func plain(inFlow: Bool, stopAtColon: Bool) -> String {
        var out = ""
        while let c = peek() {
            if inFlow && (c == "," || c == "]" || c == "}") { break }
            if stopAtColon && c == ":" {
                let next = index + 1 < chars.count ? chars[index + 1] : nil
                if next == nil || next == " " || next == "," || next == "}" { break }
            }
            out.append(c)
            advance()
        }
        while out.last == " " || out.last == "\t" { out.removeLast() }
        return out
    }

    mutating func quoted() throws(YAMLError) -> String {
        let q = chars[index]
        advance()
        var out = ""
        while let c = peek() {
            advance()
            if c == q {
                if q == "'" && peek() == "'" {
                    out.append("'")
                    advance()
                    continue
                }
                return out
            }
            if c == "\\" && q == "\"" {
                guard let e = peek() else { break }
                advance()
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "0": out.append("\0")
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                case "/": out.append("/")
                case " ": out.append(" ")
                case "u":
                    var hex = ""
                    for _ in 0..<4 {
                        guard let h = peek(), h.isHexDigit else {
                            throw YAMLError(line: line, "bad \\u escape in a double-quoted string")
                        }
                        hex.append(h)
                        advance()
                    }
                    guard let scalar = Unicode.Scalar(UInt32(hex, radix: 16)!) else {
                        throw YAMLError(line: line, "bad \\u escape in a double-quoted string")
                    }
                    out.unicodeScalars.append(scalar)
                default:
                    throw YAMLError(line: line, "unknown escape '\\\(e)' in a double-quoted string")
                }
                continue
            }
            out.append(c)
        }
        throw YAMLError(line: line, "unterminated \(q == "\"" ? "double" : "single")-quoted string")
    }

    mutating func flowList() throws(YAMLError) -> YAMLNode {
        advance()  // [
        var items: [YAMLNode] = []
        while true {
            skipSpaces()
            guard let c = peek() else { throw YAMLError(line: line, "unterminated flow list: missing ']'") }
            if c == "]" {
                advance()
                return YAMLNode(.list(items), line: line)
            }
            if c == "," { throw YAMLError(line: line, "empty item in a flow list") }
            let item = try value(inFlow: true)
            items.append(item)
            skipSpaces()
            guard let sep = peek() else { throw YAMLError(line: line, "unterminated flow list: missing ']'") }
            if sep == "," {
                advance()
            } else if sep != "]" {
                throw YAMLError(line: line, "expected ',' or ']' in a flow list, found '\(sep)'")
            }
        }
    }

    mutating func flowMap() throws(YAMLError) -> YAMLNode {
        advance()  // {
        var entries: [YAMLEntry] = []
        while true {
            skipSpaces()
            guard let c = peek() else { throw YAMLError(line: line, "unterminated flow map: missing '}'") }
            if c == "}" {
                advance()
                return YAMLNode(.map(entries), line: line)
            }
            let key: String
            if c == "\"" || c == "'" {
                key = try quoted()
            } else {
                key = plain(inFlow: true, stopAtColon: true)
            }
            if key.isEmpty { throw YAMLError(line: line, "empty key in a flow map") }
            if entries.contains(where: { $0.key == key }) {
                throw YAMLError(line: line, "duplicate key '\(key)'")
            }
            skipSpaces()
            guard peek() == ":" else { throw YAMLError(line: line, "expected ':' after '\(key)' in a flow map") }
            advance()
            let value = try value(inFlow: true)
            entries.append(YAMLEntry(key: key, line: line, value: value))
            skipSpaces()
            guard let sep = peek() else { throw YAMLError(line: line, "unterminated flow map: missing '}'") }
            if sep == "," {
                advance()
            } else if sep != "}" {
                throw YAMLError(line: line, "expected ',' or '}' in a flow map, found '\(sep)'")
            }
        }
    }
}
