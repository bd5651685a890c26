import GapwatchProtocol
import GapwatchRules

/// The `checks` table: one row per check with its state, due time and last pings.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol CheckStore {
    /// Every check, for listings.
    func all() throws -> [CheckRecord]

    /// The check named `name`, if any.
    func find(name: String) throws -> (id: Int64, kind: String, state: CheckState?)?

    func id(named name: String) throws -> Int64?

    /// The checks of these kinds.
    func existing(kinds: [String]) throws -> [(id: Int64, name: String, kind: String)]

    func names(kind: String) throws -> [String]

    /// When the check was made (or last resumed).
    func createdAt(name: String, kind: String) throws -> Millis?

    /// How many checks are in each state.
    func countByState() throws -> [String: Int]

    /// A liveness check's state and last ping.
    func liveness(name: String) throws -> (state: CheckState?, lastPingAt: Millis?)?

    /// The checks due at `now`, earliest first.
    func due(now: Millis, limit: Int) throws -> [CheckRecord]

    /// The earliest next_due, for the evaluation loop's sleep.
    func earliestDue() throws -> Millis?

    /// A check made from the config, due now.
    func create(name: String, kind: String, judgedThrough: Millis?, now: Millis) throws -> Int64

    /// A check the collector makes itself on first sight (no-op when it exists); returns its id.
    func createAutomatic(name: String, kind: String, reason: String, now: Millis) throws -> Int64?

    func delete(id: Int64) throws

    func deleteAll(kind: String) throws

    /// Pauses: no evaluation until resumed.
    func pause(id: Int64, now: Millis) throws

    /// Resumes as `new`, due now, its history of pings and failures forgotten; `judgesFromNow`:
    /// it judges from now on (its kind's `judgesFromCreation`), else judged_through is cleared.
    func resume(id: Int64, judgesFromNow: Bool, now: Millis) throws

    /// Makes the check due now unless paused.
    func markDue(id: Int64, now: Millis) throws

    /// Makes every unpaused check of these kinds due now; returns how many.
    @discardableResult
    func markDue(kinds: [String], now: Millis) throws -> Int

    /// Not to be evaluated again until something makes it due.
    func clearDue(id: Int64) throws

    /// Applies a judgement: state (changed_at moves only when it differs), reason, next due
    /// time; detail and judged_through only when given.
    func applyJudgement(id: Int64, state: CheckState, reason: String, nextDue: Millis?, detail: String?, judgedThrough: Millis?, now: Millis) throws

    /// A sign of life for an agent's liveness check: moves last_ping_at; a new or down check is
    /// judged now, an up one at its deadline.
    func recordLiveness(id: Int64, observedAt: Millis, feederAgent: String, now: Millis) throws

    /// A failed probe run lengthens the streak and makes the check due. Returns whether the
    /// check still exists.
    func recordProbeFailure(id: Int64, reason: String, observedAt: Millis, feederAgent: String, now: Millis) throws -> Bool

    /// A good probe run ends the streak. Returns whether the check still exists.
    func recordProbeSuccess(id: Int64, observedAt: Millis, feederAgent: String, now: Millis) throws -> Bool

    /// A fail ping (or non-zero exit): down at the next pass, the latest failure's reason kept.
    func recordFailPing(id: Int64, reason: String, observedAt: Millis, feederAgent: String, now: Millis) throws

    /// A start ping: the beginning of a run, to measure its duration.
    func recordStartPing(id: Int64, observedAt: Millis, feederAgent: String) throws

    /// An ok ping: moves last_ping_at and measures the run (reported duration, else from its start).
    func recordPing(id: Int64, observedAt: Millis, durationMs: Millis?, feederAgent: String, now: Millis) throws
}

/// `checks.state` holds a `CheckState`'s raw value (new, up, down, paused); the statements below
/// name states only through the enum.
extension CheckState: StateColumnValue {}

/// One row of `checks`, as the evaluator, the rule kinds and the listings read it.
struct CheckRecord: Sendable, Equatable {
    var id: Int64
    var name: String
    /// A rule kind's `checkKind`.
    var kind: String
    /// The stored state as written; `state` is nil for one this version does not know.
    var storedState: String
    var state: CheckState? { CheckState(rawValue: storedState) }
    var reason: String
    /// When it was made (or last resumed).
    var createdAt: Millis
    var changedAt: Millis
    var lastPingAt: Millis?
    var lastStartAt: Millis?
    var lastFailAt: Millis?
    var lastFailReason: String?
    var lastDurationMs: Millis?
    /// The only agent that fed it; `*` once several have.
    var feederAgentID: String?
    var nextDue: Millis?
    var judgedThrough: Millis?
    var failStreak: Int64

}
