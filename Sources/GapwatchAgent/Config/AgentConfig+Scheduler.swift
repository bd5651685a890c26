import GapwatchProtocol

extension AgentConfig {
    /// A command whose stdout is a JSON listing (`scheduler.jobs_command`, `locks`).
    public struct ListingCommand: Sendable, Equatable {
        public var argv: [String]
        public var timeoutMs: Int64
        /// The zone times without a UTC offset are read in; nil: such a time is an error.
        public var timeZone: ZoneRules?

        public init(argv: [String], timeoutMs: Int64, timeZone: ZoneRules? = nil) {
            self.argv = argv
            self.timeoutMs = timeoutMs
            self.timeZone = timeZone
        }

        /// Reads the listing's times; `setting` names where its zone is configured.
        func times(setting: String) -> ProbeTimeReader { ProbeTimeReader(zone: timeZone, setting: setting) }
    }

    /// `scheduler:`: a scheduler's job inventory, read on an interval and diffed against the
    /// previous read, and the health of each job's target.
    public struct Scheduler: Sendable {
        /// Where the job list comes from.
        public enum Source: Sendable {
            /// `scheduler.jobs`: a fixed list.
            case jobs([JobSighting])
            /// `scheduler.jobs_command`: a command printing JSON.
            case command(ListingCommand)
        }

        /// Reported as `scheduler` on each job.
        public var name: String?
        public var source: Source
        public var inventoryIntervalMs: Int64 = 300_000
        public var probeIntervalMs: Int64 = 60_000
        public var probeTimeoutMs: Int64 = 5_000
        /// When set, a probe is healthy only with exactly this status; otherwise it is healthy
        /// unless the status is 404 or 5xx or the request fails.
        public var expectStatus: Int?

        public init(name: String? = nil, source: Source) {
            self.name = name
            self.source = source
        }

        public static let defaultCommandTimeoutMs: Int64 = 60_000
    }

    /// `locks:`: a command listing locks, read on an interval and diffed against the previous read.
    public struct Locks: Sendable {
        public var command: ListingCommand
        public var intervalMs: Int64 = 30_000

        public init(command: ListingCommand, intervalMs: Int64 = 30_000) {
            self.command = command
            self.intervalMs = intervalMs
        }
    }

    /// The heartbeat names the scheduler and lock readers report under.
    public static let inventoryHeartbeat = "scheduler-inventory"
    public static let lockListingHeartbeat = "lock-listing"

    static func readScheduler(_ top: MapReader, into config: inout AgentConfig) throws(ConfigError) {
        guard let node = top.node("scheduler") else { return }
        let s = try MapReader(node, path: "scheduler")
        var name: String?
        if let n = try s.string("name") {
            try checkName(n, line: s.node("name")?.line, key: "scheduler.name")
            name = n
        }
        let source: Scheduler.Source
        switch (s.has("jobs"), s.has("jobs_command")) {
        case (true, true):
            throw ConfigError(
                line: s.node("jobs_command")?.line, key: "scheduler.jobs_command", "give either scheduler.jobs or scheduler.jobs_command, not both")
        case (false, false):
            throw ConfigError(line: node.line, key: "scheduler", "needs a job source: jobs (a list) or jobs_command (argv and timeout)")
        case (true, false):
            source = .jobs(try readStaticJobs(s, scheduler: name))
        case (false, true):
            source = .command(
                try readListingCommand(s.node("jobs_command"), path: "scheduler.jobs_command", defaultTimeoutMs: Scheduler.defaultCommandTimeoutMs))
        }
        var scheduler = Scheduler(name: name, source: source)
        if let v = try s.positiveDuration("inventory_interval") { scheduler.inventoryIntervalMs = v }
        if let v = try s.positiveDuration("probe_interval") { scheduler.probeIntervalMs = v }
        if let v = try s.positiveDuration("probe_timeout") { scheduler.probeTimeoutMs = v }
        if let v = try s.int("expect_status", range: 100...599) { scheduler.expectStatus = Int(v) }
        try s.finish()
        try reserveHeartbeat(inventoryHeartbeat, for: "scheduler", in: config)
        config.scheduler = scheduler
    }

    private static func readStaticJobs(_ s: MapReader, scheduler: String?) throws(ConfigError) -> [JobSighting] {
        var jobs: [JobSighting] = []
        var names: [String: Int] = [:]
        for (i, item) in (try s.list("jobs") ?? []).enumerated() {
            let path = "scheduler.jobs[\(i)]"
            let r = try MapReader(item, path: path)
            guard let name = try r.string("name") else { throw ConfigError(line: item.line, key: "\(path).name", "required") }
            let nameLine = r.node("name")?.line
            if let first = names[name] {
                throw ConfigError(
                    line: nameLine, key: "\(path).name", "'\(name)' is already used by scheduler.jobs[\(first)]; job names must be unique")
            }
            names[name] = i
            var job = JobSighting(name: name, change: .added, enabled: true, scheduler: scheduler)
            for key in ["target", "health_url"] {
                guard let url = try r.string(key) else { continue }
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                    throw ConfigError(line: r.node(key)?.line, key: r.keyPath(key), "'\(url)' must be an http:// or https:// URL")
                }
                if key == "target" { job.target = url } else { job.healthURL = url }
            }
            job.schedule = try r.string("schedule")
            job.timeZone = try r.string("timezone")
            job.enabled = try r.bool("enabled") ?? true
            do {
                try ObservationBody.job(job).validate(path: path)
            } catch {
                let key = error.field.split(separator: ".").last.map(String.init) ?? ""
                throw ConfigError(line: r.node(key)?.line ?? item.line, key: error.field, error.message)
            }
            try r.finish()
            jobs.append(job)
        }
        return jobs
    }

    /// `{argv: [...], timeout: 30s, timezone: UTC}` plus, for `locks`, `interval`.
    private static func readListingCommand(
        _ node: YAMLNode?, path: String, defaultTimeoutMs: Int64, extra: (MapReader) throws(ConfigError) -> Void = { _ in }
    ) throws(ConfigError) -> ListingCommand {
        let r = try MapReader(node, path: path)
        guard let argv = try r.stringList("argv"), let first = argv.first, !first.isEmpty else {
            throw ConfigError(
                line: r.node("argv")?.line ?? node?.line, key: "\(path).argv",
                "needs a non-empty argv list, e.g. [gcloud, scheduler, jobs, list, --format=json]")
        }
        var command = ListingCommand(argv: argv, timeoutMs: try r.positiveDuration("timeout") ?? defaultTimeoutMs)
        if let zone = try r.string("timezone") {
            do {
                command.timeZone = try ZoneRules.load(zone)
            } catch {
                throw ConfigError(line: r.node("timezone")?.line, key: "\(path).timezone", error.message)
            }
        }
        try extra(r)
        try r.finish()
        return command
    }

    static func readLocks(_ top: MapReader, into config: inout AgentConfig) throws(ConfigError) {
        guard let node = top.node("locks") else { return }
        var intervalMs: Int64 = 30_000
        let command = try readListingCommand(node, path: "locks", defaultTimeoutMs: 30_000) { r throws(ConfigError) in
            if let v = try r.positiveDuration("interval") { intervalMs = v }
        }
        try reserveHeartbeat(lockListingHeartbeat, for: "locks", in: config)
        config.locks = Locks(command: command, intervalMs: intervalMs)
    }

    /// The scheduler and lock readers report heartbeats under fixed names; nothing else may use them.
    private static func reserveHeartbeat(_ name: String, for key: String, in config: AgentConfig) throws(ConfigError) {
        let users =
            [("heartbeat.name", config.heartbeat.name)] + config.httpProbes.map { ("probes.http", $0.name) }
            + config.commandProbes.map { ("probes.commands", $0.name) }
        if let (user, _) = users.first(where: { $0.1 == name }) {
            throw ConfigError("\(user): '\(name)' is the heartbeat name of \(key); choose another name")
        }
    }
}
