import GapwatchProtocol
import Hummingbird

/// Read endpoints: agents and the timeline.
struct QueryController {
    let database: AppDatabase
    let rejections: RejectedAgents
    /// `clock_skew.tolerance`, shown beside the agents' skews.
    var clockToleranceMs = ClockSkewConfig.defaultToleranceMs

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("agents", use: agents)
        routes.get("timeline", use: timeline)
        return routes
    }

    /// The agents that reported, and the callers whose reports were refused (401/403).
    struct AgentsResponse: Encodable {
        var agents: [AgentInfo]
        var rejected: [RejectedAgentInfo]
        var clockToleranceMs: Millis

        enum CodingKeys: String, CodingKey {
            case agents, rejected
            case clockToleranceMs = "clock_tolerance_ms"
        }
    }

    @Sendable func agents(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        return jsonResponse(AgentsResponse(agents: try database.agents(), rejected: try rejections.list(), clockToleranceMs: clockToleranceMs))
    }

    @Sendable func timeline(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let filter = try Self.timelineFilter(request.uri.queryParameters)
        return jsonResponse(try database.timeline(filter))
    }

    static func timelineFilter(_ query: Parameters) throws -> TimelineFilter {
        let known: Set<String> = ["subject", "kind", "agent", "service", "label", "from", "to", "limit", "cursor"]
        for (key, _) in query where !known.contains(String(key)) {
            throw APIError.badRequest("unknown query parameter '\(key)'; known: \(known.sorted().joined(separator: ", "))", field: String(key))
        }
        var filter = TimelineFilter()
        filter.subject = query["subject"].map(String.init)
        if let kind = query["kind"] {
            guard let parsed = ObservationKind(rawValue: String(kind)) else {
                throw APIError.badRequest(
                    "unknown kind '\(kind)'; one of \(ObservationKind.allCases.map(\.rawValue).joined(separator: ", "))", field: "kind")
            }
            filter.kind = parsed
        }
        if let agent = query["agent"] {
            // Refused, not answered with an empty page: an id that cannot exist is a mistake to point out.
            if let problem = AgentIdentity.problem(withID: String(agent)) {
                throw APIError.badRequest("agent: \(problem)", field: "agent")
            }
            filter.agentID = String(agent)
        }
        filter.service = query["service"].map(String.init)
        for item in query.getAll("label") {
            // label=env=prod (repeat the parameter for several labels)
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw APIError.badRequest("label: '\(item)' is not KEY=VALUE (e.g. label=env=prod)", field: "label")
            }
            filter.labels[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        for key: Substring in ["from", "to"] {
            guard let text = query[key] else { continue }
            guard let time = TimeParsing.parse(String(text)) else {
                throw APIError.badRequest("\(key): '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", field: String(key))
            }
            if key == "from" { filter.from = time } else { filter.to = time }
        }
        if let from = filter.from, let to = filter.to, from > to {
            throw APIError.badRequest("the range is reversed: from (\(from)) is after to (\(to))", field: "from")
        }
        if let n = try limitParameter(query) { filter.limit = n }
        if let cursor = query["cursor"] {
            guard let parsed = TimelineCursor(token: String(cursor)) else {
                throw APIError.badRequest("cursor: not a cursor this collector issued", field: "cursor")
            }
            filter.after = parsed
        }
        return filter
    }
}
