import Foundation
import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess

/// One blocking delivery attempt per channel kind. Runs on a dedicated thread (see `ChannelSender`).
enum ChannelDelivery {
    /// Bytes of a command's standard error quoted in a failure detail (its end: the last words).
    static let stderrTailBytes = 300
    /// Characters of an HTTP error response quoted in a failure detail.
    static let responseSnippetChars = 200

    static func deliver(_ message: NotificationMessage, via channel: ChannelConfig, cancel: Wakeup) -> DeliveryOutcome {
        if cancel.isStopped { return .failed(detail: "cancelled before sending", retryable: true, retryAfterMs: nil) }
        switch channel.kind {
        case .webhook:
            var headers: [(String, String)] = [
                ("Content-Type", "application/json"),
                ("User-Agent", "gapwatch"),
                ("Idempotency-Key", idempotencyKey(message, channel)),
            ]
            // A configured header of the same name replaces a default one (e.g. a User-Agent).
            let configured = channel.headers.sorted { $0.key.lowercased() < $1.key.lowercased() }
            let configuredNames = Set(configured.map { $0.key.lowercased() })
            headers.removeAll { configuredNames.contains($0.0.lowercased()) }
            headers += configured.map { ($0.key, $0.value) }
            return post(channel: channel, headers: headers, body: ReportCodec.encode(message))
        case .slack:
            let body = ReportCodec.encode(["text": slackText(message)])
            return post(
                channel: channel, headers: [("Content-Type", "application/json"), ("User-Agent", "gapwatch")], body: body)
        case .command:
            return runCommand(message, channel: channel, cancel: cancel)
        }
    }

    /// `gapwatch-<event_id>-<channel name>`: the same for every retry of one event on one channel.
    static func idempotencyKey(_ message: NotificationMessage, _ channel: ChannelConfig) -> String {
        "gapwatch-\(message.eventID)-\(channel.name)"
    }

    // MARK: HTTP (webhook, slack)

    static func post(channel: ChannelConfig, headers: [(String, String)], body: [UInt8], method: String = "POST") -> DeliveryOutcome {
        guard let url = channel.url, !url.isEmpty else {
            return .failed(detail: "no url configured", retryable: false, retryAfterMs: nil)
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return .failed(detail: "url is not http:// or https://", retryable: false, retryAfterMs: nil)
        }
        if headers.contains(where: { hasLineBreak($0.0) || hasLineBreak($0.1) }) {
            return .failed(detail: "a header name or value holds a line break", retryable: false, retryAfterMs: nil)
        }
        let secrets = secretsOf(channel)
        if lower.hasPrefix("https://") { HTTPClient.globalInit(tls: true) }
        let timeoutMs = Int(max(1, channel.timeoutMs))
        let client = HTTPClient(connectTimeoutMs: min(timeoutMs, 5_000), timeoutMs: timeoutMs)
        client.maxResponseBytes = 1 << 20
        let request = GapwatchHTTPClient.HTTPRequest(method: method, url: url, headers: headers, body: method == "GET" ? nil : body)
        let response: HTTPResponse
        do {
            response = try client.send(request)
        } catch {
            let detail = error.isTimeout
                ? "timed out after \(Units.formatDuration(Int64(timeoutMs)))"
                : "transport error: \(oneLine(redact(error.message, secrets: secrets), limit: responseSnippetChars))"
            return .failed(detail: detail, retryable: true, retryAfterMs: nil)
        }
        return outcome(status: response.status, headers: response.headers, body: response.body, secrets: secrets)
    }

    /// 2xx delivered; 408, 429 and 5xx retryable (with `Retry-After`); anything else is final.
    /// The detail quotes the start of the answer, also of a 2xx: a service that answers 200 and
    /// says it skipped the work is why actions are verified, and people should see what it said.
    static func outcome(status: Int, headers: [String: String], body: [UInt8], secrets: [String]) -> DeliveryOutcome {
        var detail = "HTTP \(status)"
        if (300..<400).contains(status) { detail += " (redirects are not followed)" }
        // Redacted before it is cut short, so no secret survives in part.
        let snippet = oneLine(redact(String(decoding: body, as: UTF8.self), secrets: secrets), limit: responseSnippetChars)
        if !snippet.isEmpty { detail += ": " + snippet }
        if (200..<300).contains(status) { return .delivered(detail: detail) }
        if status == 408 || status == 429 || (500..<600).contains(status) {
            return .failed(detail: detail, retryable: true, retryAfterMs: retryAfterMs(headers["retry-after"]))
        }
        return .failed(detail: detail, retryable: false, retryAfterMs: nil)
    }

    /// `Retry-After` as delay-seconds or an HTTP date, in milliseconds from now (at most a day).
    static func retryAfterMs(_ value: String?, now: Millis = WallClock.nowMillis()) -> Int64? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        let dayMs: Int64 = 86_400_000
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let seconds = Int64(text) else { return dayMs }  // too many digits: very long
            return min(seconds, dayMs / 1000) * 1000
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        let ms = Int64(date.timeIntervalSince1970 * 1000) - now
        return min(max(0, ms), dayMs)
    }

    /// Values that must never reach a detail string: header values (and their long words, such as
    /// the token in "Bearer <token>") and the URL beyond its host.
    static func secretsOf(_ channel: ChannelConfig) -> [String] {
        var secrets: [String] = []
        for value in channel.headers.values {
            secrets.append(value)
            secrets += value.split(whereSeparator: \.isWhitespace).map(String.init).filter { $0.count >= 8 }
        }
        if let url = channel.url {
            secrets.append(url)
            if let components = URLComponents(string: url) {
                let path = components.percentEncodedPath
                if path.count > 1 { secrets.append(path) }
                if let query = components.percentEncodedQuery, !query.isEmpty { secrets.append(query) }
                if let user = components.percentEncodedUser, !user.isEmpty { secrets.append(user) }
                if let password = components.percentEncodedPassword, !password.isEmpty { secrets.append(password) }
            }
        }
        // Longest first, so a value is replaced whole before any of its parts; tiny values would
        // only mangle the text.
        return Array(Set(secrets.filter { $0.count >= 4 })).sorted { $0.count > $1.count }
    }

    static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return result
    }

    // MARK: Slack

    /// `:red_circle: OPENED heartbeat check:nightly-export — no ping since … (expected …)`, one line,
    /// escaped as Slack's mrkdwn wants (&, <, >).
    static func slackText(_ message: NotificationMessage) -> String {
        let mark: String
        let word: String
        switch message.event {
        case "opened": (mark, word) = (":red_circle:", "OPENED")
        case "resolved": (mark, word) = (":large_green_circle:", "RESOLVED")
        case "reminder": (mark, word) = (":bell:", "REMINDER")
        default: (mark, word) = (":information_source:", message.event.uppercased())
        }
        var text = "\(mark) \(word) \(oneLine(message.rule)) \(oneLine(message.subject))"
        let reason = oneLine(message.reason)
        if !reason.isEmpty { text += " — \(reason)" }
        return slackEscape(text)
    }

    static func slackEscape(_ text: String) -> String {
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

    // MARK: Command

    static func runCommand(_ message: NotificationMessage, channel: ChannelConfig, cancel: Wakeup) -> DeliveryOutcome {
        var runner = CommandRunner(timeoutMs: max(1, channel.timeoutMs))
        runner.maxStdoutBytes = 4 << 10  // read and dropped: only the exit status and stderr matter
        runner.maxStderrBytes = 4 << 10
        runner.stdin = ReportCodec.encode(message) + [UInt8(ascii: "\n")]
        runner.extraEnvironment = [
            "GAPWATCH_EVENT": message.event,
            "GAPWATCH_EVENT_ID": String(message.eventID),
            "GAPWATCH_RULE": message.rule,
            "GAPWATCH_SUBJECT": message.subject,
            "GAPWATCH_INCIDENT_ID": String(message.incidentID),
            "GAPWATCH_REASON": message.reason,
        ]
        let result: CommandResult
        do {
            result = try runner.run(channel.argv, cancel: cancel)
        } catch {
            return .failed(detail: error.message, retryable: false, retryAfterMs: nil)
        }
        if result.succeeded { return .delivered(detail: "exit 0") }
        var detail: String
        if result.timedOut {
            detail = "timed out after \(Units.formatDuration(runner.timeoutMs)) (exit \(result.exitCode))"
        } else if cancel.isStopped {
            detail = "cancelled (exit \(result.exitCode))"
        } else if let signal = result.signal {
            detail = "killed by signal \(signal) (exit \(result.exitCode))"
        } else {
            detail = "exit \(result.exitCode)"
        }
        let tail = stderrTail(result.stderr)
        if !tail.isEmpty { detail += "; stderr: \(tail)" }
        return .failed(detail: detail, retryable: true, retryAfterMs: nil)
    }

    /// The last `stderrTailBytes` bytes of standard error, cut at a character boundary, on one line.
    static func stderrTail(_ bytes: [UInt8]) -> String {
        var tail = bytes.suffix(stderrTailBytes)
        while let first = tail.first, first & 0xC0 == 0x80 { tail = tail.dropFirst() }  // mid-character
        return oneLine(String(decoding: tail, as: UTF8.self))
    }

    // MARK: Text

    static func hasLineBreak(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" }
    }

    /// Control characters and runs of whitespace become one space; trimmed; at most `limit`
    /// characters (then "…").
    static func oneLine(_ text: String, limit: Int = .max) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.unicodeScalars.append(" ") }
            pendingSpace = false
            out.unicodeScalars.append(scalar)
        }
        if out.count > limit { out = String(out.prefix(limit)) + "…" }
        return out
    }
}
