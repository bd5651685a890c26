import GapwatchProtocol
import GapwatchRules
import Hummingbird

/// The job audit and locks: `GET /v1/audit/jobs`, `GET /v1/audit/report`, `GET /v1/locks`,
/// `POST /v1/locks/{name}/release`.
struct SchedulerController {
    let app: CollectorApp

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("audit/jobs", use: jobs)
        routes.get("audit/report", use: report)
        routes.get("locks", use: locks)
        routes.post("locks/:name/release", use: release)
        return routes
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
        let jobs = try app.auditJobs(service: service, now: WallClock.nowMillis()).filter { !flaggedOnly || !$0.flags.isEmpty }
        return jsonResponse(JobsResponse(jobs: jobs))
    }

    @Sendable func report(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(ReportResponse(text: try app.auditReport(now: WallClock.nowMillis())))
    }

    @Sendable func locks(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(LocksResponse(locks: try app.locks(now: WallClock.nowMillis())))
    }

    /// A person force-releases a lock (`CollectorApp.releaseLock`), recorded with the token that asked.
    @Sendable func release(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        try rejectUnknown(request.uri.queryParameters, known: [])
        let name = try context.pathParameter("name")
        return jsonResponse(try await app.releaseLock(name: name, requestedBy: identity.tokenID, now: WallClock.nowMillis()), status: .accepted)
    }
}
