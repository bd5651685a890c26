import GapwatchProtocol

extension AppDatabase {
    /// The agent's streams, most recently seen first; nil when no such agent reported.
    public func agentStreams(agentID: String) throws -> [AgentStreamInfo]? {
        try read { tx in
            guard let bound = try tx.agents.boundStream(of: agentID) else { return nil }
            return try tx.streams.streams(of: agentID, bound: bound.id)
        }
    }

    /// An admin moves the agent's commands to `stream` (default: its most recently seen stream),
    /// e.g. after its spool folder was recreated while a stale stream still holds the binding.
    /// Commands already handed out are handed again to the new stream at its next report.
    /// Returns the stream now bound, or nil when the agent or the stream is unknown.
    public func rebindAgent(_ agentID: String, stream: Int64?, by tokenID: String, now: Millis) throws -> Int64? {
        try write { tx in
            let streams = tx.streams
            guard let target = try stream.map({ try streams.id($0, ofAgent: agentID) }) ?? streams.latest(ofAgent: agentID) else { return nil }
            try tx.agents.bindCommands(agentID, to: target)
            try tx.actions.rehandCommands(agentID: agentID)
            try CollectorTimeline.append(
                tx,
                body: .actionResult(
                    ActionResult(
                        actionID: "agent:\(agentID)", outcome: .ok,
                        outputTail: "commands for agent \(agentID) now go to stream \(target), by token \(tokenID)")),
                at: now)
            return target
        }
    }
}
