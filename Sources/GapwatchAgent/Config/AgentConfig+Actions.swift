import GapwatchProtocol

/// The type of one action parameter: what a value the collector sends must look like before it
/// is put into an argv element.
public enum ActionParameterType: String, Sendable, CaseIterable {
    /// `YYYY-MM-DD`, a real calendar date (years 0001-9999).
    case date
    /// An optional `+`/`-` and ASCII digits, within the signed 64-bit range.
    case int
    /// 1-128 bytes of `A-Z a-z 0-9 . _ : -`, not beginning with `-`.
    case identifier
    /// 1-256 UTF-8 bytes without control or bidirectional characters (no tab, no line feed
    /// either), not beginning with `-`.
    case text

    /// What a valid value is, for messages: "a date (YYYY-MM-DD)".
    public var expectation: String {
        switch self {
        case .date: "a date (YYYY-MM-DD)"
        case .int: "an int (optional sign and digits, within 64-bit range)"
        case .identifier: "an identifier (1-128 of A-Z a-z 0-9 . _ : -)"
        case .text: "text (1-256 bytes, no control characters)"
        }
    }

    /// Whether a value may begin with `-`. A value filled into an argv element from observed data
    /// (a job or lock name) must never be read as an option by the program: only a number, whose
    /// sign is its meaning, may.
    public var mayBeginWithDash: Bool { self == .int }

    /// Whether `value` is a valid value of this type.
    public func accepts(_ value: String) -> Bool {
        if value.hasPrefix("-") && !mayBeginWithDash { return false }
        switch self {
        case .date: return Self.isDate(value)
        case .int:
            var digits = Substring(value)
            if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            return Int64(value) != nil
        case .identifier:
            return Self.isIdentifier(value)
        case .text:
            let bytes = value.utf8.count
            guard bytes >= 1 && bytes <= 256 else { return false }
            // C0 controls (tab and line feed included), DEL, C1 controls and bidirectional controls.
            return !value.unicodeScalars.contains { DisplayUnsafe.breaksLine($0) || DisplayUnsafe.isHidden($0) }
        }
    }

    static func isIdentifier(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty && bytes.count <= FieldLimits.id else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x3A || b == 0x2D
        }
    }

    static func isDate(_ value: String) -> Bool {
        let b = Array(value.utf8)
        guard b.count == 10, b[4] == 0x2D, b[7] == 0x2D else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                n = n * 10 + Int(b[i] - 0x30)
            }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return false }
        guard year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }
}

extension AgentConfig {
    /// One command the collector may ask this agent to run (`actions:` in the config): the
    /// allow-list entry with its fixed argv template.
    public struct Action: Sendable, Equatable {
        /// One piece of an argv element: fixed text or a `{parameter}`.
        public enum Piece: Sendable, Equatable {
            case literal(String)
            case placeholder(String)
        }

        /// The command name the collector sends in `AgentCommand.name`.
        public let name: String
        /// The argv as written in the config, `{name}` placeholders included (`{{`/`}}` escaped).
        public let argv: [String]
        /// Each argv element split into literal text and placeholders.
        public let template: [[Piece]]
        /// Every parameter the command takes, all required.
        public let parameters: [String: ActionParameterType]
        /// The longest a run may take; the collector's `timeout_seconds` may only shorten it.
        public let timeoutMs: Int64
        /// How many bytes of the end of stdout+stderr are kept for the result.
        public let maxOutputBytes: Int

        public static let defaultTimeoutMs: Int64 = 600_000
        public static let maxTimeoutMs: Int64 = 7 * 86_400_000
        public static let defaultMaxOutputBytes = 4096
        public static let maxMaxOutputBytes = 64 << 10

        /// Checks the template against `parameters`. Errors name the key relative to the action
        /// (`argv`, `argv[2]`, `parameters.start`, `name`...).
        public init(
            name: String, argv: [String], parameters: [String: ActionParameterType] = [:],
            timeoutMs: Int64 = Action.defaultTimeoutMs, maxOutputBytes: Int = Action.defaultMaxOutputBytes
        ) throws(ActionConfigError) {
            guard ActionParameterType.isIdentifier(name) else {
                throw ActionConfigError(key: "name", "'\(name)' must be 1-128 of A-Z a-z 0-9 . _ : - (the name the collector sends)")
            }
            guard let program = argv.first, !program.isEmpty else {
                throw ActionConfigError(key: "argv", "needs a non-empty argv list, e.g. [/usr/local/bin/run-backfill, \"{start}\"]")
            }
            var template: [[Piece]] = []
            for (i, element) in argv.enumerated() {
                let pieces: [Piece]
                do {
                    pieces = try Self.parseElement(element)
                } catch {
                    throw ActionConfigError(key: "argv[\(i)]", error.message)
                }
                if i == 0 && pieces.contains(where: { if case .placeholder = $0 { true } else { false } }) {
                    throw ActionConfigError(key: "argv[0]", "the program must be fixed text, not filled from a parameter")
                }
                template.append(pieces)
            }
            for (name, _) in parameters where !Self.isParameterName(name) {
                throw ActionConfigError(key: "parameters.\(name)", "'\(name)' is not a parameter name (1-64 of A-Z a-z 0-9 _ . -)")
            }
            var used: Set<String> = []
            for (i, pieces) in template.enumerated() {
                for case .placeholder(let p) in pieces {
                    guard parameters[p] != nil else {
                        throw ActionConfigError(key: "argv", "placeholder {\(p)} (in argv[\(i)]) is not declared in parameters")
                    }
                    used.insert(p)
                }
            }
            if let unused = parameters.keys.sorted().first(where: { !used.contains($0) }) {
                throw ActionConfigError(key: "parameters.\(unused)", "is declared but no {\(unused)} placeholder in argv uses it")
            }
            guard timeoutMs > 0 && timeoutMs <= Self.maxTimeoutMs else {
                throw ActionConfigError(key: "timeout", "must be more than 0 and at most \(Units.formatDuration(Self.maxTimeoutMs))")
            }
            guard maxOutputBytes >= 0 && maxOutputBytes <= Self.maxMaxOutputBytes else {
                throw ActionConfigError(key: "max_output", "must be between 0 and \(Units.formatSize(Int64(Self.maxMaxOutputBytes)))")
            }
            self.name = name
            self.argv = argv
            self.template = template
            self.parameters = parameters
            self.timeoutMs = timeoutMs
            self.maxOutputBytes = maxOutputBytes
        }

        /// Why `values` cannot be used for this action: one message per problem (missing, unknown
        /// or invalid parameters), in a stable order; empty when they can.
        public func problems(with values: [String: String]) -> [String] {
            var out: [String] = []
            for name in parameters.keys.sorted() {
                guard let type = parameters[name] else { continue }
                guard let value = values[name] else {
                    out.append("parameter \(name) is missing")
                    continue
                }
                if value.hasPrefix("-") && !type.mayBeginWithDash {
                    out.append(
                        "parameter \(name): '\(Self.shown(value))' begins with '-', which the program could read as an option; \(type.rawValue) values may not (only int values may be negative)"
                    )
                } else if !type.accepts(value) {
                    out.append("parameter \(name): '\(Self.shown(value))' is not \(type.expectation)")
                }
            }
            let declared = parameters.isEmpty ? "none" : parameters.keys.sorted().joined(separator: ", ")
            for name in values.keys.sorted() where parameters[name] == nil {
                out.append("parameter \(Self.shown(name)) is unknown (command '\(self.name)' takes: \(declared))")
            }
            return out
        }

        /// The argv with every placeholder replaced by its value, each value inside the one
        /// element it appears in. Call only with values that have no `problems`.
        public func filledArgv(_ values: [String: String]) -> [String] {
            template.map { pieces in
                var element = ""
                for piece in pieces {
                    switch piece {
                    case .literal(let text): element += text
                    case .placeholder(let name): element += values[name] ?? ""
                    }
                }
                return element
            }
        }

        /// A value as quoted in a message: at most 100 bytes.
        static func shown(_ value: String) -> String {
            value.utf8.count <= 100 ? value : value.truncatedUTF8(100)
        }

        static func isParameterName(_ name: String) -> Bool {
            let b = name.utf8
            guard !b.isEmpty && b.count <= 64 else { return false }
            return b.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E || c == 0x2D
            }
        }

        /// Splits one argv element into literal text and `{name}` placeholders. `{{` and `}}` are
        /// literal braces; any other brace is an error, so a typo never runs as literal text.
        static func parseElement(_ element: String) throws(ActionConfigError) -> [Piece] {
            var pieces: [Piece] = []
            var literal = ""
            let chars = Array(element)
            var i = 0
            while i < chars.count {
                let c = chars[i]
                if c == "{" {
                    if i + 1 < chars.count && chars[i + 1] == "{" {
                        literal.append("{")
                        i += 2
                        continue
                    }
                    guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                        throw ActionConfigError(key: "", "'{' without a closing '}' in '\(element)'; write {{ for a literal brace")
                    }
                    let name = String(chars[(i + 1)..<close])
                    guard isParameterName(name) else {
                        throw ActionConfigError(
                            key: "",
                            "'{\(name)}' in '\(element)' is not a placeholder (1-64 of A-Z a-z 0-9 _ . -); write {{ and }} for literal braces")
                    }
                    if !literal.isEmpty { pieces.append(.literal(literal)) }
                    literal = ""
                    pieces.append(.placeholder(name))
                    i = close + 1
                } else if c == "}" {
                    guard i + 1 < chars.count && chars[i + 1] == "}" else {
                        throw ActionConfigError(key: "", "'}' without an opening '{' in '\(element)'; write }} for a literal brace")
                    }
                    literal.append("}")
                    i += 2
                } else {
                    literal.append(c)
                    i += 1
                }
            }
            if !literal.isEmpty || pieces.isEmpty { pieces.append(.literal(literal)) }
            return pieces
        }
    }

    /// Reads `actions:`, the allow-list of commands the collector may ask for.
    static func readActions(_ top: MapReader, into config: inout AgentConfig) throws(ConfigError) {
        var names: [String: Int] = [:]
        for (i, item) in (try top.list("actions") ?? []).enumerated() {
            let path = "actions[\(i)]"
            let r = try MapReader(item, path: path)
            guard let name = try r.string("name") else { throw ConfigError(line: item.line, key: path, "needs a name") }
            if let first = names[name] {
                throw ConfigError(
                    line: r.node("name")?.line, key: "\(path).name", "'\(name)' is already used by actions[\(first)]; action names must be unique")
            }
            names[name] = i
            guard let argv = try r.stringList("argv") else {
                throw ConfigError(
                    line: item.line, key: "\(path).argv", "needs an argv list, e.g. [/usr/local/bin/run-backfill, --start, \"{start}\"]")
            }
            var parameters: [String: ActionParameterType] = [:]
            if let node = r.node("parameters") {
                guard let entries = node.entries else {
                    throw ConfigError(
                        line: node.line, key: "\(path).parameters", "expected a map of 'name: type' lines (types: date, int, identifier, text)")
                }
                for entry in entries {
                    let key = "\(path).parameters.\(entry.key)"
                    if parameters[entry.key] != nil { throw ConfigError(line: entry.line, key: key, "is declared twice") }
                    guard let text = entry.value.scalar, let type = ActionParameterType(rawValue: text) else {
                        throw ConfigError(
                            line: entry.line, key: key,
                            "'\(entry.value.scalar ?? "?")' is not a parameter type (\(ActionParameterType.allCases.map(\.rawValue).joined(separator: ", ")))"
                        )
                    }
                    parameters[entry.key] = type
                }
            }
            let timeout = try r.duration("timeout") ?? Action.defaultTimeoutMs
            let maxOutput = try r.size("max_output") ?? Int64(Action.defaultMaxOutputBytes)
            do {
                let action = try Action(
                    name: name, argv: argv, parameters: parameters, timeoutMs: timeout,
                    maxOutputBytes: Int(clamping: min(maxOutput, Int64(Int32.max))))
                config.actions.append(action)
            } catch {
                // Point at the line of the key to blame.
                let base = error.key.split(separator: "[").first.map(String.init) ?? error.key
                let head = base.split(separator: ".").first.map(String.init) ?? base
                var line = r.node(head)?.line ?? item.line
                if head == "argv", let index = error.argvIndex, let element = r.node("argv")?.list?[index] { line = element.line }
                if head == "parameters", let pname = error.key.split(separator: ".").dropFirst().first,
                    let entry = r.node("parameters")?.entries?.first(where: { $0.key == pname })
                {
                    line = entry.line
                }
                throw ConfigError(line: line, key: "\(path).\(error.key)", error.message)
            }
            try r.finish()
        }
    }
}

/// A problem with one action's settings; `key` is relative to the action (`argv[2]`, `timeout`).
public struct ActionConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String
    public var description: String { key.isEmpty ? message : "\(key): \(message)" }

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    /// `2` for `argv[2]`.
    var argvIndex: Int? {
        guard key.hasPrefix("argv["), let close = key.firstIndex(of: "]") else { return nil }
        return Int(key[key.index(key.startIndex, offsetBy: 5)..<close])
    }
}
