import GRDB
import GapwatchProtocol
import GapwatchRules

/// `text` with LIKE's wildcards escaped (ESCAPE '\').
func likeEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
}

extension ActionInfo {
    init(row: Row) {
        let json: String = row["parameters"]
        self.init(
            id: row["id"], name: row["name"], kind: row["kind"], key: row["key"], incidentID: row["incident_id"], origin: row["origin"],
            parameters: (try? ReportCodec.decode([String: String].self, from: Array(json.utf8))) ?? [:], state: row["state"],
            attempts: row["attempts"], maxAttempts: row["max_attempts"], createdAt: row["created_at"], updatedAt: row["updated_at"],
            nextAttemptAt: row["next_attempt_at"], approvedBy: row["approved_by"], requestedBy: row["requested_by"], detail: row["detail"])
    }
}

extension ActionChange {
    fileprivate var assignments: (sql: String, arguments: [(any DatabaseValueConvertible)?]) {
        var set: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        // A nil value leaves its column out of the UPDATE.
        func assign(_ column: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            set.append("\(column) = ?")
            arguments.append(value)
        }
        assign("attempts", attempts)
        if returnAttempt { set.append("attempts = MAX(attempts - 1, 0)") }
        assign("approved_by", approvedBy)
        assign("updated_at", updatedAt)
        if let nextAttemptAt {
            set.append("next_attempt_at = ?")
            arguments.append(nextAttemptAt)
        }
        assign("detail", detail)
        if clearResult { set.append("result_outcome = NULL") }
        return (set.map { ", " + $0 }.joined(), arguments)
    }
}

/// The `actions`, `action_starts` and `agent_commands` tables, inside the caller's transaction.
/// `ActionQueue` (Actions/) decides every state change; this only reads and writes rows.
struct SQLiteActionTable: ActionTable {
    let db: Database

    /// An action in one of `inFlight` states for `key`, or of the same `name` over a date range
    /// overlapping `start...end`.
    func firstOverlapping<S: StateColumnValue>(key: String, name: String, start: String?, end: String?, inFlight: [S]) throws -> (
        id: String, key: String
    )? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id, key FROM actions WHERE state IN (\(S.sqlList(inFlight)))
                    AND (key = ?1 OR (?2 IS NOT NULL AND name = ?4
                         AND json_extract(parameters, '$.start') <= ?3 AND json_extract(parameters, '$.end') >= ?2))
                    LIMIT 1
                    """),
            arguments: [key, start, end, name]
        ).map { ($0["id"], $0["key"]) }
    }

    /// The id of an action of incident `incidentID` in `state` for `key` or an overlapping range of `name`.
    func firstOverlapping<S: StateColumnValue>(key: String, name: String, start: String?, end: String?, incidentID: Int64, state: S) throws -> String?
    {
        try String.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT id FROM actions WHERE incident_id = ?5 AND state = \(state.sqlLiteral)
                    AND (key = ?1 OR (?2 IS NOT NULL AND name = ?4
                         AND json_extract(parameters, '$.start') <= ?3 AND json_extract(parameters, '$.end') >= ?2))
                    LIMIT 1
                    """),
            arguments: [key, start, end, name, incidentID])
    }

    /// When an action for `key` last changed, not counting those in `excluded`.
    func lastUpdate<S: StateColumnValue>(key: String, excluding excluded: S) throws -> Millis? {
        try Millis.fetchOne(
            db.cachedStatement(sql: "SELECT MAX(updated_at) FROM actions WHERE key = ? AND state != \(excluded.sqlLiteral)"), arguments: [key])
    }

    func count() throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM actions") ?? 0
    }

    func insert<S: StateColumnValue>(_ row: NewActionRow, state: S) throws {
        try db.execute(
            sql: """
                INSERT INTO actions (id, name, kind, key, incident_id, origin, parameters, state, max_attempts, created_at, updated_at, next_attempt_at, detail, requested_by,
                                     scope_rule, scope_target, heals_rule, heals_check)
                VALUES (?, ?, ?, ?, ?, ?, ?, \(state.sqlLiteral), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                row.id, row.name, row.kind, row.key, row.incidentID, row.origin, String(decoding: ReportCodec.encode(row.parameters), as: UTF8.self),
                row.maxAttempts, row.createdAt, row.createdAt, row.nextAttemptAt, row.detail, row.requestedBy, row.scopeRule, row.scopeTarget,
                row.healsRule, row.healsCheck,
            ])
    }

    /// `heals_rule` and `heals_check` of an action; nil if there is no such action.
    func heals(of id: String) throws -> (rule: String?, check: String?)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT heals_rule, heals_check FROM actions WHERE id = ?"), arguments: [id]).map {
            ($0["heals_rule"], $0["heals_check"])
        }
    }

    /// Id, state and attempts of incident `incidentID`'s actions in `states`.
    func ofIncident<S: StateColumnValue>(_ incidentID: Int64, in states: [S]) throws -> [(id: String, state: String, attempts: Int)] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, state, attempts FROM actions WHERE incident_id = ? AND state IN (\(S.sqlList(states)))"),
            arguments: [incidentID]
        ).map { ($0["id"], $0["state"], $0["attempts"]) }
    }

    /// Ids of the webhook calls in `state`, by id.
    func webhookCalls<S: StateColumnValue>(in state: S) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT id FROM actions WHERE state = \(state.sqlLiteral) AND kind = 'webhook' ORDER BY id")
    }

    /// Moves `id` to `target` only from `sources`, setting `change`. Returns whether it moved.
    func move<S: StateColumnValue>(_ id: String, from sources: [S], to target: S, _ change: ActionChange) throws -> Bool {
        let set = change.assignments
        try db.execute(
            sql: "UPDATE actions SET state = ?\(set.sql) WHERE id = ? AND state IN (\(S.sqlList(sources)))",
            arguments: StatementArguments([target.rawValue] + set.arguments + [id]))
        return db.changesCount == 1
    }

    /// Whether an action for `key` (of incident `incidentID`, when given) is in one of `states`.
    func exists<S: StateColumnValue>(key: String, incidentID: Int64? = nil, in states: [S]) throws -> Bool {
        if let incidentID {
            return try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM actions WHERE key = ? AND incident_id = ? AND state IN (\(S.sqlList(states))))",
                arguments: [key, incidentID]) ?? false
        }
        return try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM actions WHERE key = ? AND state IN (\(S.sqlList(states))))"), arguments: [key])
            ?? false
    }

    /// The newest action for `key` in one of `states`: its id and incident.
    func latest<S: StateColumnValue>(key: String, in states: [S]) throws -> (id: String, incidentID: Int64?)? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT id, incident_id FROM actions WHERE key = ? AND state IN (\(S.sqlList(states)))
                ORDER BY created_at DESC LIMIT 1
                """, arguments: [key]
        ).map { ($0["id"], $0["incident_id"]) }
    }

    /// Counts a start against the guardrails' hour.
    func recordStart(_ id: String, at: Millis) throws {
        try db.execute(sql: "INSERT INTO action_starts (action_id, at) VALUES (?, ?)", arguments: [id, at])
    }

    /// Keeps an agent's result for its command while the action is in `running` (the first result counts).
    func recordAgentResult<S: StateColumnValue>(_ id: String, outcome: String, detail: String, running: S) throws {
        try db.cachedStatement(
            sql: """
                UPDATE actions SET result_outcome = ?, result_detail = ?
                WHERE id = ? AND kind = 'agent' AND state = \(running.sqlLiteral) AND result_outcome IS NULL
                """
        ).execute(arguments: [outcome, detail, id])
    }

    /// Hands a command to agent `agentID` at its next report (replacing one not yet handed out).
    func queueCommand(actionID: String, agentID: String, command: AgentCommand) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO agent_commands (action_id, agent_id, command, handed_at) VALUES (?, ?, ?, NULL)",
            arguments: [actionID, agentID, String(decoding: ReportCodec.encode(command), as: UTF8.self)])
    }

    /// The agent a command is for and the stream it was last handed to.
    func commandRecipient(of actionID: String) throws -> (agentID: String, handedStreamID: Int64?)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT agent_id, handed_stream_id FROM agent_commands WHERE action_id = ?"), arguments: [actionID])
            .map { ($0["agent_id"], $0["handed_stream_id"]) }
    }

    /// Up to 20 of the agent's commands never handed out or last handed before `handedBefore`, as JSON.
    func commandsToHand(agentID: String, handedBefore: Millis) throws -> [(actionID: String, command: String)] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT action_id, command FROM agent_commands WHERE agent_id = ? AND (handed_at IS NULL OR handed_at < ?) LIMIT 20"),
            arguments: [agentID, handedBefore]
        ).map { ($0["action_id"], $0["command"]) }
    }

    func markHanded(_ actionID: String, at now: Millis, toStream streamID: Int64) throws {
        try db.cachedStatement(sql: "UPDATE agent_commands SET handed_at = ?, handed_stream_id = ? WHERE action_id = ?").execute(arguments: [
            now, streamID, actionID,
        ])
    }

    /// Every command of the agent is handed out again (to whichever stream reports next).
    func rehandCommands(agentID: String) throws {
        try db.execute(sql: "UPDATE agent_commands SET handed_at = NULL, handed_stream_id = NULL WHERE agent_id = ?", arguments: [agentID])
    }

    func withdrawCommand(_ actionID: String) throws {
        try db.execute(sql: "DELETE FROM agent_commands WHERE action_id = ?", arguments: [actionID])
    }

    // MARK: Reads

    func actions(_ filter: ActionFilter) throws -> [ActionInfo] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let incident = filter.incidentID {
            conditions.append("incident_id = ?")
            arguments.append(incident)
        }
        if let state = filter.state {
            conditions.append("state = ?")
            arguments.append(state)
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try Row.fetchAll(
            db, sql: "SELECT * FROM actions \(whereClause) ORDER BY created_at DESC, id DESC LIMIT ?",
            arguments: StatementArguments(arguments + [filter.limit])
        ).map(ActionInfo.init(row:))
    }

    func action(id: String) throws -> ActionInfo? {
        try Row.fetchOne(db, sql: "SELECT * FROM actions WHERE id = ?", arguments: [id]).map(ActionInfo.init(row:))
    }

    /// How many actions are in each state.
    func countByState() throws -> [String: Int] { try countByState(condition: "") }

    /// How many actions are in each state (only `states`, when given).
    func countByState<S: StateColumnValue>(in states: [S]?) throws -> [String: Int] {
        try countByState(condition: states.map { "WHERE state IN (\(S.sqlList($0)))" } ?? "")
    }

    private func countByState(condition: String) throws -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT state, COUNT(*) FROM actions \(condition) GROUP BY state").map {
                ($0[0] as String, $0[1] as Int)
            })
    }

    /// Actions in `states` whose key starts with `prefix`.
    func withKeyPrefix<S: StateColumnValue>(_ prefix: String, in states: [S]) throws -> [(id: String, key: String, state: String)] {
        try Row.fetchAll(
            db, sql: "SELECT id, key, state FROM actions WHERE state IN (\(S.sqlList(states))) AND substr(key, 1, ?) = ?",
            arguments: [prefix.count, prefix]
        ).map { ($0["id"], $0["key"], $0["state"]) }
    }

    /// Actions of `names` whose date range overlaps `first...last`, newest first: those in
    /// `inFlight`, and those in `escalated` whose incident is still open. With their range.
    func rangesOverlapping<S: StateColumnValue>(names: [String], first: String, last: String, inFlight: [S], escalated: S) throws
        -> [(id: String, state: String, start: String?, end: String?)]
    {
        guard !names.isEmpty else { return [] }
        return try Row.fetchAll(
            db,
            sql: """
                SELECT a.id, a.state, json_extract(a.parameters, '$.start') AS start, json_extract(a.parameters, '$.end') AS end
                FROM actions a LEFT JOIN incidents i ON i.id = a.incident_id
                WHERE a.name IN (\(names.map { _ in "?" }.joined(separator: ", "))) AND json_extract(a.parameters, '$.end') >= ? AND json_extract(a.parameters, '$.start') <= ?
                  AND (a.state IN (\(S.sqlList(inFlight))) OR (a.state = \(escalated.sqlLiteral) AND i.state = \(IncidentState.open.sqlLiteral)))
                ORDER BY a.created_at DESC
                """,
            arguments: StatementArguments(names + [first, last])
        ).map { ($0["id"], $0["state"], $0["start"], $0["end"]) }
    }

    /// Ids of up to 100 actions alive during `from..<to` that serve one of `incidents`, have key
    /// `key` or a key ending in `:bare`, or name `bare` among their parameters; oldest first.
    func touching(incidents: [Int64], key: String, bare: String, from: Millis, to: Millis) throws -> [String] {
        let marks = incidents.map { _ in "?" }.joined(separator: ",")
        return try String.fetchAll(
            db,
            sql: """
                SELECT id FROM actions WHERE (\(incidents.isEmpty ? "0" : "incident_id IN (\(marks))")
                    OR key = ? OR key LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(parameters) WHERE value = ?))
                  AND created_at < ? AND updated_at >= ?
                ORDER BY created_at LIMIT 100
                """,
            arguments: StatementArguments(incidents.map { $0 as (any DatabaseValueConvertible) } + [key, "%:" + likeEscaped(bare), bare, to, from]))
    }

    /// Actions a rule queued (origin `rule`) in `states` whose key starts with `keyPrefix`.
    func ruleActions<S: StateColumnValue>(keyPrefix: String, in states: [S]) throws -> [ActionInfo] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT * FROM actions WHERE key >= ? AND key < ? AND origin = 'rule'
                        AND state IN (\(S.sqlList(states)))
                    """), arguments: [keyPrefix, keyPrefix + "\u{10FFFF}"]
        ).map(ActionInfo.init(row:))
    }

    /// The scopes of every action in `running`.
    func scopes<S: StateColumnValue>(in running: S) throws -> [ActionScopeColumns] {
        try Row.fetchAll(db, sql: "SELECT scope_rule, scope_target FROM actions WHERE state = \(running.sqlLiteral)").map {
            ActionScopeColumns(rule: $0[0] ?? "", target: $0[1] ?? "")
        }
    }

    /// The scopes of every start after `since` (a retry counts again).
    func scopesStarted(after since: Millis) throws -> [ActionScopeColumns] {
        try Row.fetchAll(
            db, sql: "SELECT a.scope_rule, a.scope_target FROM action_starts s JOIN actions a ON a.id = s.action_id WHERE s.at > ?",
            arguments: [since]
        ).map { ActionScopeColumns(rule: $0[0] ?? "", target: $0[1] ?? "") }
    }

    private static func dueInScope<S: StateColumnValue>(_ column: ActionScopeColumn, pending: S) -> String {
        "state = \(pending.sqlLiteral) AND next_attempt_at <= ?2 AND \(column.rawValue) = ?3 AND detail != ?1"
    }

    /// Whether an action due by `now` in `pending` of scope `scope` says something other than `detail`.
    func dueInScopeSaysOtherwise<S: StateColumnValue>(_ column: ActionScopeColumn, _ scope: String, detail: String, pending: S, now: Millis) throws
        -> Bool
    {
        try Bool.fetchOne(
            db, sql: "SELECT EXISTS (SELECT 1 FROM actions WHERE \(Self.dueInScope(column, pending: pending)))", arguments: [detail, now, scope])
            == true
    }

    /// Says `detail` on every action due by `now` in `pending` of scope `scope`.
    func noteDueInScope<S: StateColumnValue>(_ column: ActionScopeColumn, _ scope: String, detail: String, pending: S, now: Millis) throws {
        try db.execute(sql: "UPDATE actions SET detail = ?1 WHERE \(Self.dueInScope(column, pending: pending))", arguments: [detail, now, scope])
    }

    /// Up to 50 actions in `pending` due by `now`, oldest due first, skipping full scopes; with
    /// their scopes and what they heal.
    func due<S: StateColumnValue>(
        pending: S, now: Millis, skippingRules: [String], skippingTargets: [String]
    ) throws -> [(action: ActionInfo, scopes: ActionScopeColumns, healsRule: String?, healsCheck: String?)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM actions WHERE state = \(pending.sqlLiteral) AND next_attempt_at <= ?
                    AND COALESCE(scope_rule, '') NOT IN (SELECT value FROM json_each(?))
                    AND COALESCE(scope_target, '') NOT IN (SELECT value FROM json_each(?))
                ORDER BY next_attempt_at LIMIT 50
                """,
            arguments: [
                now, String(decoding: ReportCodec.encode(skippingRules), as: UTF8.self),
                String(decoding: ReportCodec.encode(skippingTargets), as: UTF8.self),
            ]
        ).map {
            (
                ActionInfo(row: $0), ActionScopeColumns(rule: $0["scope_rule"] ?? "", target: $0["scope_target"] ?? ""), $0["heals_rule"],
                $0["heals_check"]
            )
        }
    }

    /// Actions in `running` with an agent's result or past `now`, and every action in
    /// `verifying`; with their incident's state and the agent's result.
    func toFollowUp<S: StateColumnValue>(running: S, verifying: S, now: Millis) throws
        -> [(action: ActionInfo, incidentState: String?, resultOutcome: String?, resultDetail: String?, healsRule: String?, healsCheck: String?)]
    {
        try Row.fetchAll(
            db,
            sql: """
                SELECT a.*, i.state AS incident_state FROM actions a LEFT JOIN incidents i ON i.id = a.incident_id
                WHERE (a.state = \(running.sqlLiteral) AND (a.result_outcome IS NOT NULL OR a.next_attempt_at <= ?))
                    OR a.state = \(verifying.sqlLiteral)
                """, arguments: [now]
        ).map { (ActionInfo(row: $0), $0["incident_state"], $0["result_outcome"], $0["result_detail"], $0["heals_rule"], $0["heals_check"]) }
    }

    /// How many distinct disable keys other than `key` started after `since` for jobs that agent
    /// `agentID` reports under `scheduler` (the breaker's window).
    func disablesStarted(after since: Millis, otherThan key: String, agentID: String, scheduler: String?) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT COUNT(DISTINCT a.key) FROM action_starts s JOIN actions a ON a.id = s.action_id
                JOIN jobs j ON j.name = json_extract(a.parameters, '$.job')
                WHERE s.at > ? AND a.key >= 'job:disable:' AND a.key < 'job:disable;' AND a.key != ?
                    AND j.agent_id = ? AND j.scheduler IS ?
                """, arguments: [since, key, agentID, scheduler]) ?? 0
    }
}

extension AppDatabase {
    public func actions(_ filter: ActionFilter) throws -> [ActionInfo] {
        try read { tx in try tx.actions.actions(filter) }
    }

    public func action(id: String) throws -> ActionInfo? {
        try read { tx in try tx.actions.action(id: id) }
    }
}
