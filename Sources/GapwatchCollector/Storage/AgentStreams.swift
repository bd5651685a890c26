import GRDB
import GapwatchProtocol

extension AppDatabase {
    /// The agent's streams, most recently seen first; nil when no such agent reported.
    public func agentStreams(agentID: String) throws -> [AgentStreamInfo]? {
        try pool.read { db in
            guard let bound = try AgentTable(db: db).boundStream(of: agentID) else { return nil }
            let boundID = bound.id
            return try StreamTable(db: db).streams(of: agentID).map { row in
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
            let streams = StreamTable(db: db)
            guard let target = try stream.map({ try streams.id($0, ofAgent: agentID) }) ?? streams.latest(ofAgent: agentID) else { return nil }
            try AgentTable(db: db).bindCommands(agentID, to: target)
            try ActionTable(db: db).rehandCommands(agentID: agentID)
            try CollectorTimeline.append(
                db,
                body: .actionResult(
                    ActionResult(
                        actionID: "agent:\(agentID)", outcome: .ok,
                        outputTail: "commands for agent \(agentID) now go to stream \(target), by token \(tokenID)")),
                at: now)
            return target
        }
    }
}
