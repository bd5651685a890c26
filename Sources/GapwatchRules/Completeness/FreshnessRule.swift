import GapwatchProtocol

/// A dataset whose counts stop updating for longer than maxAge is stale.
///
/// Stale from the instant `lastUpdate + maxAgeMs` on (inclusive). With no update ever seen, from
/// `since + maxAgeMs` on, where `since` is when watching started. A known `lastUpdate` always
/// counts, even one from before `since`.
public struct FreshnessRule: Sendable {
    public var dataset: String
    /// Negative values count as 0.
    public var maxAgeMs: Millis

    public init(dataset: String, maxAgeMs: Millis) {
        self.dataset = dataset
        self.maxAgeMs = maxAgeMs
    }

    /// The instant the dataset becomes stale if no (further) update arrives.
    public func staleAt(lastUpdate: Millis?, since: Millis) -> Millis {
        ClampedTime.add(lastUpdate ?? since, Swift.max(0, maxAgeMs))
    }

    /// since = when watching started (no update ever: stale once since + maxAge passed).
    public func isStale(lastUpdate: Millis?, since: Millis, now: Millis) -> Bool {
        now >= staleAt(lastUpdate: lastUpdate, since: since)
    }
}
