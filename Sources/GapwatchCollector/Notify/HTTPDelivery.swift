import Foundation
import GapwatchHTTPClient
import GapwatchProtocol

/// One HTTP call to a receiver gapwatch notifies or asks to act: webhook and slack channels and
/// webhook actions all go through here, so they share the headers, the bounds, the redaction of
/// secrets and the retry classification (`HTTPRetryClassifier`).
public struct HTTPDelivery: Sendable {
    /// Characters of an HTTP answer quoted in a detail.
    static let responseSnippetChars = 200
    /// Most bytes of an answer read: only its start is quoted.
    static let maxResponseBytes = 1 << 20
    /// Longest wait for the connection, within the whole attempt's timeout.
    static let maxConnectTimeoutMs: Int64 = 5_000

    var method = "POST"
    var url: String?
    /// `Idempotency-Key`: the same on every attempt of one delivery, so a receiver can drop a
    /// repeat. None for receivers that have no use for it (slack).
    var idempotencyKey: String?
    /// Gapwatch's own further headers (e.g. `Gapwatch-Attempt`), after the standard ones.
    var extraHeaders: [(String, String)] = []
    /// The operator's headers (e.g. Authorization). A configured header replaces a default one of
    /// the same name (e.g. a User-Agent); their values are secrets and never reach a detail.
    var configuredHeaders: [String: String] = [:]
    var body: [UInt8]
    /// For the whole attempt: connect + request + response.
    var timeoutMs: Int64

    /// What is sent, in order: Content-Type, User-Agent, Idempotency-Key, the extra headers, then
    /// the configured ones by name.
    var headers: [(String, String)] {
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("User-Agent", "gapwatch")]
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        headers += extraHeaders
        let configured = configuredHeaders.sorted { $0.key.lowercased() < $1.key.lowercased() }
        let configuredNames = Set(configured.map { $0.key.lowercased() })
        headers.removeAll { configuredNames.contains($0.0.lowercased()) }
        return headers + configured.map { ($0.key, $0.value) }
    }

    /// One attempt, on a thread of its own (libcurl blocks); never throws.
    func send() async -> DeliveryOutcome {
        await onOwnThread(named: "gw-http") { _ in sendBlocking() }
    }

    /// One blocking attempt; never throws.
    func sendBlocking() -> DeliveryOutcome {
        guard let url, !url.isEmpty else {
            return .failed(detail: "no url configured", retryable: false, retryAfterMs: nil)
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return .failed(detail: "url is not http:// or https://", retryable: false, retryAfterMs: nil)
        }
        let headers = headers
        if headers.contains(where: { DeliveryText.hasLineBreak($0.0) || DeliveryText.hasLineBreak($0.1) }) {
            return .failed(detail: "a header name or value holds a line break", retryable: false, retryAfterMs: nil)
        }
        let secrets = DeliveryText.secrets(url: url, headers: configuredHeaders)
        if lower.hasPrefix("https://") { HTTPClient.globalInit(tls: true) }
        let timeoutMs = max(1, timeoutMs)
        let client = HTTPClient(connectTimeoutMs: Int(min(timeoutMs, Self.maxConnectTimeoutMs)), timeoutMs: Int(timeoutMs))
        client.maxResponseBytes = Self.maxResponseBytes
        let request = HTTPRequest(method: method, url: url, headers: headers, body: method == "GET" ? nil : body)
        let response: HTTPResponse
        do {
            response = try client.send(request)
        } catch {
            let detail =
                error.isTimeout
                ? "timed out after \(Units.formatDuration(timeoutMs))"
                : "transport error: \(DeliveryText.oneLine(DeliveryText.redact(error.message, secrets: secrets), limit: Self.responseSnippetChars))"
            return Self.outcome(HTTPRetryClassifier.classify(transportError: error), detail: detail)
        }
        return Self.outcome(status: response.status, headers: response.headers, body: response.body, secrets: secrets)
    }

    /// The detail quotes the start of the answer, also of a 2xx: a service that answers 200 and
    /// says it skipped the work is why actions are verified, and people should see what it said.
    static func outcome(status: Int, headers: [String: String], body: [UInt8], secrets: [String]) -> DeliveryOutcome {
        var detail = "HTTP \(status)"
        if (300..<400).contains(status) { detail += " (redirects are not followed)" }
        // Redacted before it is cut short, so no secret survives in part.
        let snippet = DeliveryText.oneLine(DeliveryText.redact(String(decoding: body, as: UTF8.self), secrets: secrets), limit: responseSnippetChars)
        if !snippet.isEmpty { detail += ": " + snippet }
        return outcome(HTTPRetryClassifier.classify(status: status, retryAfter: headers["retry-after"]), detail: detail)
    }

    static func outcome(_ verdict: HTTPRetryClassifier.Verdict, detail: String) -> DeliveryOutcome {
        switch verdict {
        case .delivered: .delivered(detail: detail)
        case .retry(let afterMs): .failed(detail: detail, retryable: true, retryAfterMs: afterMs)
        case .final: .failed(detail: detail, retryable: false, retryAfterMs: nil)
        }
    }
}
