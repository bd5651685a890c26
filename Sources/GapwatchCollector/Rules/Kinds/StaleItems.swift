import GapwatchProtocol
import GapwatchRules

/// A stale-items check (`stale_items:`): items of a kind not final by their deadline open an
/// incident (rule stale_items, subject stale:NAME) and queue a refresh, verified when the
/// refreshed items are final. Evaluated when an item of its kind reports and every `recheck_interval`.
struct StaleItemsKind: ConfiguredRuleKind {
    let checkKind = "stale_items"
    let rules: [IncidentRule] = [.staleItems]

    func configs(_ detector: Detector) -> [StaleItemsConfig] { detector.remediation.staleItems }

    func triggers(_ check: StaleItemsConfig) -> [CheckRouting.Trigger] { [.itemStatus(itemKind: check.rule.itemKind)] }

    func expects(_ s: StaleItemsConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        let finals = s.rule.finalStatuses.sorted().joined(separator: ", ")
        return (
            "every \(s.rule.itemKind) final (\(finals)) within \(Units.formatDuration(s.rule.deadlineMs)) of its reference time", s.rule.deadlineMs
        )
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.resolveGone(tx, rule: .staleItems, prefix: "stale:\(name)", current: [], reason: reason, now: now)
    }

    func evaluate(_ tx: StoreTransaction, _ check: StaleItemsConfig, check _: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        let name = check.name
        let remediation = detector.remediation
        let sightings = try detector.itemSightings(tx, kind: check.rule.itemKind, since: now - 14 * 86_400_000)
        let stale = check.rule.staleItems(sightings, now: now)
        let subject = "stale:\(name)"
        if stale.isEmpty {
            try detector.resolveGone(
                tx, rule: .staleItems, prefix: subject, current: [], reason: "every \(check.rule.itemKind) is final or within its deadline", now: now)
        } else {
            let ids = stale.map(\.itemID)
            let reason =
                "\(stale.count) \(check.rule.itemKind)(s) not final \(Units.formatDuration(check.rule.deadlineMs)) after their reference time: "
                + stale.prefix(20).map { "\($0.itemID) (\($0.status))" }.joined(separator: ", ")
            let incident = try detector.incidents(tx).open(
                rule: IncidentRule.staleItems.rawValue, subject: subject, reason: reason, labels: ["check": name, "item_kind": check.rule.itemKind],
                feederAgent: nil, at: now)
            if let actionName = check.refresh, let action = remediation.actions[actionName] {
                _ = try ActionQueue(tx: tx).enqueue(
                    action, key: subject, heals: ActionHeals(.staleItems, name), incidentID: incident, origin: "rule",
                    parameters: ["items": ids.joined(separator: ","), "partition": ids.first ?? ""],
                    now: now)
            }
        }
        var next = now + remediation.recheckMs
        if let deadline = check.rule.nextDeadline(sightings, now: now) { next = min(next, deadline) }
        return .judged(
            .remediation(
                stale.isEmpty ? .up : .down, reason: stale.isEmpty ? "nothing stale" : "\(stale.count) stale", detail: stale.map(\.itemID), next: next
            ))
    }

    /// A refresh is healed when every item it refreshed is final.
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? {
        guard let heals = try ActionQueue(tx: tx).heals(of: action.id), heals.rule == .staleItems, let items = action.parameters["items"],
            !items.isEmpty,
            let check = detector.remediation.staleItems.first(where: { $0.name == heals.check })
        else { return nil }
        let ids = Set(items.split(separator: ",").map(String.init))
        let latest = try detector.itemSightings(tx, kind: check.rule.itemKind, since: action.createdAt - 14 * 86_400_000).filter {
            ids.contains($0.itemID)
        }
        return latest.count == ids.count && latest.allSatisfy { check.rule.isFinal($0.status) }
    }
}

extension Detector {
    /// The latest status of every item of `kind` seen since `since`.
    func itemSightings(_ tx: StoreTransaction, kind: String, since: Millis) throws -> [ItemSighting] {
        try tx.observations.itemSightings(kind: kind, since: since)
    }
}
