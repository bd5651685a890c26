import GapwatchProtocol
import Hummingbird

/// `GET /v1/agents/{id}/streams` (read) and `POST /v1/agents/{id}/rebind` (admin): which stream
/// (spool) an agent id's commands go to, and moving them when an admin says so.
struct AgentStreamsController {
    let database: AppDatabase

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("agents/:id/streams", use: streams)
        routes.post("agents/:id/rebind", use: rebind)
        return routes
    }

    struct StreamsResponse: Codable {
        var agentID: String
        var streams: [AgentStreamInfo]

        enum CodingKeys: String, CodingKey {
            case agentID = "agent_id"
            case streams
        }
    }

    /// `{"stream": N}`; no body or `{}`: the agent's most recently seen stream.
    struct RebindRequest: Decodable {
        var stream: Int64?
    }

    @Sendable func streams(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let id = try agentID(context)
        guard let streams = try database.agentStreams(agentID: id) else { throw APIError.notFound("no agent '\(id)' has reported") }
        return jsonResponse(StreamsResponse(agentID: id, streams: streams))
    }

    @Sendable func rebind(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let id = try agentID(context)
        let body = try await collect(request.body, limit: 4096)
        var ask = RebindRequest()
        if !body.isEmpty {
            do {
                ask = try ReportCodec.decode(RebindRequest.self, from: body)
            } catch {
                throw APIError(status: .badRequest, body: error.body)
            }
        }
        guard try database.rebindAgent(id, stream: ask.stream, by: identity.tokenID, now: WallClock.nowMillis()) != nil else {
            throw APIError.notFound(ask.stream.map { "agent '\(id)' has no stream \($0)" } ?? "no agent '\(id)' has reported")
        }
        return jsonResponse(StreamsResponse(agentID: id, streams: try database.agentStreams(agentID: id) ?? []))
    }

    private func agentID(_ context: CollectorContext) throws -> String {
        let id = try context.pathParameter("id")
        if let problem = AgentIdentity.problem(withID: id) { throw APIError.badRequest("agent id: \(problem)", field: "id") }
        return id
    }
}
