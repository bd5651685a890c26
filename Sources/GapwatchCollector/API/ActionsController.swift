import GRDB
import GapwatchProtocol
import GapwatchRules
import Hummingbird

/// Actions: list, one, approve; manual backfills; catch-up on demand.
struct ActionsController {
    let runtime: CollectorRuntime

    func register(on group: RouterGroup<CollectorContext>) {
        group.get("actions", use: list)
        group.get("actions/:id", use: one)
        group.post("actions/:id/approve", use: approve)
        group.post("backfills", use: backfill)
        group.post("catch-up", use: catchUp)
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
        return jsonResponse(ListResponse(actions: try runtime.database.actions(filter)))
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
        guard let action = try runtime.database.action(id: id) else { throw APIError.notFound("no action '\(id)'") }
        guard try runtime.database.approveAction(id: id, by: identity.tokenID, now: WallClock.nowMillis()) else {
            throw APIError(.conflict, "conflict", "action \(id) is \(action.state), not awaiting approval")
        }
        return jsonResponse(try runtime.database.action(id: id))
    }

    /// A person asks for a range to be rebuilt. Validated fully before anything is queued.
    @Sendable func backfill(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let body = try await collect(request.body, limit: 64 * 1024)
        let ask: BackfillRequest
        do {
            ask = try ReportCodec.decode(BackfillRequest.self, from: body)
        } catch {
            throw APIError(status: .badRequest, body: error.body)
        }
        let actions = runtime.config.remediation.actions
        guard let action = actions[ask.action] else {
            throw APIError.badRequest(
                "action: no action named '\(ask.action)'; configured: \(actions.keys.sorted().joined(separator: ", "))", field: "action")
        }
        let check = runtime.config.remediation.completeness.first { $0.backfill == action.name || $0.scrape == action.name }
        let granularity = check?.rule.granularity ?? .day
        let format = granularity == .day ? "a date (YYYY-MM-DD)" : "an hour (YYYY-MM-DDTHH) of rule '\(check?.name ?? "")'"
        for (field, value) in [("start", ask.start), ("end", ask.end)] where PartitionKey.period(of: value, granularity) == nil {
            throw APIError.badRequest("\(field): '\(excerpt(value))' is not \(format)", field: field)
        }
        guard ask.start <= ask.end else {
            throw APIError.badRequest("the range is reversed: start \(ask.start) is after end \(ask.end)", field: "start")
        }
        let maxPartitions = action.maxRangeDays * (granularity == .day ? 1 : 24)
        let partitions = PartitionKey.keys(from: ask.start, through: ask.end, granularity, limit: maxPartitions + 1)
        guard partitions.count <= maxPartitions else {
            throw APIError.badRequest(
                "the range is larger than action '\(action.name)' allows: more than \(action.maxRangeDays) days (max_range_days)", field: "end")
        }
        // A period still filling can be neither healed nor verified: its rows are still arriving.
        if let rule = check?.rule, let last = partitions.last, let due = rule.dueAt(last), WallClock.nowMillis() < due {
            throw APIError.badRequest(
                "end: \(last) is not due until \(TimeParsing.format(due)) (its period ends, plus due_after \(Units.formatDuration(rule.dueAfterMs)), in \(rule.timeZone)); "
                    + "a backfill of a period still receiving rows could not be verified", field: "end")
        }
        let now = WallClock.nowMillis()
        let key = "manual:\(action.name):\(ask.start)..\(ask.end)"
        let dataset = check.map { $0.backfill == action.name ? $0.rule.derived : $0.rule.source } ?? ""
        let queued = try await runtime.database.pool.write { db in
            try ActionQueue(db: db).enqueue(
                action, key: key, heals: nil, incidentID: nil, origin: "manual",
                parameters: [
                    "start": ask.start, "end": ask.end, "partition": ask.start, "dataset": dataset,
                    "bypass_checks": (ask.bypassChecks ?? false) ? "true" : "false",
                ], now: now, requestedBy: identity.tokenID)
        }
        guard let id = queued.id, let info = try runtime.database.action(id: id) else {
            throw APIError(.conflict, "conflict", queued.reason)
        }
        return jsonResponse(info, status: .accepted)
    }

    /// Re-evaluates every completeness and stale-item rule over its whole lookback now.
    @Sendable func catchUp(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireAdmin()
        let count = try await runtime.detector.scheduleCatchUp(now: WallClock.nowMillis())
        struct Answer: Encodable { var checks: Int }
        return jsonResponse(Answer(checks: count), status: .accepted)
    }
}

/// YYYY-MM-DD and a real calendar date.
func isDate(_ text: String) -> Bool {
    guard text.utf8.count == 10, let t = TimeParsing.parse(text) else { return false }
    return TimeParsing.format(t).hasPrefix(text)
}

extension Detector {
    /// Marks every completeness and stale-item check due now; returns how many.
    public func scheduleCatchUp(now: Millis) async throws -> Int {
        try await database.pool.write { db in
            try CheckStore(db: db).markDue(kinds: ["completeness", "stale_items"], now: now)
        }
    }
}
