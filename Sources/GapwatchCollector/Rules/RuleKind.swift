import GRDB
import GapwatchProtocol
import GapwatchRules

/// One kind of check, the collector's side of its rule: which checks the config defines, which
/// observations make them due, how one is judged (facts read, incidents opened or resolved,
/// actions queued) and what it decided about the check. The judgement itself is a pure rule in
/// GapwatchRules. Every kind is listed once, in `RuleRegistry.kinds`.
protocol RuleKind: Sendable {
    /// The `checks.kind` of its checks.
    var checkKind: String { get }
    /// The incident rules its checks open (what silences accept and metrics report).
    var rules: [IncidentRule] { get }
    /// Whether its checks are defined by the config (synced with it: made, re-judged, deleted);
    /// otherwise the collector makes them itself on first sight (an agent's liveness, a probe, a clock).
    var checksFromConfig: Bool { get }
    /// The names of the checks the config defines.
    func configuredChecks(_ detector: Detector) -> [String]
    /// Whether a new check judges from its creation on (`judged_through` starts at its creation).
    var judgesFromCreation: Bool { get }
    /// Brings the checks the collector made itself in line with the config (a kind turned off:
    /// its incidents resolved and its checks deleted).
    func syncAutomaticChecks(_ db: Database, _ detector: Detector, now: Millis) throws
    /// Adds which observations make its configured checks (`ids`: name → check id) due.
    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector)
    /// Judges one due check (a `checks` row) at `now`.
    func evaluate(_ db: Database, check row: Row, _ detector: Detector, now: Millis) throws -> Verdict
    /// Resolves the open incidents of a check removed from the config or paused, and settles the
    /// actions that served them.
    func resolveIncidents(_ db: Database, check name: String, reason: String, _ detector: Detector, now: Millis) throws
    /// Whether the subject an action of this kind healed is fixed; nil: not this kind's action, or
    /// nothing to judge it by (the incident resolving decides).
    func actionHealed(_ db: Database, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool?
}

extension RuleKind {
    var checksFromConfig: Bool { false }
    func configuredChecks(_ detector: Detector) -> [String] { [] }
    var judgesFromCreation: Bool { false }
    func syncAutomaticChecks(_ db: Database, _ detector: Detector, now: Millis) throws {}
    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector) {}
    func resolveIncidents(_ db: Database, check name: String, reason: String, _ detector: Detector, now: Millis) throws {}
    func actionHealed(_ db: Database, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? { nil }
}

/// What judging a check decided about the check itself; the kind wrote its incidents and actions
/// as it judged, in the same transaction. The `Evaluator` applies it.
enum Verdict: Sendable {
    /// The check's new state.
    case judged(CheckJudgement)
    /// Nothing to judge it by (its definition left the config, its kind was turned off): not due
    /// again until an observation or a config change makes it due.
    case unjudgeable
    /// Left exactly as it is.
    case unchanged
    /// The check is gone (a probe silent past `forget_after`).
    case forgotten
}

struct CheckJudgement: Sendable {
    var state: CheckState
    var reason: String
    /// When to judge it again; nil: when an observation makes it due.
    var nextDue: Millis?
    /// JSON shown by the API (the current gap ranges, stale items…); nil keeps the stored one.
    var detail: String? = nil
    /// How far its windows are judged (expectations); nil keeps the stored one.
    var judgedThrough: Millis? = nil
    /// A check that went down by its deadline: how long after that deadline (for the metrics).
    var latenessMs: Millis? = nil

    /// A remediation check's state, with its detail as JSON.
    static func remediation(_ state: CheckState, reason: String, detail: some Encodable, next: Millis) -> CheckJudgement {
        CheckJudgement(state: state, reason: reason, nextDue: next, detail: String(decoding: ReportCodec.encode(detail), as: UTF8.self))
    }
}
