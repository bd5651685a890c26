import Foundation
import GapwatchProtocol
import GapwatchRules

/// How an action runs: the collector calls a URL, or hands a command to an agent.
public enum ActionTarget: Sendable {
    /// `body` is a JSON template; `{start}`, `{end}`, `{dataset}`, `{partition}`, `{items}` are
    /// replaced by JSON-escaped values.
    case webhook(method: String, url: String, headers: [String: String], body: String)
    /// The agent runs `command` only if its own config allows it, with these parameters
    /// (templates like `{start}` filled in).
    case agent(agentID: String, command: String, parameters: [String: String])
}

public enum ActionMode: String, Sendable, CaseIterable {
    /// Runs as soon as the guardrails allow.
    case auto
    /// Records what would run, runs nothing.
    case dryRun = "dry_run"
    /// Waits for `gapwatch actions approve ID`.
    case approval
}

/// An action declared in the config (`actions:`).
public struct ActionConfig: Sendable {
    public var name: String
    public var target: ActionTarget
    public var mode: ActionMode = .auto
    public var timeoutMs: Millis = 600_000
    /// After an attempt, the same key waits at least this long before the next.
    public var cooldownMs: Millis = 300_000
    public var maxAttempts = 3
    /// How long the fixed condition has to show up after the action succeeded.
    public var verifyWithinMs: Millis = 1_800_000
    /// Largest date range one action may cover (manual backfills are checked against it).
    public var maxRangeDays = 31
}

/// `completeness:` — source → derived datasets by date partition.
public struct CompletenessConfig: Sendable {
    public var name: String
    public var rule: CompletenessRule
    /// Partitions where this dataset has rows should have source rows (heal: `scrape`).
    public var expectedFrom: String?
    /// Action for backfill ranges (derived gaps), and for scrape ranges (missing source).
    public var backfill: String?
    public var scrape: String?
}

/// `stale_items:` — items not final by their deadline.
public struct StaleItemsConfig: Sendable {
    public var name: String
    public var rule: StaleItemRule
    public var refresh: String?
}

/// `freshness:` — a dataset whose counts stop updating for longer than `max_age`.
public struct FreshnessConfig: Sendable {
    public var name: String
    public var rule: FreshnessRule
    public var refresh: String?
}

/// `scheduler_targets:` — jobs whose target fails its probes, and what to do about them.
public struct SchedulerTargetsConfig: Sendable {
    /// The check's name (in `GET /v1/checks`).
    public var name = "job-targets"
    public var rule = TargetHealthRule()
    public var noSuccess = NoSuccessRule()
    /// Action that disables a job ({job}, {target}, {scheduler}); and one that re-enables it.
    public var disable: String?
    public var reenable: String?
    /// Action that re-points a job at its dead target's healthy replacement ({job}, {target},
    /// {replacement}: the job's new URL, {scheduler}); jobs with no healthy replacement are disabled.
    public var repoint: String?
    /// Dead services and where their jobs go instead (`replacements:`).
    public var replacements: [TargetReplacement] = []
    /// A replacement counts as healthy when the latest probe of it (a job's or an agent's http
    /// probe), no older than this, passed.
    public var replacementMaxAgeMs: Millis = 600_000

    func replacement(for service: String) -> TargetReplacement? { replacements.first { $0.service == service } }
    /// When the audit report goes to every notification channel (e.g. Monday 08:00).
    public var auditReport: CronSchedule?
    /// The audit flags an enabled job with no success for this many days.
    public var noSuccessDays = 7
    public var breaker = DisableBreaker()
}

/// `stuck_locks:` — locks held past their expiry (plus slack) or longer than a max age.
public struct StuckLocksConfig: Sendable {
    public var name: String
    /// Lock names this rule covers (glob: `*` any run, `?` one character).
    public var pattern: String
    public var rule: StuckLockRule
    /// Action that force-releases a lock ({lock}, {holder}).
    public var release: String?
}

/// Guardrails over every action: global, and per scope (`per_rule`, `per_target`) so that one
/// flood (a rule firing for forty jobs, one agent's commands) cannot take every slot.
public struct GuardrailConfig: Sendable {
    /// Actions started per rolling hour, all keys together.
    public var maxPerHour = 30
    /// Actions running (webhook call or agent command in flight) at once.
    public var maxConcurrent = 4
    /// Each rule's actions (a completeness check's backfills, scheduler_targets' disables...).
    public var perRule = ScopeGuardrail()
    /// Each target's actions (one agent's commands, one webhook service's calls).
    public var perTarget = ScopeGuardrail()

    /// A scope's limits: as configured, else half the global ones (rounded up).
    func limits(_ scope: ScopeGuardrail) -> (maxPerHour: Int, maxConcurrent: Int) {
        (scope.maxPerHour ?? (maxPerHour + 1) / 2, scope.maxConcurrent ?? (maxConcurrent + 1) / 2)
    }
}

/// The limits of one guardrail scope; nil: half the global limit.
public struct ScopeGuardrail: Sendable, Equatable {
    public var maxPerHour: Int?
    public var maxConcurrent: Int?
    public init(maxPerHour: Int? = nil, maxConcurrent: Int? = nil) {
        self.maxPerHour = maxPerHour
        self.maxConcurrent = maxConcurrent
    }
}

/// Disabling more than `maxShare` of one scheduler's jobs within `windowMs` waits for a person
/// (`scheduler_targets.breaker`): a flood of dead jobs, forged or real, is not healed unattended.
public struct DisableBreaker: Sendable, Equatable {
    public var maxShare = 0.5
    public var windowMs: Millis = 3_600_000
}

public struct RemediationConfig: Sendable {
    public var completeness: [CompletenessConfig] = []
    public var staleItems: [StaleItemsConfig] = []
    public var freshness: [FreshnessConfig] = []
    public var schedulerTargets: SchedulerTargetsConfig?
    public var stuckLocks: [StuckLocksConfig] = []
    public var actions: [String: ActionConfig] = [:]
    public var guardrails = GuardrailConfig()
    /// How often completeness and staleness are re-evaluated with no new data.
    public var recheckMs: Millis = 60_000
    /// Re-evaluate every rule over its whole lookback on this schedule (e.g. every morning).
    public var catchUp: CronSchedule?
    public init() {}
}

extension RemediationConfig {
    static let placeholders: Set<String> = [
        "start", "end", "dataset", "partition", "items", "bypass_checks", "job", "target", "replacement", "scheduler", "lock", "holder",
        "workflow",
    ]

    mutating func parse(_ reader: inout MapReader, names: inout Set<String>) throws(ConfigError) {
        if let list = try reader.list("actions") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "actions[\(i)]")
                let action = try Self.parseAction(&m)
                guard actions[action.name] == nil else { throw ConfigError("actions[\(i)].name: '\(action.name)' is declared twice") }
                actions[action.name] = action
            }
        }
        func actionRef(_ m: inout MapReader, _ key: String) throws(ConfigError) -> String? {
            guard let name = try m.string(key) else { return nil }
            guard actions[name] != nil else {
                throw ConfigError("\(m.path).\(key): no action named '\(name)' (declared: \(actions.keys.sorted().joined(separator: ", ")))")
            }
            return name
        }
        if let list = try reader.list("completeness") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "completeness[\(i)]")
                let name = try DetectionConfig.parseName(&m)
                guard names.insert(name).inserted else { throw ConfigError("completeness[\(i)].name: '\(name)' is already a check's name") }
                guard let source = try m.string("source"), let derived = try m.string("derived") else {
                    throw ConfigError("completeness[\(i)]: source and derived datasets are required")
                }
                let ratio = try m.double("min_ratio") ?? CompletenessRule.defaultMinRatio
                var granularity = PartitionGranularity.day
                if let text = try m.string("partition") {
                    guard let parsed = PartitionGranularity(rawValue: text) else {
                        throw ConfigError("completeness[\(i)].partition: '\(text)' is not one of day (keys YYYY-MM-DD), hour (keys YYYY-MM-DDTHH)")
                    }
                    granularity = parsed
                }
                let periodMs = granularity.seconds * 1000
                let lookback = try m.duration("lookback") ?? Millis(CompletenessRule.defaultLookback) * periodMs
                guard lookback % periodMs == 0 else {
                    throw ConfigError(
                        "completeness[\(i)].lookback: \(Units.formatDuration(lookback)) is not a whole number of \(granularity.noun)s (partition: \(granularity.rawValue))"
                    )
                }
                let settle = try m.duration("settle", allowZero: true) ?? CompletenessRule.defaultSettleMs
                let dueAfter = try m.duration("due_after", allowZero: true) ?? CompletenessRule.defaultDueAfterMs
                let zone = try m.string("timezone") ?? "UTC"
                let rule: CompletenessRule
                do throws(ScheduleError) {
                    rule = try CompletenessRule(
                        source: source, derived: derived, minRatio: ratio, lookback: Int(clamping: lookback / periodMs), settleMs: settle,
                        dueAfterMs: dueAfter, granularity: granularity, timeZone: zone)
                } catch {
                    throw ConfigError("completeness[\(i)]: \(error.message)")
                }
                let config = CompletenessConfig(
                    name: name, rule: rule, expectedFrom: try m.string("expected_from"), backfill: try actionRef(&m, "backfill"),
                    scrape: try actionRef(&m, "scrape"))
                try m.finish()
                completeness.append(config)
            }
        }
        if let list = try reader.list("stale_items") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "stale_items[\(i)]")
                let name = try DetectionConfig.parseName(&m)
                guard names.insert(name).inserted else { throw ConfigError("stale_items[\(i)].name: '\(name)' is already a check's name") }
                guard let kind = try m.string("item_kind") else { throw ConfigError("stale_items[\(i)].item_kind: required (e.g. game)") }
                guard let final = try m.stringList("final"), !final.isEmpty else {
                    throw ConfigError("stale_items[\(i)].final: required, the final statuses (e.g. [Final])")
                }
                guard let deadline = try m.duration("deadline") else {
                    throw ConfigError("stale_items[\(i)].deadline: required, how long after the reference time (e.g. 4h)")
                }
                let refresh = try actionRef(&m, "refresh")
                try m.finish()
                staleItems.append(
                    StaleItemsConfig(
                        name: name, rule: StaleItemRule(itemKind: kind, finalStatuses: Set(final), deadlineMs: deadline), refresh: refresh))
            }
        }
        if let list = try reader.list("freshness") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "freshness[\(i)]")
                let name = try DetectionConfig.parseName(&m)
                guard names.insert(name).inserted else { throw ConfigError("freshness[\(i)].name: '\(name)' is already a check's name") }
                guard let dataset = try m.string("dataset") else { throw ConfigError("freshness[\(i)].dataset: required") }
                guard let maxAge = try m.duration("max_age") else { throw ConfigError("freshness[\(i)].max_age: required (e.g. 6h)") }
                let refresh = try actionRef(&m, "refresh")
                try m.finish()
                freshness.append(FreshnessConfig(name: name, rule: FreshnessRule(dataset: dataset, maxAgeMs: maxAge), refresh: refresh))
            }
        }
        if var m = try reader.map("scheduler_targets") {
            var c = SchedulerTargetsConfig()
            c.name = try m.string("name") ?? c.name
            guard names.insert(c.name).inserted else { throw ConfigError("scheduler_targets.name: '\(c.name)' is already a check's name") }
            let failures = try m.int("failures") ?? TargetHealthRule.defaultFailures
            let reenableAfter = try m.int("reenable_after", allowZero: true) ?? TargetHealthRule.defaultReenableAfter
            c.rule = TargetHealthRule(failuresToOpen: failures, successesToReenable: reenableAfter)
            let periods = try m.int("no_success_periods", allowZero: true) ?? 2
            c.noSuccess = NoSuccessRule(periods: periods, graceMs: try m.duration("no_success_grace", allowZero: true) ?? 600_000)
            c.noSuccessDays = try m.int("audit_no_success_days") ?? c.noSuccessDays
            c.disable = try actionRef(&m, "disable")
            c.reenable = try actionRef(&m, "reenable")
            c.repoint = try actionRef(&m, "repoint")
            if let list = try m.list("replacements") {
                for (i, item) in list.enumerated() {
                    var r = try MapReader.item(item, path: "scheduler_targets.replacements[\(i)]")
                    guard let target = try r.string("target"), let url = try r.string("replacement") else {
                        throw ConfigError(
                            "scheduler_targets.replacements[\(i)]: target and replacement are required (e.g. {target: http://old-svc, replacement: http://new-svc})"
                        )
                    }
                    guard let replacement = TargetReplacement(target: target, replacement: url) else {
                        throw ConfigError(
                            "scheduler_targets.replacements[\(i)]: target must be an http(s) service without a path (scheme://host[:port], got '\(target)'), "
                                + "replacement an http(s) URL on another service, without a query (got '\(url)')")
                    }
                    guard c.replacement(for: replacement.service) == nil else {
                        throw ConfigError("scheduler_targets.replacements[\(i)].target: \(replacement.service) already has a replacement")
                    }
                    try r.finish()
                    c.replacements.append(replacement)
                }
            }
            c.replacementMaxAgeMs = try m.duration("replacement_max_age") ?? c.replacementMaxAgeMs
            if var b = try m.map("breaker") {
                c.breaker.maxShare = try Self.share(&b, "max_share") ?? c.breaker.maxShare
                c.breaker.windowMs = try b.duration("window") ?? c.breaker.windowMs
                try b.finish()
            }
            if c.repoint != nil && c.replacements.isEmpty {
                throw ConfigError("scheduler_targets.repoint: needs replacements: (which service replaces which) to know where jobs go")
            }
            if c.repoint == nil && !c.replacements.isEmpty {
                throw ConfigError("scheduler_targets.replacements: needs repoint: (the action that re-points a job)")
            }
            if var r = try m.map("audit_report") {
                guard let cron = try r.string("cron") else { throw ConfigError("scheduler_targets.audit_report.cron: required (e.g. '0 8 * * 1')") }
                let zone = try r.string("timezone") ?? "UTC"
                do {
                    c.auditReport = try CronSchedule(cron, timeZone: zone)
                } catch {
                    throw ConfigError("scheduler_targets.audit_report: \(error.message)")
                }
                try r.finish()
            }
            try m.finish()
            schedulerTargets = c
        }
        if let list = try reader.list("stuck_locks") {
            for (i, item) in list.enumerated() {
                var m = try MapReader.item(item, path: "stuck_locks[\(i)]")
                let name = try DetectionConfig.parseName(&m)
                guard names.insert(name).inserted else { throw ConfigError("stuck_locks[\(i)].name: '\(name)' is already a check's name") }
                let pattern = try m.string("locks") ?? "*"
                let slack = try m.duration("slack", allowZero: true) ?? StuckLockRule.defaultSlackMs
                let maxAge = try m.duration("max_age")
                let release = try actionRef(&m, "release")
                try m.finish()
                stuckLocks.append(
                    StuckLocksConfig(name: name, pattern: pattern, rule: StuckLockRule(slackMs: slack, maxAgeMs: maxAge), release: release))
            }
        }
        if var g = try reader.map("guardrails") {
            guardrails.maxPerHour = try g.int("max_per_hour") ?? guardrails.maxPerHour
            guardrails.maxConcurrent = try g.int("max_concurrent") ?? guardrails.maxConcurrent
            for (key, path) in [("per_rule", \GuardrailConfig.perRule), ("per_target", \GuardrailConfig.perTarget)] {
                guard var scope = try g.map(key) else { continue }
                guardrails[keyPath: path] = ScopeGuardrail(maxPerHour: try scope.int("max_per_hour"), maxConcurrent: try scope.int("max_concurrent"))
                try scope.finish()
            }
            try g.finish()
        }
        recheckMs = try reader.duration("recheck_interval") ?? recheckMs
        if var c = try reader.map("catch_up") {
            guard let cron = try c.string("cron") else { throw ConfigError("catch_up.cron: required (e.g. '0 7 * * *')") }
            let zone = try c.string("timezone") ?? "UTC"
            do {
                catchUp = try CronSchedule(cron, timeZone: zone)
            } catch {
                throw ConfigError("catch_up.cron: \(error.message)")
            }
            try c.finish()
        }
    }

    /// A share: `50%` or a number in (0, 1].
    static func share(_ m: inout MapReader, _ key: String) throws(ConfigError) -> Double? {
        guard let value = m.raw(key) else { return nil }
        var share: Double?
        if let text = value as? String, text.hasSuffix("%"), let percent = Double(text.dropLast().trimmingCharacters(in: .whitespaces)) {
            share = percent / 100
        } else if let number = value as? Double {
            share = number
        } else if let number = value as? Int {
            share = Double(number)
        }
        guard let share, share > 0, share <= 1 else {
            throw ConfigError("\(m.path).\(key): '\(value)' is not a share above 0 and at most 100% (e.g. 50% or 0.5)")
        }
        return share
    }

    /// `env:VAR` → the variable's value, `file:PATH` → the file's trimmed contents; either must be
    /// non-empty. Anything else as written. Messages name the key, never the value.
    static func secret(_ text: String, key: String) throws(ConfigError) -> String {
        if text.hasPrefix("env:") { return try ChannelConfig.resolve(text, key: key, environment: ProcessInfo.processInfo.environment) }
        guard text.hasPrefix("file:") else { return text }
        let path = String(text.dropFirst(5))
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("\(key): cannot read secret file \(path)") }
        let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw ConfigError("\(key): secret file \(path) is empty") }
        return value
    }

    static func parseAction(_ m: inout MapReader) throws(ConfigError) -> ActionConfig {
        guard let name = try m.string("name"), !name.isEmpty, name.count <= 64,
            name.allSatisfy(DetectionConfig.checkNameCharacters.contains)
        else { throw ConfigError("\(m.path).name: required; letters, digits and . _ - : (at most 64)") }
        guard let kind = try m.string("kind") else { throw ConfigError("\(m.path).kind: required (webhook or agent)") }
        let target: ActionTarget
        switch kind {
        case "webhook":
            // Secrets stay out of the config file: the url and header values may be `env:VAR` or
            // `file:PATH` (read once, at start; a missing or empty one stops the collector).
            guard let urlText = try m.string("url") else {
                throw ConfigError("\(m.path).url: required for a webhook action (http:// or https://, or env:VAR / file:PATH)")
            }
            let url = try secret(urlText, key: "\(m.path).url")
            try ChannelConfig.checkURL(url, key: "\(m.path).url")
            let method = (try m.string("method") ?? "POST").uppercased()
            guard ["POST", "PUT", "GET"].contains(method) else { throw ConfigError("\(m.path).method: one of POST, PUT, GET") }
            var headers = try m.stringMap("headers") ?? [:]
            for (k, v) in headers { headers[k] = try secret(v, key: "\(m.path).headers.\(k)") }
            let body = try m.string("body") ?? "{}"
            try checkPlaceholders(body, path: "\(m.path).body")
            target = .webhook(method: method, url: url, headers: headers, body: body)
        case "agent":
            guard let agent = try m.string("agent") else { throw ConfigError("\(m.path).agent: required, the agent id that runs the command") }
            guard let command = try m.string("command") else {
                throw ConfigError("\(m.path).command: required, a command name in that agent's `actions:`")
            }
            let parameters = try m.stringMap("parameters") ?? [:]
            for (k, v) in parameters { try checkPlaceholders(v, path: "\(m.path).parameters.\(k)") }
            target = .agent(agentID: agent, command: command, parameters: parameters)
        default:
            throw ConfigError("\(m.path).kind: '\(kind)' is not one of webhook, agent")
        }
        var action = ActionConfig(name: name, target: target)
        if let mode = try m.string("mode") {
            guard let parsed = ActionMode(rawValue: mode) else {
                throw ConfigError("\(m.path).mode: '\(mode)' is not one of auto, dry_run, approval")
            }
            action.mode = parsed
        }
        action.timeoutMs = try m.duration("timeout") ?? action.timeoutMs
        action.cooldownMs = try m.duration("cooldown", allowZero: true) ?? action.cooldownMs
        action.maxAttempts = try m.int("max_attempts") ?? action.maxAttempts
        action.verifyWithinMs = try m.duration("verify_within") ?? action.verifyWithinMs
        action.maxRangeDays = try m.int("max_range_days") ?? action.maxRangeDays
        try m.finish()
        return action
    }

    static func checkPlaceholders(_ template: String, path: String) throws(ConfigError) {
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let name = String(rest[rest.index(after: open)..<close])
            // JSON braces: only identifier-like contents are placeholders.
            if !name.isEmpty && name.allSatisfy({ $0.isLetter || $0 == "_" }) && !placeholders.contains(name) {
                throw ConfigError("\(path): unknown placeholder {\(name)}; known: \(placeholders.sorted().map { "{\($0)}" }.joined(separator: " "))")
            }
            rest = rest[rest.index(after: close)...]
        }
    }
}
