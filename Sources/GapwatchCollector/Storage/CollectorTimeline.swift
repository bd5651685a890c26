import GapwatchProtocol

/// The collector's own entries on the timeline (notification attempts; later, actions), stored
/// like any agent's observations under the pseudo-agent `@collector`, so the timeline API and CLI
/// show them with everything else.
enum CollectorTimeline {
    static let agentID = "@collector"

    static func append(_ tx: StoreTransaction, body: ObservationBody, at: Millis) throws {
        try tx.appendToCollectorTimeline(body, at: at)
    }
}
