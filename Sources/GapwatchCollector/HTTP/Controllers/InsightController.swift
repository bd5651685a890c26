import GapwatchProtocol
import Hummingbird

/// The questions people ask during an incident, one endpoint each: `GET /v1/overview`,
/// `GET /v1/gaps`, `GET /v1/stale`, `GET /v1/story`.
struct InsightController {
    let app: CollectorApp

    /// The controller's endpoints, added under `/v1` (`Collector.buildRouter`).
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.get("overview", use: overview)
        routes.get("gaps", use: gaps)
        routes.get("stale", use: stale)
        routes.get("story", use: story)
        routes.get("rollups", use: rollups)
        return routes
    }

    struct RollupsResponse: Encodable { var rollups: [DailyRollup] }

    /// What retention kept of pruned days: `GET /v1/rollups?subject=&from=YYYY-MM-DD&to=YYYY-MM-DD`.
    @Sendable func rollups(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["subject", "from", "to"])
        guard let subject = query["subject"].map(String.init), !subject.isEmpty else {
            throw APIError.badRequest("subject: required, e.g. subject=ping:nightly-export", field: "subject")
        }
        let from = query["from"].map(String.init) ?? "0000-01-01"
        let to = query["to"].map(String.init) ?? "9999-12-31"
        for (key, value) in [("from", from), ("to", to)] where query[Substring(key)] != nil && !isDate(value) {
            throw APIError.badRequest("\(key): '\(value)' is not a date (YYYY-MM-DD)", field: key)
        }
        guard from <= to else { throw APIError.badRequest("the range is reversed: from \(from) is after to \(to)", field: "from") }
        return jsonResponse(RollupsResponse(rollups: try app.rollups(subject: subject, fromDay: from, toDay: to)))
    }

    @Sendable func overview(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        try rejectUnknown(request.uri.queryParameters, known: [])
        return jsonResponse(try app.overview(now: WallClock.nowMillis()))
    }

    @Sendable func gaps(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["days", "check"])
        let days = try Self.days(query, default: 7)
        let check = query["check"].map(String.init)
        return jsonResponse(try app.gaps(days: days, check: check, now: WallClock.nowMillis()))
    }

    struct StaleResponse: Encodable { var items: [StaleItemInfo] }

    @Sendable func stale(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["days"])
        return jsonResponse(StaleResponse(items: try app.staleItems(days: try Self.days(query, default: 3), now: WallClock.nowMillis())))
    }

    @Sendable func story(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let query = request.uri.queryParameters
        try rejectUnknown(query, known: ["subject", "from", "to", "limit"])
        guard let subject = query["subject"].map(String.init), !subject.isEmpty else {
            throw APIError.badRequest("subject: required, e.g. subject=dataset:nba_analytics.player_game_summary", field: "subject")
        }
        let now = WallClock.nowMillis()
        var range: [String: Millis] = [:]
        for key in ["from", "to"] {
            guard let text = query[Substring(key)] else { continue }
            guard let t = TimeParsing.parse(String(text)) else {
                throw APIError.badRequest("\(key): '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", field: key)
            }
            range[key] = t
        }
        let from = range["from"] ?? now - 7 * 86_400_000
        let to = range["to"] ?? now + 60_000
        guard from <= to else { throw APIError.badRequest("the range is reversed: from (\(from)) is after to (\(to))", field: "from") }
        return jsonResponse(try app.story(subject: subject, from: from, to: to, limit: try limitParameter(query) ?? 500))
    }

    static func days(_ query: Parameters, default value: Int) throws -> Int {
        guard let text = query["days"] else { return value }
        guard let n = Int(text), (1...366).contains(n) else {
            throw APIError.badRequest("days: '\(text)' must be a whole number from 1 to 366", field: "days")
        }
        return n
    }
}
