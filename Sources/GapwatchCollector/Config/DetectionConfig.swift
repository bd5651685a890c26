import GapwatchProtocol
import GapwatchRules

/// A heartbeat check declared in the config (`checks:`).
public struct HeartbeatCheckConfig: Sendable {
    public var name: String
    /// The ping (heartbeat) name it listens to.
    public var ping: String
    /// Only pings from agents bound to this service (on their token or in the config's `agents:`,
    /// never a report's claim) count; nil: any.
    public var service: String?
    /// Only pings from agents bound to all these labels count.
    public var agentLabels: [String: String] = [:]
    public var rule: HeartbeatRule
    /// Labels put on the check's incidents (for silences and receivers).
    public var labels: [String: String] = [:]
}

/// A run expectation declared in the config (`expectations:`).
public struct RunExpectationConfig: Sendable {
    public var name: String
    public var rule: RunExpectationRule
    public var labels: [String: String] = [:]
    /// The action that runs a missed window again (`rerun:`); verified when a RUN arrives.
    public var rerun: String?
}

/// The check every agent gets for its own liveness (`liveness:`).
public struct LivenessConfig: Sendable {
    public var enabled = true
    /// Matches the agent's default heartbeat interval.
    public var everyMs: Millis = 30_000
    public var graceMs: Millis = 60_000
    /// The agents' `collector.backoff_max`: after a collector start, an agent that backed off while
    /// the collector was down may retry only this much later, so no check whose last signal predates
    /// the start goes down before start + this + its grace.
    public var agentBackoffMaxMs: Millis = 300_000
    public var rule: HeartbeatRule { HeartbeatRule(expectation: .every(everyMs), graceMs: graceMs) }
}

/// The check every agent probe gets (`probe_failures:`): a command probe, the scheduler
/// inventory or the lock listing that fails `after` runs in a row opens an incident naming the
/// probe and what went wrong (a failed command, an unreadable line).
public struct ProbeFailuresConfig: Sendable {
    /// Failed runs in a row before the incident; 0: no probe checks.
    public var after = 3
    /// A probe that has not reported for this long is forgotten (its check deleted, its incident resolved).
    public var forgetAfterMs: Millis = 7 * 86_400_000
}

/// Agents' clocks (`clock_skew:`). An agent's skew is the collector's receive time minus the
/// report's `sent_at` (positive: the agent's clock is behind).
public struct ClockSkewConfig: Sendable {
    public static let defaultToleranceMs: Millis = 300_000
    /// How far an observation may be dated after its receive time, and how far an agent's clock
    /// may be off before its `clock_skew` incident opens.
    public var toleranceMs: Millis = ClockSkewConfig.defaultToleranceMs
    /// false: no clock checks and no clock_skew incidents (times are still bounded).
    public var incidents = true
}

/// Where and how incident state changes are sent (`notify:`).
public struct NotifyConfig: Sendable {
    public var channels: [ChannelConfig] = []
    /// Wait this long after an incident opens before notifying, so related incidents settle.
    public var waitMs: Millis = 0
    /// Repeat a notification this often while an incident stays open; nil: never.
    public var reminderMs: Millis?
    public var retryInitialMs: Millis = 1_000
    public var retryMaxMs: Millis = 300_000
    /// Attempts per channel before a notification is given up as failed.
    public var maxAttempts = 20
    /// Events of these rules are held until no other event of the same rule and kind has fallen
    /// due for `groupWindowMs` (at most `groupMaxWaitMs`), then go out as one message per channel
    /// listing them all: 2,000 agents going silent are one page, not 2,000. Each incident and
    /// event still exists on its own. A window of 0: no grouping.
    public var groupWindowMs: Millis = 10_000
    public var groupMaxWaitMs: Millis = 60_000
    public var groupRules: [String] = [IncidentRule.liveness.rawValue]
}

/// The detection part of the collector config.
public struct DetectionConfig: Sendable {
    public var checks: [HeartbeatCheckConfig] = []
    public var expectations: [RunExpectationConfig] = []
    public var liveness = LivenessConfig()
    public var probeFailures = ProbeFailuresConfig()
    public var clockSkew = ClockSkewConfig()
    public var notify = NotifyConfig()
    /// How often the evaluator looks for due checks at the latest.
    public var evaluateIntervalMs: Millis = 250

    public init() {}
}

extension DetectionConfig {
    // No '/': names are path segments in /v1/checks/{name}/pause.
    static let checkNameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")

    mutating func parse(_ reader: inout MapReader) throws(ConfigError) {
        if let list = try reader.list("checks") {
            var seen = Set<String>()
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "checks[\(i)]")
                let check = try Self.parseCheck(&m)
                guard seen.insert(check.name).inserted else { throw ConfigError("checks[\(i)].name: '\(check.name)' is declared twice") }
                checks.append(check)
            }
        }
        if let list = try reader.list("expectations") {
            var seen = Set<String>()
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "expectations[\(i)]")
                let expectation = try Self.parseExpectation(&m)
                guard seen.insert(expectation.name).inserted else {
                    throw ConfigError("expectations[\(i)].name: '\(expectation.name)' is declared twice")
                }
                expectations.append(expectation)
            }
        }
        if var m = try reader.map("liveness") {
            liveness.enabled = try m.bool("enabled") ?? liveness.enabled
            liveness.everyMs = try m.duration("every") ?? liveness.everyMs
            liveness.graceMs = try m.duration("grace", allowZero: true) ?? liveness.graceMs
            liveness.agentBackoffMaxMs = try m.duration("agent_backoff_max", allowZero: true) ?? liveness.agentBackoffMaxMs
            try m.finish()
        }
        if var m = try reader.map("probe_failures") {
            probeFailures.after = try m.int("after", allowZero: true) ?? probeFailures.after
            probeFailures.forgetAfterMs = try m.duration("forget_after") ?? probeFailures.forgetAfterMs
            try m.finish()
        }
        if var m = try reader.map("clock_skew") {
            if let tolerance = try m.duration("tolerance") {
                guard (1_000...86_400_000).contains(tolerance) else {
                    throw ConfigError("clock_skew.tolerance: \(Units.formatDuration(tolerance)) is outside 1s...1d")
                }
                clockSkew.toleranceMs = tolerance
            }
            clockSkew.incidents = try m.bool("incidents") ?? clockSkew.incidents
            try m.finish()
        }
        if var m = try reader.map("notify") {
            if let list = try m.list("channels") {
                var names = Set<String>()
                for (i, item) in list.enumerated() {
                    guard let map = item as? [String: Any] else { throw ConfigError("notify.channels[\(i)]: expected a map of keys") }
                    let channel = try ChannelConfig.parse(map, path: "notify.channels[\(i)]")
                    guard names.insert(channel.name).inserted else {
                        throw ConfigError("notify.channels[\(i)].name: '\(channel.name)' is declared twice")
                    }
                    notify.channels.append(channel)
                }
            }
            notify.waitMs = try m.duration("wait", allowZero: true) ?? notify.waitMs
            notify.reminderMs = try m.duration("reminder") ?? notify.reminderMs
            notify.retryInitialMs = try m.duration("retry_initial") ?? notify.retryInitialMs
            notify.retryMaxMs = try m.duration("retry_max") ?? notify.retryMaxMs
            notify.maxAttempts = try m.int("max_attempts") ?? notify.maxAttempts
            if var g = try m.map("group") {
                notify.groupWindowMs = try g.duration("window", allowZero: true) ?? notify.groupWindowMs
                notify.groupMaxWaitMs = try g.duration("max_wait", allowZero: true) ?? notify.groupMaxWaitMs
                if let rules = try g.stringList("rules") {
                    for (i, rule) in rules.enumerated() where IncidentRule(rawValue: rule) == nil {
                        throw ConfigError("notify.group.rules[\(i)]: unknown rule '\(rule)'; one of \(IncidentRule.names.joined(separator: ", "))")
                    }
                    notify.groupRules = rules
                }
                try g.finish()
            }
            try m.finish()
        }
        let names = Set(checks.map(\.name))
        if let clash = expectations.first(where: { names.contains($0.name) }) {
            throw ConfigError("expectations: name '\(clash.name)' is also a check's name; names must be unique")
        }
    }

    static func parseName(_ m: inout MapReader) throws(ConfigError) -> String {
        guard let name = try m.string("name"), !name.isEmpty else { throw ConfigError("\(m.path).name: required") }
        guard name.count <= 128, name.allSatisfy(checkNameCharacters.contains) else {
            throw ConfigError("\(m.path).name: '\(name)' may use only letters, digits and . _ - : (at most 128)")
        }
        if name.hasPrefix("agent:") { throw ConfigError("\(m.path).name: the prefix 'agent:' is reserved for agents' liveness checks") }
        if name.hasPrefix("probe:") { throw ConfigError("\(m.path).name: the prefix 'probe:' is reserved for agents' probe checks") }
        return name
    }

    static func parseCheck(_ m: inout MapReader) throws(ConfigError) -> HeartbeatCheckConfig {
        let name = try parseName(&m)
        guard let ping = try m.string("ping"), !ping.isEmpty else { throw ConfigError("\(m.path).ping: required (the heartbeat name to listen for)") }
        let service = try m.string("service")
        let agentLabels = try m.stringMap("agent_labels") ?? [:]
        let labels = try m.stringMap("labels") ?? [:]
        let every = try m.duration("every")
        let cron = try m.string("cron")
        let zone = try m.string("timezone")
        let grace = try m.duration("grace", allowZero: true) ?? 60_000
        let expectation: Expectation
        switch (every, cron) {
        case (let every?, nil):
            if zone != nil { throw ConfigError("\(m.path).timezone: only used with cron") }
            expectation = .every(every)
        case (nil, let cron?):
            do {
                expectation = .cron(try CronSchedule(cron, timeZone: zone ?? "UTC"))
            } catch {
                throw ConfigError("\(m.path).cron: \(error.message)")
            }
        case (nil, nil): throw ConfigError("\(m.path): needs either every (e.g. 1h) or cron (e.g. '0 6 * * *')")
        case (_?, _?): throw ConfigError("\(m.path): give either every or cron, not both")
        }
        try m.finish()
        return HeartbeatCheckConfig(
            name: name, ping: ping, service: service, agentLabels: agentLabels,
            rule: HeartbeatRule(expectation: expectation, graceMs: grace), labels: labels)
    }

    static func parseExpectation(_ m: inout MapReader) throws(ConfigError) -> RunExpectationConfig {
        let name = try parseName(&m)
        guard let workflow = try m.string("workflow"), !workflow.isEmpty else { throw ConfigError("\(m.path).workflow: required") }
        guard var w = try m.map("window") else {
            throw ConfigError("\(m.path).window: required, e.g. {cron: '0 19 * * *', duration: 6h, timezone: America/New_York}")
        }
        guard let cron = try w.string("cron") else { throw ConfigError("\(w.path).cron: required") }
        guard let duration = try w.duration("duration") else { throw ConfigError("\(w.path).duration: required (e.g. 6h)") }
        let zone = try w.string("timezone") ?? "UTC"
        try w.finish()
        let opens: CronSchedule
        do {
            opens = try CronSchedule(cron, timeZone: zone)
        } catch {
            throw ConfigError("\(w.path).cron: \(error.message)")
        }
        var condition: PartitionCondition?
        if var c = try m.map("only_when") {
            guard let dataset = try c.string("dataset"), !dataset.isEmpty else { throw ConfigError("\(c.path).dataset: required") }
            condition = PartitionCondition(dataset: dataset, minCount: Int64(try c.int("min_count") ?? 1))
            try c.finish()
        }
        let grace = try m.duration("grace", allowZero: true) ?? 600_000
        let labels = try m.stringMap("labels") ?? [:]
        let rerun = try m.string("rerun")
        try m.finish()
        return RunExpectationConfig(
            name: name,
            rule: RunExpectationRule(
                workflow: workflow, windows: RunWindowSchedule(opens: opens, durationMs: duration), graceMs: grace, condition: condition),
            labels: labels, rerun: rerun)
    }
}
