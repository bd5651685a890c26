/// Where an action is in its life. The raw values are what the `actions.state` column stores, so
/// databases written before this enum read unchanged.
///
/// pending → (awaiting_approval →) running → verifying → verified, or back to pending for a retry,
/// or escalated to a person once attempts are spent; dry_run and cancelled end an action that
/// never ran. Only `ActionQueue` moves an action from one state to another, along `successors`.
enum ActionState: String, CaseIterable, StateColumnValue {
    /// Queued, or waiting out cooldown/backoff before a retry.
    case pending
    /// Held for a person (`mode: approval`, the breaker, a command bound for another agent).
    case awaitingApproval = "awaiting_approval"
    /// The webhook call or agent command is in flight.
    case running
    /// It succeeded; the rule that owns it has not yet judged its subject fixed.
    case verifying
    case verified
    /// Never written by this version; older databases and queries still name it.
    case failed
    /// Attempts spent: a person must look.
    case escalated
    /// `mode: dry_run` recorded what would have run.
    case dryRun = "dry_run"
    /// No longer needed before it ran.
    case cancelled

    /// States in which an action holds its key (at most one per key: the `actions_in_flight` index).
    static let inFlight: [ActionState] = [.pending, .awaitingApproval, .running, .verifying]

    /// The states an action may move to from this one; anything else is refused.
    var successors: Set<ActionState> {
        switch self {
        // A pending action starts, is held or dry-run, escalates when its action left the config,
        // or settles when its incident resolves or its range changed shape.
        case .pending: [.running, .awaitingApproval, .dryRun, .escalated, .verified, .cancelled]
        case .awaitingApproval: [.pending, .verified, .cancelled]
        // An answer, a failure to retry, a failure for good; a call cut off by a restart is pending again.
        case .running: [.verifying, .pending, .escalated]
        case .verifying: [.verified, .pending, .escalated]
        case .verified, .failed, .escalated, .dryRun, .cancelled: []
        }
    }

    /// The states from which an action may move to `target`.
    static func predecessors(of target: ActionState) -> [ActionState] {
        allCases.filter { $0.successors.contains(target) }
    }
}

/// The rule kind and the check (or job, or lock) an action heals: what judges it verified. Stored
/// in `actions.heals_rule` / `heals_check` at enqueue, so nothing has to read it back out of the
/// action's key. nil for what no rule queued (a person's backfill is judged by its range).
struct ActionHeals: Equatable, Sendable {
    enum Rule: String, Sendable {
        case completeness
        case staleItems = "stale_items"
        case freshness
        case expectation
        case schedulerTargets = "scheduler_targets"
        case stuckLocks = "stuck_locks"
    }

    var rule: Rule
    /// The check's name (completeness, stale_items, freshness, expectation), the job
    /// (scheduler_targets) or the lock (stuck_locks).
    var check: String

    init(_ rule: Rule, _ check: String) {
        self.rule = rule
        self.check = check
    }

    /// From a row with `heals_rule` and `heals_check` columns; nil when either is absent or unknown.
    init?(rule: String?, check: String?) {
        guard let rule = rule.flatMap(Rule.init(rawValue:)), let check else { return nil }
        self.init(rule, check)
    }
}
