import GapwatchProtocol
import GapwatchSubprocess

/// `kind: webhook`: POSTs the message as JSON, with the configured headers and an
/// `Idempotency-Key` that is the same on every retry of one event on this channel.
struct WebhookChannel: NotificationChannel {
    let config: ChannelConfig

    func deliver(_ message: NotificationMessage, cancel: Wakeup) -> DeliveryOutcome {
        HTTPDelivery(
            url: config.url, idempotencyKey: Self.idempotencyKey(message, config), configuredHeaders: config.headers,
            body: ReportCodec.encode(message), timeoutMs: config.timeoutMs
        ).sendBlocking()
    }

    /// `gapwatch-<event_id>-<channel name>`: the same for every retry of one event on one channel.
    static func idempotencyKey(_ message: NotificationMessage, _ channel: ChannelConfig) -> String {
        "gapwatch-\(message.eventID)-\(channel.name)"
    }
}
