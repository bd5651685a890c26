import GapwatchProtocol
import GapwatchRules
import Hummingbird

/// Checks: list, pause, resume; and the workflow gaps table.
struct ChecksController {
    let app: CollectorApp

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("checks", use: list)
        routes.post("checks/:name/pause", use: pause)
        routes.post("checks/:name/resume", use: resume)
        routes.get("workflows/gaps", use: gaps)
        return routes
    }

    struct ListResponse: Encodable { var checks: [CheckInfo] }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(ListResponse(checks: try app.checks(now: WallClock.nowMillis())))
    }

    @Sendable func pause(request: Request, context: CollectorContext) async throws -> Response {
        try await change(request, context, paused: true)
    }

    @Sendable func resume(request: Request, context: CollectorContext) async throws -> Response {
        try await change(request, context, paused: false)
    }

    private func change(_ request: Request, _ context: CollectorContext, paused: Bool) async throws -> Response {
        _ = try context.requireAdmin()
        let name = try context.pathParameter("name")
        return jsonResponse(try app.setCheckPaused(name: name, paused: paused, now: WallClock.nowMillis()))
    }

    @Sendable func gaps(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["since"])
        let now = WallClock.nowMillis()
        var since = now - 86_400_000
        if let text = query["since"] {
            guard let t = TimeParsing.parse(String(text)) else {
                throw APIError.badRequest("since: '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", field: "since")
            }
            since = t
        }
        if since > now { throw APIError.badRequest("since: \(TimeParsing.format(since)) is in the future", field: "since") }
        if now - since > Detector.maxGapsRangeMs {
            throw APIError.badRequest("since: at most 31 days back per call", field: "since")
        }
        return jsonResponse(try app.workflowGaps(since: since, now: now))
    }
}

/// Incidents: list and one with its history.
struct IncidentsController {
    let database: AppDatabase

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("incidents", use: list)
        routes.get("incidents/:id", use: one)
        return routes
    }

    struct ListResponse: Encodable { var incidents: [IncidentInfo] }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["state", "since", "limit"])
        var filter = IncidentFilter()
        if let state = query["state"] {
            let states = IncidentState.allCases.map(\.rawValue)
            guard states.contains(String(state)) else {
                throw APIError.badRequest("state: '\(state)' is not one of \(states.joined(separator: ", "))", field: "state")
            }
            filter.state = String(state)
        }
        if let text = query["since"] {
            guard let t = TimeParsing.parse(String(text)) else {
                throw APIError.badRequest("since: '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", field: "since")
            }
            filter.since = t
        }
        if let n = try limitParameter(query) { filter.limit = n }
        return jsonResponse(ListResponse(incidents: try database.incidents(filter)))
    }

    @Sendable func one(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let text = try context.pathParameter("id")
        guard let id = Int64(text) else { throw APIError.badRequest("incident id '\(excerpt(String(text)))' is not a number", field: "id") }
        guard let incident = try database.incident(id: id) else { throw APIError.notFound("no incident \(id)") }
        return jsonResponse(incident)
    }
}

/// Silences: maintenance windows during which matching incidents are recorded, not notified.
struct SilencesController {
    let database: AppDatabase

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("silences", use: list)
        routes.post("silences", use: create)
        routes.delete("silences/:id", use: remove)
        return routes
    }

    struct ListResponse: Encodable { var silences: [SilenceInfo] }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["all"])
        let all = query["all"].map { $0 == "true" || $0 == "1" } ?? false
        return jsonResponse(ListResponse(silences: try database.silences(includeEnded: all, now: WallClock.nowMillis())))
    }

    @Sendable func create(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let body = try await collect(request.body, limit: 64 * 1024)
        let silenceRequest: SilenceRequest
        do {
            silenceRequest = try ReportCodec.decode(SilenceRequest.self, from: body)
        } catch {
            throw APIError(status: .badRequest, body: error.body)
        }
        do {
            return jsonResponse(try database.createSilence(silenceRequest, createdBy: identity.tokenID, now: WallClock.nowMillis()), status: .created)
        } catch let error as SilenceValidationError {
            throw APIError.badRequest(error.message, field: error.field)
        }
    }

    @Sendable func remove(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        let text = try context.pathParameter("id")
        guard let id = Int64(text) else { throw APIError.badRequest("silence id '\(excerpt(String(text)))' is not a number", field: "id") }
        guard try database.deleteSilence(id: id, now: WallClock.nowMillis()) else { throw APIError.notFound("no live silence \(id)") }
        return Response(status: .noContent)
    }
}
