import GapwatchProtocol

/// Storage codes of observation kinds (the `observations.kind` column). Append only.
extension ObservationKind {
    var storageCode: Int {
        switch self {
        case .heartbeat: 1
        case .probe: 2
        case .count: 3
        case .itemStatus: 4
        case .decision: 5
        case .lock: 6
        case .actionResult: 7
        case .dropped: 8
        case .job: 9
        }
    }

    init?(storageCode: Int) {
        guard let kind = ObservationKind.allCases.first(where: { $0.storageCode == storageCode }) else { return nil }
        self = kind
    }
}

/// The typed columns an observation's kind-specific fields are stored in. The subject column
/// carries the name-like field (ping name, dataset, workflow, ...):
///
/// | kind          | status        | part      | num         | code        | at1            | at2        | text        | target |
/// |---------------|---------------|-----------|-------------|-------------|----------------|------------|-------------|--------|
/// | heartbeat     | status        | "probe" or NULL | duration_ms | exit_code |                |            | message     |        |
/// | probe         | healthy/unhealthy |       | latency_ms  | http_status |                |            | error       | target (with a job; else in the subject) |
/// | count         |               | partition | count       |             |                |            |             |        |
/// | item_status   | status        |           |             |             | reference_time |            |             |        |
/// | decision      | RUN/SKIP/FAIL |           |             |             |                |            | reason      |        |
/// | lock          | holder        |           |             |             | acquired_at    | expires_at |             |        |
/// | action_result | outcome       |           |             | exit_code   |                |            | output_tail |        |
/// | dropped       |               |           | overflow    | corrupt     |                |            |             |        |
/// | job           | change        | last_result | enabled (0/1) |         | last_attempt_at | last_success_at | JobExtras JSON | target |
struct ObservationColumns: Equatable {
    var status: String?
    var part: String?
    var num: Int64?
    var code: Int64?
    var at1: Int64?
    var at2: Int64?
    var text: String?
    var target: String?

    init(
        status: String? = nil, part: String? = nil, num: Int64? = nil, code: Int64? = nil, at1: Int64? = nil,
        at2: Int64? = nil, text: String? = nil, target: String? = nil
    ) {
        self.status = status
        self.part = part
        self.num = num
        self.code = code
        self.at1 = at1
        self.at2 = at2
        self.text = text
        self.target = target
    }
}

extension ObservationBody {
    var columns: ObservationColumns {
        switch self {
        case .heartbeat(let h):
            ObservationColumns(
                status: h.status.rawValue, part: h.probe == true ? "probe" : nil, num: h.durationMs, code: h.exitCode.map(Int64.init), text: h.message
            )
        case .probe(let p):
            // Without a job the subject is target:<target>: the column would repeat it.
            ObservationColumns(
                status: p.healthy ? "healthy" : "unhealthy", num: p.latencyMs, code: p.httpStatus.map(Int64.init),
                text: p.error, target: p.job == nil ? nil : p.target)
        case .count(let c):
            ObservationColumns(part: c.partition, num: c.count)
        case .itemStatus(let i):
            ObservationColumns(status: i.status, at1: i.referenceTime)
        case .decision(let d):
            ObservationColumns(status: d.decision.rawValue, text: d.reason)
        case .lock(let l):
            ObservationColumns(status: l.holder, at1: l.acquiredAt, at2: l.expiresAt)
        case .actionResult(let a):
            ObservationColumns(status: a.outcome.rawValue, code: a.exitCode.map(Int64.init), text: a.outputTail)
        case .dropped(let d):
            ObservationColumns(num: d.overflow, code: d.corrupt)
        case .job(let j):
            ObservationColumns(
                status: j.change.rawValue, part: j.lastResult, num: j.enabled ? 1 : 0, at1: j.lastAttemptAt, at2: j.lastSuccessAt,
                text: JobExtras(j).encoded, target: j.target)
        }
    }

    /// Rebuilds the body from its stored columns and subject name; nil if the row is not one we wrote.
    init?(kind: ObservationKind, subject: String, columns c: ObservationColumns) {
        func suffix(_ prefix: String) -> String? {
            subject.hasPrefix(prefix) ? String(subject.dropFirst(prefix.count)) : nil
        }
        switch kind {
        case .heartbeat:
            guard let name = suffix("ping:"), let status = c.status.flatMap(Heartbeat.Status.init) else { return nil }
            self = .heartbeat(
                Heartbeat(
                    name: name, status: status, durationMs: c.num, exitCode: c.code.map { Int($0) }, message: c.text,
                    probe: c.part == "probe" ? true : nil))
        case .probe:
            guard let target = c.target ?? suffix("target:") else { return nil }
            self = .probe(
                TargetProbe(
                    job: suffix("job:"), target: target, httpStatus: c.code.map { Int($0) }, error: c.text,
                    latencyMs: c.num ?? 0, healthy: c.status == "healthy"))
        case .count:
            guard let dataset = suffix("dataset:"), let part = c.part else { return nil }
            self = .count(Count(dataset: dataset, partition: part, count: c.num ?? 0))
        case .itemStatus:
            guard let rest = suffix("item:"), let slash = rest.firstIndex(of: "/"), let status = c.status else { return nil }
            self = .itemStatus(
                ItemStatus(
                    itemKind: String(rest[..<slash]), itemID: String(rest[rest.index(after: slash)...]), status: status,
                    referenceTime: c.at1))
        case .decision:
            guard let workflow = suffix("workflow:"), let decision = c.status.flatMap(WorkflowDecision.Decision.init)
            else { return nil }
            self = .decision(WorkflowDecision(workflow: workflow, decision: decision, reason: c.text))
        case .lock:
            guard let name = suffix("lock:") else { return nil }
            self = .lock(LockSighting(name: name, holder: c.status, acquiredAt: c.at1, expiresAt: c.at2))
        case .actionResult:
            guard let id = suffix("action:"), let outcome = c.status.flatMap(ActionResult.Outcome.init) else { return nil }
            self = .actionResult(ActionResult(actionID: id, outcome: outcome, exitCode: c.code.map { Int($0) }, outputTail: c.text))
        case .dropped:
            self = .dropped(DroppedRecords(overflow: c.num ?? 0, corrupt: c.code ?? 0))
        case .job:
            guard let name = suffix("job:"), let change = c.status.flatMap(JobSighting.Change.init) else { return nil }
            let extras = c.text.flatMap { try? ReportCodec.decode(JobExtras.self, from: Array($0.utf8)) } ?? JobExtras()
            self = .job(
                JobSighting(
                    name: name, change: change, enabled: c.num == 1, target: c.target, healthURL: extras.healthURL, schedule: extras.schedule,
                    timeZone: extras.timeZone, scheduler: extras.scheduler, lastAttemptAt: c.at1, lastResult: c.part, lastSuccessAt: c.at2))
        }
    }
}

/// The job fields without a column of their own, stored as JSON in `text`.
struct JobExtras: Codable, Equatable {
    var healthURL: String?
    var schedule: String?
    var timeZone: String?
    var scheduler: String?

    enum CodingKeys: String, CodingKey {
        case schedule, scheduler
        case healthURL = "health_url"
        case timeZone = "timezone"
    }

    init() {}

    init(_ j: JobSighting) {
        healthURL = j.healthURL
        schedule = j.schedule
        timeZone = j.timeZone
        scheduler = j.scheduler
    }

    var encoded: String? {
        self == JobExtras() ? nil : String(decoding: ReportCodec.encode(self), as: UTF8.self)
    }
}
