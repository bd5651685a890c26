/// A 5-field cron expression: minute hour day-of-month month day-of-week.
///
/// Syntax (Vixie cron, as in crontab(5)):
/// - fields are separated by spaces or tabs: `minute hour day-of-month month day-of-week`,
///   with ranges minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7
///   (0 and 7 are both Sunday);
/// - each field is a comma-separated list (`1,15,30-35`) of elements:
///   `*` (every value), a number `5`, a range `a-b` (inclusive, start <= end),
///   and any of these with a step: `*/n`, `a-b/n`, and `a/n` (from `a` to the field's maximum);
///   steps must be between 1 and the width of the field (1-59 for minutes, 1-6 for days of week);
/// - months may be written `JAN`-`DEC` and days of week `SUN`-`SAT`, in any case, also inside
///   ranges (`MON-FRI`);
/// - the whole expression may instead be one macro: `@hourly` (`0 * * * *`),
///   `@daily` and `@midnight` (`0 0 * * *`), `@weekly` (`0 0 * * 0`), `@monthly` (`0 0 1 * *`),
///   `@yearly` and `@annually` (`0 0 1 1 *`).
///
/// Day matching follows Vixie cron: if both day-of-month and day-of-week are restricted — that is,
/// neither field starts with `*` — a day matches when EITHER field matches
/// (`0 0 13 * FRI` fires on every 13th and on every Friday). If either field starts with `*`
/// (including `*/2`), a day must match both.
///
/// An expression that parses may still never fire (`0 0 30 2 *`); `CronSchedule.next(after:)`
/// then returns nil.
public struct CronExpression: Sendable, Equatable {
    /// The expression as written, without surrounding whitespace.
    public let text: String

    // Bit i set = value i matches.
    let minutes: UInt64  // bits 0-59
    let hours: UInt64  // bits 0-23
    let daysOfMonth: UInt64  // bits 1-31
    let months: UInt64  // bits 1-12
    let daysOfWeek: UInt64  // bits 0-6, Sunday = 0
    /// The day-of-month / day-of-week field starts with `*` (Vixie's DOM_STAR / DOW_STAR).
    let dayOfMonthStar: Bool
    let dayOfWeekStar: Bool

    public init(_ text: String) throws(ScheduleError) {
        let trimmed = Self.trim(text)
        self.text = trimmed
        var body = trimmed
        if trimmed.hasPrefix("@") {
            let macro = trimmed.lowercased()
            guard let expansion = Self.macros.first(where: { $0.name == macro })?.fields else {
                if macro == "@reboot" {
                    throw ScheduleError(
                        "cron '\(trimmed)': @reboot is not supported (it runs at boot, not on a schedule)")
                }
                throw ScheduleError(
                    "cron '\(trimmed)': unknown macro '\(trimmed)' (expected one of "
                        + Self.macros.map(\.name).joined(separator: ", ") + ")")
            }
            body = expansion
        }
        let fields = body.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ScheduleError(
                "cron '\(trimmed)': expected 5 fields (minute hour day-of-month month day-of-week), "
                    + "got \(fields.count)")
        }
        let prefix = "cron '\(trimmed)': "
        minutes = try Field.minute.parse(fields[0], errorPrefix: prefix)
        hours = try Field.hour.parse(fields[1], errorPrefix: prefix)
        daysOfMonth = try Field.dayOfMonth.parse(fields[2], errorPrefix: prefix)
        months = try Field.month.parse(fields[3], errorPrefix: prefix)
        daysOfWeek = try Field.dayOfWeek.parse(fields[4], errorPrefix: prefix)
        dayOfMonthStar = fields[2].hasPrefix("*")
        dayOfWeekStar = fields[4].hasPrefix("*")
    }

    @inline(__always)
    func matchesMonth(_ month: Int) -> Bool {
        months & (1 << UInt64(month)) != 0
    }

    /// Day-of-month / day-of-week test with Vixie's OR rule (month is tested separately).
    @inline(__always)
    func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        let dom = daysOfMonth & (1 << UInt64(dayOfMonth)) != 0
        let dow = daysOfWeek & (1 << UInt64(weekday)) != 0
        return (dayOfMonthStar || dayOfWeekStar) ? (dom && dow) : (dom || dow)
    }

    private static let macros: [(name: String, fields: String)] = [
        ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ]

    private static func trim(_ s: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = s.firstIndex(where: { !isSpace($0) }),
            let last = s.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(s[first...last])
    }
}

/// One of the five fields and its rules.
private struct Field {
    let name: String
    let min: Int
    let max: Int
    /// The last value `*` and `a/n` reach (day-of-week: 6, since 7 is only an alias of 0).
    let starMax: Int
    let names: [String: Int]
    /// How names are described in errors, e.g. "month name (JAN-DEC)".
    let namesHint: String?

    static let minute = Field(name: "minute", min: 0, max: 59, starMax: 59, names: [:], namesHint: nil)
    static let hour = Field(name: "hour", min: 0, max: 23, starMax: 23, names: [:], namesHint: nil)
    static let dayOfMonth = Field(
        name: "day-of-month", min: 1, max: 31, starMax: 31, names: [:], namesHint: nil)
    static let month = Field(
        name: "month", min: 1, max: 12, starMax: 12,
        names: Dictionary(
            uniqueKeysWithValues: [
                "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP",
                "OCT", "NOV", "DEC",
            ].enumerated().map { ($1, $0 + 1) }),
        namesHint: "month name (JAN-DEC)")
    static let dayOfWeek = Field(
        name: "day-of-week", min: 0, max: 7, starMax: 6,
        names: Dictionary(
            uniqueKeysWithValues: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"].enumerated()
                .map { ($1, $0) }),
        namesHint: "day name (SUN-SAT)")

    func parse(_ token: String, errorPrefix prefix: String) throws(ScheduleError) -> UInt64 {
        var mask: UInt64 = 0
        for element in token.split(separator: ",", omittingEmptySubsequences: false) {
            guard !element.isEmpty else {
                throw ScheduleError(prefix + "\(name) list '\(token)' has an empty element")
            }
            let parts = element.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw ScheduleError(prefix + "\(name) '\(element)' has more than one '/' step")
            }
            let base = parts[0]
            guard !base.isEmpty else {
                throw ScheduleError(prefix + "\(name) '\(element)' has nothing before '/'")
            }
            var step = 1
            if parts.count == 2 {
                let s = parts[1]
                let widest = starMax - min
                guard !s.isEmpty, s.allSatisfy(\.isASCIIDigit) else {
                    throw ScheduleError(prefix + "\(name) step '\(s)' in '\(element)' is not a number")
                }
                guard let n = Int(s), n >= 1, n <= widest else {
                    throw ScheduleError(prefix + "\(name) step \(s) is out of range 1-\(widest)")
                }
                step = n
            }
            let lo: Int
            let hi: Int
            if base == "*" {
                (lo, hi) = (min, starMax)
            } else if base.contains("-") {
                let ends = base.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count == 2, !ends[0].isEmpty, !ends[1].isEmpty else {
                    throw ScheduleError(
                        prefix + "\(name) '\(element)' is not a valid range (expected start-end)")
                }
                lo = try value(ends[0], errorPrefix: prefix)
                hi = try value(ends[1], errorPrefix: prefix)
                guard lo <= hi else {
                    let hint =
                        self.name == "day-of-week" && hi == 0 ? " (Sunday at the end is 7, e.g. 5-7)" : ""
                    throw ScheduleError(
                        prefix + "\(name) range \(base) has its start after its end\(hint)")
                }
            } else {
                lo = try value(base, errorPrefix: prefix)
                hi = parts.count == 2 ? Swift.max(lo, starMax) : lo
            }
            for v in stride(from: lo, through: hi, by: step) {
                // Day-of-week 7 is Sunday, stored as 0.
                mask |= 1 << UInt64(v == 7 && name == "day-of-week" ? 0 : v)
            }
        }
        return mask
    }

    private func value(_ token: Substring, errorPrefix prefix: String) throws(ScheduleError) -> Int {
        if !token.isEmpty, token.allSatisfy(\.isASCIIDigit) {
            guard let v = Int(token), v >= min, v <= max else {
                throw ScheduleError(prefix + "\(name) \(token) is out of range \(min)-\(max)")
            }
            return v
        }
        if let v = names[token.uppercased()] {
            return v
        }
        let also = namesHint.map { " or \($0)" } ?? ""
        throw ScheduleError(prefix + "\(name) '\(token)' is not a number\(also)")
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
