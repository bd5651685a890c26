import GapwatchProtocol

/// One observation of an item (e.g. a game) and its status.
public struct ItemSighting: Sendable, Equatable {
    public var itemID: String
    public var status: String
    /// The time the item's deadline counts from (e.g. the game's scheduled start); nil: none.
    public var referenceTime: Millis?
    public var observedAt: Millis

    public init(itemID: String, status: String, referenceTime: Millis?, observedAt: Millis) {
        self.itemID = itemID
        self.status = status
        self.referenceTime = referenceTime
        self.observedAt = observedAt
    }
}

/// Items of a kind (e.g. game) not in a final status by referenceTime + deadline are stale.
///
/// Only the latest sighting of each item counts (by `observedAt`; on a tie, the later one in the
/// array). Statuses compare case-insensitively, ignoring spaces and underscores ("Final" ==
/// "final", "In Progress" == "in_progress"). An item is stale from the instant
/// `referenceTime + deadlineMs` on (inclusive). Items without a reference time are never stale.
public struct StaleItemRule: Sendable {
    public var itemKind: String
    public var finalStatuses: Set<String>
    /// How long after `referenceTime` an item must be final; negative values count as 0.
    public var deadlineMs: Millis

    public init(itemKind: String, finalStatuses: Set<String>, deadlineMs: Millis) {
        self.itemKind = itemKind
        self.finalStatuses = finalStatuses
        self.deadlineMs = deadlineMs
    }

    /// Whether `status` is one of `finalStatuses` (ignoring case, spaces and underscores).
    public func isFinal(_ status: String) -> Bool {
        Self.finalKeys(finalStatuses).contains(Self.statusKey(status))
    }

    /// The latest sighting per item (by observedAt) whose status is not final and whose
    /// referenceTime + deadline <= now; sorted by id. Items without referenceTime are never stale.
    public func staleItems(_ sightings: [ItemSighting], now: Millis) -> [ItemSighting] {
        open(sightings).filter { deadline(of: $0)! <= now }.sorted { $0.itemID < $1.itemID }
    }

    /// When the earliest not-yet-stale, not-final item becomes stale (for scheduling the next
    /// evaluation); nil if none.
    public func nextDeadline(_ sightings: [ItemSighting], now: Millis) -> Millis? {
        open(sightings).compactMap { deadline(of: $0) }.filter { $0 > now }.min()
    }

    /// Latest sightings of items that are not final and have a reference time.
    private func open(_ sightings: [ItemSighting]) -> [ItemSighting] {
        var latest: [String: ItemSighting] = [:]
        for s in sightings {
            if let seen = latest[s.itemID], seen.observedAt > s.observedAt { continue }
            latest[s.itemID] = s
        }
        let finals = Self.finalKeys(finalStatuses)
        return latest.values.filter { $0.referenceTime != nil && !finals.contains(Self.statusKey($0.status)) }
    }

    private func deadline(of s: ItemSighting) -> Millis? {
        s.referenceTime.map { ClampedTime.add($0, Swift.max(0, deadlineMs)) }
    }

    static func statusKey(_ status: String) -> String {
        String(status.lowercased().filter { $0 != "_" && !$0.isWhitespace })
    }

    private static func finalKeys(_ statuses: Set<String>) -> Set<String> {
        Set(statuses.map(statusKey))
    }
}
