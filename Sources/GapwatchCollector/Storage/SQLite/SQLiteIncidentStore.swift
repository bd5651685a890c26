import GRDB
import GapwatchProtocol

/// The only writer of `incidents` and `incident_events`: opening and resolving incidents inside
/// the caller's write transaction, so a check's state change and its incident change commit
/// together. Each change is a row in `incident_events`, which is also the notifier's outbox
/// (claimed, finished and released below).
struct SQLiteIncidentStore: IncidentStore {
    let db: Database
    /// Delay before an opening may be notified (`notify.wait`).
    let notifyWaitMs: Millis
    /// With no channel configured nothing is pending: events are recorded as not needed.
    let hasChannels: Bool

    /// Opens the incident for (rule, subject) unless one is open; an open one gets an `updated`
    /// event when the reason changed (not notified). Returns the incident id.
    @discardableResult
    func open(rule: String, subject: String, reason: String, labels: [String: String], feederAgent: String?, at: Millis) throws -> Int64 {
        if let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, reason FROM incidents WHERE rule = ? AND subject = ? AND state = \(IncidentState.open.sqlLiteral)"),
            arguments: [rule, subject])
        {
            let id: Int64 = row["id"]
            if (row["reason"] as String) != reason {
                try db.cachedStatement(sql: "UPDATE incidents SET reason = ? WHERE id = ?").execute(arguments: [reason, id])
                try addEvent(
                    id, event: "updated", old: IncidentState.open.rawValue, new: IncidentState.open.rawValue, reason: reason, at: at,
                    notify: .notNeeded, detail: "updates are recorded, not sent")
            }
            return id
        }
        let labelsJSON = String(decoding: ReportCodec.encode(labels), as: UTF8.self)
        try db.cachedStatement(
            sql: """
                INSERT INTO incidents (rule, subject, state, opened_at, reason, labels, feeder_agent_id)
                VALUES (?, ?, \(IncidentState.open.sqlLiteral), ?, ?, ?, ?)
                """
        ).execute(arguments: [rule, subject, at, reason, labelsJSON, feederAgent])
        let id = db.lastInsertedRowID
        try addEvent(id, event: "opened", old: nil, new: IncidentState.open.rawValue, reason: reason, at: at, notifyAt: at + notifyWaitMs)
        return id
    }

    /// Resolves the open incident for (rule, subject), if any. Returns whether one was open.
    @discardableResult
    func resolve(rule: String, subject: String, reason: String, at: Millis) throws -> Bool {
        guard
            let id = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM incidents WHERE rule = ? AND subject = ? AND state = \(IncidentState.open.sqlLiteral)"),
                arguments: [rule, subject])
        else { return false }
        try db.cachedStatement(sql: "UPDATE incidents SET state = \(IncidentState.resolved.sqlLiteral), resolved_at = ?, reason = ? WHERE id = ?")
            .execute(arguments: [at, reason, id])
        try addEvent(
            id, event: "resolved", old: IncidentState.open.rawValue, new: IncidentState.resolved.rawValue, reason: reason, at: at, notifyAt: at)
        return true
    }

    func addEvent(
        _ incidentID: Int64, event: String, old: String?, new: String, reason: String, at: Millis, notifyAt: Millis? = nil,
        notify: NotifyState? = nil, detail: String? = nil
    ) throws {
        var state = notify ?? .pending
        var detail = detail
        if state == .pending && !hasChannels {
            state = .notNeeded
            detail = "no notification channels configured"
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO incident_events (incident_id, at, event, old_state, new_state, reason, notify, notify_detail, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [incidentID, at, event, old, new, reason, state.rawValue, detail, state == .pending ? (notifyAt ?? at) : nil])
    }
}

extension AppDatabase {
    public func incidents(_ filter: IncidentFilter) throws -> [IncidentInfo] {
        try read { tx in try tx.incidentReads.incidents(filter) }
    }

    /// One incident with its full history and every delivery.
    public func incident(id: Int64) throws -> IncidentInfo? {
        try read { tx in try tx.incidentReads.incident(id: id) }
    }
}

extension SQLiteIncidentReads {
    func incidents(_ filter: IncidentFilter) throws -> [IncidentInfo] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let state = filter.state {
            conditions.append("state = ?")
            arguments.append(state)
        }
        if let since = filter.since {
            // Incidents open at any time since `since`: opened after it, or still open, or resolved after it.
            conditions.append("(opened_at >= ? OR resolved_at IS NULL OR resolved_at >= ?)")
            arguments.append(contentsOf: [since, since] as [Millis])
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM incidents \(whereClause) ORDER BY opened_at DESC, id DESC LIMIT ?"),
            arguments: StatementArguments(arguments + [filter.limit])
        ).map(Self.incident)
    }

    /// One incident with its full history and every delivery.
    func incident(id: Int64) throws -> IncidentInfo? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM incidents WHERE id = ?"), arguments: [id]) else { return nil }
        var info = Self.incident(row)
        let deliveries = try SQLiteDeliveryStore(db: db).forIncident(id)
        info.events = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM incident_events WHERE incident_id = ? ORDER BY id"), arguments: [id]
        ).map { e in
            let eventID: Int64 = e["id"]
            return IncidentEventInfo(
                id: eventID, at: e["at"], event: e["event"], oldState: e["old_state"], newState: e["new_state"], reason: e["reason"],
                notify: e["notify"], notifyDetail: e["notify_detail"], attempts: e["attempts"],
                deliveries: deliveries.filter { ($0["event_id"] as Int64) == eventID }.map {
                    DeliveryInfo(
                        channel: $0["channel"], state: $0["state"], attempts: $0["attempts"], lastAttemptAt: $0["last_attempt_at"],
                        detail: $0["detail"])
                })
        }
        return info
    }

    static func incident(_ row: Row) -> IncidentInfo {
        let labelsJSON: String = row["labels"]
        return IncidentInfo(
            id: row["id"], rule: row["rule"], subject: row["subject"], state: row["state"], openedAt: row["opened_at"],
            resolvedAt: row["resolved_at"], reason: row["reason"],
            labels: (try? ReportCodec.decode([String: String].self, from: Array(labelsJSON.utf8))) ?? [:],
            feederAgentID: row["feeder_agent_id"], notified: row["notified"], escalated: row["escalated"], events: nil)
    }
}
