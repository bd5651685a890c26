import GapwatchProtocol

/// A configuration problem, located by line when it comes from a file.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) { self.message = message }

    init(line: Int?, key: String, _ message: String) {
        if let line {
            self.message = "line \(line): \(key): \(message)"
        } else {
            self.message = "\(key): \(message)"
        }
    }
}

/// Reads one YAML map of the config, tracking which keys were used so unknown keys are errors.
final class MapReader {
    let path: String
    let line: Int
    private let entries: [YAMLEntry]
    private var used: Set<String> = []

    /// `node` must be a map, or null (treated as empty).
    init(_ node: YAMLNode?, path: String) throws(ConfigError) {
        self.path = path
        self.line = node?.line ?? 0
        guard let node, !node.isNull else {
            entries = []
            return
        }
        guard let entries = node.entries else {
            throw ConfigError(line: node.line, key: path.isEmpty ? "config" : path, "expected a map of 'key: value' lines")
        }
        self.entries = entries
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The node for `key`, or nil when absent or null.
    func node(_ key: String) -> YAMLNode? {
        used.insert(key)
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    func has(_ key: String) -> Bool { entries.contains { $0.key == key && !$0.value.isNull } }

    func string(_ key: String) throws(ConfigError) -> String? {
        guard let node = node(key) else { return nil }
        guard let s = node.scalar else {
            throw ConfigError(line: node.line, key: keyPath(key), "expected a single value, not a list or map")
        }
        return s
    }

    func int(_ key: String, range: ClosedRange<Int64>) throws(ConfigError) -> Int64? {
        guard let s = try string(key), let node = node(key) else { return nil }
        guard let v = Int64(s) else { throw ConfigError(line: node.line, key: keyPath(key), "'\(s)' is not a whole number") }
        guard range.contains(v) else {
            throw ConfigError(line: node.line, key: keyPath(key), "\(v) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return v
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let s = try string(key), let node = node(key) else { return nil }
        switch s {
        case "true": return true
        case "false": return false
        default: throw ConfigError(line: node.line, key: keyPath(key), "'\(s)' is not true or false")
        }
    }

    func duration(_ key: String) throws(ConfigError) -> Int64? {
        guard let s = try string(key), let node = node(key) else { return nil }
        guard let v = Units.parseDuration(s) else {
            throw ConfigError(line: node.line, key: keyPath(key), "'\(s)' is not a duration; write e.g. 500ms, 30s, 5m or 1h")
        }
        return v
    }

    /// A duration that must be more than 0.
    func positiveDuration(_ key: String) throws(ConfigError) -> Int64? {
        guard let v = try duration(key) else { return nil }
        if v <= 0 { throw ConfigError(line: node(key)?.line, key: keyPath(key), "must be more than 0") }
        return v
    }

    func size(_ key: String) throws(ConfigError) -> Int64? {
        guard let s = try string(key), let node = node(key) else { return nil }
        guard let v = Units.parseSize(s) else {
            throw ConfigError(line: node.line, key: keyPath(key), "'\(s)' is not a size; write e.g. 64MiB, 512KiB or a number of bytes")
        }
        return v
    }

    func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let node = node(key) else { return nil }
        guard let items = node.list else {
            throw ConfigError(line: node.line, key: keyPath(key), "expected a list, e.g. [a, \"b c\"]")
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = item.scalar else {
                throw ConfigError(line: item.line, key: "\(keyPath(key))[\(i)]", "expected a string")
            }
            out.append(s)
        }
        return out
    }

    func stringMap(_ key: String) throws(ConfigError) -> [String: String]? {
        guard let node = node(key) else { return nil }
        guard let entries = node.entries else {
            throw ConfigError(line: node.line, key: keyPath(key), "expected a map of 'name: value' lines")
        }
        var out: [String: String] = [:]
        for entry in entries {
            guard let s = entry.value.scalar else {
                throw ConfigError(line: entry.line, key: "\(keyPath(key)).\(entry.key)", "expected a string value")
            }
            out[entry.key] = s
        }
        return out
    }

    func list(_ key: String) throws(ConfigError) -> [YAMLNode]? {
        guard let node = node(key) else { return nil }
        guard let items = node.list else {
            throw ConfigError(line: node.line, key: keyPath(key), "expected a list of items ('- name: ...')")
        }
        return items
    }

    /// Fails on the first key nobody asked for, suggesting the nearest known key.
    func finish() throws(ConfigError) {
        for entry in entries where !used.contains(entry.key) {
            let known = used.sorted()
            var message = "unknown key '\(keyPath(entry.key))'"
            if let guess = known.min(by: { editDistance($0, entry.key) < editDistance($1, entry.key) }),
                editDistance(guess, entry.key) <= max(2, entry.key.count / 3)
            {
                message += "; did you mean '\(keyPath(guess))'?"
            }
            message += " (known keys here: \(known.joined(separator: ", ")))"
            throw ConfigError("line \(entry.line): \(message)")
        }
    }
}
