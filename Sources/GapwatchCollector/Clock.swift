import Foundation
import GapwatchProtocol

/// Wall-clock time at the I/O edges. Pure logic takes `now` as a parameter instead.
public enum Clock {
    public static func nowMillis() -> Millis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Millis(ts.tv_sec) * 1000 + Millis(ts.tv_nsec) / 1_000_000
    }
}

/// Parses a time given to the API or CLI: integer milliseconds since the epoch, or RFC 3339
/// (`2026-01-22T19:05:00Z`, `2026-01-22T19:05:00.250-08:00`), or a date `2026-01-22` (UTC midnight).
public func parseTime(_ text: String) -> Millis? {
    if let ms = Millis(text) { return ms }
    if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
        return Millis((date.timeIntervalSince1970 * 1000).rounded())
    }
    if let date = try? Date.ISO8601FormatStyle().parse(text) {
        return Millis((date.timeIntervalSince1970 * 1000).rounded())
    }
    if text.count == 10, let date = try? Date.ISO8601FormatStyle().parse(text + "T00:00:00Z") {
        return Millis((date.timeIntervalSince1970 * 1000).rounded())
    }
    return nil
}

/// RFC 3339 in UTC with milliseconds, for people.
public func formatTime(_ ms: Millis) -> String {
    let date = Date(timeIntervalSince1970: Double(ms) / 1000)
    return date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}
