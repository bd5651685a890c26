import GapwatchProtocol
import GapwatchRules
import Hummingbird

/// Actions: list, one, approve; manual backfills; catch-up on demand.
struct ActionsController {
    let app: CollectorApp
    var runtime: CollectorRuntime { app.runtime }

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("actions", use: list)
        routes.get("actions/:id", use: one)
        routes.post("actions/:id/approve", use: approve)
        routes.post("backfills", use: backfill)
        routes.post("catch-up", use: catchUp)
        return routes
    }

    struct ListResponse: Encodable { var actions: [ActionInfo] }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["incident", "state", "limit"])
        var filter = ActionFilter()
        if let text = query["incident"] {
            guard let id = Int64(text), id >= 1 else {
                throw APIError.badRequest("incident: '\(excerpt(String(text)))' is not an incident id (an integer of 1 or more)", field: "incident")
            }
            filter.incidentID = id
        }
        if let state = query["state"] {
            // Every state this version writes (`failed` is never written).
            let states = ActionState.allCases.filter { $0 != .failed }.map(\.rawValue)
            guard states.contains(String(state)) else {
                throw APIError.badRequest("state: '\(state)' is not one of \(states.joined(separator: ", "))", field: "state")
            }
            filter.state = String(state)
        }
        if let n = try limitParameter(query) { filter.limit = n }
        return jsonResponse(ListResponse(actions: try app.actions(filter)))
    }

    @Sendable func one(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let id = try context.pathParameter("id")
        guard var action = try runtime.database.action(id: id) else { throw APIError.notFound("no action '\(id)'") }
        action.progress = try runtime.detector.actionProgress(action)
        return jsonResponse(action)
    }

    @Sendable func approve(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let id = try context.pathParameter("id")
        return jsonResponse(try app.approveAction(id: id, approvedBy: identity.tokenID, now: WallClock.nowMillis()))
    }

    /// A person asks for a range to be rebuilt (`CollectorApp.backfill` validates it fully first).
    @Sendable func backfill(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let body = try await collect(request.body, limit: 64 * 1024)
        let ask: BackfillRequest
        do {
            ask = try ReportCodec.decode(BackfillRequest.self, from: body)
        } catch {
            throw APIError(status: .badRequest, body: error.body)
        }
        return jsonResponse(try await app.backfill(ask, requestedBy: identity.tokenID, now: WallClock.nowMillis()), status: .accepted)
    }

    /// Re-evaluates every completeness and stale-item rule over its whole lookback now.
    @Sendable func catchUp(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        let count = try await app.catchUp(now: WallClock.nowMillis())
        struct Answer: Encodable { var checks: Int }
        return jsonResponse(Answer(checks: count), status: .accepted)
    }
}
