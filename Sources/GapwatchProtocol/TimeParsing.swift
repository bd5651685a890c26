/// Reads times as people and databases write them.
public enum TimeParsing {
    /// Milliseconds since the epoch from either a number of milliseconds (`1769108400000`) or
    /// RFC 3339 (`2026-01-22T19:00:00Z`, `2026-01-22T14:00:00.250-05:00`). A space may replace the
    /// `T`, seconds may be left out, and the offset may be `+00` or `+0000`, as `psql` prints
    /// `timestamptz`. A date alone (`2026-01-22`) means its midnight UTC.
    public static func parse(_ text: String) -> Millis? {
        let s = text.trimmed
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) { return Millis(s) }
        if s.utf8.count == 10 { return parseRFC3339(s + "T00:00:00Z") }
        // BigQuery prints TIMESTAMPs as `2026-01-22 19:00:00 UTC`.
        if s.hasSuffix(" UTC") { return parseRFC3339(String(s.dropLast(4)) + "Z") }
        return parseRFC3339(s)
    }

    public static func parseRFC3339(_ text: String) -> Millis? {
        guard let (ms, hadOffset) = parseDateTime(text), hadOffset else { return nil }
        return ms
    }

    /// A date and time written without a UTC offset (`2026-01-22 19:00:00`, as SQLite's
    /// `datetime()` and many warehouses print them): milliseconds since 1970-01-01T00:00 of that
    /// wall-clock time, to be placed in a time zone by the caller. nil for anything else (also
    /// for a time that has an offset).
    public static func parseNaive(_ text: String) -> Millis? {
        guard let (ms, hadOffset) = parseDateTime(text.trimmed), !hadOffset else { return nil }
        return ms
    }

    /// RFC 3339 with an optional offset: the instant (offset given) or the wall-clock time read
    /// as UTC (no offset), and whether an offset was given.
    private static func parseDateTime(_ text: String) -> (Millis, Bool)? {
        let c = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= c.count else { return nil }
            var v = 0
            for k in 0..<n {
                let d = c[i + k]
                guard d >= 0x30 && d <= 0x39 else { return nil }
                v = v * 10 + Int(d - 0x30)
            }
            i += n
            return v
        }
        func expect(_ ch: UInt8) -> Bool {
            guard i < c.count, c[i] == ch else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2) else { return nil }
        guard i < c.count, c[i] == 0x54 || c[i] == 0x74 || c[i] == 0x20 else { return nil }  // T, t or space
        i += 1
        guard let hour = digits(2), expect(0x3A), let minute = digits(2) else { return nil }
        var second = 0
        if expect(0x3A) {  // seconds may be left out: 2026-01-22T19:00Z
            guard let s = digits(2) else { return nil }
            second = s
        }
        var millis = 0
        if i < c.count, c[i] == 0x2E || c[i] == 0x2C {  // fraction
            i += 1
            var scale = 100
            var any = false
            while i < c.count, c[i] >= 0x30, c[i] <= 0x39 {
                millis += Int(c[i] - 0x30) * scale
                scale /= 10
                any = true
                i += 1
            }
            if !any { return nil }
        }
        var offsetSeconds = 0
        var hadOffset = true
        if i == c.count {
            hadOffset = false  // local time: the caller decides (RFC 3339 itself requires an offset)
        } else if c[i] == 0x5A || c[i] == 0x7A {  // Z
            i += 1
        } else if c[i] == 0x2B || c[i] == 0x2D {  // + or -
            let sign = c[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = digits(2) else { return nil }
            var om = 0
            if i < c.count {
                _ = expect(0x3A)
                guard let m = digits(2) else { return nil }
                om = m
            }
            guard oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == c.count else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
            second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return (Millis(seconds) * 1000 + Millis(millis), hadOffset)
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-01-22T19:00:00.000Z`.
    public static func format(_ ms: Millis) -> String {
        // ±273,790 years (JavaScript's Date range): far beyond any valid time, and small enough
        // that no step below can overflow, whatever a caller passes (Int64.min included).
        let ms = min(max(ms, -8_640_000_000_000_000), 8_640_000_000_000_000)
        let totalSeconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let milli = Int(ms - totalSeconds * 1000)
        var days = Int(totalSeconds / 86_400)
        var rem = Int(totalSeconds % 86_400)
        if rem < 0 {
            rem += 86_400
            days -= 1
        }
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem % 3600 / 60, 2)):\(pad(rem % 60, 2)).\(pad(milli, 3))Z"
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Year, month (1-12) and day of a day number (days since 1970-01-01), proleptic Gregorian
    /// (Howard Hinnant's algorithm).
    public static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
