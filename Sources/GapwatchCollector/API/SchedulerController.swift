import GRDB
import GapwatchProtocol
import GapwatchRules
import Hummingbird

/// The job audit and locks: `GET /v1/audit/jobs`, `GET /v1/audit/report`, `GET /v1/locks`,
/// `POST /v1/locks/{name}/release`.
struct SchedulerController {
    let runtime: CollectorRuntime

    func register(on group: RouterGroup<CollectorContext>) {
        group.get("audit/jobs", use: jobs)
        group.get("audit/report", use: report)
        group.get("locks", use: locks)
        group.post("locks/:name/release", use: release)
    }

    struct JobsResponse: Encodable { var jobs: [JobAudit] }
    struct ReportResponse: Encodable { var text: String }
    struct LocksResponse: Encodable { var locks: [LockInfo] }

    @Sendable func jobs(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["service", "flagged"])
        var service: String?
        if let text = query["service"] {
            guard !text.isEmpty, text.utf8.count <= 2048 else {
                throw APIError.badRequest("service: give a service URL or part of one, at most 2048 bytes", field: "service")
            }
            service = String(text)
        }
        var flaggedOnly = false
        if let text = query["flagged"] {
            guard text == "true" || text == "false" else { throw APIError.badRequest("flagged: 'true' or 'false', not '\(text)'", field: "flagged") }
            flaggedOnly = text == "true"
        }
        let jobs = try runtime.auditJobs(service: service, now: WallClock.nowMillis()).filter { !flaggedOnly || !$0.flags.isEmpty }
        return jsonResponse(JobsResponse(jobs: jobs))
    }

    @Sendable func report(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(ReportResponse(text: try runtime.auditReport(now: WallClock.nowMillis())))
    }

    @Sendable func locks(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(LocksResponse(locks: try runtime.locks(now: WallClock.nowMillis())))
    }

    /// A person force-releases a lock through the release action of the stuck_locks rule that
    /// covers it. Recorded on the timeline with the token that asked.
    @Sendable func release(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        try rejectUnknown(request.uri.queryParameters, known: [])
        let name = try context.pathParameter("name")
        let now = WallClock.nowMillis()
        guard let lock = try runtime.locks(now: now).first(where: { $0.name == name }) else {
            throw APIError.notFound("no lock '\(name)' has been seen (GET /v1/locks lists them)")
        }
        guard let holder = lock.holder else { throw APIError(.conflict, "conflict", "lock \(name) is free: nothing to release") }
        let remediation = runtime.config.remediation
        guard let check = remediation.stuckLocks.first(where: { $0.release != nil && globMatch($0.pattern, name) }),
            let action = check.release.flatMap({ remediation.actions[$0] })
        else {
            throw APIError(
                .conflict, "conflict",
                "no stuck_locks rule with a release: action covers lock \(name); add one to the collector config to release it from here")
        }
        let state = LockState(name: name, holder: holder, acquiredAt: lock.acquiredAt, expiresAt: lock.expiresAt)
        let queued = try await runtime.database.pool.write { db in
            try ActionQueue(db: db).enqueue(
                action, key: Detector.releaseKey(name), heals: ActionHeals(.stuckLocks, name), incidentID: nil, origin: "manual", parameters: runtime.detector.releaseParameters(state),
                now: now, requestedBy: identity.tokenID)
        }
        guard let id = queued.id, let info = try runtime.database.action(id: id) else {
            throw APIError(.conflict, "conflict", queued.reason)
        }
        return jsonResponse(info, status: .accepted)
    }
}
