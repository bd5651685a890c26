import GapwatchProtocol
import GapwatchRules
import Logging

/// Sends incident state changes to the configured channels.
///
/// The outbox is `incident_events` with `notify` `NotifyState.pending`. A notifier claims one event with a
/// conditional update (a lease in `claimed_until`), so two notifiers, or one restarted after a
/// crash, never send the same event at the same time. A crash after a send but before it is
/// recorded can repeat that one send once the lease expires; every request carries
/// `Idempotency-Key: gapwatch-<event id>-<channel>` so a receiver can drop the repeat.
public final class Notifier: Sendable {
    let database: AppDatabase
    let config: NotifyConfig
    let liveness: LivenessConfig
    let evaluateIntervalMs: Millis
    let sender: ChannelSender
    /// The configured channels, in config order.
    let channels: [any NotificationChannel]
    let collectorName: String
    /// This process's claim token.
    let claim = RandomID.make()
    let logger: Logger
    let metrics: CollectorMetrics?

    public init(database: AppDatabase, detection: DetectionConfig, collectorName: String, logger: Logger, metrics: CollectorMetrics? = nil) {
        self.metrics = metrics
        self.database = database
        self.config = detection.notify
        self.liveness = detection.liveness
        self.evaluateIntervalMs = detection.evaluateIntervalMs
        self.sender = ChannelSender()
        self.channels = detection.notify.channels.map(\.channel)
        self.collectorName = collectorName
        self.logger = logger
    }

    /// One pass: queues reminders, then handles every event due at `now`. Returns events handled.
    @discardableResult
    public func runPass(now: Millis) async throws -> Int {
        if let reminder = config.reminderMs { try queueReminders(now: now, every: reminder) }
        let due = try await database.read { tx in try incidents(tx).dueEvents(now: now, limit: 50) }
        var handled = 0
        for eventID in due where try claimEvent(eventID, now: now) {
            try await handle(eventID, now: now)
            handled += 1
        }
        return handled
    }

    /// Full jitter can pick 0: a floor keeps a failing channel from being hammered.
    static let minRetryDelayMs: Millis = 500

    /// Longest a claimed event can take: every channel timing out, plus slack.
    private var leaseMs: Millis { config.channels.reduce(30_000) { $0 + $1.timeoutMs } }

    /// The incident log and its outbox. Events the notifier adds (reminders) are due at once.
    private func incidents(_ tx: StoreTransaction) -> IncidentStore { tx.incidents(notifyWaitMs: 0, hasChannels: !config.channels.isEmpty) }

    fileprivate func claimEvent(_ id: Int64, now: Millis) throws -> Bool {
        try database.write { tx in try incidents(tx).claimEvent(id, claim: claim, until: now + leaseMs, now: now) }
    }

    /// A claimed event with what deciding about it needs: its feeder, the silences in force and
    /// the channels already done with it.
    @dynamicMemberLookup
    fileprivate struct Pending {
        var eventID: Int64
        var outbox: OutboxEvent
        var feeder: FeederState
        var silences: [Silence]
        var done: Set<String>

        subscript<T>(dynamicMember field: KeyPath<OutboxEvent, T>) -> T { outbox[keyPath: field] }
    }

    fileprivate func load(_ eventID: Int64, now: Millis) throws -> Pending? {
        try database.read { tx in
            guard let entry = try incidents(tx).eventWithIncident(eventID) else { return nil }
            let feederAgent = entry.feederAgentID
            var feeder = FeederState.unknown
            if let agent = feederAgent, let check = try tx.checks.liveness(name: "agent:\(agent)") {
                let lastPing = check.lastPingAt
                if check.state == .down {
                    feeder = .down
                } else if let lastPing, now >= lastPing + liveness.everyMs {
                    // Overdue but within grace: the liveness check decides by its deadline.
                    feeder = .late(decidedBy: lastPing + liveness.everyMs + liveness.graceMs)
                } else {
                    feeder = .up
                }
            }
            let silences = try tx.silences.active(now: now)
            // Channels finished with this event: delivered, or failed for good.
            let done = try tx.deliveries.doneChannels(eventID: eventID)
            return Pending(eventID: eventID, outbox: entry, feeder: feeder, silences: silences, done: done)
        }
    }

    private func handle(_ eventID: Int64, now: Millis) async throws {
        guard let p = try load(eventID, now: now) else { return }
        if try settleWithoutSending(p, now: now) { return }
        if config.groupWindowMs > 0 && config.groupRules.contains(p.rule) {
            return try await handleGrouped(p, now: now)
        }
        let message = NotificationMessage(
            eventID: eventID, incidentID: p.incidentID, rule: p.rule, subject: p.subject, event: p.event, reason: p.reason, at: p.at,
            openedAt: p.openedAt, labels: p.labels, collector: collectorName)
        try await send(message, for: [p], now: now)
    }

    /// Finishes or postpones a claimed event that is not to be sent now (resolved before its
    /// opening went out, silenced, suppressed, not needed, waiting for its feeder). False: send it.
    fileprivate func settleWithoutSending(_ p: Pending, now: Millis) throws -> Bool {
        if p.event == "opened" && p.incidentState != IncidentState.open.rawValue {
            try finish(p.eventID, notify: .notNeeded, detail: "resolved before it was notified")
            return true
        }
        let decision = decideNotification(
            event: p.event, rule: p.rule, subject: p.subject, labels: p.labels, feederAgent: p.feederAgentID, feeder: p.feeder,
            openingNotified: p.notified, silences: p.silences, now: now)
        switch decision {
        case .silenced(let id):
            try finish(p.eventID, notify: .silenced, detail: "silence \(id)")
        case .suppressed(let why):
            try finish(p.eventID, notify: .suppressed, detail: why)
        case .notNeeded(let why):
            try finish(p.eventID, notify: .notNeeded, detail: why)
        case .deferUntil(let t):
            try release(
                p.eventID, nextAttemptAt: max(now + 100, t + evaluateIntervalMs + 500), attempts: p.attempts,
                detail: "waiting: the feeding agent is late")
        case .send:
            return false
        }
        return true
    }

    /// Sends `message` to every channel not yet done with the first of `events` and records the
    /// outcome on each of them (one event, or a group standing for several).
    fileprivate func send(_ message: NotificationMessage, for events: [Pending], now: Millis) async throws {
        guard let lead = events.first else { return }
        var failedFinal: [String] = []
        var retrying: [String] = []
        var retryAfter: Millis?
        for channel in channels where !lead.done.contains(channel.config.name) {
            let outcome = await sender.send(message, to: channel)
            let attemptAt = WallClock.nowMillis()
            let pending = events.filter { !$0.done.contains(channel.config.name) }.map(\.eventID)
            try record(outcome, eventIDs: pending, channel: channel.config.name, message: message, at: attemptAt)
            switch outcome {
            case .delivered: break
            case .failed(_, let retryable, let after):
                if retryable && lead.attempts + 1 < config.maxAttempts {
                    retrying.append(channel.config.name)
                    if let after { retryAfter = max(retryAfter ?? 0, after) }
                } else {
                    failedFinal.append(channel.config.name)
                }
            }
        }
        let eventIDs = events.map(\.eventID)
        if !failedFinal.isEmpty {
            // Given up: a retryable failure on the last allowed attempt is final too.
            let failedFinal = failedFinal
            try await database.write { tx in try tx.deliveries.markFailed(eventIDs: eventIDs, channels: failedFinal) }
            for channel in failedFinal { metrics?.notificationGaveUp(channel: channel) }
        }
        // One backoff for the whole group, so its events stay together for the retry.
        let backoff = notificationBackoff(
            attempt: lead.attempts + 1, initialMs: config.retryInitialMs, maxMs: config.retryMaxMs, random: { Double.random(in: $0) })
        for p in events {
            let (sentCount, failedChannels) = try await database.read { tx in
                let deliveries = tx.deliveries
                return (try deliveries.sentCount(eventID: p.eventID), try deliveries.failedChannels(eventID: p.eventID))
            }
            let anyDelivered = sentCount > 0
            if retrying.isEmpty {
                let notify: NotifyState = failedChannels.isEmpty ? .sent : .failed
                var detail = failedChannels.isEmpty ? "sent to \(sentCount) channel(s)" : "gave up on \(failedChannels.joined(separator: ", "))"
                if events.count > 1 { detail += " in one message for \(events.count) incidents (event \(lead.eventID))" }
                try finish(
                    p.eventID, notify: notify, detail: detail, attempts: p.attempts + 1, markNotified: anyDelivered ? p.incidentID : nil, now: now)
            } else {
                try release(
                    p.eventID, nextAttemptAt: now + max(backoff, retryAfter ?? 0, Self.minRetryDelayMs), attempts: p.attempts + 1,
                    detail: "retrying \(retrying.joined(separator: ", "))", markNotified: anyDelivered ? p.incidentID : nil, now: now)
            }
        }
    }

    /// Records one attempt: the per-channel delivery row of each event it was for, and one entry
    /// on the timeline.
    private func record(_ outcome: DeliveryOutcome, eventIDs: [Int64], channel: String, message: NotificationMessage, at: Millis) throws {
        let (state, detail, ok): (DeliveryState, String, Bool) =
            switch outcome {
            case .delivered(let d): (.sent, d, true)
            case .failed(let d, let retryable, _): (retryable ? .retrying : .failed, d, false)
            }
        try database.write { tx in
            try tx.deliveries.recordAttempt(eventIDs: eventIDs, channel: channel, state: state, detail: detail, at: at)
            let what =
                message.incidents.map {
                    "incidents \($0.prefix(20).map { String($0.incidentID) }.joined(separator: ", "))\($0.count > 20 ? " and \($0.count - 20) more" : "") \(message.event) (\(message.rule), one message)"
                }
                ?? "incident \(message.incidentID) \(message.event) (\(message.rule) \(message.subject))"
            try CollectorTimeline.append(
                tx, body: .actionResult(ActionResult(actionID: "notify:\(channel)", outcome: ok ? .ok : .failed, outputTail: "\(what): \(detail)")),
                at: at)
        }
        metrics?.notificationAttempt(channel: channel, delivered: ok)
        let events = message.incidents.map { "\(message.eventID) (+\($0.count - 1) grouped)" } ?? "\(message.eventID)"
        if ok {
            logger.info("notification sent", metadata: ["channel": "\(channel)", "event": "\(events)", "detail": "\(detail)"])
        } else {
            logger.warning("notification failed", metadata: ["channel": "\(channel)", "event": "\(events)", "detail": "\(detail)"])
        }
    }

    private func finish(_ eventID: Int64, notify: NotifyState, detail: String, attempts: Int? = nil, markNotified: Int64? = nil, now: Millis = 0)
        throws
    {
        try database.write { tx in
            let store = incidents(tx)
            try store.finishEvent(eventID, claim: claim, notify: notify, detail: detail, attempts: attempts)
            if let incident = markNotified { try store.markNotified(incident, at: now) }
        }
    }

    fileprivate func release(_ eventID: Int64, nextAttemptAt: Millis, attempts: Int, detail: String, markNotified: Int64? = nil, now: Millis = 0)
        throws
    {
        try database.write { tx in
            let store = incidents(tx)
            try store.releaseEvent(eventID, claim: claim, nextAttemptAt: nextAttemptAt, attempts: attempts, detail: detail)
            if let incident = markNotified { try store.markNotified(incident, at: now) }
        }
    }

    /// While an incident stays open, its notification repeats every `every`.
    private func queueReminders(now: Millis, every: Millis) throws {
        try database.write { tx in try incidents(tx).queueReminders(notifiedBy: now - every, now: now) }
    }
}

// MARK: - Bursts (issue 14: 2,000 agents going silent are one message per channel, not 2,000)

extension Notifier {
    /// Most events in one grouped message; a larger burst goes out in several.
    static let maxGroup = 500

    /// An event of a rule in `notify.group.rules` is held until no other event of the same rule
    /// and kind has fallen due for `notify.group.window` (at most `notify.group.max_wait` after it
    /// fell due itself), then sent with all of them as one message per channel that lists them.
    /// Each incident and event still stands on its own: silences, suppression and the per-event
    /// delivery records apply to each. A retry re-forms the group that failed (same attempt count).
    fileprivate func handleGrouped(_ lead: Pending, now: Millis) async throws {
        let dueAt = ClampedTime.add(lead.at, config.waitMs)
        let fellDueBy = ClampedTime.subtract(now, config.waitMs)
        if lead.attempts == 0 {
            let latest = try await database.read { tx in try incidents(tx).latestPendingAt(event: lead.event, rule: lead.rule, atOrBefore: fellDueBy)
            }
            let quietAt = ClampedTime.add(ClampedTime.add(max(lead.at, latest ?? lead.at), config.waitMs), config.groupWindowMs)
            let sendAt = min(quietAt, ClampedTime.add(dueAt, max(config.groupMaxWaitMs, config.groupWindowMs)))
            if now < sendAt {
                try release(
                    lead.eventID, nextAttemptAt: sendAt, attempts: 0,
                    detail:
                        "held until no other \(lead.rule) event falls due for \(Units.formatDuration(config.groupWindowMs)) (notify.group), to send them as one message"
                )
                return
            }
        }
        var members = [lead]
        let candidates = try await database.read { tx in
            try incidents(tx).groupCandidates(
                event: lead.event, rule: lead.rule, attempts: lead.attempts, atOrBefore: fellDueBy, excluding: lead.eventID, now: now,
                limit: Self.maxGroup - 1)
        }
        for eventID in candidates where try claimEvent(eventID, now: now) {
            guard let member = try load(eventID, now: now) else { continue }
            // Decided one by one: a silenced or suppressed one, or one whose feeder is late, is not sent.
            if try settleWithoutSending(member, now: now) { continue }
            members.append(member)
        }
        var message = NotificationMessage(
            eventID: lead.eventID, incidentID: lead.incidentID, rule: lead.rule, subject: lead.subject, event: lead.event,
            reason: lead.reason, at: lead.at, openedAt: lead.openedAt, labels: lead.labels, collector: collectorName)
        if members.count > 1 {
            message.incidents = members.map {
                GroupedIncident(eventID: $0.eventID, incidentID: $0.incidentID, subject: $0.subject, reason: $0.reason, at: $0.at)
            }
            message.subject = "\(lead.subject) and \(members.count - 1) more"
            let listed = members.prefix(50).map(\.subject).joined(separator: ", ")
            message.reason =
                "\(members.count) \(lead.rule) incidents \(lead.event): \(listed)\(members.count > 50 ? " and \(members.count - 50) more" : "")"
        }
        try await send(message, for: members, now: now)
    }
}

/// Backoff before retry number `attempt` (1-based): exponential from `initialMs` (doubling each
/// attempt), capped at `maxMs`, with full jitter: a uniform pick in `0...cap`. `random` is called
/// once with `0...1` (pass `Double.random(in:)`); tests inject fixed values.
public func notificationBackoff(
    attempt: Int, initialMs: Int64, maxMs: Int64, random: (ClosedRange<Double>) -> Double
) -> Int64 {
    let ceiling = max(0, maxMs)
    let base = max(0, initialMs)
    let exponent = max(0, attempt - 1)
    let cap: Int64
    if base == 0 {
        cap = 0
    } else if exponent >= 62 {
        cap = ceiling
    } else {
        let (scaled, overflow) = base.multipliedReportingOverflow(by: Int64(1) << exponent)
        cap = overflow ? ceiling : min(scaled, ceiling)
    }
    let drawn = random(0...1)
    let fraction = drawn.isNaN ? 0 : min(1, max(0, drawn))
    return min(cap, max(0, Int64((Double(cap) * fraction).rounded())))
}
