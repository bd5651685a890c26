import GRDB
import GapwatchProtocol

/// Reads of the `agents` table outside ingest (ingest upserts agents in `IngestWriter`), inside
/// the caller's transaction.
struct AgentTable {
    let db: Database

    /// The service the agent last reported; nil for an unknown agent.
    func service(of agentID: String) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT service FROM agents WHERE id = ?"), arguments: [agentID])
    }

    /// The agent's service and its clock's offset from the collector's; nil for an unknown agent.
    func clock(of agentID: String) throws -> (service: String?, skewMs: Millis)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT service, clock_skew_ms FROM agents WHERE id = ?"), arguments: [agentID]).map {
            ($0["service"], $0["clock_skew_ms"])
        }
    }

    /// The service and labels (JSON) its token binds the agent to; nil for an unknown agent.
    func binding(of agentID: String) throws -> (service: String?, labels: String?)? {
        try Row.fetchOne(db, sql: "SELECT bound_service, bound_labels FROM agents WHERE id = ?", arguments: [agentID]).map {
            ($0["bound_service"], $0["bound_labels"])
        }
    }
}
