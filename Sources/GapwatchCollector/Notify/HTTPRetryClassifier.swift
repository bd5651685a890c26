import Foundation
import GapwatchHTTPClient
import GapwatchProtocol

/// Which answers of a receiver are final and which are worth another attempt, and when: one table
/// for notification channels and webhook actions alike.
public enum HTTPRetryClassifier {
    public enum Verdict: Sendable, Equatable {
        /// The receiver took it (2xx).
        case delivered
        /// Worth another attempt; `afterMs` is the receiver's own wish (`Retry-After`), if it gave one.
        case retry(afterMs: Int64?)
        /// Will fail the same way again: no retry.
        case final
    }

    /// Longest `Retry-After` honoured: a receiver cannot park a delivery for longer.
    public static let maxRetryAfterMs: Int64 = 86_400_000

    /// 2xx delivered; 408, 429 and 5xx retryable (with `Retry-After`); anything else is final
    /// (3xx too: redirects are not followed, and the answer will not change).
    public static func classify(status: Int, retryAfter: String?, now: Millis = WallClock.nowMillis()) -> Verdict {
        if (200..<300).contains(status) { return .delivered }
        if status == 408 || status == 429 || (500..<600).contains(status) {
            return .retry(afterMs: retryAfterMs(retryAfter, now: now))
        }
        return .final
    }

    /// No answer at all (refused, reset, DNS, TLS, timeout): the receiver may be back later, and
    /// the Idempotency-Key makes a repeat of a call that did arrive harmless.
    public static func classify(transportError: HTTPTransportError) -> Verdict {
        .retry(afterMs: nil)
    }

    /// `Retry-After` as delay-seconds or an HTTP date, in milliseconds from `now` (at most a day;
    /// a date in the past is 0). Nil when absent or unreadable.
    public static func retryAfterMs(_ value: String?, now: Millis = WallClock.nowMillis()) -> Int64? {
        guard let text = value?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let seconds = Int64(text) else { return maxRetryAfterMs }  // too many digits: very long
            return min(seconds, maxRetryAfterMs / 1000) * 1000
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        let ms = Int64(date.timeIntervalSince1970 * 1000) - now
        return min(max(0, ms), maxRetryAfterMs)
    }
}
