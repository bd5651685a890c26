import GapwatchProtocol
import GapwatchRules

/// The guardrail scopes of an action (`guardrails.per_rule`, `per_target`): the rule that queued
/// it and what it acts on.
enum ActionScope {
    /// From the action's key: `completeness:NAME`, `stale:NAME`, `freshness:NAME`,
    /// `expectation:NAME`, `scheduler_targets` (every job action), `stuck_locks` (every lock
    /// release), or `manual` for what a person asked for.
    static func rule(key: String, origin: String) -> String {
        if origin == "manual" || key.hasPrefix("manual:") { return "manual" }
        if key.hasPrefix("job:") { return "scheduler_targets" }
        if key.hasPrefix("lock:") { return "stuck_locks" }
        // completeness:NAME:HEAL:START..END and expectation:NAME:rerun; names may hold ':'.
        let parts = key.split(separator: ":", omittingEmptySubsequences: false)
        if key.hasPrefix("completeness:"), parts.count >= 4 { return parts.dropLast(2).joined(separator: ":") }
        if key.hasPrefix("expectation:"), parts.count >= 3 { return parts.dropLast().joined(separator: ":") }
        return key
    }

    /// `agent:ID` for an agent's command, `webhook:SCHEME://HOST[:PORT]` for a call.
    static func target(_ action: ActionConfig) -> String {
        switch action.target {
        case .agent(let agentID, _, _): "agent:\(agentID)"
        case .webhook(_, let url, _, _): "webhook:\(serviceOf(url: url) ?? url)"
        }
    }
}

func describe(_ parameters: [String: String]) -> String {
    parameters.isEmpty ? "no parameters" : parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
}

extension AppDatabase {
    /// Approves an action waiting for approval: it runs at the next pass. False if it was not waiting.
    public func approveAction(id: String, by: String, now: Millis) throws -> Bool {
        try write { tx in try ActionQueue(tx: tx).approve(id, by: by, now: now) }
    }
}
