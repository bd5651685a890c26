import Foundation
import GapwatchProtocol
import GapwatchSubprocess

// The delivery side of notifications: what a channel is, what is sent, and one attempt at sending
// it. Retrying, ordering and recording attempts belong to the notifier loop that calls this.

public enum ChannelKind: String, Sendable, CaseIterable {
    case webhook, slack, command
}

/// One configured notification channel (`notify.channels[i]` in the collector config).
public struct ChannelConfig: Sendable, Equatable {
    /// Unique among the channels; appears in the timeline and in the webhook `Idempotency-Key`.
    public var name: String
    public var kind: ChannelKind
    /// Where webhook and slack channels POST (http or https).
    public var url: String?
    /// Extra request headers, webhook only (e.g. Authorization). Values are final: `env:VAR` is
    /// resolved when the config is parsed.
    public var headers: [String: String] = [:]
    /// Command only: argv[0] is the program (PATH lookup), the rest its arguments; never a shell.
    public var argv: [String] = []
    /// For one whole attempt: connect + request + response, or the command's run.
    public var timeoutMs: Int64 = 10_000

    public init(
        name: String, kind: ChannelKind, url: String? = nil, headers: [String: String] = [:], argv: [String] = [],
        timeoutMs: Int64 = 10_000
    ) {
        self.name = name
        self.kind = kind
        self.url = url
        self.headers = headers
        self.argv = argv
        self.timeoutMs = timeoutMs
    }
}

extension ChannelConfig: CustomStringConvertible {
    /// Without header values or the URL's path: both often carry secrets (Slack webhook URLs do).
    public var description: String {
        var parts = ["name: \(name)", "kind: \(kind.rawValue)"]
        if let url { parts.append("url: \(redactedURL(url))") }
        if !headers.isEmpty { parts.append("headers: [\(headers.keys.sorted().map { "\($0): <redacted>" }.joined(separator: ", "))]") }
        if !argv.isEmpty { parts.append("argv: \(argv)") }
        parts.append("timeout: \(Units.formatDuration(timeoutMs))")
        return "ChannelConfig(\(parts.joined(separator: ", ")))"
    }
}

/// What is being notified: one state change of one incident. JSON keys are snake_case; this is the
/// webhook body and a command channel's standard input.
public struct NotificationMessage: Sendable, Codable, Equatable {
    /// Unique per state change; stable across retries (receivers deduplicate on it).
    public var eventID: Int64
    public var incidentID: Int64
    /// "heartbeat", "workflow_gap", ...
    public var rule: String
    /// "check:nightly-export", "agent:host-1", ...
    public var subject: String
    /// "opened" | "resolved" | "reminder"
    public var event: String
    /// A human sentence: why it changed.
    public var reason: String
    /// Milliseconds since 1970, when the change happened.
    public var at: Int64
    public var openedAt: Int64
    public var labels: [String: String]
    /// The collector's name or host, for the reader.
    public var collector: String
    /// A grouped message (`notify.group`): every incident it stands for, this one first. The
    /// top-level fields are the first one's; `reason` lists them all. Absent for a single incident.
    public var incidents: [GroupedIncident]?

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case incidentID = "incident_id"
        case rule, subject, event, reason, at
        case openedAt = "opened_at"
        case labels, collector, incidents
    }

    public init(
        eventID: Int64, incidentID: Int64, rule: String, subject: String, event: String, reason: String, at: Int64,
        openedAt: Int64, labels: [String: String] = [:], collector: String
    ) {
        self.eventID = eventID
        self.incidentID = incidentID
        self.rule = rule
        self.subject = subject
        self.event = event
        self.reason = reason
        self.at = at
        self.openedAt = openedAt
        self.labels = labels
        self.collector = collector
    }
}

/// One incident of a grouped notification.
public struct GroupedIncident: Sendable, Codable, Equatable {
    public var eventID: Int64
    public var incidentID: Int64
    public var subject: String
    public var reason: String
    public var at: Int64

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case incidentID = "incident_id"
        case subject, reason, at
    }

    public init(eventID: Int64, incidentID: Int64, subject: String, reason: String, at: Int64) {
        self.eventID = eventID
        self.incidentID = incidentID
        self.subject = subject
        self.reason = reason
        self.at = at
    }
}

/// The result of one delivery attempt. `detail` is for the timeline: it never holds header values
/// or the channel URL's path, which may be secrets.
public enum DeliveryOutcome: Sendable, Equatable {
    /// e.g. "HTTP 200", "exit 0"
    case delivered(detail: String)
    /// `retryAfterMs` is the receiver's own wish (HTTP `Retry-After`), when it gave one.
    case failed(detail: String, retryable: Bool, retryAfterMs: Int64?)
}

/// Sends notification messages through channels, one attempt per call.
public struct ChannelSender: Sendable {
    public init() {}

    /// Delivers one message; never throws. The blocking work (libcurl, a child process) runs on a
    /// thread of its own, never on the cooperative pool, so `await` it freely. Cancelling the
    /// calling task ends a running command early (SIGTERM, then SIGKILL); an HTTP request still
    /// ends by its timeout at the latest.
    public func send(_ message: NotificationMessage, via channel: ChannelConfig) async -> DeliveryOutcome {
        let cancel = Wakeup()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<DeliveryOutcome, Never>) in
                let thread = Thread {
                    continuation.resume(returning: ChannelDelivery.deliver(message, via: channel, cancel: cancel))
                }
                thread.name = "gw-notify"
                thread.start()
            }
        } onCancel: {
            cancel.stop()
        }
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

/// `https://hooks.example.com/…`: scheme, host and port only.
func redactedURL(_ text: String) -> String {
    guard let components = URLComponents(string: text), let scheme = components.scheme, let host = components.host else {
        return "<redacted>"
    }
    var shown = "\(scheme)://\(host)"
    if let port = components.port { shown += ":\(port)" }
    let rest = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
    if !rest.isEmpty && rest != "/" { shown += "/…" }
    return shown
}
