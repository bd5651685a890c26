import GRDB
import GapwatchProtocol

// MARK: - Escalation and notification bookkeeping

extension SQLiteIncidentStore {
    /// An action for the incident gave up: it needs a person (an `escalated` event, notified now).
    func escalate(_ id: Int64, reason: String, at: Millis) throws {
        try db.execute(sql: "UPDATE incidents SET escalated = 1 WHERE id = ?", arguments: [id])
        try addEvent(id, event: "escalated", old: IncidentState.open.rawValue, new: IncidentState.open.rawValue, reason: reason, at: at, notifyAt: at)
    }

    /// A notification about the incident reached at least one channel.
    func markNotified(_ id: Int64, at: Millis) throws {
        try db.execute(sql: "UPDATE incidents SET notified = 1, last_notified_at = ? WHERE id = ?", arguments: [at, id])
    }

    /// A `reminder` event for every open, notified incident last notified at or before `notifiedBy`.
    func queueReminders(notifiedBy: Millis, now: Millis) throws {
        let rows = try Row.fetchAll(
            db, sql: "SELECT id, reason FROM incidents WHERE state = \(IncidentState.open.sqlLiteral) AND notified = 1 AND last_notified_at <= ?",
            arguments: [notifiedBy])
        for row in rows {
            let id: Int64 = row["id"]
            try addEvent(
                id, event: "reminder", old: IncidentState.open.rawValue, new: IncidentState.open.rawValue, reason: row["reason"], at: now,
                notifyAt: now)
            try db.execute(sql: "UPDATE incidents SET last_notified_at = ? WHERE id = ?", arguments: [now, id])
        }
    }
}

// MARK: - The outbox (incident_events waiting to be notified)

extension SQLiteIncidentStore {
    /// Events due to be notified and not claimed by a live lease, oldest first.
    func dueEvents(now: Millis, limit: Int) throws -> [Int64] {
        try Int64.fetchAll(
            db,
            sql: """
                SELECT id FROM incident_events
                WHERE notify = \(NotifyState.pending.sqlLiteral) AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
                ORDER BY id LIMIT ?
                """, arguments: [now, now, limit])
    }

    /// Claims a pending event for `claim` until `until`; false when another holds it or it is done.
    func claimEvent(_ id: Int64, claim: String, until: Millis, now: Millis) throws -> Bool {
        try db.execute(
            sql: """
                UPDATE incident_events SET claim = ?, claimed_until = ?
                WHERE id = ? AND notify = \(NotifyState.pending.sqlLiteral) AND (claimed_until IS NULL OR claimed_until < ?)
                """, arguments: [claim, until, id, now])
        return db.changesCount == 1
    }

    /// An event with its incident, as the notifier needs it; nil if there is no such event.
    func eventWithIncident(_ eventID: Int64) throws -> OutboxEvent? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT e.incident_id, e.event, e.reason, e.at, e.attempts, i.rule, i.subject, i.state, i.opened_at, i.labels,
                    i.feeder_agent_id, i.notified
                FROM incident_events e JOIN incidents i ON i.id = e.incident_id WHERE e.id = ?
                """, arguments: [eventID]
        ).map { row in
            let labelsJSON: String = row["labels"]
            return OutboxEvent(
                incidentID: row["incident_id"], event: row["event"], reason: row["reason"], at: row["at"], attempts: row["attempts"],
                rule: row["rule"], subject: row["subject"], incidentState: row["state"], openedAt: row["opened_at"],
                labels: (try? ReportCodec.decode([String: String].self, from: Array(labelsJSON.utf8))) ?? [:],
                feederAgentID: row["feeder_agent_id"], notified: row["notified"])
        }
    }

    /// Settles a claimed event (sent, failed, silenced, …); does nothing when the claim was lost.
    func finishEvent(_ eventID: Int64, claim: String, notify: NotifyState, detail: String, attempts: Int?) throws {
        try db.execute(
            sql: """
                UPDATE incident_events SET notify = ?, notify_detail = ?, attempts = COALESCE(?, attempts),
                    next_attempt_at = NULL, claimed_until = NULL, claim = NULL
                WHERE id = ? AND claim = ?
                """, arguments: [notify.rawValue, detail, attempts, eventID, claim])
    }

    /// Gives a claimed event back, to be tried again at `nextAttemptAt`.
    func releaseEvent(_ eventID: Int64, claim: String, nextAttemptAt: Millis, attempts: Int, detail: String) throws {
        try db.execute(
            sql: """
                UPDATE incident_events SET next_attempt_at = ?, attempts = ?, notify_detail = ?, claimed_until = NULL, claim = NULL
                WHERE id = ? AND claim = ?
                """, arguments: [nextAttemptAt, attempts, detail, eventID, claim])
    }

    /// The latest first-attempt pending `event` of `rule` that fell due by `fellDueBy`.
    func latestPendingAt(event: String, rule: String, atOrBefore fellDueBy: Millis) throws -> Millis? {
        try Millis.fetchOne(
            db,
            sql: """
                SELECT MAX(e.at) FROM incident_events e JOIN incidents i ON i.id = e.incident_id
                WHERE e.notify = \(NotifyState.pending.sqlLiteral) AND e.event = ? AND i.rule = ? AND e.attempts = 0 AND e.at <= ?
                """, arguments: [event, rule, fellDueBy])
    }

    /// Unclaimed pending events to send in one message with `lead`: same event, rule and attempt count.
    func groupCandidates(
        event: String, rule: String, attempts: Int, atOrBefore fellDueBy: Millis, excluding lead: Int64, now: Millis, limit: Int
    ) throws -> [Int64] {
        try Int64.fetchAll(
            db,
            sql: """
                SELECT e.id FROM incident_events e JOIN incidents i ON i.id = e.incident_id
                WHERE e.notify = \(NotifyState.pending.sqlLiteral) AND e.event = ? AND i.rule = ? AND e.attempts = ? AND e.at <= ? AND e.id != ?
                    AND (e.claimed_until IS NULL OR e.claimed_until < ?)
                ORDER BY e.id LIMIT ?
                """, arguments: [event, rule, attempts, fellDueBy, lead, now, limit])
    }
}
