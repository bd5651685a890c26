import GapwatchProtocol
import XCTest

@testable import GapwatchRules

/// Milliseconds of an RFC 3339 instant ("2026-01-22T12:00:00Z").
private func at(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> Millis {
    guard let t = TimeParsing.parseRFC3339(text) else {
        XCTFail("bad instant \(text)", file: file, line: line)
        return 0
    }
    return t
}

private let minute: Millis = 60_000
private let hour: Millis = 3_600_000

private func rule(
    lookbackDays: Int = 3, minRatio: Double = 0.9, settleMs: Millis = 10 * 60_000, dueAfterMs: Millis = 3_600_000,
    timeZone: String = "UTC", file: StaticString = #filePath, line: UInt = #line
) -> CompletenessRule {
    do {
        return try CompletenessRule(
            source: "raw_games", derived: "analytics_games", minRatio: minRatio, lookback: lookbackDays,
            settleMs: settleMs, dueAfterMs: dueAfterMs, timeZone: timeZone)
    } catch {
        XCTFail("\(error)", file: file, line: line)
        return try! CompletenessRule(source: "s", derived: "d")
    }
}

private func counts(_ pairs: [(String, Int64)], updatedAt: Millis) -> [PartitionCount] {
    pairs.map { PartitionCount(partition: $0.0, count: $0.1, updatedAt: updatedAt) }
}

final class CompletenessRuleTests: XCTestCase {
    /// Noon UTC on 2026-01-22; counts were last updated at 06:00, long settled.
    let noon = at("2026-01-22T12:00:00Z")
    let morning = at("2026-01-22T06:00:00Z")
    /// Noon the day after: the 22nd has ended (and is due since 01:00, with due_after 1h).
    let nextNoon = at("2026-01-23T12:00:00Z")

    // MARK: - The post-mortem

    func testPostMortemMissingAndIncompleteDatesMergeIntoOneBackfillRange() {
        let r = rule()
        XCTAssertEqual(r.partitions(at: noon), ["2026-01-20", "2026-01-21", "2026-01-22"])
        let source = counts([("2026-01-20", 282), ("2026-01-21", 300), ("2026-01-22", 310)], updatedAt: morning)
        let derived = counts([("2026-01-21", 255), ("2026-01-22", 310)], updatedAt: morning)
        let gaps = r.gaps(source: source, derived: derived, expected: nil, now: noon)
        XCTAssertEqual(
            gaps,
            [
                GapRange(
                    start: "2026-01-20", end: "2026-01-21", heal: .backfill,
                    partitions: [
                        PartitionGap(partition: "2026-01-20", kind: .derivedMissing, sourceCount: 282, derivedCount: nil, ratio: nil),
                        PartitionGap(partition: "2026-01-21", kind: .incomplete, sourceCount: 300, derivedCount: 255, ratio: 0.85),
                    ])
            ])
    }

    func testHealedPartitionsForVerifyingARange() {
        let r = rule()
        let range = ["2026-01-19", "2026-01-20", "2026-01-21", "2026-01-22"]
        // 01-19 has no source rows (nothing to backfill); 01-20 reached the ratio on a later
        // count; 01-21 is still at 85%; 01-22 has no derived rows.
        let source = counts([("2026-01-20", 282), ("2026-01-21", 300), ("2026-01-22", 310)], updatedAt: morning)
        let derived =
            counts([("2026-01-20", 0), ("2026-01-21", 255)], updatedAt: morning)
            + counts([("2026-01-20", 282)], updatedAt: noon)
        // Judged once every date of the range is due (the 22nd: 2026-01-23T01:00Z with due_after 1h).
        let later = at("2026-01-23T01:00:00Z")
        XCTAssertEqual(r.healed(range, heal: .backfill, source: source, derived: derived, now: later), ["2026-01-19", "2026-01-20"])
        XCTAssertEqual(r.healed(range, heal: .scrape, source: source, derived: derived, now: later), ["2026-01-20", "2026-01-21", "2026-01-22"])
        XCTAssertEqual(r.healed([], heal: .backfill, source: source, derived: derived, now: later), [])
        // A date that is not due yet is never healed: at noon on the 22nd it is still filling.
        XCTAssertEqual(r.healed(range, heal: .scrape, source: source, derived: derived, now: noon), ["2026-01-20", "2026-01-21"])
        XCTAssertEqual(r.healed(range, heal: .scrape, source: source, derived: derived, now: later - 1), ["2026-01-20", "2026-01-21"])
    }

    func testDerivedCountOfZeroIsMissingWithRatioZero() {
        let source = counts([("2026-01-22", 310)], updatedAt: morning)
        let derived = counts([("2026-01-22", 0)], updatedAt: morning)
        let gaps = rule(lookbackDays: 2).gaps(source: source, derived: derived, expected: nil, now: nextNoon)
        XCTAssertEqual(
            gaps.flatMap(\.partitions),
            [PartitionGap(partition: "2026-01-22", kind: .derivedMissing, sourceCount: 310, derivedCount: 0, ratio: 0)])
    }

    func testGapIsNotMergedAcrossAnOkDate() {
        let r = rule(lookbackDays: 5)
        let source = counts(
            [("2026-01-18", 100), ("2026-01-19", 100), ("2026-01-20", 100), ("2026-01-21", 100), ("2026-01-22", 100)],
            updatedAt: morning)
        let derived = counts([("2026-01-19", 50), ("2026-01-20", 100), ("2026-01-22", 100)], updatedAt: morning)
        let gaps = r.gaps(source: source, derived: derived, expected: nil, now: noon)
        XCTAssertEqual(gaps.map { "\($0.start)..\($0.end) \($0.heal)" }, ["2026-01-18..2026-01-19 backfill", "2026-01-21..2026-01-21 backfill"])
        XCTAssertEqual(gaps.map { $0.partitions.map(\.kind) }, [[.derivedMissing, .incomplete], [.derivedMissing]])
    }

    // MARK: - Ratio boundaries

    func testRatioExactlyAtMinRatioIsComplete() {
        let r = rule(lookbackDays: 2, minRatio: 0.9)
        let source = counts([("2026-01-22", 300)], updatedAt: morning)
        XCTAssertEqual(r.gaps(source: source, derived: counts([("2026-01-22", 270)], updatedAt: morning), expected: nil, now: nextNoon), [])
        let below = r.gaps(source: source, derived: counts([("2026-01-22", 269)], updatedAt: morning), expected: nil, now: nextNoon)
        XCTAssertEqual(below.flatMap(\.partitions).map(\.kind), [.incomplete])
        XCTAssertEqual(below.first?.partitions.first?.ratio ?? 0, 269.0 / 300.0, accuracy: 1e-12)
    }

    func testDerivedAboveSourceIsComplete() {
        let r = rule(lookbackDays: 2, minRatio: 1)
        let source = counts([("2026-01-22", 300)], updatedAt: morning)
        XCTAssertEqual(r.gaps(source: source, derived: counts([("2026-01-22", 400)], updatedAt: morning), expected: nil, now: nextNoon), [])
        // Control: with min ratio 1, one row short is a gap.
        XCTAssertEqual(
            r.gaps(source: source, derived: counts([("2026-01-22", 299)], updatedAt: morning), expected: nil, now: nextNoon).count, 1)
    }

    // MARK: - Lookback window

    func testPartitionsOlderThanTheLookbackAreIgnored() {
        let source = counts([("2026-01-19", 100), ("2026-01-20", 100)], updatedAt: morning)
        let gaps = rule(lookbackDays: 3).gaps(source: source, derived: [], expected: ["2026-01-18"], now: noon)
        XCTAssertEqual(gaps.map(\.start), ["2026-01-20"])
        let wider = rule(lookbackDays: 5).gaps(source: source, derived: [], expected: ["2026-01-18"], now: noon)
        XCTAssertEqual(wider.map { "\($0.start)..\($0.end) \($0.heal)" }, ["2026-01-18..2026-01-18 scrape", "2026-01-19..2026-01-20 backfill"])
        XCTAssertEqual(rule(lookbackDays: 1).partitions(at: noon), ["2026-01-22"])
    }

    func testTodayIsTheDateInTheRulesTimeZoneNearMidnight() {
        // 03:30Z on the 23rd is still 22:30 on the 22nd in New York.
        let now = at("2026-01-23T03:30:00Z")
        XCTAssertEqual(rule(timeZone: "UTC").partitions(at: now), ["2026-01-21", "2026-01-22", "2026-01-23"])
        XCTAssertEqual(rule(timeZone: "America/New_York").partitions(at: now), ["2026-01-20", "2026-01-21", "2026-01-22"])
        // 16:30Z on the 22nd is already 01:30 on the 23rd in Tokyo.
        XCTAssertEqual(rule(timeZone: "Asia/Tokyo").partitions(at: at("2026-01-22T16:30:00Z")), ["2026-01-21", "2026-01-22", "2026-01-23"])
        XCTAssertEqual(rule(timeZone: "Asia/Tokyo").partitions(at: at("2026-01-22T14:59:59Z")), ["2026-01-20", "2026-01-21", "2026-01-22"])

        let source = counts([("2026-01-20", 100)], updatedAt: morning)
        XCTAssertEqual(rule(timeZone: "UTC").gaps(source: source, derived: [], expected: nil, now: now), [])
        XCTAssertEqual(rule(timeZone: "America/New_York").gaps(source: source, derived: [], expected: nil, now: now).map(\.start), ["2026-01-20"])
    }

    func testLookbackAcrossMonthAndYearBoundaries() {
        XCTAssertEqual(rule(lookbackDays: 3).partitions(at: at("2026-03-01T00:00:00Z")), ["2026-02-27", "2026-02-28", "2026-03-01"])
        XCTAssertEqual(rule(lookbackDays: 3).partitions(at: at("2028-03-01T23:59:59Z")), ["2028-02-28", "2028-02-29", "2028-03-01"])
        XCTAssertEqual(rule(lookbackDays: 2).partitions(at: at("2027-01-01T00:00:00Z")), ["2026-12-31", "2027-01-01"])
    }

    // MARK: - Settle

    func testUnsettledSourceIsNotJudgedYet() {
        let r = rule(lookbackDays: 2, settleMs: 10 * minute)
        let updated = nextNoon - minute
        let source = counts([("2026-01-22", 300)], updatedAt: updated)
        XCTAssertEqual(r.gaps(source: source, derived: [], expected: nil, now: nextNoon), [])
        XCTAssertEqual(r.gaps(source: source, derived: [], expected: nil, now: updated + 10 * minute - 1), [])
        XCTAssertEqual(
            r.gaps(source: source, derived: [], expected: nil, now: updated + 10 * minute).flatMap(\.partitions).map(\.kind),
            [.derivedMissing])
        XCTAssertEqual(r.judge(source: source, derived: [], expected: nil, now: nextNoon).map(\.state), [.settling, .notDue])
    }

    func testLatestCountOfAPartitionWins() {
        let r = rule(lookbackDays: 3)
        // On the 22nd the newer source count (300) is listed first, on the 21st last; the older
        // (100) must not win either way.
        let source = [
            PartitionCount(partition: "2026-01-22", count: 300, updatedAt: morning + hour),
            PartitionCount(partition: "2026-01-22", count: 100, updatedAt: morning),
            PartitionCount(partition: "2026-01-21", count: 100, updatedAt: morning - 2 * hour),
            PartitionCount(partition: "2026-01-21", count: 300, updatedAt: morning - hour),
        ]
        let derived = counts([("2026-01-21", 100), ("2026-01-22", 100)], updatedAt: morning)
        XCTAssertEqual(
            r.gaps(source: source, derived: derived, expected: nil, now: nextNoon).flatMap(\.partitions),
            [
                PartitionGap(partition: "2026-01-21", kind: .incomplete, sourceCount: 300, derivedCount: 100, ratio: 1.0 / 3.0),
                PartitionGap(partition: "2026-01-22", kind: .incomplete, sourceCount: 300, derivedCount: 100, ratio: 1.0 / 3.0),
            ])
    }

    // MARK: - Source expectation

    func testExpectedPartitionWithoutSourceIsAScrapeRangeOnceItsDayIsOver() {
        let r = rule(settleMs: 10 * minute, dueAfterMs: 0)
        let expected: Set<String> = ["2026-01-20", "2026-01-21", "2026-01-22"]
        let source = counts([("2026-01-21", 0)], updatedAt: morning - 20 * hour)
        let derived = counts([("2026-01-20", 5)], updatedAt: morning)
        let gaps = r.gaps(source: source, derived: derived, expected: expected, now: noon)
        XCTAssertEqual(
            gaps,
            [
                GapRange(
                    start: "2026-01-20", end: "2026-01-21", heal: .scrape,
                    partitions: [
                        PartitionGap(partition: "2026-01-20", kind: .sourceMissing, sourceCount: nil, derivedCount: 5, ratio: nil),
                        PartitionGap(partition: "2026-01-21", kind: .sourceMissing, sourceCount: 0, derivedCount: nil, ratio: nil),
                    ])
            ])
        // The 22nd ends at midnight UTC; it is judged 10 minutes (settle) later.
        XCTAssertEqual(r.gaps(source: source, derived: [], expected: expected, now: at("2026-01-23T00:09:59.999Z")).map(\.end), ["2026-01-21"])
        XCTAssertEqual(r.gaps(source: source, derived: [], expected: expected, now: at("2026-01-23T00:10:00Z")).map(\.end), ["2026-01-22"])
        // With the default due_after (1h) it waits until 01:00.
        let lagged = rule(settleMs: 10 * minute)
        XCTAssertEqual(lagged.gaps(source: source, derived: [], expected: expected, now: at("2026-01-23T00:59:59.999Z")).map(\.end), ["2026-01-21"])
        XCTAssertEqual(lagged.gaps(source: source, derived: [], expected: expected, now: at("2026-01-23T01:00:00Z")).map(\.end), ["2026-01-22"])
    }

    func testSourceMissingWaitsForTheEndOfTheDayInTheRulesTimeZone() {
        // 2026-01-22 ends at 2026-01-23T05:00Z in New York (EST, UTC-5).
        let r = rule(lookbackDays: 2, settleMs: 10 * minute, dueAfterMs: 0, timeZone: "America/New_York")
        let expected: Set<String> = ["2026-01-22"]
        XCTAssertEqual(r.gaps(source: [], derived: [], expected: expected, now: at("2026-01-23T00:30:00Z")), [])
        XCTAssertEqual(r.gaps(source: [], derived: [], expected: expected, now: at("2026-01-23T05:09:59Z")), [])
        XCTAssertEqual(
            r.gaps(source: [], derived: [], expected: expected, now: at("2026-01-23T05:10:00Z")),
            [
                GapRange(
                    start: "2026-01-22", end: "2026-01-22", heal: .scrape, partitions: [PartitionGap(partition: "2026-01-22", kind: .sourceMissing)])
            ])
    }

    func testRecentZeroSourceCountIsNotJudgedYet() {
        let r = rule(lookbackDays: 2, settleMs: 10 * minute)
        let now = at("2026-01-23T06:00:00Z")  // the 22nd ended six hours ago
        let fresh = counts([("2026-01-22", 0)], updatedAt: now - minute)
        XCTAssertEqual(r.gaps(source: fresh, derived: [], expected: ["2026-01-22"], now: now), [])
        let settled = counts([("2026-01-22", 0)], updatedAt: now - 10 * minute)
        XCTAssertEqual(r.gaps(source: settled, derived: [], expected: ["2026-01-22"], now: now).map(\.heal), [.scrape])
    }

    func testZeroSourceThatIsNotExpectedIsNoGap() {
        let source = counts([("2026-01-20", 0), ("2026-01-21", 0)], updatedAt: morning)
        XCTAssertEqual(rule().gaps(source: source, derived: [], expected: nil, now: noon), [])
        XCTAssertEqual(rule().gaps(source: source, derived: [], expected: [], now: noon), [])
        XCTAssertEqual(rule().gaps(source: source, derived: [], expected: ["2026-01-21"], now: noon).map(\.start), ["2026-01-21"])
    }

    func testBackfillAndScrapeRangesAreSeparateAndSortedByDate() {
        let r = rule(lookbackDays: 4)
        let source = counts([("2026-01-19", 100), ("2026-01-21", 100)], updatedAt: morning)
        let gaps = r.gaps(source: source, derived: [], expected: ["2026-01-20"], now: noon)
        XCTAssertEqual(
            gaps.map { "\($0.start)..\($0.end) \($0.heal)" },
            ["2026-01-19..2026-01-19 backfill", "2026-01-20..2026-01-20 scrape", "2026-01-21..2026-01-21 backfill"])
    }

    // MARK: - mergeGapRanges

    func testMergeGapRangesFollowsTheCalendarAndSorts() {
        let dates = [
            "2026-02-03", "2026-02-01", "2026-01-31", "2025-12-31", "2026-01-01", "2028-02-29", "2028-03-01", "2028-02-28", "2027-02-28",
            "2027-03-01",
        ]
        let ranges = mergeGapRanges(dates.map { PartitionGap(partition: $0, kind: .incomplete) }, heal: .scrape)
        XCTAssertEqual(
            ranges.map { "\($0.start)..\($0.end)" },
            ["2025-12-31..2026-01-01", "2026-01-31..2026-02-01", "2026-02-03..2026-02-03", "2027-02-28..2027-03-01", "2028-02-28..2028-03-01"])
        XCTAssertEqual(ranges.map(\.heal), Array(repeating: .scrape, count: 5))
        XCTAssertEqual(ranges[4].partitions.map(\.partition), ["2028-02-28", "2028-02-29", "2028-03-01"])
        // Not adjacent: 2026-02-28 -> 2026-03-02 skips March 1st.
        XCTAssertEqual(
            mergeGapRanges(
                [PartitionGap(partition: "2026-02-28", kind: .incomplete), PartitionGap(partition: "2026-03-02", kind: .incomplete)], heal: .backfill
            ).count, 2)
        XCTAssertEqual(mergeGapRanges([], heal: .backfill), [])
    }

    // MARK: - Validation

    func testInitRejectsBadSettings() {
        func message(_ make: () throws(ScheduleError) -> CompletenessRule) -> String {
            do {
                _ = try make()
                return "no error"
            } catch {
                return error.message
            }
        }
        XCTAssertTrue(
            message { () throws(ScheduleError) in try CompletenessRule(source: "a", derived: "b", timeZone: "Mars/Olympus") }.contains(
                "unknown time zone 'Mars/Olympus'"))
        for bad in [0, -0.5, 1.0001, .nan] {
            let m = message { () throws(ScheduleError) in try CompletenessRule(source: "a", derived: "b", minRatio: bad) }
            XCTAssertTrue(m.contains("min_ratio must be greater than 0 and at most 1"), "\(bad): \(m)")
        }
        for bad in [0, -1, 367] {
            let m = message { () throws(ScheduleError) in try CompletenessRule(source: "a", derived: "b", lookback: bad) }
            XCTAssertTrue(m.contains("lookback must be between 1 and 366 days (got \(bad))"), m)
        }
        XCTAssertTrue(
            message { () throws(ScheduleError) in try CompletenessRule(source: "a", derived: "b", settleMs: -1) }.contains(
                "settle must not be negative"))
        XCTAssertEqual(
            message { () throws(ScheduleError) in
                try CompletenessRule(source: "a", derived: "b", minRatio: 1, lookback: 366, settleMs: 0, timeZone: "Europe/Berlin")
            }, "no error")
        XCTAssertEqual(
            message { () throws(ScheduleError) in try CompletenessRule(source: "a", derived: "b", minRatio: 0.0001, lookback: 1) }, "no error")
    }

    func testDefaults() throws {
        let r = try CompletenessRule(source: "a", derived: "b")
        XCTAssertEqual(r.minRatio, 0.9)
        XCTAssertEqual(r.lookback, 3)
        XCTAssertEqual(r.granularity, .day)
        XCTAssertEqual(r.dueAfterMs, 3_600_000)
        XCTAssertEqual(r.timeZone, "UTC")
        XCTAssertEqual(r.settleMs, 600_000)
    }

    func testChangingTheTimeZoneMovesToday() {
        var r = rule(timeZone: "UTC")
        r.timeZone = "America/Los_Angeles"
        XCTAssertEqual(r.partitions(at: at("2026-01-23T03:30:00Z")), ["2026-01-20", "2026-01-21", "2026-01-22"])
    }

    func testGapKindsEncodeAsSnakeCase() throws {
        let json = String(decoding: try JSONEncoder().encode([PartitionGapKind.derivedMissing, .incomplete, .sourceMissing]), as: UTF8.self)
        XCTAssertEqual(json, #"["derived_missing","incomplete","source_missing"]"#)
    }
    // MARK: - Due time (issue 13 §2), no rows, hourly partitions

    func testTodayStillFillingIsNotDueAndNeverAGapWhateverItsRatio() {
        // An hourly feed has delivered 17 of 24 hours of today; analytics copied what it saw so far
        // an hour ago; the feed has paused for longer than settle.
        let r = rule(lookbackDays: 2)
        let source = counts([("2026-01-21", 240), ("2026-01-22", 170)], updatedAt: at("2026-01-22T17:00:00Z"))
        let derived = counts([("2026-01-21", 240), ("2026-01-22", 0)], updatedAt: at("2026-01-22T17:00:00Z"))
        let evening = at("2026-01-22T23:59:59Z")
        XCTAssertEqual(r.gaps(source: source, derived: derived, expected: ["2026-01-22"], now: evening), [])
        let verdicts = r.judge(source: source, derived: derived, expected: nil, now: evening)
        XCTAssertEqual(verdicts.map(\.state), [.complete, .notDue])
        XCTAssertEqual(verdicts[1].dueAt, at("2026-01-23T01:00:00Z"))
        XCTAssertEqual(r.healed(["2026-01-22"], heal: .backfill, source: source, derived: source, now: evening), [], "never verified before due")
        // Due at the end of the day plus due_after: then it is judged.
        XCTAssertEqual(r.gaps(source: source, derived: derived, expected: nil, now: at("2026-01-23T00:59:59.999Z")), [])
        XCTAssertEqual(r.gaps(source: source, derived: derived, expected: nil, now: at("2026-01-23T01:00:00Z")).map(\.start), ["2026-01-22"])
    }

    func testDueAfterCountsFromTheEndOfTheDayInTheRulesTimeZone() {
        // 2026-01-22 ends at 2026-01-23T05:00Z in New York; with due_after 2h it is due at 07:00Z.
        let r = rule(lookbackDays: 2, dueAfterMs: 2 * hour, timeZone: "America/New_York")
        let source = counts([("2026-01-22", 10)], updatedAt: morning)
        XCTAssertEqual(r.judge(source: source, derived: [], expected: nil, now: at("2026-01-23T06:59:59Z")).first?.state, .notDue)
        XCTAssertEqual(r.judge(source: source, derived: [], expected: nil, now: at("2026-01-23T07:00:00Z")).first?.state, .derivedMissing)
        XCTAssertEqual(r.dueAt("2026-01-22"), at("2026-01-23T07:00:00Z"))
        XCTAssertNil(r.dueAt("2026-01-22T05"), "an hourly key is not a partition of a daily rule")
    }

    func testBothDatasetsAtZeroIsNoRowsNotCompleteAndNotAGap() {
        let r = rule(lookbackDays: 3)
        let source = counts([("2026-01-20", 0), ("2026-01-21", 0)], updatedAt: morning)
        let derived = counts([("2026-01-20", 0)], updatedAt: morning)
        let verdicts = r.judge(source: source, derived: derived, expected: nil, now: nextNoon)
        XCTAssertEqual(verdicts.map(\.partition), ["2026-01-21", "2026-01-22", "2026-01-23"])
        XCTAssertEqual(verdicts.map(\.state), [.noRows, .noRows, .notDue])
        XCTAssertEqual(r.gaps(source: source, derived: derived, expected: nil, now: nextNoon), [])
        // Expected to have source rows, the same zeros are a scrape gap.
        XCTAssertEqual(r.judge(source: source, derived: derived, expected: ["2026-01-21"], now: nextNoon).first?.state, .sourceMissing)
    }

    func testAVanishedPartitionReportedAsZeroIsADerivedGap() {
        // The derived rows of the 22nd were deleted: the probe's snapshot now says 0.
        let r = rule(lookbackDays: 2)
        let source = counts([("2026-01-22", 282)], updatedAt: morning)
        let derived = counts([("2026-01-22", 282)], updatedAt: morning) + counts([("2026-01-22", 0)], updatedAt: noon)
        XCTAssertEqual(
            r.gaps(source: source, derived: derived, expected: nil, now: nextNoon).flatMap(\.partitions),
            [PartitionGap(partition: "2026-01-22", kind: .derivedMissing, sourceCount: 282, derivedCount: 0, ratio: 0)])
    }

    func testHourlyPartitionsAreJudgedWhenTheirHourEndsPlusDueAfter() throws {
        let r = try CompletenessRule(source: "raw", derived: "agg", lookback: 4, settleMs: 0, dueAfterMs: 15 * minute, granularity: .hour)
        let now = at("2026-01-22T01:20:00Z")
        XCTAssertEqual(r.partitions(at: now), ["2026-01-21T22", "2026-01-21T23", "2026-01-22T00", "2026-01-22T01"])
        let source = counts([("2026-01-21T22", 60), ("2026-01-21T23", 60), ("2026-01-22T00", 60), ("2026-01-22T01", 20)], updatedAt: now - minute)
        let derived = counts([("2026-01-21T22", 60), ("2026-01-22T01", 0)], updatedAt: now - minute)
        let verdicts = r.judge(source: source, derived: derived, expected: nil, now: now)
        XCTAssertEqual(verdicts.map(\.state), [.complete, .derivedMissing, .derivedMissing, .notDue])
        // 23:00 and 00:00 are consecutive hours across midnight: one range.
        XCTAssertEqual(
            r.gaps(source: source, derived: derived, expected: nil, now: now).map { "\($0.start)..\($0.end)" }, ["2026-01-21T23..2026-01-22T00"])
        XCTAssertEqual(verdicts[2].dueAt, at("2026-01-22T01:15:00Z"))
        XCTAssertEqual(r.partitions(from: "2026-01-21T23", through: "2026-01-22 01:00:00"), ["2026-01-21T23", "2026-01-22T00", "2026-01-22T01"])
        XCTAssertEqual(r.healed(["2026-01-22T00", "2026-01-22T01"], heal: .backfill, source: source, derived: source, now: now), ["2026-01-22T00"])
    }

    func testHourlyPartitionsFollowTheRulesTimeZoneAcrossADaylightSavingChange() throws {
        // Berlin springs forward at 2026-03-29 02:00 local (01:00Z): local hour 02 does not exist.
        let r = try CompletenessRule(
            source: "raw", derived: "agg", lookback: 3, settleMs: 0, dueAfterMs: 0, granularity: .hour, timeZone: "Europe/Berlin")
        XCTAssertEqual(r.partitions(at: at("2026-03-29T01:30:00Z")), ["2026-03-29T01", "2026-03-29T02", "2026-03-29T03"])
        XCTAssertEqual(r.dueAt("2026-03-29T01"), at("2026-03-29T01:00:00Z"), "01:00-02:00 local ends at the jump")
        XCTAssertEqual(r.dueAt("2026-03-29T03"), at("2026-03-29T02:00:00Z"))
    }

    func testPartitionKeysOfEachGranularity() {
        XCTAssertEqual(PartitionKey.canonical("2026-01-22", .day), "2026-01-22")
        XCTAssertNil(PartitionKey.canonical("2026-02-30", .day))
        XCTAssertNil(PartitionKey.canonical("2026-01-22 13", .day))
        for key in ["2026-01-22T13", "2026-01-22 13", "2026-01-22T13:00", "2026-01-22 13:00:00"] {
            XCTAssertEqual(PartitionKey.canonical(key, .hour), "2026-01-22T13", key)
        }
        for bad in ["2026-01-22", "2026-01-22T24", "2026-01-22T13:30", "2026-01-22T13:00:01", "2026-01-22T1", "2026-01-22X13"] {
            XCTAssertNil(PartitionKey.canonical(bad, .hour), bad)
        }
        XCTAssertEqual(PartitionKey.keys(from: "2026-01-31", through: "2026-02-02", .day), ["2026-01-31", "2026-02-01", "2026-02-02"])
        XCTAssertEqual(PartitionKey.keys(from: "2026-02-02", through: "2026-01-31", .day), [])
        XCTAssertEqual(PartitionKey.keys(from: "2026-01-01", through: "2026-12-31", .day, limit: 5).count, 5)
    }
}

final class StaleItemRuleTests: XCTestCase {
    let kickoff = at("2026-01-22T19:00:00Z")
    let games = StaleItemRule(itemKind: "game", finalStatuses: ["Final", "Game Over"], deadlineMs: 4 * 3_600_000)

    func testLatestSightingWins() {
        let deadline = kickoff + 4 * hour
        let sightings = [
            // g1: listed newest-first; its latest sighting (observed later) is in progress → stale.
            ItemSighting(itemID: "g1", status: "In Progress", referenceTime: kickoff, observedAt: kickoff + 2 * hour),
            ItemSighting(itemID: "g1", status: "Final", referenceTime: kickoff, observedAt: kickoff + hour),
            // g2: listed oldest-first; final in its latest sighting → not stale.
            ItemSighting(itemID: "g2", status: "In Progress", referenceTime: kickoff, observedAt: kickoff + hour),
            ItemSighting(itemID: "g2", status: "Final", referenceTime: kickoff, observedAt: kickoff + 3 * hour),
        ]
        XCTAssertEqual(games.staleItems(sightings, now: deadline), [sightings[0]])
    }

    func testFinalStatusesIgnoreCaseSpacesAndUnderscores() {
        XCTAssertTrue(games.isFinal("final"))
        XCTAssertTrue(games.isFinal("FINAL"))
        XCTAssertTrue(games.isFinal("game_over"))
        XCTAssertTrue(games.isFinal("GameOver"))
        XCTAssertFalse(games.isFinal("finalized"))
        XCTAssertFalse(games.isFinal("In Progress"))
        let inProgressIsFinal = StaleItemRule(itemKind: "game", finalStatuses: ["In Progress"], deadlineMs: 0)
        XCTAssertTrue(inProgressIsFinal.isFinal("in_progress"))
        let sightings = [
            ItemSighting(itemID: "a", status: "final", referenceTime: kickoff, observedAt: kickoff),
            ItemSighting(itemID: "b", status: "game_over", referenceTime: kickoff, observedAt: kickoff),
            ItemSighting(itemID: "c", status: "Postponed", referenceTime: kickoff, observedAt: kickoff),
        ]
        XCTAssertEqual(games.staleItems(sightings, now: kickoff + 5 * hour).map(\.itemID), ["c"])
    }

    func testDeadlineBoundaryAndSortingById() {
        let sightings = [
            ItemSighting(itemID: "z", status: "scheduled", referenceTime: kickoff, observedAt: kickoff),
            ItemSighting(itemID: "m", status: "scheduled", referenceTime: kickoff - hour, observedAt: kickoff),
            ItemSighting(itemID: "a", status: "scheduled", referenceTime: kickoff, observedAt: kickoff),
        ]
        XCTAssertEqual(games.staleItems(sightings, now: kickoff + 4 * hour - 1).map(\.itemID), ["m"])
        XCTAssertEqual(games.staleItems(sightings, now: kickoff + 4 * hour).map(\.itemID), ["a", "m", "z"])
    }

    func testItemsWithoutReferenceTimeAreNeverStale() {
        let sightings = [ItemSighting(itemID: "tbd", status: "scheduled", referenceTime: nil, observedAt: kickoff)]
        XCTAssertEqual(games.staleItems(sightings, now: kickoff + 1_000 * hour), [])
        XCTAssertNil(games.nextDeadline(sightings, now: kickoff))
    }

    func testNextDeadlineIsTheEarliestNotYetStaleOpenItem() {
        let sightings = [
            ItemSighting(itemID: "stale", status: "scheduled", referenceTime: kickoff - 10 * hour, observedAt: kickoff),
            ItemSighting(itemID: "final", status: "Final", referenceTime: kickoff - 3 * hour, observedAt: kickoff),
            ItemSighting(itemID: "late", status: "scheduled", referenceTime: kickoff + 2 * hour, observedAt: kickoff),
            ItemSighting(itemID: "soon", status: "scheduled", referenceTime: kickoff, observedAt: kickoff),
            ItemSighting(itemID: "nil", status: "scheduled", referenceTime: nil, observedAt: kickoff),
        ]
        XCTAssertEqual(games.nextDeadline(sightings, now: kickoff), kickoff + 4 * hour)
        // At that instant "soon" is stale; next is "late".
        XCTAssertEqual(games.nextDeadline(sightings, now: kickoff + 4 * hour), kickoff + 6 * hour)
        XCTAssertNil(games.nextDeadline(sightings, now: kickoff + 6 * hour))
    }
}

final class FreshnessRuleTests: XCTestCase {
    let since = at("2026-01-22T00:00:00Z")
    let daily = FreshnessRule(dataset: "raw_games", maxAgeMs: 26 * 3_600_000)

    func testNoUpdateEverIsStaleOnceSincePlusMaxAgePassed() {
        XCTAssertFalse(daily.isStale(lastUpdate: nil, since: since, now: since + 26 * hour - 1))
        XCTAssertTrue(daily.isStale(lastUpdate: nil, since: since, now: since + 26 * hour))
        XCTAssertEqual(daily.staleAt(lastUpdate: nil, since: since), since + 26 * hour)
    }

    func testLastUpdateCountsFromItself() {
        let update = since + 10 * hour
        XCTAssertFalse(daily.isStale(lastUpdate: update, since: since, now: since + 30 * hour))
        XCTAssertFalse(daily.isStale(lastUpdate: update, since: since, now: update + 26 * hour - 1))
        XCTAssertTrue(daily.isStale(lastUpdate: update, since: since, now: update + 26 * hour))
        // An update from before watching started still counts: the data is old.
        XCTAssertTrue(daily.isStale(lastUpdate: since - 30 * hour, since: since, now: since + hour))
    }

}
