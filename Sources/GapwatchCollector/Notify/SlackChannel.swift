import GapwatchProtocol
import GapwatchSubprocess

/// `kind: slack`: POSTs one readable line to a Slack incoming webhook (whose URL is the secret).
struct SlackChannel: NotificationChannel {
    let config: ChannelConfig

    func deliver(_ message: NotificationMessage, cancel: Wakeup) -> DeliveryOutcome {
        HTTPDelivery(url: config.url, body: ReportCodec.encode(["text": Self.text(message)]), timeoutMs: config.timeoutMs).sendBlocking()
    }

    /// `:red_circle: OPENED heartbeat check:nightly-export — no ping since … (expected …)`, one line,
    /// escaped as Slack's mrkdwn wants (&, <, >).
    static func text(_ message: NotificationMessage) -> String {
        let mark: String
        let word: String
        switch message.event {
        case "opened": (mark, word) = (":red_circle:", "OPENED")
        case "resolved": (mark, word) = (":large_green_circle:", "RESOLVED")
        case "reminder": (mark, word) = (":bell:", "REMINDER")
        default: (mark, word) = (":information_source:", message.event.uppercased())
        }
        var text = "\(mark) \(word) \(DeliveryText.oneLine(message.rule)) \(DeliveryText.oneLine(message.subject))"
        let reason = DeliveryText.oneLine(message.reason)
        if !reason.isEmpty { text += " — \(reason)" }
        return escape(text)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(ch)
            }
        }
        return out
    }
}
