import GRDB
import GapwatchProtocol

extension AppDatabase {
    /// The agent's streams, most recently seen first; nil when no such agent reported.
    public func agentStreams(agentID: String) throws -> [AgentStreamInfo]? {
        try pool.read { db in
            guard let bound = try Row.fetchOne(db, sql: "SELECT bound_stream_id FROM agents WHERE id = ?", arguments: [agentID]) else { return nil }
            let boundID: Int64? = bound["bound_stream_id"]
            return try Row.fetchAll(
                db, sql: "SELECT * FROM streams WHERE agent_id = ? ORDER BY last_seen DESC, id DESC LIMIT 100", arguments: [agentID]
            ).map { row in
                let id: Int64 = row["id"]
                return AgentStreamInfo(
                    stream: id, spoolPrefix: String((row["spool_id"] as String).prefix(8)),
                    previousSpoolPrefix: (row["previous_spool_id"] as String?).map { String($0.prefix(8)) },
                    firstSeen: row["first_seen"], lastSeen: row["last_seen"], lastSeq: row["last_seq"], bound: id == boundID)
            }
        }
    }

    /// An admin moves the agent's commands to `stream` (default: its most recently seen stream),
    /// e.g. after its spool folder was recreated while a stale stream still holds the binding.
    /// Commands already handed out are handed again to the new stream at its next report.
    /// Returns the stream now bound, or nil when the agent or the stream is unknown.
    public func rebindAgent(_ agentID: String, stream: Int64?, by tokenID: String, now: Millis) throws -> Int64? {
        try pool.write { db in
            let target: Int64?
            if let stream {
                target = try Int64.fetchOne(db, sql: "SELECT id FROM streams WHERE id = ? AND agent_id = ?", arguments: [stream, agentID])
            } else {
                target = try Int64.fetchOne(
                    db, sql: "SELECT id FROM streams WHERE agent_id = ? ORDER BY last_seen DESC, id DESC LIMIT 1", arguments: [agentID])
            }
            guard let target else { return nil }
            try db.execute(sql: "UPDATE agents SET bound_stream_id = ? WHERE id = ?", arguments: [target, agentID])
            try db.execute(sql: "UPDATE agent_commands SET handed_at = NULL, handed_stream_id = NULL WHERE agent_id = ?", arguments: [agentID])
            try CollectorTimeline.append(
                db,
                body: .actionResult(ActionResult(actionID: "agent:\(agentID)", outcome: .ok, outputTail: "commands for agent \(agentID) now go to stream \(target), by token \(tokenID)")),
                at: now)
            return target
        }
    }
}
