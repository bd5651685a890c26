import GapwatchProtocol

/// The agent's whole configuration, with every default filled in.
///
/// Built from `agent.yaml` by `AgentConfig.load(path:environment:)`; agent/agent.example.yaml
/// documents every key.
public struct AgentConfig: Sendable {
    public struct Identity: Sendable {
        /// Defaults to the host name (characters outside `[A-Za-z0-9._:-]` become `-`).
        public var id: String
        public var service: String = ""
        public var labels: [String: String] = [:]
    }

    public struct Collector: Sendable {
        public var url: String = "http://127.0.0.1:7070"
        /// The bearer token. Never logged or printed; `render()` redacts it.
        public var token: String?
        /// Where the token came from, for `check-config`: `collector.token`, a file path, or the env.
        public var tokenSource: String = "none"
        /// `collector.token_file`, re-read when it was unreadable at start and after a 401/403, so a
        /// token written later (or rotated) is picked up without a restart.
        public var tokenFile: String?
        /// Why `tokenFile` could not be read when the config was loaded.
        public var tokenFileProblem: String?
        public var connectTimeoutMs: Int64 = 5_000
        public var timeoutMs: Int64 = 30_000
        public var batchMax: Int = 500
        public var shipIntervalMs: Int64 = 1_000
        /// The ceiling of the shipper's exponential backoff (full jitter) between failed attempts.
        public var backoffMaxMs: Int64 = 300_000

        /// `<url>/v1/reports`.
        public var reportsURL: String { url + "/v1/reports" }
    }

    public struct Heartbeat: Sendable {
        /// 0 disables the agent's own heartbeat.
        public var intervalMs: Int64 = 30_000
        public var name: String
    }

    public struct Spool: Sendable {
        public var dir: String = "./gapwatch-agent-spool"
        public var maxBytes: Int64 = 64 << 20
        public var segmentBytes: Int64 = 1 << 20
    }

    /// A loopback address for the local push endpoint.
    public struct Listen: Sendable, CustomStringConvertible {
        public var host: String = "127.0.0.1"
        public var port: UInt16 = 7071
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        /// `http://host:port`, for clients.
        public var url: String { "http://\(description)" }
    }

    public struct HTTPProbe: Sendable {
        public var name: String
        public var url: String
        public var job: String?
        public var expectStatus: Int = 200
        public var timeoutMs: Int64 = 5_000
        public var intervalMs: Int64 = 60_000

        public init(name: String, url: String, job: String? = nil, expectStatus: Int = 200, timeoutMs: Int64 = 5_000, intervalMs: Int64 = 60_000) {
            self.name = name
            self.url = url
            self.job = job
            self.expectStatus = expectStatus
            self.timeoutMs = timeoutMs
            self.intervalMs = intervalMs
        }
    }

    public struct CommandProbe: Sendable {
        public enum Emit: String, Sendable, CaseIterable {
            /// Only the probe's own ok/fail heartbeat.
            case none
            /// `PARTITION<sep>COUNT` lines become `count` observations of `dataset`.
            case count
            /// `ID<sep>STATUS[<sep>REFERENCE_TIME]` lines become `item_status` observations.
            case itemStatus = "item_status"
        }
        public var name: String
        public var argv: [String]
        public var intervalMs: Int64 = 60_000
        public var timeoutMs: Int64 = 30_000
        public var emit: Emit = .none
        public var dataset: String?
        public var itemKind: String?
        /// Which partitions one successful run of an `emit: count` probe lists (its snapshot).
        public var covers: CountCoverage = .none
        /// The zone times without a UTC offset are read in (and the zone of `covers`' window);
        /// nil: such a time is an error.
        public var timeZone: ZoneRules?

        public init(
            name: String, argv: [String], intervalMs: Int64 = 60_000, timeoutMs: Int64 = 30_000, emit: Emit = .none,
            dataset: String? = nil, itemKind: String? = nil, covers: CountCoverage = .none, timeZone: ZoneRules? = nil
        ) {
            self.name = name
            self.argv = argv
            self.intervalMs = intervalMs
            self.timeoutMs = timeoutMs
            self.emit = emit
            self.dataset = dataset
            self.itemKind = itemKind
            self.covers = covers
            self.timeZone = timeZone
        }
    }

    public var agent: Identity
    public var collector = Collector()
    public var heartbeat: Heartbeat
    public var spool = Spool()
    public var listen = Listen()
    /// A file holding the push endpoint's token (`listen_token_file:`); nil: pushes need none.
    public var listenTokenFile: String?
    public var httpProbes: [HTTPProbe] = []
    public var commandProbes: [CommandProbe] = []
    /// The allow-list of commands the collector may ask this agent to run (`actions:`).
    public var actions: [Action] = []
    /// A scheduler's job inventory and its targets' health (`scheduler:`); nil when not configured.
    public var scheduler: Scheduler?
    /// A lock listing (`locks:`); nil when not configured.
    public var locks: Locks?

    /// The agent's version, sent in its identity.
    public static let version = GapwatchVersion.number

    /// Whether any configured URL needs TLS (so libcurl's TLS setup is worth its memory).
    public var needsTLS: Bool {
        // A scheduler's job targets are known only at run time, and are usually https.
        collector.url.hasPrefix("https://") || httpProbes.contains { $0.url.hasPrefix("https://") } || scheduler != nil
    }

    public var identity: AgentIdentity {
        AgentIdentity(id: agent.id, service: agent.service, host: HostName.current(), version: Self.version, labels: agent.labels)
    }

    // MARK: - Loading

    /// Reads and validates a config file. `environment` supplies `GAPWATCH_AGENT_TOKEN`.
    public static func load(path: String, environment: [String: String]) throws(ConfigError) -> AgentConfig {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: 1 << 20)
        } catch {
            throw ConfigError("cannot read the config: \(error)")
        }
        do {
            return try parse(yaml: String(decoding: bytes, as: UTF8.self), environment: environment)
        } catch {
            throw ConfigError("\(path): \(error.message)")
        }
    }

    /// Parses and validates config text. An empty text gives the defaults.
    public static func parse(yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> AgentConfig {
        let root: YAMLNode
        do {
            root = try YAML.parse(yaml)
        } catch {
            throw ConfigError(error.description)
        }
        let top = try MapReader(root, path: "")
        var config = try readIdentityAndHeartbeat(top)
        try readCollector(top, into: &config, environment: environment)
        try readSpool(top, into: &config)
        if let listenNode = top.node("listen") {
            guard let text = listenNode.scalar else {
                throw ConfigError(line: listenNode.line, key: "listen", "expected host:port, e.g. 127.0.0.1:7071")
            }
            do {
                config.listen = try parseListen(text)
            } catch {
                throw ConfigError(line: listenNode.line, key: "listen", error.message)
            }
        }
        if let path = try top.string("listen_token_file") {
            guard !path.isEmpty else { throw ConfigError(line: top.node("listen_token_file")?.line, key: "listen_token_file", "is empty") }
            config.listenTokenFile = path
        }
        try readProbes(top, into: &config)
        try readActions(top, into: &config)
        try readScheduler(top, into: &config)
        try readLocks(top, into: &config)
        try top.finish()
        return config
    }

    /// Parses `host:port` and refuses anything but a loopback host: the push endpoint is for this
    /// host's services only (its token, `listen_token_file`, is optional).
    public static func parseListen(_ text: String) throws(ConfigError) -> Listen {
        var host: String
        var portText: String
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ConfigError("'\(text)' has no closing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":") else { throw ConfigError("'\(text)' needs a port, e.g. [::1]:7071") }
            portText = String(after.dropFirst())
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConfigError("'\(text)' is not host:port, e.g. 127.0.0.1:7071")
            }
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = UInt16(portText) else { throw ConfigError("'\(portText)' is not a port number (0-65535)") }
        if host == "localhost" { host = "127.0.0.1" }
        guard isLoopback(host) else {
            throw ConfigError(
                "'\(host)' is not a loopback address; the local push endpoint is for this host's services, so it may only listen on 127.0.0.1, ::1 or localhost"
            )
        }
        return Listen(host: host, port: port)
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    private static func readIdentityAndHeartbeat(_ top: MapReader) throws(ConfigError) -> AgentConfig {
        let a = try MapReader(top.node("agent"), path: "agent")
        var identity = Identity(id: defaultAgentID())
        if let id = try a.string("id") { identity.id = id }
        if let service = try a.string("service") { identity.service = service }
        if let labels = try a.stringMap("labels") { identity.labels = labels }
        // The protocol's own rules decide what a valid identity is.
        let probe = Report(
            agent: AgentIdentity(id: identity.id, service: identity.service, host: "h", version: version, labels: identity.labels),
            bootID: "b", spoolID: "s", sentAt: FieldLimits.earliestTime, observations: [])
        do {
            try probe.validate()
        } catch {
            let line = a.has("id") && error.field == "agent.id" ? a.node("id")?.line : a.line
            throw ConfigError(line: line == 0 ? nil : line, key: error.field, error.message)
        }
        try a.finish()

        let h = try MapReader(top.node("heartbeat"), path: "heartbeat")
        var heartbeat = Heartbeat(name: "agent:\(identity.id)")
        if let interval = try h.duration("interval") { heartbeat.intervalMs = interval }
        if let name = try h.string("name") {
            try checkName(name, line: h.node("name")?.line, key: "heartbeat.name")
            heartbeat.name = name
        }
        try h.finish()
        return AgentConfig(agent: identity, heartbeat: heartbeat)
    }

    private static func readCollector(_ top: MapReader, into config: inout AgentConfig, environment: [String: String]) throws(ConfigError) {
        let c = try MapReader(top.node("collector"), path: "collector")
        if let url = try c.string("url") {
            let line = c.node("url")?.line
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ConfigError(line: line, key: "collector.url", "'\(url)' must start with http:// or https://")
            }
            let authority = url.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" }
            if authority.contains("@") {
                throw ConfigError(line: line, key: "collector.url", "must not contain credentials; use collector.token or collector.token_file")
            }
            if authority.isEmpty { throw ConfigError(line: line, key: "collector.url", "has no host") }
            if url.contains("?") || url.contains("#") {
                throw ConfigError(line: line, key: "collector.url", "must be a base URL without query or fragment")
            }
            var base = url
            while base.hasSuffix("/") { base.removeLast() }
            config.collector.url = base
        }
        let inlineToken = try c.string("token")
        let tokenFile = try c.string("token_file")
        if inlineToken != nil && tokenFile != nil {
            throw ConfigError(
                line: c.node("token_file")?.line, key: "collector.token_file", "give either collector.token or collector.token_file, not both")
        }
        if let inlineToken {
            guard !inlineToken.trimmed.isEmpty else { throw ConfigError(line: c.node("token")?.line, key: "collector.token", "is empty") }
            config.collector.token = inlineToken.trimmed
            config.collector.tokenSource = "collector.token"
        } else if let tokenFile {
            config.collector.tokenFile = tokenFile
            config.collector.tokenSource = tokenFile
            do throws(TokenFileError) {
                config.collector.token = try readTokenFile(tokenFile)
            } catch {
                switch error {
                case .unreadable(let why):
                    // Not fatal: the file may be written later (e.g. by the collector's first start).
                    config.collector.tokenFileProblem = why
                case .invalid(let why):
                    throw ConfigError(line: c.node("token_file")?.line, key: "collector.token_file", why)
                }
            }
        } else if let env = environment["GAPWATCH_AGENT_TOKEN"], !env.trimmed.isEmpty {
            config.collector.token = env.trimmed
            config.collector.tokenSource = "environment GAPWATCH_AGENT_TOKEN"
        }
        if let token = config.collector.token, token.contains(where: { $0.isNewline || $0 == " " || $0 == "\t" }) {
            throw ConfigError("collector token (from \(config.collector.tokenSource)) must be one word without spaces")
        }
        if let v = try c.positiveDuration("connect_timeout") { config.collector.connectTimeoutMs = v }
        if let v = try c.positiveDuration("timeout") { config.collector.timeoutMs = v }
        if let v = try c.int("batch_max", range: 1...Int64(Int32.max)) {
            config.collector.batchMax = min(Int(v), ReportLimits.default.maxObservations)
        }
        if let v = try c.duration("ship_interval") { config.collector.shipIntervalMs = v }
        if let v = try c.duration("backoff_max") {
            // Below a second the jittered retries of a fleet would come close to a storm.
            guard v >= 1_000 else { throw ConfigError(line: c.node("backoff_max")?.line, key: "collector.backoff_max", "must be at least 1s") }
            config.collector.backoffMaxMs = v
        }
        try c.finish()
    }

    /// Why a token file gave no token.
    public enum TokenFileError: Error, Sendable {
        /// Missing or not readable (yet).
        case unreadable(String)
        /// Readable but not a token file.
        case invalid(String)
    }

    /// A token file holds the token alone, or `KEY=VALUE` lines with `GAPWATCH_AGENT_TOKEN=...`.
    public static func readTokenFile(_ path: String) throws(TokenFileError) -> String {
        let text: String
        do {
            text = String(decoding: try FileIO.read(path, limit: 64 * 1024), as: UTF8.self)
        } catch {
            throw .unreadable("cannot read the token file: \(error)")
        }
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(\.trimmed).filter {
            !$0.isEmpty && !$0.hasPrefix("#")
        }
        if lines.contains(where: { $0.contains("=") }) {
            for line in lines {
                var l = Substring(line)
                if l.hasPrefix("export ") { l = l.dropFirst(7) }
                guard let eq = l.firstIndex(of: "=") else { continue }
                if l[..<eq].trimmed == "GAPWATCH_AGENT_TOKEN" {
                    var value = l[l.index(after: eq)...].trimmed
                    if value.count >= 2, let f = value.first, f == value.last, f == "\"" || f == "'" {
                        value = String(value.dropFirst().dropLast())
                    }
                    guard !value.isEmpty else { throw .invalid("GAPWATCH_AGENT_TOKEN is empty in \(path)") }
                    guard !value.contains(where: { $0 == " " || $0 == "\t" }) else {
                        throw .invalid("GAPWATCH_AGENT_TOKEN in \(path) must be one word without spaces")
                    }
                    return value
                }
            }
            throw .invalid("\(path) has KEY=VALUE lines but no GAPWATCH_AGENT_TOKEN=...")
        }
        guard lines.count == 1, !lines[0].contains(where: { $0 == " " || $0 == "\t" }) else {
            throw .invalid("\(path) must hold the token alone on one line, or a GAPWATCH_AGENT_TOKEN=... line")
        }
        return lines[0]
    }

    private static func readSpool(_ top: MapReader, into config: inout AgentConfig) throws(ConfigError) {
        let s = try MapReader(top.node("spool"), path: "spool")
        if let dir = try s.string("dir") {
            guard !dir.isEmpty else { throw ConfigError(line: s.node("dir")?.line, key: "spool.dir", "is empty") }
            config.spool.dir = dir
        }
        if let v = try s.size("max_bytes") { config.spool.maxBytes = v }
        if let v = try s.size("segment_bytes") { config.spool.segmentBytes = v }
        if config.spool.segmentBytes < 4096 {
            throw ConfigError(line: s.node("segment_bytes")?.line, key: "spool.segment_bytes", "must be at least 4KiB")
        }
        if config.spool.maxBytes < 2 * config.spool.segmentBytes {
            throw ConfigError(
                line: s.node("max_bytes")?.line ?? s.node("segment_bytes")?.line, key: "spool.max_bytes",
                "\(Units.formatSize(config.spool.maxBytes)) must be at least twice spool.segment_bytes (\(Units.formatSize(config.spool.segmentBytes)))"
            )
        }
        try s.finish()
    }

    private static func readProbes(_ top: MapReader, into config: inout AgentConfig) throws(ConfigError) {
        let p = try MapReader(top.node("probes"), path: "probes")
        var names: [String: Int] = [config.heartbeat.name: 0]
        func claim(_ name: String, line: Int, key: String) throws(ConfigError) {
            try checkName(name, line: line, key: key)
            if let first = names[name] {
                let other = first == 0 ? "heartbeat.name" : "line \(first)"
                throw ConfigError(line: line, key: key, "'\(name)' is already used (\(other)); probe names must be unique")
            }
            names[name] = line
        }
        for (i, item) in (try p.list("http") ?? []).enumerated() {
            let path = "probes.http[\(i)]"
            let r = try MapReader(item, path: path)
            guard let name = try r.string("name") else { throw ConfigError(line: item.line, key: path, "needs a name") }
            try claim(name, line: r.node("name")!.line, key: "\(path).name")
            guard let url = try r.string("url") else { throw ConfigError(line: item.line, key: path, "needs a url") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count <= FieldLimits.url else {
                throw ConfigError(line: r.node("url")?.line, key: "\(path).url", "'\(url)' must be an http:// or https:// URL")
            }
            var probe = HTTPProbe(name: name, url: url)
            if let job = try r.string("job") {
                try checkName(job, line: r.node("job")?.line, key: "\(path).job")
                probe.job = job
            }
            if let v = try r.int("expect_status", range: 100...599) { probe.expectStatus = Int(v) }
            if let v = try r.positiveDuration("timeout") { probe.timeoutMs = v }
            if let v = try r.positiveDuration("interval") { probe.intervalMs = v }
            try r.finish()
            config.httpProbes.append(probe)
        }
        for (i, item) in (try p.list("commands") ?? []).enumerated() {
            let path = "probes.commands[\(i)]"
            let r = try MapReader(item, path: path)
            guard let name = try r.string("name") else { throw ConfigError(line: item.line, key: path, "needs a name") }
            try claim(name, line: r.node("name")!.line, key: "\(path).name")
            guard let argv = try r.stringList("argv"), let first = argv.first, !first.isEmpty else {
                throw ConfigError(
                    line: r.node("argv")?.line ?? item.line, key: "\(path).argv", "needs a non-empty argv list, e.g. [psql, -At, -c, \"select 1\"]")
            }
            _ = first
            var probe = CommandProbe(name: name, argv: argv)
            if let v = try r.positiveDuration("interval") { probe.intervalMs = v }
            if let v = try r.positiveDuration("timeout") { probe.timeoutMs = v }
            if let e = try r.string("emit") {
                guard let emit = CommandProbe.Emit(rawValue: e) else {
                    throw ConfigError(line: r.node("emit")?.line, key: "\(path).emit", "'\(e)' is not one of count, item_status, none")
                }
                probe.emit = emit
            }
            probe.dataset = try r.string("dataset")
            probe.itemKind = try r.string("item_kind")
            switch probe.emit {
            case .count:
                guard let d = probe.dataset else { throw ConfigError(line: item.line, key: path, "emit: count needs a dataset") }
                try checkName(d, line: r.node("dataset")?.line, key: "\(path).dataset")
            case .itemStatus:
                guard let k = probe.itemKind else { throw ConfigError(line: item.line, key: path, "emit: item_status needs an item_kind") }
                try checkName(k, line: r.node("item_kind")?.line, key: "\(path).item_kind")
            case .none:
                break
            }
            if probe.dataset != nil && probe.emit != .count {
                throw ConfigError(line: r.node("dataset")?.line, key: "\(path).dataset", "is only used with emit: count")
            }
            if probe.itemKind != nil && probe.emit != .itemStatus {
                throw ConfigError(line: r.node("item_kind")?.line, key: "\(path).item_kind", "is only used with emit: item_status")
            }
            if let zone = try r.string("timezone") {
                do {
                    probe.timeZone = try ZoneRules.load(zone)
                } catch {
                    throw ConfigError(line: r.node("timezone")?.line, key: "\(path).timezone", error.message)
                }
            }
            let coversText = try r.string("covers")
            switch (probe.emit, coversText) {
            case (.count, nil):
                throw ConfigError(
                    line: item.line, key: "\(path).covers",
                    "required with emit: count: which partitions one run lists, so that a partition it stops listing reads as 0. "
                        + "A window matching the query's filter (3d: today and the 2 days before; 48h for hourly partitions), "
                        + "all (the query has no date filter), or none (never zeroed)")
            case (.count, let text?):
                guard let covers = CountCoverage.parse(text) else {
                    throw ConfigError(
                        line: r.node("covers")?.line, key: "\(path).covers",
                        "'\(text)' is not all, none, or a window of whole days or hours (3d, 48h)")
                }
                probe.covers = covers
            case (_, _?):
                throw ConfigError(line: r.node("covers")?.line, key: "\(path).covers", "is only used with emit: count")
            default:
                break
            }
            try r.finish()
            config.commandProbes.append(probe)
        }
        try p.finish()
    }

    static func checkName(_ name: String, line: Int?, key: String) throws(ConfigError) {
        do {
            try ObservationBody.heartbeat(GapwatchProtocol.Heartbeat(name: name, status: .ok)).validate(path: "x")
        } catch {
            throw ConfigError(line: line, key: key, error.message)
        }
    }

    /// The host name, reduced to the characters an agent id may hold.
    public static func defaultAgentID() -> String { HostName.agentID() }
}
