#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One thing an agent saw, numbered within its spool.
///
/// On the wire an observation is one flat JSON object: `seq`, `observed_at`, `kind` and the
/// fields of that kind, e.g.
/// `{"seq":7,"observed_at":1769137500000,"kind":"count","dataset":"nba_raw.boxscores","partition":"2026-01-22","count":282}`.
public struct Observation: Codable, Sendable, Equatable {
    /// Per-spool sequence number, from 1, strictly increasing, never reused within a spool.
    public var seq: UInt64
    /// When the agent observed it (agent clock). Rules judge data by this time, not arrival time.
    public var observedAt: Millis
    public var body: ObservationBody

    public init(seq: UInt64, observedAt: Millis, body: ObservationBody) {
        self.seq = seq
        self.observedAt = observedAt
        self.body = body
    }

    enum CodingKeys: String, SnakeCaseKey {
        case seq, observedAt
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seq = try c.decode(UInt64.self, forKey: .seq)
        observedAt = try c.decode(Millis.self, forKey: .observedAt)
        body = try ObservationBody(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seq, forKey: .seq)
        try c.encode(observedAt, forKey: .observedAt)
        try body.encode(to: encoder)
    }
}

/// The kinds of observation in protocol v1.
public enum ObservationKind: String, Codable, Sendable, CaseIterable {
    case heartbeat
    case probe
    case count
    case itemStatus = "item_status"
    case decision
    case lock
    case actionResult = "action_result"
    case dropped
    case job
}

/// The kind-specific part of an observation. Also the body of the agent's local push endpoint.
public enum ObservationBody: Codable, Sendable, Equatable {
    case heartbeat(Heartbeat)
    case probe(TargetProbe)
    case count(Count)
    case itemStatus(ItemStatus)
    case decision(WorkflowDecision)
    case lock(LockSighting)
    case actionResult(ActionResult)
    case dropped(DroppedRecords)
    case job(JobSighting)

    enum KindKey: String, CodingKey { case kind }

    public var kind: ObservationKind {
        switch self {
        case .heartbeat: .heartbeat
        case .probe: .probe
        case .count: .count
        case .itemStatus: .itemStatus
        case .decision: .decision
        case .lock: .lock
        case .actionResult: .actionResult
        case .dropped: .dropped
        case .job: .job
        }
    }

    /// The timeline subject this observation is about, e.g. `dataset:nba_raw.boxscores`.
    /// `agentID` names the subject of an agent's own records (`dropped`).
    public func subject(agentID: String) -> String {
        switch self {
        case .heartbeat(let h): "ping:\(h.name)"
        case .probe(let p): p.job.map { "job:\($0)" } ?? "target:\(p.target)"
        case .count(let c): "dataset:\(c.dataset)"
        case .itemStatus(let i): "item:\(i.itemKind)/\(i.itemID)"
        case .decision(let d): "workflow:\(d.workflow)"
        case .lock(let l): "lock:\(l.name)"
        case .actionResult(let a): "action:\(a.actionID)"
        case .dropped: "agent:\(agentID)"
        case .job(let j): "job:\(j.name)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: KindKey.self)
        let kind = try c.decode(ObservationKind.self, forKey: .kind)
        switch kind {
        case .heartbeat: self = .heartbeat(try Heartbeat(from: decoder))
        case .probe: self = .probe(try TargetProbe(from: decoder))
        case .count: self = .count(try Count(from: decoder))
        case .itemStatus: self = .itemStatus(try ItemStatus(from: decoder))
        case .decision: self = .decision(try WorkflowDecision(from: decoder))
        case .lock: self = .lock(try LockSighting(from: decoder))
        case .actionResult: self = .actionResult(try ActionResult(from: decoder))
        case .dropped: self = .dropped(try DroppedRecords(from: decoder))
        case .job: self = .job(try JobSighting(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: KindKey.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case .heartbeat(let v): try v.encode(to: encoder)
        case .probe(let v): try v.encode(to: encoder)
        case .count(let v): try v.encode(to: encoder)
        case .itemStatus(let v): try v.encode(to: encoder)
        case .decision(let v): try v.encode(to: encoder)
        case .lock(let v): try v.encode(to: encoder)
        case .actionResult(let v): try v.encode(to: encoder)
        case .dropped(let v): try v.encode(to: encoder)
        case .job(let v): try v.encode(to: encoder)
        }
    }
}

/// A ping: a job or the agent itself says it is alive, starting, done, or failed.
public struct Heartbeat: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable, CaseIterable { case start, ok, fail }
    public var name: String
    public var status: Status
    public var durationMs: Int64?
    public var exitCode: Int?
    public var message: String?
    /// Sent by one of the agent's own probes (a command probe, the scheduler inventory, the lock
    /// listing) about its run: the collector opens an incident when it fails several runs in a
    /// row. Absent (nil) for pings pushed by services.
    public var probe: Bool?

    public init(name: String, status: Status, durationMs: Int64? = nil, exitCode: Int? = nil, message: String? = nil, probe: Bool? = nil) {
        self.name = name
        self.status = status
        self.durationMs = durationMs
        self.exitCode = exitCode
        self.message = message
        self.probe = probe
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, status, message, probe, durationMs, exitCode
    }
}

/// One health probe of a scheduler job's target (or any URL).
public struct TargetProbe: Codable, Sendable, Equatable {
    /// The scheduler job whose target this is, if any.
    public var job: String?
    public var target: String
    /// The HTTP status, absent when the request failed before a response.
    public var httpStatus: Int?
    /// The transport error (connection refused, DNS failure, timeout), absent on a response.
    public var error: String?
    public var latencyMs: Int64
    /// Whether the probe met its expectation (expected status, in time).
    public var healthy: Bool

    public init(job: String? = nil, target: String, httpStatus: Int? = nil, error: String? = nil, latencyMs: Int64, healthy: Bool) {
        self.job = job
        self.target = target
        self.httpStatus = httpStatus
        self.error = error
        self.latencyMs = latencyMs
        self.healthy = healthy
    }

    enum CodingKeys: String, SnakeCaseKey {
        case job, target, error, healthy, httpStatus, latencyMs
    }
}

/// How many rows a dataset holds in one partition (e.g. a date), as of `observed_at`.
public struct Count: Codable, Sendable, Equatable {
    public var dataset: String
    public var partition: String
    public var count: Int64

    public init(dataset: String, partition: String, count: Int64) {
        self.dataset = dataset
        self.partition = partition
        self.count = count
    }
}

/// The status of one tracked item, e.g. a game and its start time.
public struct ItemStatus: Codable, Sendable, Equatable {
    public var itemKind: String
    public var itemID: String
    public var status: String
    /// The time the item's deadlines are measured from (a game's start), if it has one.
    public var referenceTime: Millis?

    public init(itemKind: String, itemID: String, status: String, referenceTime: Millis? = nil) {
        self.itemKind = itemKind
        self.itemID = itemID
        self.status = status
        self.referenceTime = referenceTime
    }

    enum CodingKeys: String, SnakeCaseKey {
        case status, itemKind, itemID, referenceTime
    }
}

/// What an orchestrator decided for a workflow at one evaluation.
public struct WorkflowDecision: Codable, Sendable, Equatable {
    public enum Decision: String, Codable, Sendable, CaseIterable {
        case run = "RUN"
        case skip = "SKIP"
        case fail = "FAIL"
    }
    public var workflow: String
    public var decision: Decision
    public var reason: String?

    public init(workflow: String, decision: Decision, reason: String? = nil) {
        self.workflow = workflow
        self.decision = decision
        self.reason = reason
    }
}

/// A lock as seen by an agent. `holder == nil` means the lock was seen free.
public struct LockSighting: Codable, Sendable, Equatable {
    public var name: String
    public var holder: String?
    public var acquiredAt: Millis?
    public var expiresAt: Millis?

    public init(name: String, holder: String?, acquiredAt: Millis? = nil, expiresAt: Millis? = nil) {
        self.name = name
        self.holder = holder
        self.acquiredAt = acquiredAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, holder, acquiredAt, expiresAt
    }
}

/// One job of a scheduler's inventory (a Cloud Scheduler job, a crontab line), as an agent read
/// it. Sent when the job is added, changes, or is removed from the inventory.
public struct JobSighting: Codable, Sendable, Equatable {
    public enum Change: String, Codable, Sendable, CaseIterable {
        case added, changed, removed
    }
    public var name: String
    public var change: Change
    public var enabled: Bool
    /// The URL the job calls.
    public var target: String?
    /// The URL to probe for the target's health, when not `target` itself.
    public var healthURL: String?
    /// The job's schedule (cron) and its IANA time zone.
    public var schedule: String?
    public var timeZone: String?
    /// Which scheduler holds the job (e.g. cloud-scheduler/us-west2).
    public var scheduler: String?
    public var lastAttemptAt: Millis?
    /// The scheduler's word for the last attempt: `success`, `failure`, or its own.
    public var lastResult: String?
    public var lastSuccessAt: Millis?

    public init(
        name: String, change: Change, enabled: Bool, target: String? = nil, healthURL: String? = nil, schedule: String? = nil,
        timeZone: String? = nil, scheduler: String? = nil, lastAttemptAt: Millis? = nil, lastResult: String? = nil, lastSuccessAt: Millis? = nil
    ) {
        self.name = name
        self.change = change
        self.enabled = enabled
        self.target = target
        self.healthURL = healthURL
        self.schedule = schedule
        self.timeZone = timeZone
        self.scheduler = scheduler
        self.lastAttemptAt = lastAttemptAt
        self.lastResult = lastResult
        self.lastSuccessAt = lastSuccessAt
    }

    enum CodingKeys: String, SnakeCaseKey {
        case name, change, enabled, target, schedule, scheduler, healthURL
        case timeZone = "timezone"
        case lastAttemptAt, lastResult, lastSuccessAt
    }
}

/// The outcome of a command the collector handed the agent.
public struct ActionResult: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable, CaseIterable {
        case ok, failed, timeout, rejected
    }
    public var actionID: String
    public var outcome: Outcome
    public var exitCode: Int?
    /// The last bytes of the command's output (stdout and stderr).
    public var outputTail: String?

    public init(actionID: String, outcome: Outcome, exitCode: Int? = nil, outputTail: String? = nil) {
        self.actionID = actionID
        self.outcome = outcome
        self.exitCode = exitCode
        self.outputTail = outputTail
    }

    enum CodingKeys: String, SnakeCaseKey {
        case outcome, actionID, exitCode, outputTail
    }
}

/// The agent's own losses: cumulative counts for this spool.
public struct DroppedRecords: Codable, Sendable, Equatable {
    /// Records dropped because the spool exceeded its size cap (oldest first).
    public var overflow: Int64
    /// Corrupt or truncated spool records skipped at read.
    public var corrupt: Int64

    public init(overflow: Int64, corrupt: Int64) {
        self.overflow = overflow
        self.corrupt = corrupt
    }
}
