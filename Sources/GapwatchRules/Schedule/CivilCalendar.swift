import GapwatchProtocol

/// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), without
/// Foundation's Calendar: the schedule search calls these in its innermost loops.
/// Algorithms from Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms".
enum CivilCalendar {
    static let secondsPerDay: Int64 = 86_400

    /// Floor division (rounds toward negative infinity, unlike `/`).
    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Year, month (1-12) and day (1-31) of a day number.
    @inline(__always)
    static func date(ofDay day: Int64) -> (year: Int64, month: Int, day: Int) {
        let (y, m, d) = TimeParsing.civilFromDays(Int(day))
        return (Int64(y), m, d)
    }

    /// Day of week of a day number: 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday).
    @inline(__always)
    static func weekday(ofDay day: Int64) -> Int {
        Int(((day % 7) + 7 + 4) % 7)
    }

    static func isLeapYear(_ y: Int64) -> Bool {
        y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
    }

    static func daysInMonth(year: Int64, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `YYYY-MM-DD` of a day number.
    static func isoDate(ofDay day: Int64) -> String {
        let (y, m, d) = date(ofDay: day)
        var year = String(y < 0 ? -y : y)
        while year.count < 4 { year = "0" + year }
        if y < 0 { year = "-" + year }
        return year + (m < 10 ? "-0" : "-") + String(m) + (d < 10 ? "-0" : "-") + String(d)
    }
}
