import GapwatchProtocol
import GapwatchRules

/// Every rule kind, once: it drives config sync, ingest routing, evaluation, the rule names that
/// silences accept and the metrics' rule labels. A new kind is one file in Rules/Kinds/ and one
/// line here (its incident rules also go into `IncidentRule` and openapi's `RuleName`; a test
/// holds the three equal).
public enum RuleRegistry {
    static let kinds: [any RuleKind] = [
        HeartbeatKind(),
        LivenessKind(),
        ExpectationKind(),
        CompletenessKind(),
        StaleItemsKind(),
        FreshnessKind(),
        SchedulerTargetsKind(),
        StuckLocksKind(),
        ProbeFailuresKind(),
        ClockSkewKind(),
    ]

    /// Every incident rule the kinds open, in the kinds' order.
    public static let ruleNames: [String] = kinds.flatMap { $0.rules.map(\.rawValue) }

    private static let byCheckKind: [String: any RuleKind] = Dictionary(uniqueKeysWithValues: kinds.map { ($0.checkKind, $0) })

    /// The kind of a `checks.kind` value; nil for one no kind knows.
    static func kind(of checkKind: String) -> (any RuleKind)? { byCheckKind[checkKind] }
}

extension Detector {
    /// Brings the `checks` table in line with the config: new checks are created, every
    /// configured check is re-evaluated now, and checks removed from the config are deleted
    /// (their open incidents resolved). Returns the routing for the ingest writer.
    func syncConfig(now: Millis) throws -> CheckRouting {
        try database.write { tx in
            for kind in RuleRegistry.kinds { try kind.syncAutomaticChecks(tx, self, now: now) }
            let configured = RuleRegistry.kinds.filter { $0.checksFromConfig }
            let checks = tx.checks
            let existing = try checks.existing(kinds: configured.map(\.checkKind))
            let configuredKinds: [String: any RuleKind] = Dictionary(
                uniqueKeysWithValues: configured.flatMap { kind in kind.configuredChecks(self).map { ($0, kind) } })
            var ids: [String: Int64] = [:]
            for check in existing {
                if configuredKinds[check.name]?.checkKind == check.kind {
                    ids[check.name] = check.id
                    continue
                }
                try RuleRegistry.kind(of: check.kind)?.resolveIncidents(
                    tx, check: check.name, reason: "the check was removed from the config", self, now: now)
                try checks.delete(id: check.id)
            }
            for (name, kind) in configuredKinds {
                if let id = ids[name] {
                    // A changed definition takes effect now; paused checks stay paused.
                    try checks.markDue(id: id, now: now)
                } else {
                    ids[name] = try checks.create(name: name, kind: kind.checkKind, judgedThrough: kind.judgesFromCreation ? now : nil, now: now)
                }
            }
            var routing = CheckRouting()
            routing.livenessEnabled = config.liveness.enabled
            routing.probeFailuresAfter = config.probeFailures.after
            routing.clockToleranceMs = config.clockSkew.toleranceMs
            routing.clockChecks = config.clockSkew.incidents
            for kind in RuleRegistry.kinds { kind.route(&routing, ids: ids, self) }
            return routing
        }
    }
}

extension Detector {
    /// Whether the subject an action healed is fixed, judged by the kind that queued it: a range's
    /// partitions (completeness), the refreshed items being final (stale items), the inventory or
    /// lock showing the change (scheduler). nil: no kind can judge it (the incident resolving decides).
    public func actionHealed(_ action: ActionInfo, now: Millis = WallClock.nowMillis()) throws -> Bool? {
        try database.read { tx in
            for kind in RuleRegistry.kinds {
                if let healed = try kind.actionHealed(tx, action, self, now: now) { return healed }
            }
            return nil
        }
    }
}
