import Foundation
import GapwatchProtocol

/// A cron expression evaluated in an IANA time zone (`"UTC"`, `"America/New_York"`, ...).
///
/// Slots are local wall-clock times in the zone. Each matching local date and time is one slot
/// and fires at most once, at one instant:
///
/// - **Normal times** fire at the one instant that shows that wall-clock time.
/// - **Times that do not exist** (the gap when clocks spring forward, e.g. 02:30 on 2026-03-08 in
///   America/New_York, where 02:00 EST jumps to 03:00 EDT) fire once, at the instant of the
///   transition (07:00Z, shown as 03:00 EDT). Several slots in the same gap (`*/15 * * * *` at
///   02:00, 02:15, 02:30, 02:45) all fall on that same instant and so fire once together; a slot
///   at the first time after the gap (03:00) falls on it as well.
/// - **Times that occur twice** (the overlap when clocks fall back, e.g. 01:30 on 2026-11-01 in
///   America/New_York) fire once, at the FIRST occurrence (01:30 EDT = 05:30Z); the second
///   occurrence (01:30 EST = 06:30Z) is not a slot. For hourly-style schedules this means the
///   repeated hour is not repeated: `30 * * * *` fires at 00:30 EDT, 01:30 EDT, then 02:30 EST
///   (04:30Z, 05:30Z, 07:30Z) — two hours apart in real time.
///
/// In other words, slots are mapped to instants by a non-decreasing function of wall-clock time,
/// so slots never fire out of order and `next`/`previous` are mirror images:
/// `previous(atOrBefore: next(after: t)!) == next(after: t)`.
///
/// All offset changes of the zone are handled the same way, not only daylight saving time
/// (e.g. a zone that moves its standard offset, or the 30-minute shift of Australia/Lord_Howe).
/// Times are whole minutes; instants are milliseconds since 1970 UTC (`Millis`).
/// Pure: `next`/`previous` read no clock, only their arguments and the zone's rules.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    public let expression: CronExpression
    /// The zone name as given to `init` (e.g. `"UTC"`, `"Europe/Berlin"`).
    public let timeZoneID: String
    let timeZone: TimeZone

    /// Search horizon of `next`/`previous`: 8 years of local days (366 days each, so at least 8
    /// calendar years — enough to reach the next February 29 even across 2100).
    static let horizonDays: Int64 = 8 * 366
    /// Instants are limited to years 1-9999.
    static let minSecond: Int64 = -62_135_596_800  // 0001-01-01T00:00:00Z
    static let maxSecond: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z

    /// `timeZone` is an IANA zone name (`"UTC"` is allowed); an unknown zone is an error naming it.
    public init(_ expression: String, timeZone: String) throws(ScheduleError) {
        try self.init(expression: try CronExpression(expression), timeZone: timeZone)
    }

    public init(expression: CronExpression, timeZone zoneID: String) throws(ScheduleError) {
        guard !zoneID.isEmpty, let zone = TimeZone(identifier: zoneID) else {
            throw ScheduleError(
                "unknown time zone '\(zoneID)' (expected an IANA name such as 'UTC' or 'America/New_York')")
        }
        self.expression = expression
        self.timeZoneID = zoneID
        self.timeZone = zone
    }

    public static func == (a: CronSchedule, b: CronSchedule) -> Bool {
        a.expression == b.expression && a.timeZoneID == b.timeZoneID
    }

    public var description: String { "cron '\(expression.text)' in \(timeZoneID)" }

    /// The first slot strictly after `after`. nil only if none exists within 8 years
    /// (e.g. `0 0 30 2 *`), or past the year 9999.
    ///
    /// A slot whose wall-clock time occurs twice is only its first occurrence, so `next` never
    /// returns the second occurrence of a time it (or an earlier call) already returned.
    public func next(after: Millis) -> Millis? {
        var a = CivilCalendar.floorDiv(after, 1000)  // slot > after  <=>  slot seconds > a
        guard a < Self.maxSecond else { return nil }
        a = Swift.max(a, Self.minSecond - 1)
        // No slot before the wall-clock time at `after` can map to an instant after it
        // (the mapping is non-decreasing); later ones that still map to <= after are skipped.
        let startLocal = a + offset(at: a)
        let startDay = CivilCalendar.floorDiv(startLocal, CivilCalendar.secondsPerDay)
        let secondOfDay = Int(startLocal - startDay * CivilCalendar.secondsPerDay)
        let startHour = secondOfDay / 3600
        let startMinute = secondOfDay % 3600 / 60
        let lastDay = startDay + Self.horizonDays
        let e = expression
        var day = startDay
        while day <= lastDay {
            let (year, month, dom) = CivilCalendar.date(ofDay: day)
            guard e.matchesMonth(month) else {
                day += Int64(CivilCalendar.daysInMonth(year: year, month: month) - dom + 1)
                continue
            }
            if e.matchesDay(dayOfMonth: dom, weekday: CivilCalendar.weekday(ofDay: day)) {
                let first = day == startDay
                var hours = first ? e.hours & (~0 << UInt64(startHour)) : e.hours
                while hours != 0 {
                    let h = hours.trailingZeroBitCount
                    hours &= hours &- 1
                    var minutes =
                        first && h == startHour ? e.minutes & (~0 << UInt64(startMinute)) : e.minutes
                    while minutes != 0 {
                        let m = minutes.trailingZeroBitCount
                        minutes &= minutes &- 1
                        let local = day * CivilCalendar.secondsPerDay + Int64(h * 3600 + m * 60)
                        let t = instant(ofLocal: local)
                        if t > a {
                            return t > Self.maxSecond ? nil : t * 1000
                        }
                    }
                }
            }
            day += 1
        }
        return nil
    }

    /// The last slot at or before `atOrBefore` (searching back at most 8 years), nil if none.
    /// Uses the same slot-to-instant mapping as `next`, so
    /// `previous(atOrBefore: next(after: t)!) == next(after: t)`.
    public func previous(atOrBefore: Millis) -> Millis? {
        var b = CivilCalendar.floorDiv(atOrBefore, 1000)  // slot <= atOrBefore  <=>  seconds <= b
        guard b >= Self.minSecond else { return nil }
        b = Swift.min(b, Self.maxSecond)
        // During the repeated hour after a fall-back, the latest wall-clock time already shown
        // (the first pass) is later than the current one; start from the larger offset.
        let startLocal = b + Swift.max(offset(at: b), offset(at: b - CivilCalendar.secondsPerDay))
        let startDay = CivilCalendar.floorDiv(startLocal, CivilCalendar.secondsPerDay)
        let secondOfDay = Int(startLocal - startDay * CivilCalendar.secondsPerDay)
        let startHour = secondOfDay / 3600
        let startMinute = secondOfDay % 3600 / 60
        let lastDay = startDay - Self.horizonDays
        let e = expression
        var day = startDay
        while day >= lastDay {
            let (_, month, dom) = CivilCalendar.date(ofDay: day)
            guard e.matchesMonth(month) else {
                day -= Int64(dom)  // the last day of the previous month
                continue
            }
            if e.matchesDay(dayOfMonth: dom, weekday: CivilCalendar.weekday(ofDay: day)) {
                let first = day == startDay
                var hours = first ? e.hours & ((1 << UInt64(startHour + 1)) &- 1) : e.hours
                while hours != 0 {
                    let h = 63 - hours.leadingZeroBitCount
                    hours &= ~(1 << UInt64(h))
                    var minutes =
                        first && h == startHour
                        ? e.minutes & ((1 << UInt64(startMinute + 1)) &- 1) : e.minutes
                    while minutes != 0 {
                        let m = 63 - minutes.leadingZeroBitCount
                        minutes &= ~(1 << UInt64(m))
                        let local = day * CivilCalendar.secondsPerDay + Int64(h * 3600 + m * 60)
                        let t = instant(ofLocal: local)
                        if t <= b {
                            return t < Self.minSecond ? nil : t * 1000
                        }
                    }
                }
            }
            day -= 1
        }
        return nil
    }

    /// The calendar date (`YYYY-MM-DD`) of an instant in this schedule's zone (used as a
    /// partition key). During a repeated hour both passes give the same date, as they show it.
    public func localDate(of instant: Millis) -> String {
        let s = CivilCalendar.floorDiv(instant, 1000)
        let local = s + offset(at: s)
        return CivilCalendar.isoDate(ofDay: CivilCalendar.floorDiv(local, CivilCalendar.secondsPerDay))
    }

    // MARK: - Wall-clock time to instant

    /// Offset from UTC, in seconds, at instant `t` (seconds since 1970).
    @inline(__always)
    func offset(at t: Int64) -> Int64 {
        Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))))
    }

    /// The instant (seconds) at which the wall-clock time `local` (seconds since 1970-01-01T00:00
    /// local) fires: the unique instant showing it; the first of two (overlap); or the instant of
    /// the transition that skips it (gap). Non-decreasing in `local`.
    func instant(ofLocal local: Int64) -> Int64 {
        // Any instant showing `local` lies within a day of it (offsets are within ±15 h).
        let before = offset(at: local - CivilCalendar.secondsPerDay)
        let after = offset(at: local + CivilCalendar.secondsPerDay)
        if before == after {
            let t = local - before
            if offset(at: t) == before { return t }
        }
        return instantNearTransition(ofLocal: local)
    }

    /// The slow path of `instant(ofLocal:)`: the zone's offset changes near `local`.
    private func instantNearTransition(ofLocal local: Int64) -> Int64 {
        let lo = local - CivilCalendar.secondsPerDay
        let hi = local + CivilCalendar.secondsPerDay
        // Intervals of constant offset covering [lo, hi]: starts[i] ..< starts[i + 1].
        var starts = [lo]
        var offsets = [offset(at: lo)]
        var cursor = lo
        while let date = timeZone.nextDaylightSavingTimeTransition(
            after: Date(timeIntervalSince1970: Double(cursor)))
        {
            let t = Int64(date.timeIntervalSince1970.rounded(.down))
            guard t > cursor, t <= hi else { break }
            let o = offset(at: t)
            if o != offsets[offsets.count - 1] {
                starts.append(t)
                offsets.append(o)
            }
            cursor = t
        }
        // If the transition API missed a change, find it by bisection (one change assumed).
        let atHi = offset(at: hi)
        if atHi != offsets[offsets.count - 1] {
            var good = starts[starts.count - 1]  // offset(good) == last known offset
            var bad = hi  // offset(bad) differs
            let known = offsets[offsets.count - 1]
            while bad - good > 1 {
                let mid = good + (bad - good) / 2
                if offset(at: mid) == known { good = mid } else { bad = mid }
            }
            starts.append(bad)
            offsets.append(offset(at: bad))
        }
        // Occurrences: t = local - offset, valid if it lies in its offset's interval. Take the first.
        var first: Int64?
        for i in starts.indices {
            let t = local - offsets[i]
            let end = i + 1 < starts.count ? starts[i + 1] : hi + 1
            if t >= starts[i], t < end, t < (first ?? .max) { first = t }
        }
        if let first { return first }
        // No occurrence: `local` lies in the gap [T + old offset, T + new offset) of a transition T.
        for i in starts.indices.dropFirst()
        where starts[i] + offsets[i - 1] <= local && local < starts[i] + offsets[i] {
            return starts[i]
        }
        return local - offsets[0]  // unreachable for consistent zone data
    }
}
