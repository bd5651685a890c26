import GRDB
import GapwatchProtocol
import GapwatchRules

/// Items past their deadline and not final, by stale_items rule: `GET /v1/stale`, `gapwatch stale`.
public struct StaleItemInfo: Codable, Sendable, Equatable {
    public var check: String
    public var itemKind: String
    public var itemID: String
    public var status: String
    public var referenceTime: Millis?
    public var deadline: Millis?
    public var lastSeen: Millis

    enum CodingKeys: String, CodingKey {
        case check, status, deadline
        case itemKind = "item_kind"
        case itemID = "item_id"
        case referenceTime = "reference_time"
        case lastSeen = "last_seen"
    }
}

extension CollectorRuntime {
    /// Items whose reference time is within the last `days` days, not final, past their
    /// deadline, oldest deadline first.
    public func staleItems(days: Int, now: Millis) throws -> [StaleItemInfo] {
        let since = now - Millis(days) * 86_400_000
        let items: [StaleItemInfo] = try database.pool.read { db in
            var out: [StaleItemInfo] = []
            for check in config.remediation.staleItems {
                let rule = check.rule
                let sightings = try detector.itemSightings(db, kind: rule.itemKind, since: since - rule.deadlineMs)
                for item in rule.staleItems(sightings, now: now) where (item.referenceTime ?? 0) >= since {
                    let deadline: Millis? = item.referenceTime.map { $0 + rule.deadlineMs }
                    out.append(
                        StaleItemInfo(
                            check: check.name, itemKind: rule.itemKind, itemID: item.itemID, status: item.status, referenceTime: item.referenceTime,
                            deadline: deadline, lastSeen: item.observedAt))
                }
            }
            return out
        }
        return items.sorted { a, b in a.deadline != b.deadline ? (a.deadline ?? 0) < (b.deadline ?? 0) : a.itemID < b.itemID }
    }
}
