import Foundation
import GapwatchSubprocess

// The delivery side of notifications: what a channel is and one attempt at sending through it.
// Retrying, ordering and recording attempts belong to the notifier loop that calls this.

/// One kind of notification channel (named so, not `Channel`, which is NIO's; a file each: WebhookChannel, SlackChannel, CommandChannel).
protocol NotificationChannel: Sendable {
    /// The channel as configured (`notify.channels[i]`).
    var config: ChannelConfig { get }
    /// One blocking attempt; never throws. Runs on a thread of its own (see `ChannelSender`), so
    /// it may block on libcurl or a child process. `cancel` stops a running command early.
    func deliver(_ message: NotificationMessage, cancel: Wakeup) -> DeliveryOutcome
}

extension ChannelConfig {
    /// The channel this entry configures: the one place a kind maps to its implementation.
    var channel: any NotificationChannel {
        switch kind {
        case .webhook: WebhookChannel(config: self)
        case .slack: SlackChannel(config: self)
        case .command: CommandChannel(config: self)
        }
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
        await send(message, to: channel.channel)
    }

    func send(_ message: NotificationMessage, to channel: any NotificationChannel) async -> DeliveryOutcome {
        await onOwnThread(named: "gw-notify") { cancel in
            if cancel.isStopped { return .failed(detail: "cancelled before sending", retryable: true, retryAfterMs: nil) }
            return channel.deliver(message, cancel: cancel)
        }
    }
}

/// Runs blocking work (libcurl, a child process) on a thread of its own, never on the cooperative
/// pool. Cancelling the calling task stops `cancel`, which the work may watch.
func onOwnThread<T: Sendable>(named name: String, _ work: @escaping @Sendable (_ cancel: Wakeup) -> T) async -> T {
    let cancel = Wakeup()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let thread = Thread { continuation.resume(returning: work(cancel)) }
            thread.name = name
            thread.start()
        }
    } onCancel: {
        cancel.stop()
    }
}
