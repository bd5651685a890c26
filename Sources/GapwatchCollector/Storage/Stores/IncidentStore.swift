import GapwatchProtocol

/// The only writer of `incidents` and `incident_events`: opening and resolving incidents inside
/// the caller's write transaction, and the events' outbox the notifier claims and settles.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol IncidentStore {
    /// An action for the incident gave up: it needs a person (an `escalated` event, notified now).
    func escalate(_ id: Int64, reason: String, at: Millis) throws

    /// A notification about the incident reached at least one channel.
    func markNotified(_ id: Int64, at: Millis) throws

    /// A `reminder` event for every open, notified incident last notified at or before `notifiedBy`.
    func queueReminders(notifiedBy: Millis, now: Millis) throws

    /// Events due to be notified and not claimed by a live lease, oldest first.
    func dueEvents(now: Millis, limit: Int) throws -> [Int64]

    /// Claims a pending event for `claim` until `until`; false when another holds it or it is done.
    func claimEvent(_ id: Int64, claim: String, until: Millis, now: Millis) throws -> Bool

    /// An event with its incident, as the notifier needs it; nil if there is no such event.
    func eventWithIncident(_ eventID: Int64) throws -> OutboxEvent?

    /// Settles a claimed event (sent, failed, silenced, …); does nothing when the claim was lost.
    func finishEvent(_ eventID: Int64, claim: String, notify: NotifyState, detail: String, attempts: Int?) throws

    /// Gives a claimed event back, to be tried again at `nextAttemptAt`.
    func releaseEvent(_ eventID: Int64, claim: String, nextAttemptAt: Millis, attempts: Int, detail: String) throws

    /// The latest first-attempt pending `event` of `rule` that fell due by `fellDueBy`.
    func latestPendingAt(event: String, rule: String, atOrBefore fellDueBy: Millis) throws -> Millis?

    /// Unclaimed pending events to send in one message with `lead`: same event, rule and attempt count.
    func groupCandidates(event: String, rule: String, attempts: Int, atOrBefore fellDueBy: Millis, excluding lead: Int64, now: Millis, limit: Int)
        throws -> [Int64]

    /// Opens the incident for (rule, subject) unless one is open; an open one gets an `updated`
    /// event when the reason changed (not notified). Returns the incident id.
    @discardableResult
    func open(rule: String, subject: String, reason: String, labels: [String: String], feederAgent: String?, at: Millis) throws -> Int64

    /// Resolves the open incident for (rule, subject), if any. Returns whether one was open.
    @discardableResult
    func resolve(rule: String, subject: String, reason: String, at: Millis) throws -> Bool

    func addEvent(
        _ incidentID: Int64, event: String, old: String?, new: String, reason: String, at: Millis, notifyAt: Millis?, notify: NotifyState?,
        detail: String?) throws
}

/// One outbox event with the incident it is about.
struct OutboxEvent: Sendable {
    var incidentID: Int64
    var event: String
    var reason: String
    var at: Millis
    /// Attempts so far (0 before the first send).
    var attempts: Int
    var rule: String
    var subject: String
    /// The incident's state now.
    var incidentState: String
    var openedAt: Millis
    var labels: [String: String]
    var feederAgentID: String?
    /// Whether a notification about the incident reached a channel.
    var notified: Bool
}
