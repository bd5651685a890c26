import GapwatchProtocol
import Hummingbird

/// Token management (admin only): issue, list, revoke. Agents not using a token need no restart.
struct TokensController {
    let tokens: TokenStore

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("tokens", use: list)
        routes.post("tokens", use: create)
        routes.delete("tokens/:id", use: revoke)
        return routes
    }

    struct CreateRequest: Decodable {
        var kind: TokenKind
        var agentID: String?
        var name: String?
        /// What the collector vouches for about the agents using the token (agent and fleet only).
        var service: String?
        var labels: [String: String]?
        enum CodingKeys: String, CodingKey {
            case kind, name, service, labels
            case agentID = "agent_id"
        }
    }

    struct ListResponse: Encodable { var tokens: [TokenInfo] }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        return jsonResponse(ListResponse(tokens: try tokens.list()))
    }

    @Sendable func create(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        let body = try await collect(request.body, limit: 64 * 1024)
        let create: CreateRequest
        do {
            create = try ReportCodec.decode(CreateRequest.self, from: body)
        } catch {
            throw APIError(status: .badRequest, body: error.body)
        }
        if create.kind == .agent {
            guard let agentID = create.agentID, !agentID.isEmpty else {
                throw APIError.badRequest("an agent token needs agent_id", field: "agent_id")
            }
            if let problem = AgentIdentity.problem(withID: agentID) {
                throw APIError.badRequest("agent_id: \(problem)", field: "agent_id")
            }
        } else if create.agentID != nil {
            throw APIError.badRequest("agent_id applies only to agent tokens", field: "agent_id")
        }
        if create.service != nil || !(create.labels ?? [:]).isEmpty {
            guard create.kind == .agent || create.kind == .fleet else {
                throw APIError.badRequest(
                    "service and labels bind what agents reporting with the token are; only agent and fleet tokens report",
                    field: create.service != nil ? "service" : "labels")
            }
            if let problem = AgentIdentity.bindingProblem(service: create.service, labels: create.labels ?? [:]) {
                throw APIError.badRequest(problem.description, field: problem.field)
            }
        }
        let name = create.name ?? "\(create.kind.rawValue) token"
        if name.utf8.count > FieldLimits.name { throw APIError.badRequest("name: at most \(FieldLimits.name) bytes", field: "name") }
        let issued = try tokens.issue(
            kind: create.kind, agentID: create.agentID, name: name, now: WallClock.nowMillis(), service: create.service,
            labels: create.labels ?? [:])
        return jsonResponse(issued, status: .created)
    }

    @Sendable func revoke(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        let id = try context.pathParameter("id")
        guard try tokens.revoke(id: id, now: WallClock.nowMillis()) else {
            throw APIError.notFound("no active token with id '\(id)'")
        }
        return Response(status: .noContent)
    }
}
