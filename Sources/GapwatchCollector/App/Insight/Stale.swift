import GapwatchProtocol
import GapwatchRules

extension CollectorRuntime {
    /// Items whose reference time is within the last `days` days, not final, past their
    /// deadline, oldest deadline first.
    public func staleItems(days: Int, now: Millis) throws -> [StaleItemInfo] {
        let since = now - Millis(days) * 86_400_000
        let items: [StaleItemInfo] = try database.read { tx in
            var out: [StaleItemInfo] = []
            for check in config.remediation.staleItems {
                let rule = check.rule
                let sightings = try detector.itemSightings(tx, kind: rule.itemKind, since: since - rule.deadlineMs)
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
