import GapwatchProtocol

/// The `actions` and `agent_commands` tables. State moves are `ActionQueue`'s (the only place an
/// action changes state); states cross as `StateColumnValue`s, never as bare strings.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol ActionTable {
    /// An action in one of `inFlight` states for `key`, or of the same `name` over a date range
    /// overlapping `start...end`.
    func firstOverlapping<S: StateColumnValue>(key: String, name: String, start: String?, end: String?, inFlight: [S]) throws -> (
        id: String, key: String
    )?

    /// The id of an action of incident `incidentID` in `state` for `key` or an overlapping range of `name`.
    func firstOverlapping<S: StateColumnValue>(key: String, name: String, start: String?, end: String?, incidentID: Int64, state: S) throws -> String?

    /// When an action for `key` last changed, not counting those in `excluded`.
    func lastUpdate<S: StateColumnValue>(key: String, excluding excluded: S) throws -> Millis?

    func count() throws -> Int64

    func insert<S: StateColumnValue>(_ row: NewActionRow, state: S) throws

    /// `heals_rule` and `heals_check` of an action; nil if there is no such action.
    func heals(of id: String) throws -> (rule: String?, check: String?)?

    /// Id, state and attempts of incident `incidentID`'s actions in `states`.
    func ofIncident<S: StateColumnValue>(_ incidentID: Int64, in states: [S]) throws -> [(id: String, state: String, attempts: Int)]

    /// Ids of the webhook calls in `state`, by id.
    func webhookCalls<S: StateColumnValue>(in state: S) throws -> [String]

    /// Moves `id` to `target` only from `sources`, setting `change`. Returns whether it moved.
    func move<S: StateColumnValue>(_ id: String, from sources: [S], to target: S, _ change: ActionChange) throws -> Bool

    /// Whether an action for `key` (of incident `incidentID`, when given) is in one of `states`.
    func exists<S: StateColumnValue>(key: String, incidentID: Int64?, in states: [S]) throws -> Bool

    /// The newest action for `key` in one of `states`: its id and incident.
    func latest<S: StateColumnValue>(key: String, in states: [S]) throws -> (id: String, incidentID: Int64?)?

    /// Counts a start against the guardrails' hour.
    func recordStart(_ id: String, at: Millis) throws

    /// Keeps an agent's result for its command while the action is in `running` (the first result counts).
    func recordAgentResult<S: StateColumnValue>(_ id: String, outcome: String, detail: String, running: S) throws

    /// Hands a command to agent `agentID` at its next report (replacing one not yet handed out).
    func queueCommand(actionID: String, agentID: String, command: AgentCommand) throws

    /// The agent a command is for and the stream it was last handed to.
    func commandRecipient(of actionID: String) throws -> (agentID: String, handedStreamID: Int64?)?

    /// Up to 20 of the agent's commands never handed out or last handed before `handedBefore`, as JSON.
    func commandsToHand(agentID: String, handedBefore: Millis) throws -> [(actionID: String, command: String)]

    func markHanded(_ actionID: String, at now: Millis, toStream streamID: Int64) throws

    /// Every command of the agent is handed out again (to whichever stream reports next).
    func rehandCommands(agentID: String) throws

    func withdrawCommand(_ actionID: String) throws

    func actions(_ filter: ActionFilter) throws -> [ActionInfo]

    func action(id: String) throws -> ActionInfo?

    /// How many actions are in each state.
    func countByState() throws -> [String: Int]

    /// How many actions are in each state (only `states`, when given).
    func countByState<S: StateColumnValue>(in states: [S]?) throws -> [String: Int]

    /// Actions in `states` whose key starts with `prefix`.
    func withKeyPrefix<S: StateColumnValue>(_ prefix: String, in states: [S]) throws -> [(id: String, key: String, state: String)]

    /// Actions of `names` whose date range overlaps `first...last`, newest first: those in
    /// `inFlight`, and those in `escalated` whose incident is still open. With their range.
    func rangesOverlapping<S: StateColumnValue>(names: [String], first: String, last: String, inFlight: [S], escalated: S) throws -> [(
        id: String, state: String, start: String?, end: String?
    )]

    /// Ids of up to 100 actions alive during `from..<to` that serve one of `incidents`, have key
    /// `key` or a key ending in `:bare`, or name `bare` among their parameters; oldest first.
    func touching(incidents: [Int64], key: String, bare: String, from: Millis, to: Millis) throws -> [String]

    /// Actions a rule queued (origin `rule`) in `states` whose key starts with `keyPrefix`.
    func ruleActions<S: StateColumnValue>(keyPrefix: String, in states: [S]) throws -> [ActionInfo]

    /// The scopes of every action in `running`.
    func scopes<S: StateColumnValue>(in running: S) throws -> [ActionScopeColumns]

    /// The scopes of every start after `since` (a retry counts again).
    func scopesStarted(after since: Millis) throws -> [ActionScopeColumns]

    /// Whether an action due by `now` in `pending` of scope `scope` says something other than `detail`.
    func dueInScopeSaysOtherwise<S: StateColumnValue>(_ column: ActionScopeColumn, _ scope: String, detail: String, pending: S, now: Millis) throws
        -> Bool

    /// Says `detail` on every action due by `now` in `pending` of scope `scope`.
    func noteDueInScope<S: StateColumnValue>(_ column: ActionScopeColumn, _ scope: String, detail: String, pending: S, now: Millis) throws

    /// Up to 50 actions in `pending` due by `now`, oldest due first, skipping full scopes; with
    /// their scopes and what they heal.
    func due<S: StateColumnValue>(pending: S, now: Millis, skippingRules: [String], skippingTargets: [String]) throws -> [(
        action: ActionInfo, scopes: ActionScopeColumns, healsRule: String?, healsCheck: String?
    )]

    /// Actions in `running` with an agent's result or past `now`, and every action in
    /// `verifying`; with their incident's state and the agent's result.
    func toFollowUp<S: StateColumnValue>(running: S, verifying: S, now: Millis) throws -> [(
        action: ActionInfo, incidentState: String?, resultOutcome: String?, resultDetail: String?, healsRule: String?, healsCheck: String?
    )]

    /// How many distinct disable keys other than `key` started after `since` for jobs that agent
    /// `agentID` reports under `scheduler` (the breaker's window).
    func disablesStarted(after since: Millis, otherThan key: String, agentID: String, scheduler: String?) throws -> Int
}

extension ActionTable {
    func exists<S: StateColumnValue>(key: String, in states: [S]) throws -> Bool {
        try exists(key: key, incidentID: nil, in: states)
    }
}

/// Which guardrail scope column a note about a full scope is about.
enum ActionScopeColumn: String {
    case rule = "scope_rule"
    case target = "scope_target"
}

/// The keys of the actions a scheduler's jobs get (`job:disable:<job>`…): the rule that enqueues
/// them, the breaker that counts them and the queries below (which spell the prefix in SQL) share them.
enum JobActionKey {
    static func disable(_ job: String) -> String { "job:disable:\(job)" }
    static func enable(_ job: String) -> String { "job:enable:\(job)" }
    static func repoint(_ job: String) -> String { "job:repoint:\(job)" }
}

/// A value of a state column. The tables name states only as their callers' enums hand them in
/// (`ActionState` for `actions.state`), so the state machine stays with its owner and no state
/// string is spelled here. Interpolated as constants, never bound: SQLite uses a partial index
/// (`actions_in_flight`, `actions_due`) only for a query whose WHERE names its states literally.
protocol StateColumnValue: RawRepresentable<String>, Sendable {}

extension StateColumnValue {
    /// `'pending', 'running'`: a list for a SQL `IN (...)`. The values are the enum's own
    /// constants, never input.
    static func sqlList(_ states: [Self]) -> String {
        states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    /// `'pending'`: one state as a SQL constant.
    var sqlLiteral: String { "'\(rawValue)'" }
}

public struct ActionFilter: Sendable {
    public var incidentID: Int64?
    public var state: String?
    public var limit = 100
    public init() {}
}

/// The guardrail scopes of one action row (`scope_rule`, `scope_target`).
struct ActionScopeColumns: Sendable {
    var rule: String
    var target: String
}

/// One row to insert into `actions`.
struct NewActionRow {
    var id: String
    var name: String
    var kind: String
    var key: String
    var incidentID: Int64?
    var origin: String
    var parameters: [String: String]
    var maxAttempts: Int
    var createdAt: Millis
    var nextAttemptAt: Millis
    var detail: String
    var requestedBy: String?
    var scopeRule: String
    var scopeTarget: String
    var healsRule: String?
    var healsCheck: String?
}

/// The columns a state change sets besides `state`; nil leaves a column as it is.
struct ActionChange {
    var detail: String?
    var updatedAt: Millis?
    /// `.some(nil)` clears it.
    var nextAttemptAt: Millis??
    var attempts: Int?
    /// Gives back the attempt a call cut off by a restart had counted.
    var returnAttempt = false
    var approvedBy: String?
    /// Forgets an agent's result of an earlier attempt.
    var clearResult = false
}
