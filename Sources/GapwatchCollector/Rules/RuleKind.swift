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
    func syncAutomaticChecks(_ tx: StoreTransaction, _ detector: Detector, now: Millis) throws
    /// Adds which observations make its configured checks (`ids`: name → check id) due.
    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector)
    /// Judges one due check at `now`.
    func evaluate(_ tx: StoreTransaction, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict
    /// Resolves the open incidents of a check removed from the config or paused, and settles the
    /// actions that served them.
    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws
    /// What its check `name` expects, in words, and its grace (`GET /v1/checks`' `expects`, the
    /// dashboard's Checks page); nil: the config no longer defines the check.
    func expects(check name: String, _ detector: Detector) -> (text: String, graceMs: Millis)?
    /// Whether an up or new check is past its deadline but within its grace (not a state: computed
    /// when listed, so the grace needs no writes).
    func isLate(_ check: CheckRecord, _ detector: Detector, now: Millis) -> Bool
    /// Whether the subject an action of this kind healed is fixed; nil: not this kind's action, or
    /// nothing to judge it by (the incident resolving decides).
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool?
}

extension RuleKind {
    var checksFromConfig: Bool { false }
    func configuredChecks(_ detector: Detector) -> [String] { [] }
    var judgesFromCreation: Bool { false }
    func syncAutomaticChecks(_ tx: StoreTransaction, _ detector: Detector, now: Millis) throws {}
    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector) {}
    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {}
    func actionHealed(_ tx: StoreTransaction, _ action: ActionInfo, _ detector: Detector, now: Millis) throws -> Bool? { nil }
    func isLate(_ check: CheckRecord, _ detector: Detector, now: Millis) -> Bool { false }
}

/// A kind whose checks the collector makes itself on first sight (an agent's liveness, a probe,
/// a clock), each check's incident subject being the check's name. The ingest writer makes
/// them with `kind`.
protocol AutomaticRuleKind: RuleKind {
    static var kind: String { get }
}

extension AutomaticRuleKind {
    var checkKind: String { Self.kind }

    /// Resolves every check's incident and deletes the checks (the kind was turned off in the config).
    func retireChecks(_ tx: StoreTransaction, reason: String, _ detector: Detector, now: Millis) throws {
        let checks = tx.checks
        for rule in rules {
            for name in try checks.names(kind: checkKind) {
                try detector.incidents(tx).resolve(rule: rule.rawValue, subject: name, reason: reason, at: now)
            }
        }
        try checks.deleteAll(kind: checkKind)
    }
}

/// A config entry that defines one check, by name.
protocol NamedCheckConfig {
    var name: String { get }
}

extension HeartbeatCheckConfig: NamedCheckConfig {}
extension RunExpectationConfig: NamedCheckConfig {}
extension CompletenessConfig: NamedCheckConfig {}
extension StaleItemsConfig: NamedCheckConfig {}
extension FreshnessConfig: NamedCheckConfig {}
extension SchedulerTargetsConfig: NamedCheckConfig {}
extension StuckLocksConfig: NamedCheckConfig {}

/// A kind whose checks are the entries of one config section, one check per entry: config sync,
/// routing and finding a due check's entry are the same for all of them, so a kind's file states
/// only its section, what makes an entry's check due and how one is judged.
protocol ConfiguredRuleKind: RuleKind {
    associatedtype Config: NamedCheckConfig
    /// The config's entries of this kind.
    func configs(_ detector: Detector) -> [Config]
    /// The entry named `name`, if the config still has it.
    func config(named name: String, _ detector: Detector) -> Config?
    /// The observations that make an entry's check due once stored.
    func triggers(_ config: Config) -> [CheckRouting.Trigger]
    /// Judges the due check of an entry at `now`.
    func evaluate(_ tx: StoreTransaction, _ config: Config, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict
    /// What an entry's check expects, in words, and its grace.
    func expects(_ config: Config, _ detector: Detector) -> (text: String, graceMs: Millis)
}

extension ConfiguredRuleKind {
    var checksFromConfig: Bool { true }

    func configuredChecks(_ detector: Detector) -> [String] { configs(detector).map(\.name) }

    func config(named name: String, _ detector: Detector) -> Config? { configs(detector).first { $0.name == name } }

    func triggers(_ config: Config) -> [CheckRouting.Trigger] { [] }

    func route(_ routing: inout CheckRouting, ids: [String: Int64], _ detector: Detector) {
        for config in configs(detector) {
            guard let id = ids[config.name] else { continue }
            for trigger in triggers(config) { routing.route(trigger, to: id) }
        }
    }

    func expects(check name: String, _ detector: Detector) -> (text: String, graceMs: Millis)? {
        config(named: name, detector).map { expects($0, detector) }
    }

    /// A check whose entry left the config has nothing to be judged by.
    func evaluate(_ tx: StoreTransaction, check: CheckRecord, _ detector: Detector, now: Millis) throws -> Verdict {
        guard let config = config(named: check.name, detector) else { return .unjudgeable }
        return try evaluate(tx, config, check: check, detector, now: now)
    }
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
