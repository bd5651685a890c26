/// `incidents.state`. An incident opens once per (rule, subject) and resolves once; a new
/// problem opens a new incident.
enum IncidentState: String, StateColumnValue, CaseIterable {
    case open
    case resolved
}

/// `incident_events.notify`: where an incident event stands in the notifier's outbox. Only
/// `pending` events are sent; every other state is final (the partial index
/// `incident_events_pending` names `pending` literally, so the queries interpolate it as a constant).
enum NotifyState: String, StateColumnValue, CaseIterable {
    /// Waiting to be sent (or retried) at `next_attempt_at`.
    case pending
    /// Every channel got it.
    case sent
    /// At least one channel was given up on.
    case failed
    /// A silence matched it.
    case silenced
    /// Its feeding agent is down: the agent's own incident says it.
    case suppressed
    /// Nothing to send: an update, an opening resolved before it went out, no channels configured.
    case notNeeded = "not_needed"
}

/// `deliveries.state`: the latest attempt to notify one channel about one event.
enum DeliveryState: String, StateColumnValue, CaseIterable {
    case sent
    /// Failed, to be tried again with the event.
    case retrying
    /// Given up on.
    case failed

    /// Done with the event: nothing more is sent to that channel.
    static let finished: [DeliveryState] = [.sent, .failed]
}
