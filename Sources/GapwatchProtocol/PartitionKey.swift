/// How long one partition of a dataset spans: a calendar day or an hour of the rule's time zone.
public enum PartitionGranularity: String, Sendable, Codable, CaseIterable {
    /// Keys `YYYY-MM-DD`.
    case day
    /// Keys `YYYY-MM-DDTHH` (canonical); also read: a space instead of `T`, and `:00` or `:00:00`
    /// after the hour (`2026-01-22 13:00:00`), as `date_trunc('hour', …)` and `strftime` print them.
    case hour

    /// Seconds in one period (of local wall-clock time).
    public var seconds: Int64 { self == .day ? 86_400 : 3_600 }

    /// The word for one period, for messages ("3 days", "48 hours").
    public var noun: String { self == .day ? "day" : "hour" }
}

/// Partition keys ⇄ period numbers: periods since 1970-01-01T00:00 of local wall-clock time (a
/// day number for `day`, an hour number for `hour`). Keys carry no offset: they are read in the
/// rule's time zone.
public enum PartitionKey {
    /// The period a key names, or nil when it is not a key of this granularity (another format, an
    /// impossible date such as `2026-02-30`, minutes other than `:00`).
    public static func period(of key: String, _ granularity: PartitionGranularity) -> Int64? {
        let c = Array(key.utf8)
        guard c.count >= 10, let day = day(c) else { return nil }
        switch granularity {
        case .day:
            return c.count == 10 ? day : nil
        case .hour:
            // YYYY-MM-DD(T| )HH[:00[:00]]
            guard c.count == 13 || c.count == 16 || c.count == 19, c[10] == 0x54 || c[10] == 0x20,
                let hour = number(c[11], c[12]), hour < 24
            else { return nil }
            var i = 13
            while i < c.count {
                guard c[i] == 0x3A, c[i + 1] == 0x30, c[i + 2] == 0x30 else { return nil }
                i += 3
            }
            return day * 24 + hour
        }
    }

    /// The canonical key of a period: `YYYY-MM-DD` or `YYYY-MM-DDTHH`.
    public static func key(ofPeriod period: Int64, _ granularity: PartitionGranularity) -> String {
        switch granularity {
        case .day:
            return isoDate(ofDay: period)
        case .hour:
            let day = period >= 0 ? period / 24 : (period - 23) / 24
            let hour = period - day * 24
            return isoDate(ofDay: day) + (hour < 10 ? "T0" : "T") + String(hour)
        }
    }

    /// The canonical form of `key`, or nil when it is not a key of this granularity.
    public static func canonical(_ key: String, _ granularity: PartitionGranularity) -> String? {
        period(of: key, granularity).map { Self.key(ofPeriod: $0, granularity) }
    }

    /// Every key from `start` through `end` (inclusive), canonical, at most `limit`; empty when
    /// either is not a key of this granularity or the range is reversed.
    public static func keys(from start: String, through end: String, _ granularity: PartitionGranularity, limit: Int = 10_000) -> [String] {
        guard let a = period(of: start, granularity), let b = period(of: end, granularity), a <= b else { return [] }
        let last = b - a >= Int64(limit) ? a + Int64(limit) - 1 : b
        return (a...last).map { key(ofPeriod: $0, granularity) }
    }

    /// The local period of a wall-clock time (ms since 1970-01-01T00:00 local).
    public static func period(ofLocal localMs: Millis, _ granularity: PartitionGranularity) -> Int64 {
        let seconds = localMs >= 0 ? localMs / 1000 : (localMs - 999) / 1000
        let q = seconds / granularity.seconds
        return seconds % granularity.seconds != 0 && seconds < 0 ? q - 1 : q
    }

    static func isoDate(ofDay day: Int64) -> String {
        let (y, m, d) = TimeParsing.civilFromDays(Int(day))
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// The day number of a `YYYY-MM-DD` prefix (a real date), or nil.
    private static func day(_ c: [UInt8]) -> Int64? {
        guard c[4] == 0x2D, c[7] == 0x2D, let y1 = number(c[0], c[1]), let y2 = number(c[2], c[3]), let month = number(c[5], c[6]),
            let d = number(c[8], c[9])
        else { return nil }
        let year = Int(y1 * 100 + y2)
        guard (1...12).contains(month), d >= 1, d <= TimeParsing.daysIn(month: Int(month), year: year) else { return nil }
        return Int64(TimeParsing.daysFromCivil(year: year, month: Int(month), day: Int(d)))
    }

    private static func number(_ a: UInt8, _ b: UInt8) -> Int64? {
        guard a >= 0x30, a <= 0x39, b >= 0x30, b <= 0x39 else { return nil }
        return Int64(a - 0x30) * 10 + Int64(b - 0x30)
    }
}
