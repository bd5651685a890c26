import GapwatchProtocol
import Hummingbird

/// Fact owners: who may report which job, lock, dataset and ping (`GET /v1/owners`, read), and an
/// admin's reassignment of one fact to another agent (`POST /v1/owners`).
struct OwnersController {
    let database: AppDatabase
    let ownership: OwnershipConfig

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("owners", use: list)
        routes.post("owners", use: reassign)
        return routes
    }

    @Sendable func list(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        let known: Set<String> = ["fact", "agent"]
        for (key, _) in query where !known.contains(String(key)) {
            throw APIError.badRequest("unknown query parameter '\(key)'; known: \(known.sorted().joined(separator: ", "))", field: String(key))
        }
        let agent = query["agent"].map(String.init)
        if let agent, let problem = AgentIdentity.problem(withID: agent) { throw APIError.badRequest("agent: \(problem)", field: "agent") }
        let found = try database.owners(fact: query["fact"].map(String.init), agentID: agent)
        let rules = ownership.rules.map { OwnerRuleInfo(facts: $0.facts, agents: $0.agents, service: $0.service, labels: $0.labels) }
        return jsonResponse(OwnersListing(owners: found.owners, rules: rules, refused: found.refused))
    }

    struct ReassignRequest: Decodable {
        var fact: String
        var agentID: String
        enum CodingKeys: String, CodingKey {
            case fact
            case agentID = "agent_id"
        }
    }

    @Sendable func reassign(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let body = try await collect(request.body, limit: 64 * 1024)
        let ask: ReassignRequest
        do {
            ask = try ReportCodec.decode(ReassignRequest.self, from: body)
        } catch {
            throw APIError(status: .badRequest, body: error.body)
        }
        if let problem = AgentIdentity.problem(withID: ask.agentID) { throw APIError.badRequest("agent_id: \(problem)", field: "agent_id") }
        if ask.fact.utf8.count > 4 * FieldLimits.name { throw APIError.badRequest("fact: at most \(4 * FieldLimits.name) bytes", field: "fact") }
        do {
            let owner = try database.reassignOwner(
                fact: ask.fact, to: ask.agentID, by: identity.tokenID, config: ownership, now: WallClock.nowMillis())
            context.logger.notice("fact owner reassigned", metadata: ["fact": "\(ask.fact)", "agent.id": "\(ask.agentID)"])
            return jsonResponse(owner)
        } catch ReassignError.badFact(let message) {
            throw APIError.badRequest("fact: \(message)", field: "fact")
        } catch ReassignError.boundByConfig(let message) {
            throw APIError(.conflict, "conflict", message, field: "fact")
        }
    }
}
