import Foundation
import GapwatchProtocol
import XCTest

@testable import GapwatchRules

// MARK: - Helpers

/// Milliseconds of an ISO 8601 instant: "2026-03-08T07:00:00Z" or "...T07:00:00.500Z".
private func ms(_ iso: String, file: StaticString = #filePath, line: UInt = #line) -> Millis {
    let formatter = ISO8601DateFormatter()
    if iso.contains(".") {
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    }
    guard let date = formatter.date(from: iso) else {
        XCTFail("bad ISO instant \(iso)", file: file, line: line)
        return 0
    }
    return Millis((date.timeIntervalSince1970 * 1000).rounded())
}

/// An instant as "YYYY-MM-DDTHH:MM:SSZ" (with ".mmm" if not a whole second), "nil" for nil.
private func iso(_ instant: Millis?) -> String {
    guard let instant else { return "nil" }
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    let seconds = instant >= 0 ? instant / 1000 : (instant - 999) / 1000
    let text = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    let fraction = instant - seconds * 1000
    guard fraction != 0 else { return text }
    let digits = String(fraction)
    return String(text.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
}

private func schedule(
    _ expression: String, _ zone: String, file: StaticString = #filePath, line: UInt = #line
) -> CronSchedule {
    do {
        return try CronSchedule(expression, timeZone: zone)
    } catch {
        XCTFail("\(expression) in \(zone): \(error)", file: file, line: line)
        return try! CronSchedule("* * * * *", timeZone: "UTC")
    }
}

/// The first `count` slots after `start`, by chaining `next`.
private func slots(_ s: CronSchedule, after start: String, count: Int) -> [String] {
    var result: [String] = []
    var t = ms(start)
    for _ in 0..<count {
        guard let n = s.next(after: t) else {
            result.append("nil")
            break
        }
        result.append(iso(n))
        t = n
    }
    return result
}

/// Values whose bit is set.
private func bits(_ mask: UInt64) -> [Int] {
    (0..<64).filter { mask & (1 << UInt64($0)) != 0 }
}

private func parseError(_ text: String) -> String? {
    do {
        _ = try CronExpression(text)
        return nil
    } catch {
        return error.message
    }
}

// MARK: - Parsing

final class CronParsingTests: XCTestCase {
    func testEveryElementOfTheSyntax() throws {
        XCTAssertEqual(bits(try CronExpression("* * * * *").minutes), Array(0...59))
        XCTAssertEqual(bits(try CronExpression("* * * * *").hours), Array(0...23))
        XCTAssertEqual(bits(try CronExpression("* * * * *").daysOfMonth), Array(1...31))
        XCTAssertEqual(bits(try CronExpression("* * * * *").months), Array(1...12))
        XCTAssertEqual(bits(try CronExpression("* * * * *").daysOfWeek), Array(0...6))
        XCTAssertEqual(bits(try CronExpression("5 * * * *").minutes), [5])
        XCTAssertEqual(bits(try CronExpression("1-3 * * * *").minutes), [1, 2, 3])
        XCTAssertEqual(bits(try CronExpression("*/15 * * * *").minutes), [0, 15, 30, 45])
        XCTAssertEqual(bits(try CronExpression("10-30/10 * * * *").minutes), [10, 20, 30])
        XCTAssertEqual(bits(try CronExpression("50/5 * * * *").minutes), [50, 55])
        XCTAssertEqual(bits(try CronExpression("0 */6 * * *").hours), [0, 6, 12, 18])
        XCTAssertEqual(bits(try CronExpression("1,5-7,*/30 * * * *").minutes), [0, 1, 5, 6, 7, 30])
        XCTAssertEqual(bits(try CronExpression("0 0 1,15,31 * *").daysOfMonth), [1, 15, 31])
        XCTAssertEqual(bits(try CronExpression("0 0 */10 * *").daysOfMonth), [1, 11, 21, 31])
        XCTAssertEqual(bits(try CronExpression("0 0 * 1-12/3 *").months), [1, 4, 7, 10])
    }

    func testMonthAndDayNamesInAnyCase() throws {
        XCTAssertEqual(bits(try CronExpression("0 0 * JAN,mar-May *").months), [1, 3, 4, 5])
        XCTAssertEqual(bits(try CronExpression("0 0 * Dec *").months), [12])
        XCTAssertEqual(bits(try CronExpression("0 0 * * MON-FRI").daysOfWeek), [1, 2, 3, 4, 5])
        XCTAssertEqual(bits(try CronExpression("0 0 * * sun").daysOfWeek), [0])
        XCTAssertEqual(bits(try CronExpression("0 0 * * Sat,tue").daysOfWeek), [2, 6])
        XCTAssertEqual(bits(try CronExpression("0 0 * * mon-fri/2").daysOfWeek), [1, 3, 5])
    }

    func testDayOfWeekSevenIsSunday() throws {
        XCTAssertEqual(bits(try CronExpression("0 0 * * 7").daysOfWeek), [0])
        XCTAssertEqual(bits(try CronExpression("0 0 * * 0").daysOfWeek), [0])
        XCTAssertEqual(bits(try CronExpression("0 0 * * 5-7").daysOfWeek), [0, 5, 6])
        XCTAssertEqual(bits(try CronExpression("0 0 * * 0-7").daysOfWeek), Array(0...6))
        XCTAssertEqual(bits(try CronExpression("0 0 * * */2").daysOfWeek), [0, 2, 4, 6])
        XCTAssertEqual(bits(try CronExpression("0 0 * * 1/2").daysOfWeek), [1, 3, 5])
    }

    func testMacros() throws {
        func same(_ macro: String, _ fields: String, line: UInt = #line) throws {
            let a = try CronExpression(macro)
            let b = try CronExpression(fields)
            XCTAssertEqual(a.text, macro, line: line)
            XCTAssertEqual(
                [a.minutes, a.hours, a.daysOfMonth, a.months, a.daysOfWeek],
                [b.minutes, b.hours, b.daysOfMonth, b.months, b.daysOfWeek], line: line)
            XCTAssertEqual(a.dayOfMonthStar, b.dayOfMonthStar, line: line)
            XCTAssertEqual(a.dayOfWeekStar, b.dayOfWeekStar, line: line)
        }
        try same("@hourly", "0 * * * *")
        try same("@daily", "0 0 * * *")
        try same("@midnight", "0 0 * * *")
        try same("@weekly", "0 0 * * 0")
        try same("@monthly", "0 0 1 * *")
        try same("@yearly", "0 0 1 1 *")
        try same("@annually", "0 0 1 1 *")
        try same("@DAILY", "0 0 * * *")
        let s = schedule("@weekly", "UTC")
        // 2026-01-01 is a Thursday; the next Sunday is 2026-01-04.
        XCTAssertEqual(iso(s.next(after: ms("2026-01-01T00:00:00Z"))), "2026-01-04T00:00:00Z")
    }

    func testWhitespaceAndText() throws {
        let e = try CronExpression("  0   6\t* *  1-5 \n")
        XCTAssertEqual(e.text, "0   6\t* *  1-5")
        XCTAssertEqual(bits(e.minutes), [0])
        XCTAssertEqual(bits(e.hours), [6])
        XCTAssertEqual(bits(e.daysOfWeek), [1, 2, 3, 4, 5])
        XCTAssertEqual(try CronExpression("0 6 * * *"), try CronExpression("0 6 * * *"))
        XCTAssertNotEqual(try CronExpression("0 6 * * *"), try CronExpression("0 7 * * *"))
    }

    func testStarFlagsFollowVixie() throws {
        // A field "starting with *" is unrestricted for the day-of-month/day-of-week OR rule.
        let a = try CronExpression("0 0 */2 * 1")
        XCTAssertTrue(a.dayOfMonthStar)
        XCTAssertFalse(a.dayOfWeekStar)
        let b = try CronExpression("0 0 1-31 * 0-7")
        XCTAssertFalse(b.dayOfMonthStar)
        XCTAssertFalse(b.dayOfWeekStar)
    }

    func testErrorMessages() {
        let cases: [(String, String)] = [
            ("61 * * * *", "cron '61 * * * *': minute 61 is out of range 0-59"),
            (
                "* * *",
                "cron '* * *': expected 5 fields (minute hour day-of-month month day-of-week), got 3"
            ),
            ("", "cron '': expected 5 fields (minute hour day-of-month month day-of-week), got 0"),
            (
                "0 * * * * 2026",
                "cron '0 * * * * 2026': expected 5 fields (minute hour day-of-month month day-of-week), got 6"
            ),
            ("0 24 * * *", "cron '0 24 * * *': hour 24 is out of range 0-23"),
            ("0 0 0 * *", "cron '0 0 0 * *': day-of-month 0 is out of range 1-31"),
            ("0 0 32 * *", "cron '0 0 32 * *': day-of-month 32 is out of range 1-31"),
            ("0 0 * 13 *", "cron '0 0 * 13 *': month 13 is out of range 1-12"),
            ("0 0 * 0 *", "cron '0 0 * 0 *': month 0 is out of range 1-12"),
            ("0 0 * * 8", "cron '0 0 * * 8': day-of-week 8 is out of range 0-7"),
            ("0-60 * * * *", "cron '0-60 * * * *': minute 60 is out of range 0-59"),
            (
                "99999999999999999999 * * * *",
                "cron '99999999999999999999 * * * *': minute 99999999999999999999 is out of range 0-59"
            ),
            ("x * * * *", "cron 'x * * * *': minute 'x' is not a number"),
            ("JAN * * * *", "cron 'JAN * * * *': minute 'JAN' is not a number"),
            ("0 0 ? * *", "cron '0 0 ? * *': day-of-month '?' is not a number"),
            ("0 0 * FOO *", "cron '0 0 * FOO *': month 'FOO' is not a number or month name (JAN-DEC)"),
            (
                "0 0 * * FUNDAY",
                "cron '0 0 * * FUNDAY': day-of-week 'FUNDAY' is not a number or day name (SUN-SAT)"
            ),
            ("0 0 * * JAN", "cron '0 0 * * JAN': day-of-week 'JAN' is not a number or day name (SUN-SAT)"),
            ("*/0 * * * *", "cron '*/0 * * * *': minute step 0 is out of range 1-59"),
            ("*/60 * * * *", "cron '*/60 * * * *': minute step 60 is out of range 1-59"),
            ("0 0 * * */7", "cron '0 0 * * */7': day-of-week step 7 is out of range 1-6"),
            ("*/x * * * *", "cron '*/x * * * *': minute step 'x' in '*/x' is not a number"),
            ("*/ * * * *", "cron '*/ * * * *': minute step '' in '*/' is not a number"),
            ("1,,2 * * * *", "cron '1,,2 * * * *': minute list '1,,2' has an empty element"),
            ("0 1, * * *", "cron '0 1, * * *': hour list '1,' has an empty element"),
            ("5-1 * * * *", "cron '5-1 * * * *': minute range 5-1 has its start after its end"),
            ("0 0 * DEC-JAN *", "cron '0 0 * DEC-JAN *': month range DEC-JAN has its start after its end"),
            (
                "0 0 * * SAT-SUN",
                "cron '0 0 * * SAT-SUN': day-of-week range SAT-SUN has its start after its end "
                    + "(Sunday at the end is 7, e.g. 5-7)"
            ),
            ("1-2-3 * * * *", "cron '1-2-3 * * * *': minute '1-2-3' is not a valid range (expected start-end)"),
            ("-5 * * * *", "cron '-5 * * * *': minute '-5' is not a valid range (expected start-end)"),
            ("5- * * * *", "cron '5- * * * *': minute '5-' is not a valid range (expected start-end)"),
            ("*/2/3 * * * *", "cron '*/2/3 * * * *': minute '*/2/3' has more than one '/' step"),
            ("/5 * * * *", "cron '/5 * * * *': minute '/5' has nothing before '/'"),
            ("@reboot", "cron '@reboot': @reboot is not supported (it runs at boot, not on a schedule)"),
            (
                "@fortnightly",
                "cron '@fortnightly': unknown macro '@fortnightly' (expected one of @hourly, @daily, "
                    + "@midnight, @weekly, @monthly, @yearly, @annually)"
            ),
            (
                "@daily 5",
                "cron '@daily 5': unknown macro '@daily 5' (expected one of @hourly, @daily, "
                    + "@midnight, @weekly, @monthly, @yearly, @annually)"
            ),
        ]
        for (text, message) in cases {
            XCTAssertEqual(parseError(text), message, "for \(text)")
        }
        // ScheduleError prints its message.
        XCTAssertEqual(String(describing: ScheduleError("boom")), "boom")
    }

    func testUnknownTimeZoneIsNamed() {
        for zone in ["Mars/Olympus", "", "Not/AZone"] {
            XCTAssertThrowsError(try CronSchedule("* * * * *", timeZone: zone)) { error in
                XCTAssertEqual(
                    (error as? ScheduleError)?.message,
                    "unknown time zone '\(zone)' (expected an IANA name such as 'UTC' or 'America/New_York')")
            }
        }
        XCTAssertThrowsError(try CronSchedule("61 * * * *", timeZone: "UTC")) { error in
            XCTAssertEqual(
                (error as? ScheduleError)?.message, "cron '61 * * * *': minute 61 is out of range 0-59")
        }
        let s = schedule("0 6 * * *", "Europe/Berlin")
        XCTAssertEqual(s.timeZoneID, "Europe/Berlin")
        XCTAssertEqual(s.expression.text, "0 6 * * *")
        XCTAssertEqual(s.description, "cron '0 6 * * *' in Europe/Berlin")
        XCTAssertEqual(schedule("0 6 * * *", "UTC").timeZoneID, "UTC")
    }
}

// MARK: - Evaluation

final class CronScheduleTests: XCTestCase {
    func testNextAndPreviousInUTC() {
        let s = schedule("*/5 * * * *", "UTC")
        XCTAssertEqual(iso(s.next(after: ms("2026-01-01T00:00:00Z"))), "2026-01-01T00:05:00Z")
        XCTAssertEqual(iso(s.next(after: ms("2026-01-01T00:04:59.999Z"))), "2026-01-01T00:05:00Z")
        XCTAssertEqual(iso(s.next(after: ms("2026-01-01T00:02:30.500Z"))), "2026-01-01T00:05:00Z")
        XCTAssertEqual(iso(s.next(after: ms("2026-12-31T23:58:00Z"))), "2027-01-01T00:00:00Z")
        XCTAssertEqual(iso(s.previous(atOrBefore: ms("2026-01-01T00:05:00Z"))), "2026-01-01T00:05:00Z")
        XCTAssertEqual(iso(s.previous(atOrBefore: ms("2026-01-01T00:04:59.999Z"))), "2026-01-01T00:00:00Z")
        XCTAssertEqual(iso(s.previous(atOrBefore: ms("2026-01-01T00:01:00Z"))), "2026-01-01T00:00:00Z")
        XCTAssertEqual(iso(s.previous(atOrBefore: ms("2026-01-01T00:00:00.500Z"))), "2026-01-01T00:00:00Z")
        XCTAssertEqual(iso(s.previous(atOrBefore: ms("2025-12-31T23:59:59Z"))), "2025-12-31T23:55:00Z")

        // 2026-01-02 is a Friday.
        let weekdays = schedule("0 6 * * 1-5", "UTC")
        XCTAssertEqual(iso(weekdays.next(after: ms("2026-01-02T05:59:59Z"))), "2026-01-02T06:00:00Z")
        XCTAssertEqual(iso(weekdays.next(after: ms("2026-01-02T06:00:00Z"))), "2026-01-05T06:00:00Z")
        XCTAssertEqual(
            iso(weekdays.previous(atOrBefore: ms("2026-01-04T12:00:00Z"))), "2026-01-02T06:00:00Z")
        XCTAssertEqual(
            iso(weekdays.previous(atOrBefore: ms("2026-01-05T06:00:00Z"))), "2026-01-05T06:00:00Z")

        let yearly = schedule("@yearly", "UTC")
        XCTAssertEqual(iso(yearly.next(after: ms("2026-01-01T00:00:00Z"))), "2027-01-01T00:00:00Z")
        XCTAssertEqual(iso(yearly.next(after: ms("2025-12-31T23:59:59.999Z"))), "2026-01-01T00:00:00Z")
        XCTAssertEqual(iso(yearly.previous(atOrBefore: ms("2026-12-31T23:59:59Z"))), "2026-01-01T00:00:00Z")

        let monthEnd = schedule("59 23 31 * *", "UTC")
        XCTAssertEqual(
            slots(monthEnd, after: "2026-01-31T23:59:00Z", count: 3),
            ["2026-03-31T23:59:00Z", "2026-05-31T23:59:00Z", "2026-07-31T23:59:00Z"])
        XCTAssertEqual(iso(monthEnd.previous(atOrBefore: ms("2026-03-30T00:00:00Z"))), "2026-01-31T23:59:00Z")

        let hours = schedule("15 9-17/4 * * *", "UTC")
        XCTAssertEqual(
            slots(hours, after: "2026-05-01T09:15:00Z", count: 3),
            ["2026-05-01T13:15:00Z", "2026-05-01T17:15:00Z", "2026-05-02T09:15:00Z"])
        XCTAssertEqual(iso(hours.previous(atOrBefore: ms("2026-05-02T09:14:00Z"))), "2026-05-01T17:15:00Z")

        let negative = schedule("0 0 * * *", "UTC")
        XCTAssertEqual(iso(negative.next(after: -1)), "1970-01-01T00:00:00Z")
        XCTAssertEqual(iso(negative.previous(atOrBefore: -1)), "1969-12-31T00:00:00Z")
    }

    func testNewYorkSpringForward() {
        // 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT; 02:xx does not exist.
        let daily0230 = schedule("30 2 * * *", "America/New_York")
        XCTAssertEqual(
            slots(daily0230, after: "2026-03-07T00:00:00Z", count: 3),
            ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
        XCTAssertEqual(iso(daily0230.previous(atOrBefore: ms("2026-03-08T12:00:00Z"))), "2026-03-08T07:00:00Z")
        XCTAssertEqual(iso(daily0230.previous(atOrBefore: ms("2026-03-08T06:59:59Z"))), "2026-03-07T07:30:00Z")

        let daily0130 = schedule("30 1 * * *", "America/New_York")
        XCTAssertEqual(
            slots(daily0130, after: "2026-03-07T00:00:00Z", count: 3),
            ["2026-03-07T06:30:00Z", "2026-03-08T06:30:00Z", "2026-03-09T05:30:00Z"])

        let hourly = schedule("30 * * * *", "America/New_York")
        XCTAssertEqual(
            slots(hourly, after: "2026-03-08T05:00:00Z", count: 4),
            [
                "2026-03-08T05:30:00Z",  // 00:30 EST
                "2026-03-08T06:30:00Z",  // 01:30 EST
                "2026-03-08T07:00:00Z",  // 02:30 does not exist: the transition
                "2026-03-08T07:30:00Z",  // 03:30 EDT
            ])
        XCTAssertEqual(iso(hourly.previous(atOrBefore: ms("2026-03-08T07:29:00Z"))), "2026-03-08T07:00:00Z")

        let quarter = schedule("*/15 * * * *", "America/New_York")
        XCTAssertEqual(
            slots(quarter, after: "2026-03-08T06:30:00Z", count: 4),
            [
                "2026-03-08T06:45:00Z",  // 01:45 EST
                "2026-03-08T07:00:00Z",  // 02:00-02:45 (gap) and 03:00 EDT, once
                "2026-03-08T07:15:00Z",  // 03:15 EDT
                "2026-03-08T07:30:00Z",
            ])
        XCTAssertEqual(iso(quarter.previous(atOrBefore: ms("2026-03-08T07:14:59Z"))), "2026-03-08T07:00:00Z")
        XCTAssertEqual(iso(quarter.previous(atOrBefore: ms("2026-03-08T06:59:59Z"))), "2026-03-08T06:45:00Z")
    }

    func testNewYorkFallBack() {
        // 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:xx happens twice.
        let daily0130 = schedule("30 1 * * *", "America/New_York")
        XCTAssertEqual(iso(daily0130.next(after: ms("2026-10-31T12:00:00Z"))), "2026-11-01T05:30:00Z")
        // Not the second 01:30 (06:30Z) of the same day.
        XCTAssertEqual(iso(daily0130.next(after: ms("2026-11-01T05:30:00Z"))), "2026-11-02T06:30:00Z")
        XCTAssertEqual(iso(daily0130.next(after: ms("2026-11-01T06:00:00Z"))), "2026-11-02T06:30:00Z")
        XCTAssertEqual(iso(daily0130.previous(atOrBefore: ms("2026-11-01T06:45:00Z"))), "2026-11-01T05:30:00Z")
        XCTAssertEqual(iso(daily0130.previous(atOrBefore: ms("2026-11-01T05:29:00Z"))), "2026-10-31T05:30:00Z")

        let daily0230 = schedule("30 2 * * *", "America/New_York")
        XCTAssertEqual(
            slots(daily0230, after: "2026-10-31T00:00:00Z", count: 3),
            ["2026-10-31T06:30:00Z", "2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"])

        let hourly = schedule("30 * * * *", "America/New_York")
        XCTAssertEqual(
            slots(hourly, after: "2026-11-01T04:00:00Z", count: 4),
            [
                "2026-11-01T04:30:00Z",  // 00:30 EDT
                "2026-11-01T05:30:00Z",  // 01:30 EDT (first occurrence only)
                "2026-11-01T07:30:00Z",  // 02:30 EST
                "2026-11-01T08:30:00Z",
            ])
        XCTAssertEqual(iso(hourly.next(after: ms("2026-11-01T06:30:00Z"))), "2026-11-01T07:30:00Z")
        XCTAssertEqual(iso(hourly.previous(atOrBefore: ms("2026-11-01T07:29:00Z"))), "2026-11-01T05:30:00Z")

        let quarter = schedule("*/15 * * * *", "America/New_York")
        XCTAssertEqual(
            slots(quarter, after: "2026-11-01T05:30:00Z", count: 3),
            ["2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z"])
        // During the second 01:xx (EST), the next slot is 02:00 EST.
        XCTAssertEqual(iso(quarter.next(after: ms("2026-11-01T06:10:00Z"))), "2026-11-01T07:00:00Z")
        XCTAssertEqual(iso(quarter.previous(atOrBefore: ms("2026-11-01T06:50:00Z"))), "2026-11-01T05:45:00Z")
        // At 01:10 EST (second pass) the latest slot is still 01:45 EDT, not 01:00.
        XCTAssertEqual(iso(quarter.previous(atOrBefore: ms("2026-11-01T06:10:00Z"))), "2026-11-01T05:45:00Z")
        XCTAssertEqual(iso(daily0130.previous(atOrBefore: ms("2026-11-01T06:10:00Z"))), "2026-11-01T05:30:00Z")
    }

    func testBerlin() {
        // 2026-03-29: 02:00 CET (01:00Z) -> 03:00 CEST. 2026-10-25: 03:00 CEST (01:00Z) -> 02:00 CET.
        let daily0230 = schedule("30 2 * * *", "Europe/Berlin")
        XCTAssertEqual(
            slots(daily0230, after: "2026-03-28T00:00:00Z", count: 3),
            ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
        XCTAssertEqual(
            slots(daily0230, after: "2026-10-24T00:00:00Z", count: 3),
            ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])

        let hourly = schedule("0 * * * *", "Europe/Berlin")
        XCTAssertEqual(
            slots(hourly, after: "2026-03-28T23:30:00Z", count: 3),
            ["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"])
        XCTAssertEqual(
            slots(hourly, after: "2026-10-24T23:30:00Z", count: 3),
            ["2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"])
        XCTAssertEqual(iso(hourly.previous(atOrBefore: ms("2026-10-25T01:59:00Z"))), "2026-10-25T00:00:00Z")
    }

    func testLordHoweHalfHourShift() {
        // Australia/Lord_Howe: +11 -> +10:30 at 2026-04-04T15:00Z (local 02:00 -> 01:30, so
        // 01:30-01:59 repeats) and +10:30 -> +11 at 2026-10-03T15:30Z (02:00 -> 02:30, a gap).
        let gap = schedule("15 2 * * *", "Australia/Lord_Howe")
        XCTAssertEqual(
            slots(gap, after: "2026-10-02T00:00:00Z", count: 3),
            ["2026-10-02T15:45:00Z", "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"])
        let overlap = schedule("45 1 * * *", "Australia/Lord_Howe")
        XCTAssertEqual(
            slots(overlap, after: "2026-04-03T00:00:00Z", count: 3),
            ["2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"])
        XCTAssertEqual(iso(overlap.previous(atOrBefore: ms("2026-04-04T15:20:00Z"))), "2026-04-04T14:45:00Z")
        let quarter = schedule("*/15 * * * *", "Australia/Lord_Howe")
        XCTAssertEqual(
            slots(quarter, after: "2026-10-03T15:00:00Z", count: 3),
            ["2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"])
        XCTAssertEqual(gap.localDate(of: ms("2026-10-03T15:30:00Z")), "2026-10-04")
    }

    func testDayOfMonthOrDayOfWeek() {
        // March 2026: the 1st is a Sunday; Mondays are 2, 9, 16, 23, 30.
        let either = schedule("0 0 15 * 1", "UTC")
        XCTAssertEqual(
            slots(either, after: "2026-03-08T00:00:00Z", count: 4),
            ["2026-03-09T00:00:00Z", "2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z"])
        // A field starting with * is not "restricted": both must match (odd-day Mondays).
        let both = schedule("0 0 */2 * 1", "UTC")
        XCTAssertEqual(
            slots(both, after: "2026-03-01T00:00:00Z", count: 2),
            ["2026-03-09T00:00:00Z", "2026-03-23T00:00:00Z"])
        let mondays = schedule("0 0 * * MON", "UTC")
        XCTAssertEqual(
            slots(mondays, after: "2026-03-08T00:00:00Z", count: 2),
            ["2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"])
        let fifteenth = schedule("0 0 15 * *", "UTC")
        XCTAssertEqual(
            slots(fifteenth, after: "2026-03-08T00:00:00Z", count: 2),
            ["2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z"])
        XCTAssertEqual(iso(either.previous(atOrBefore: ms("2026-03-15T23:00:00Z"))), "2026-03-15T00:00:00Z")
        XCTAssertEqual(iso(either.previous(atOrBefore: ms("2026-03-14T23:00:00Z"))), "2026-03-09T00:00:00Z")
    }

    func testFebruary29AndImpossibleDates() {
        let leap = schedule("0 0 29 2 *", "UTC")
        XCTAssertEqual(iso(leap.next(after: ms("2026-01-01T00:00:00Z"))), "2028-02-29T00:00:00Z")
        XCTAssertEqual(iso(leap.previous(atOrBefore: ms("2027-06-01T00:00:00Z"))), "2024-02-29T00:00:00Z")
        // 2100 is not a leap year: from 2097 the next February 29 is in 2104 (within 8 years).
        XCTAssertEqual(iso(leap.next(after: ms("2097-01-01T00:00:00Z"))), "2104-02-29T00:00:00Z")
        let leapNY = schedule("0 0 29 2 *", "America/New_York")
        XCTAssertEqual(iso(leapNY.next(after: ms("2026-01-01T00:00:00Z"))), "2028-02-29T05:00:00Z")

        for text in ["0 0 30 2 *", "0 0 31 4,6,9,11 *"] {
            let never = schedule(text, "Europe/Berlin")
            XCTAssertNil(never.next(after: ms("2026-01-01T00:00:00Z")), text)
            XCTAssertNil(never.previous(atOrBefore: ms("2026-01-01T00:00:00Z")), text)
        }
        XCTAssertNil(schedule("* * * * *", "UTC").next(after: .max))
        XCTAssertNil(schedule("* * * * *", "UTC").previous(atOrBefore: .min))
    }

    func testPreviousMirrorsNext() {
        let cases = [
            ("*/15 * * * *", "America/New_York"), ("30 * * * *", "America/New_York"),
            ("30 2 * * *", "America/New_York"), ("30 1 * * *", "America/New_York"),
            ("0 * * * *", "Europe/Berlin"), ("*/10 * * * *", "Australia/Lord_Howe"),
            ("0 0 15 * 1", "UTC"), ("0 6 * * 1-5", "Europe/Berlin"),
        ]
        // Every 7 minutes across both New York transitions (and Berlin/Lord Howe's, nearby).
        let windows = [
            ("2026-03-07T20:00:00Z", "2026-03-08T12:00:00Z"), ("2026-10-31T20:00:00Z", "2026-11-01T12:00:00Z"),
            ("2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"), ("2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"),
            ("2026-04-04T10:00:00Z", "2026-04-04T20:00:00Z"), ("2026-10-03T10:00:00Z", "2026-10-03T20:00:00Z"),
        ]
        var checked = 0
        for (text, zone) in cases {
            let s = schedule(text, zone)
            for (from, to) in windows {
                var t = ms(from)
                let until = ms(to)
                while t < until {
                    guard let n = s.next(after: t) else {
                        XCTFail("\(s): no slot after \(iso(t))")
                        break
                    }
                    XCTAssertGreaterThan(n, t)
                    XCTAssertEqual(s.previous(atOrBefore: n), n, "\(s) at \(iso(t))")
                    // Nothing fires in (t, n).
                    if let p = s.previous(atOrBefore: n - 1) {
                        XCTAssertLessThanOrEqual(p, t, "\(s) at \(iso(t))")
                        XCTAssertEqual(s.next(after: p), n, "\(s) at \(iso(t))")
                    }
                    checked += 1
                    t += 7 * 60_000
                }
            }
        }
        XCTAssertGreaterThan(checked, 1000)
    }

    func testAYearOfSlotsCountsEachWallClockSlotOnce() {
        // 365 days x 96 quarter hours, minus the four in the spring gap, which fire together with
        // 03:00; the repeated autumn hour is not repeated.
        let quarter = schedule("*/15 * * * *", "America/New_York")
        let start = ms("2026-01-01T04:59:59Z")  // 2025-12-31 23:59:59 EST
        let end = ms("2027-01-01T05:00:00Z")  // 2027-01-01 00:00 EST
        var forward: [Millis] = []
        var t = start
        while let n = quarter.next(after: t), n < end {
            forward.append(n)
            t = n
        }
        XCTAssertEqual(forward.count, 365 * 96 - 4)
        XCTAssertEqual(iso(forward.first), "2026-01-01T05:00:00Z")
        XCTAssertEqual(iso(forward.last), "2027-01-01T04:45:00Z")
        var backward: [Millis] = []
        t = end - 1
        while let p = quarter.previous(atOrBefore: t), p > start {
            backward.append(p)
            t = p - 1
        }
        XCTAssertEqual(backward.reversed(), forward)

        let hourly = schedule("0 * * * *", "Europe/Berlin")
        var count = 0
        t = ms("2025-12-31T22:59:59Z")  // just before 2026-01-01 00:00 CET
        let endOfYear = ms("2026-12-31T23:00:00Z")  // 2027-01-01 00:00 CET
        while let n = hourly.next(after: t), n < endOfYear {
            count += 1
            t = n
        }
        XCTAssertEqual(count, 365 * 24 - 1)
    }

    /// Cross-check the field-wise search against a minute-by-minute scan (UTC, so every
    /// wall-clock minute is an instant), using Foundation's calendar for the dates.
    func testAgreesWithMinuteByMinuteScanInUTC() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func matches(_ e: CronExpression, _ minute: Millis) -> Bool {
            let c = calendar.dateComponents(
                [.minute, .hour, .day, .month, .weekday],
                from: Date(timeIntervalSince1970: Double(minute) / 1000))
            let dom = e.daysOfMonth & (1 << UInt64(c.day!)) != 0
            let dow = e.daysOfWeek & (1 << UInt64(c.weekday! - 1)) != 0
            let day = (e.dayOfMonthStar || e.dayOfWeekStar) ? (dom && dow) : (dom || dow)
            return e.minutes & (1 << UInt64(c.minute!)) != 0 && e.hours & (1 << UInt64(c.hour!)) != 0
                && e.months & (1 << UInt64(c.month!)) != 0 && day
        }
        let expressions = ["*/7 3-5 * * *", "0 0 13 * 5", "5 4 * * SUN", "59 23 31 * *", "30 12 1-7 * 1"]
        let starts = [
            "2026-01-30T23:59:59.999Z", "2026-02-28T04:05:00Z", "2026-06-13T00:00:00Z", "2026-12-31T23:00:00Z",
        ]
        for text in expressions {
            let s = schedule(text, "UTC")
            for start in starts {
                let after = ms(start)
                var minute = (after / 60_000 + 1) * 60_000
                while !matches(s.expression, minute) { minute += 60_000 }
                XCTAssertEqual(iso(s.next(after: after)), iso(minute), "\(text) after \(start)")
                var back = after / 60_000 * 60_000
                while !matches(s.expression, back) { back -= 60_000 }
                XCTAssertEqual(iso(s.previous(atOrBefore: after)), iso(back), "\(text) at or before \(start)")
            }
        }
    }

    func testLocalDateNearMidnight() {
        let ny = schedule("0 0 * * *", "America/New_York")
        XCTAssertEqual(ny.localDate(of: ms("2026-01-02T04:59:59.999Z")), "2026-01-01")
        XCTAssertEqual(ny.localDate(of: ms("2026-01-02T05:00:00Z")), "2026-01-02")
        XCTAssertEqual(ny.localDate(of: ms("2026-07-01T03:59:59Z")), "2026-06-30")
        XCTAssertEqual(ny.localDate(of: ms("2026-07-01T04:00:00Z")), "2026-07-01")
        // Both passes of the repeated hour are on 2026-11-01.
        XCTAssertEqual(ny.localDate(of: ms("2026-11-01T06:30:00Z")), "2026-11-01")
        let kolkata = schedule("0 0 * * *", "Asia/Kolkata")  // +05:30
        XCTAssertEqual(kolkata.localDate(of: ms("2026-01-01T18:29:59Z")), "2026-01-01")
        XCTAssertEqual(kolkata.localDate(of: ms("2026-01-01T18:30:00Z")), "2026-01-02")
        let utc = schedule("0 0 * * *", "UTC")
        XCTAssertEqual(utc.localDate(of: -1), "1969-12-31")
        XCTAssertEqual(utc.localDate(of: 0), "1970-01-01")
        XCTAssertEqual(utc.localDate(of: ms("2028-02-29T23:59:59Z")), "2028-02-29")
    }

    /// Not an assertion: prints the average cost of `next` (target: under 20 µs).
    func testNextPerformance() {
        for (text, zone) in [("*/5 * * * *", "America/New_York"), ("0 6 * * 1-5", "America/New_York")] {
            let s = schedule(text, zone)
            let n = 20_000
            var t = ms("2026-01-01T00:00:00Z")
            let started = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<n {
                guard let next = s.next(after: t) else { break }
                t = next
            }
            let elapsed = DispatchTime.now().uptimeNanoseconds - started
            XCTAssertGreaterThan(t, ms("2026-02-01T00:00:00Z"))
            print("next() for '\(text)' in \(zone): \(Double(elapsed) / Double(n) / 1000) µs per call")
        }
    }
}

// MARK: - Run windows and expectations

final class RunWindowScheduleTests: XCTestCase {
    func testWindowsOverSpringForward() {
        let w = RunWindowSchedule(opens: schedule("30 2 * * *", "America/New_York"), durationMs: 3_600_000)
        let windows = w.windowsClosing(after: ms("2026-03-06T12:00:00Z"), through: ms("2026-03-10T07:30:00Z"))
        XCTAssertEqual(
            windows,
            [
                RunWindow(start: ms("2026-03-07T07:30:00Z"), end: ms("2026-03-07T08:30:00Z"), partition: "2026-03-07"),
                RunWindow(start: ms("2026-03-08T07:00:00Z"), end: ms("2026-03-08T08:00:00Z"), partition: "2026-03-08"),
                RunWindow(start: ms("2026-03-09T06:30:00Z"), end: ms("2026-03-09T07:30:00Z"), partition: "2026-03-09"),
                RunWindow(start: ms("2026-03-10T06:30:00Z"), end: ms("2026-03-10T07:30:00Z"), partition: "2026-03-10"),
            ])
        // `after` is exclusive, `through` inclusive.
        let later = w.windowsClosing(after: ms("2026-03-07T08:30:00Z"), through: ms("2026-03-10T07:29:59Z"))
        XCTAssertEqual(later.map(\.partition), ["2026-03-08", "2026-03-09"])
        // Oldest first, at most `limit`.
        let limited = w.windowsClosing(after: ms("2026-03-06T12:00:00Z"), through: ms("2026-04-01T00:00:00Z"), limit: 2)
        XCTAssertEqual(limited.map(\.partition), ["2026-03-07", "2026-03-08"])
        XCTAssertEqual(w.windowsClosing(after: ms("2026-03-08T00:00:00Z"), through: ms("2026-03-07T00:00:00Z")), [])
        // A window still open at `after` is included once it closes.
        XCTAssertEqual(iso(w.nextClose(after: ms("2026-03-08T07:30:00Z"))), "2026-03-08T08:00:00Z")
        XCTAssertEqual(iso(w.nextClose(after: ms("2026-03-08T08:00:00Z"))), "2026-03-09T07:30:00Z")
        XCTAssertEqual(iso(w.nextClose(after: ms("2026-03-07T23:00:00Z"))), "2026-03-08T08:00:00Z")
    }

    func testWindowsOverFallBackAndAcrossMidnight() {
        let w = RunWindowSchedule(opens: schedule("0 1 * * *", "America/New_York"), durationMs: 90 * 60_000)
        let windows = w.windowsClosing(after: ms("2026-10-31T12:00:00Z"), through: ms("2026-11-02T12:00:00Z"))
        XCTAssertEqual(
            windows,
            [
                RunWindow(start: ms("2026-11-01T05:00:00Z"), end: ms("2026-11-01T06:30:00Z"), partition: "2026-11-01"),
                RunWindow(start: ms("2026-11-02T06:00:00Z"), end: ms("2026-11-02T07:30:00Z"), partition: "2026-11-02"),
            ])
        // The partition is the local date of the start, even when the window ends the next day.
        let late = RunWindowSchedule(opens: schedule("0 23 * * *", "Europe/Berlin"), durationMs: 2 * 3_600_000)
        let one = late.windowsClosing(after: ms("2026-06-01T00:00:00Z"), through: ms("2026-06-02T00:00:00Z"))
        XCTAssertEqual(
            one, [RunWindow(start: ms("2026-06-01T21:00:00Z"), end: ms("2026-06-01T23:00:00Z"), partition: "2026-06-01")])
        XCTAssertEqual(RunWindowSchedule(opens: late.opens, durationMs: -5).durationMs, 0)
    }

    func testRunWindowCodable() throws {
        let window = RunWindow(start: 1, end: 2, partition: "2026-01-01")
        let data = try JSONEncoder().encode(window)
        XCTAssertEqual(try JSONDecoder().decode(RunWindow.self, from: data), window)
    }

    func testExpectationNextDue() {
        let every = Expectation.every(60_000)
        XCTAssertEqual(every.nextDue(after: ms("2026-01-01T00:00:00Z")), ms("2026-01-01T00:01:00Z"))
        XCTAssertNil(Expectation.every(0).nextDue(after: 0))
        XCTAssertNil(Expectation.every(-1).nextDue(after: 0))
        XCTAssertNil(Expectation.every(.max).nextDue(after: 1))
        let cron = Expectation.cron(schedule("30 2 * * *", "America/New_York"))
        XCTAssertEqual(iso(cron.nextDue(after: ms("2026-03-07T12:00:00Z"))), "2026-03-08T07:00:00Z")
        XCTAssertEqual(iso(cron.nextDue(after: ms("2026-03-08T07:00:00Z"))), "2026-03-09T06:30:00Z")
        XCTAssertNil(Expectation.cron(schedule("0 0 30 2 *", "UTC")).nextDue(after: 0))
    }
}
