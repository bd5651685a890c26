import Foundation
import GapwatchProtocol
import Yams

/// Everything the collector reads from its YAML config. Every key is documented in
/// collector/collector.example.yaml; with no config file the defaults here are the embedded default.
public struct CollectorConfig: Sendable {
    public var listenHost = "127.0.0.1"
    public var listenPort = 7070
    public var databasePath = "./gapwatch.db"
    /// Where a first start writes the generated tokens; default: beside the database.
    public var tokenFile: String?
    /// The agent id the generated agent token is bound to; default: this host's name.
    public var bootstrapAgentID: String = HostName.agentID()
    public var synchronous: SynchronousMode = .normal
    public var busyTimeoutMs: Millis = 5_000
    public var checkpointIntervalMs: Millis = 60_000
    public var journalSizeLimitBytes = 64 << 20
    /// Raw observations older than this are pruned (their per-day rollups stay); nil: kept for ever.
    public var retentionMs: Millis?
    /// Observations deleted per transaction while pruning: small, so ingest never waits long.
    public var retentionBatch = 2_000
    public var limits = ReportLimits.default
    /// Timeouts and connection caps of the HTTP server (`listen_limits:`).
    public var listenLimits = ListenLimits()
    public var logLevel = "info"
    /// Checks, run expectations, liveness and notification channels.
    public var detection = DetectionConfig()
    /// Completeness and staleness rules, actions and their guardrails.
    public var remediation = RemediationConfig()
    /// What a shared (fleet) token may do: new agent ids per hour, when commands follow a new stream.
    public var fleet = FleetConfig()
    /// Agents' vouched-for service and labels (`agents:`) and who may report which facts (`owners:`).
    public var ownership = OwnershipConfig()

    public init() {}

    /// The token file path: the configured one, or the database path with a `.tokens` extension.
    public var effectiveTokenFile: String {
        if let tokenFile { return tokenFile }
        let db = databasePath
        if db.hasSuffix(".db") { return String(db.dropLast(3)) + ".tokens" }
        return db + ".tokens"
    }

    public var storageOptions: StorageOptions {
        var options = StorageOptions(path: databasePath)
        options.synchronous = synchronous
        options.busyTimeoutSeconds = Double(busyTimeoutMs) / 1000
        options.journalSizeLimitBytes = journalSizeLimitBytes
        return options
    }

    /// Parses a config file's text. Unknown keys are errors: a typo must not silently fall back to a default.
    /// Errors carry the line of the key they name (`ConfigError.line`), found in the composed YAML.
    public static func parse(yaml text: String) throws(ConfigError) -> CollectorConfig {
        do {
            return try parseValues(yaml: text)
        } catch {
            throw error.located(in: text)
        }
    }

    private static func parseValues(yaml text: String) throws(ConfigError) -> CollectorConfig {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw ConfigError("not valid YAML: \(error)")
        }
        var config = CollectorConfig()
        guard let loaded else { return config }
        guard let root = loaded as? [String: Any] else { throw ConfigError("the top level must be a map of keys") }
        var reader = MapReader(root, path: "")
        if let listen = try reader.string("listen") {
            let (host, port) = try parseListen(listen)
            config.listenHost = host
            config.listenPort = port
        }
        config.databasePath = try reader.string("database") ?? config.databasePath
        config.tokenFile = try reader.string("token_file")
        config.bootstrapAgentID = try reader.string("bootstrap_agent_id") ?? config.bootstrapAgentID
        config.logLevel = try reader.string("log_level") ?? config.logLevel
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(config.logLevel) {
            throw ConfigError("log_level: '\(config.logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        if var storage = try reader.map("storage") {
            if let mode = try storage.string("synchronous") {
                guard let parsed = SynchronousMode(rawValue: mode.lowercased()) else {
                    throw ConfigError("storage.synchronous: '\(mode)' is not one of normal, full")
                }
                config.synchronous = parsed
            }
            config.busyTimeoutMs = try storage.duration("busy_timeout") ?? config.busyTimeoutMs
            config.checkpointIntervalMs = try storage.duration("checkpoint_interval") ?? config.checkpointIntervalMs
            config.journalSizeLimitBytes = try storage.byteSize("journal_size_limit") ?? config.journalSizeLimitBytes
            config.retentionMs = try storage.duration("retention")
            config.retentionBatch = try storage.int("retention_batch") ?? config.retentionBatch
            try storage.finish()
        }
        if var limits = try reader.map("limits") {
            config.limits.maxBodyBytes = try limits.byteSize("max_body_bytes") ?? config.limits.maxBodyBytes
            config.limits.maxInflatedBytes = try limits.byteSize("max_inflated_bytes") ?? config.limits.maxInflatedBytes
            config.limits.maxObservations = try limits.int("max_observations") ?? config.limits.maxObservations
            try limits.finish()
        }
        try config.listenLimits.parse(&reader)
        try config.detection.parse(&reader)
        try config.fleet.parse(&reader)
        var names = Set(config.detection.checks.map(\.name) + config.detection.expectations.map(\.name))
        try config.remediation.parse(&reader, names: &names)
        try config.ownership.parse(&reader)
        try reader.finish()
        for (i, expectation) in config.detection.expectations.enumerated() {
            if let rerun = expectation.rerun, config.remediation.actions[rerun] == nil {
                throw ConfigError("expectations[\(i)].rerun: unknown action '\(rerun)'; declare it under actions:")
            }
        }
        // Rules judge raw counts and item statuses: pruning inside their window would blind them.
        let needed = config.remediation.completeness.map { Millis($0.rule.lookback) * $0.rule.granularity.seconds * 1000 + 86_400_000 }.max() ?? 0
        if let retention = config.retentionMs, retention < max(needed, 86_400_000) {
            throw ConfigError(
                "storage.retention: \(Units.formatDuration(retention)) is shorter than \(Units.formatDuration(max(needed, 86_400_000))) (at least a day, and the longest completeness lookback plus a day)"
            )
        }
        return config
    }

    public static func load(path: String) throws(ConfigError) -> CollectorConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read config file \(path)")
        }
        do {
            return try parse(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            // "collector.yaml: line 12: storage.retension: unknown key; did you mean 'retention'?"
            throw ConfigError("\(path): \(error.description)")
        }
    }
}

/// A config problem. `message` names the key path ("storage.retention: ..."); `line` and
/// `column` (1-based) locate that key in the file when it is there; `description` shows both,
/// as the agent's config errors do ("line 12: storage.retension: unknown key; ...").
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var line: Int?
    public var column: Int?
    /// The key path the error is about when `message` does not start with it.
    var keyPath: String?

    public init(_ message: String) { self.message = message }

    init(_ message: String, keyPath: String) {
        self.message = message
        self.keyPath = keyPath
    }

    public var description: String { line.map { "line \($0): \(message)" } ?? message }

    /// This error with the line of its key in `yaml` (the deepest part of the key path that is
    /// in the file: a missing required key points at the map that lacks it).
    func located(in yaml: String) -> ConfigError {
        guard line == nil, let path = keyPath ?? Self.leadingKeyPath(message),
            let root = try? Yams.compose(yaml: yaml), let mark = Self.mark(of: path, in: root)
        else { return self }
        var located = self
        located.line = mark.line
        located.column = mark.column
        return located
    }

    /// "checks[0].every" from "checks[0].every: must be longer than 0"; nil when the message
    /// does not start with a key path.
    static func leadingKeyPath(_ message: String) -> String? {
        guard let colon = message.firstIndex(of: ":") else { return nil }
        let path = message[..<colon]
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.[]")
        guard !path.isEmpty, path.allSatisfy(allowed.contains) else { return nil }
        return String(path)
    }

    /// The mark of the deepest node on `path` ("a.b[2].c"): a key's own mark for a map key, the
    /// item's for a list index.
    static func mark(of path: String, in root: Node) -> Mark? {
        var node = root
        var found: Mark?
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var key = Substring(part)
            var indexes: [Int] = []
            while key.hasSuffix("]"), let open = key.lastIndex(of: "["), let i = Int(key[key.index(after: open)..<key.index(before: key.endIndex)]) {
                indexes.insert(i, at: 0)
                key = key[..<open]
            }
            guard let mapping = node.mapping, let pair = mapping.first(where: { $0.key.string == String(key) }) else { return found }
            found = pair.key.mark ?? found
            node = pair.value
            for i in indexes {
                guard let items = node.sequence, i >= 0, i < items.count else { return found }
                node = items[i]
                found = node.mark ?? found
            }
        }
        return found
    }
}

/// "127.0.0.1:7070", "[::1]:7070", "0.0.0.0:80" → (host, port).
public func parseListen(_ text: String) throws(ConfigError) -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { throw ConfigError("listen: '\(text)' is not HOST:PORT (e.g. 127.0.0.1:7070)") }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host.isEmpty { throw ConfigError("listen: '\(text)' has no host") }
    return (host, port)
}

/// Reads typed keys out of a YAML map and remembers which were used, so leftovers can be refused.
struct MapReader {
    private var map: [String: Any]
    let path: String
    /// Every key asked for here: what an unknown key is compared with for "did you mean".
    private var asked: Set<String> = []

    /// While set, every key path any reader asks for is recorded (the documentation test
    /// checks each appears in collector/collector.example.yaml).
    @TaskLocal static var recorder: KeyRecorder?

    init(_ map: [String: Any], path: String) {
        self.map = map
        self.path = path
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func raw(_ key: String) -> Any? {
        asked.insert(key)
        Self.recorder?.record(name(key))
        return map.removeValue(forKey: key)
    }

    mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let value = raw(key) else { return nil }
        if let s = value as? String { return s }
        if let i = value as? Int { return String(i) }
        throw ConfigError("\(name(key)): expected a string")
    }

    mutating func int(_ key: String, allowZero: Bool = false) throws(ConfigError) -> Int? {
        guard let value = raw(key) else { return nil }
        guard let i = value as? Int, i > 0 || (allowZero && i == 0) else {
            throw ConfigError("\(name(key)): expected a \(allowZero ? "whole number of 0 or more" : "positive whole number")")
        }
        return i
    }

    mutating func duration(_ key: String, allowZero: Bool = false) throws(ConfigError) -> Millis? {
        guard let value = raw(key) else { return nil }
        let text = (value as? String) ?? (value as? Int).map(String.init) ?? ""
        guard let ms = Units.parseDuration(text) else {
            throw ConfigError("\(name(key)): '\(text)' is not a duration (e.g. 500ms, 30s, 5m, 1h)")
        }
        if ms == 0 && !allowZero { throw ConfigError("\(name(key)): must be longer than 0") }
        return ms
    }

    mutating func double(_ key: String) throws(ConfigError) -> Double? {
        guard let value = raw(key) else { return nil }
        if let d = value as? Double { return d }
        if let i = value as? Int { return Double(i) }
        throw ConfigError("\(name(key)): expected a number")
    }

    mutating func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let value = raw(key) else { return nil }
        guard let list = value as? [Any] else { throw ConfigError("\(name(key)): expected a list") }
        var out: [String] = []
        for item in list {
            if let s = item as? String {
                out.append(s)
            } else if let i = item as? Int {
                out.append(String(i))
            } else {
                throw ConfigError("\(name(key)): expected a list of strings")
            }
        }
        return out
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let value = raw(key) else { return nil }
        guard let b = value as? Bool else { throw ConfigError("\(name(key)): expected true or false") }
        return b
    }

    mutating func list(_ key: String) throws(ConfigError) -> [Any]? {
        guard let value = raw(key) else { return nil }
        guard let l = value as? [Any] else { throw ConfigError("\(name(key)): expected a list") }
        return l
    }

    /// A map of string to string, such as labels.
    mutating func stringMap(_ key: String) throws(ConfigError) -> [String: String]? {
        guard let value = raw(key) else { return nil }
        guard let m = value as? [String: Any] else { throw ConfigError("\(name(key)): expected a map of names to values") }
        var out: [String: String] = [:]
        for (k, v) in m {
            if let s = v as? String {
                out[k] = s
            } else if let i = v as? Int {
                out[k] = String(i)
            } else if let b = v as? Bool {
                out[k] = String(b)
            } else {
                throw ConfigError("\(name(key)).\(k): expected a string")
            }
        }
        return out
    }

    /// One entry of a list that must be a map.
    static func item(_ value: Any, path: String) throws(ConfigError) -> MapReader {
        guard let m = value as? [String: Any] else { throw ConfigError("\(path): expected a map of keys") }
        return MapReader(m, path: path)
    }

    mutating func byteSize(_ key: String) throws(ConfigError) -> Int? {
        guard let value = raw(key) else { return nil }
        let text = (value as? String) ?? (value as? Int).map(String.init) ?? ""
        guard let size = Units.parseSize(text), size > 0, let bytes = Int(exactly: size) else {
            throw ConfigError("\(name(key)): '\(text)' is not a size (e.g. 4096, 512KiB, 64MiB)")
        }
        return bytes
    }

    mutating func map(_ key: String) throws(ConfigError) -> MapReader? {
        guard let value = raw(key) else { return nil }
        guard let m = value as? [String: Any] else { throw ConfigError("\(name(key)): expected a map of keys") }
        return MapReader(m, path: name(key))
    }

    /// Fails on the first key nobody asked for, suggesting the nearest known key.
    func finish() throws(ConfigError) {
        guard let unknown = map.keys.sorted().first else { return }
        var message = "\(name(unknown)): unknown key"
        let known = asked.sorted()
        if let guess = known.min(by: { editDistance($0, unknown) < editDistance($1, unknown) }),
            editDistance(guess, unknown) <= max(2, unknown.count / 3)
        {
            message += "; did you mean '\(guess)'?"
        }
        message += known.isEmpty ? "" : " (known keys here: \(known.joined(separator: ", ")))"
        throw ConfigError(message, keyPath: name(unknown))
    }
}

/// Records the key paths config readers ask for, list indexes folded ("checks[].every").
public final class KeyRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: Set<String> = []

    public init() {}

    func record(_ path: String) {
        let folded = path.replacingOccurrences(of: #"\[[0-9]+\]"#, with: "[]", options: .regularExpression)
        lock.withLock { _ = paths.insert(folded) }
    }

    public var recorded: Set<String> { lock.withLock { paths } }

    /// Runs `body` with every key asked for by the collector config's readers recorded here.
    public func recording<T>(_ body: () throws -> T) rethrows -> T {
        try MapReader.$recorder.withValue(self, operation: body)
    }
}
