import GapwatchProtocol
import XCTest

@testable import GapwatchRules

final class HeartbeatRuleTests: XCTestCase {
    let t0: Millis = 1_800_000_000_000  // 2027-01-15T08:00:00Z
    let hourly = HeartbeatRule(expectation: .every(3_600_000), graceMs: 300_000)

    func testNewCheckIsDueOnePeriodAfterCreationAndGoesDownWithoutPing() {
        let facts = HeartbeatFacts(since: t0)
        let before = hourly.evaluate(current: .new, facts: facts, now: t0 + 3_600_000 + 299_999)
        XCTAssertEqual(before.state, .new)
        XCTAssertTrue(before.late)
        XCTAssertEqual(before.nextEvaluation, t0 + 3_900_000)
        let after = hourly.evaluate(current: .new, facts: facts, now: t0 + 3_900_000)
        XCTAssertEqual(after.state, .down)
        XCTAssertNil(after.nextEvaluation)
        XCTAssertTrue(after.reason.contains("no ping since the check was created"), after.reason)
        XCTAssertTrue(after.reason.contains("every 1h + 5m grace"), after.reason)
    }

    func testEveryPlusGrace() {
        let facts = HeartbeatFacts(since: t0, lastPingAt: t0 + 10_000)
        let onTime = hourly.evaluate(current: .up, facts: facts, now: t0 + 10_000 + 3_599_999)
        XCTAssertEqual(onTime.state, .up)
        XCTAssertFalse(onTime.late)
        let late = hourly.evaluate(current: .up, facts: facts, now: t0 + 10_000 + 3_600_000)
        XCTAssertEqual(late.state, .up)
        XCTAssertTrue(late.late)
        XCTAssertEqual(late.dueAt, t0 + 10_000 + 3_600_000)
        let down = hourly.evaluate(current: .up, facts: facts, now: t0 + 10_000 + 3_900_000)
        XCTAssertEqual(down.state, .down)
        XCTAssertTrue(down.reason.contains("no ping since 2027-01-15T08:00:10"), down.reason)
    }

    func testPingAfterDownBringsItUp() {
        let facts = HeartbeatFacts(since: t0, lastPingAt: t0 + 4_000_000)
        let v = hourly.evaluate(current: .down, facts: facts, now: t0 + 4_000_001)
        XCTAssertEqual(v.state, .up)
        XCTAssertEqual(v.nextEvaluation, t0 + 4_000_000 + 3_900_000)
    }

    func testFailIsDownAtOnceAndALaterOkClearsIt() {
        var facts = HeartbeatFacts(since: t0, lastPingAt: t0 + 1_000, lastFailAt: t0 + 2_000, lastFailReason: "exit code 3: boom")
        let down = hourly.evaluate(current: .up, facts: facts, now: t0 + 2_001)
        XCTAssertEqual(down.state, .down)
        XCTAssertTrue(down.reason.contains("exit code 3: boom"), down.reason)
        facts.lastPingAt = t0 + 3_000
        XCTAssertEqual(hourly.evaluate(current: .down, facts: facts, now: t0 + 3_001).state, .up)
    }

    func testStartThenOkMeasuresDuration() {
        XCTAssertEqual(runDuration(startAt: t0, okAt: t0 + 42_000, reportedMs: nil), 42_000)
        XCTAssertEqual(runDuration(startAt: t0, okAt: t0 + 42_000, reportedMs: 40_000), 40_000)
        XCTAssertNil(runDuration(startAt: t0 + 50_000, okAt: t0 + 42_000, reportedMs: nil))
        XCTAssertNil(runDuration(startAt: nil, okAt: t0, reportedMs: nil))
    }

    func testPausedStaysPausedWithNothingDue() {
        let v = hourly.evaluate(current: .paused, facts: HeartbeatFacts(since: t0), now: t0 + 86_400_000)
        XCTAssertEqual(v.state, .paused)
        XCTAssertNil(v.nextEvaluation)
    }

    func testCollectorStartHoldOff() {
        // The collector was down; it starts long after the deadline. Within start + grace the
        // check stays up (agents are draining spools); after it, it goes down.
        let facts = HeartbeatFacts(since: t0, lastPingAt: t0)
        let start = t0 + 10_000_000
        let held = hourly.evaluate(current: .up, facts: facts, now: start + 1_000, holdOffUntil: start + 300_000)
        XCTAssertEqual(held.state, .up)
        XCTAssertEqual(held.nextEvaluation, start + 300_000)
        XCTAssertEqual(hourly.evaluate(current: .up, facts: facts, now: start + 300_000, holdOffUntil: start + 300_000).state, .down)
        // A check already down stays down during the hold-off.
        XCTAssertEqual(hourly.evaluate(current: .down, facts: facts, now: start + 1_000, holdOffUntil: start + 300_000).state, .down)
    }

    func testLateSpoolDataIsJudgedByObservedTime() {
        // A ping observed in time but delivered after the deadline (it sat in the agent's spool)
        // means the check was never late: it is up, and due one period after it was observed.
        let facts = HeartbeatFacts(since: t0, lastPingAt: t0 + 3_500_000)
        let v = hourly.evaluate(current: .down, facts: facts, now: t0 + 4_000_000)
        XCTAssertEqual(v.state, .up)
        XCTAssertEqual(v.nextEvaluation, t0 + 3_500_000 + 3_900_000)
    }

    func testCronExpectationAcrossDST() throws {
        // Daily 02:30 in New York; on 2026-03-08 02:30 does not exist (clocks jump 02:00 -> 03:00).
        let schedule = try CronSchedule("30 2 * * *", timeZone: "America/New_York")
        let rule = HeartbeatRule(expectation: .cron(schedule), graceMs: 600_000)
        let lastPing = TimeParsing.parse("2026-03-07T07:31:00Z")!  // 02:31 EST on the 7th
        let facts = HeartbeatFacts(since: lastPing, lastPingAt: lastPing)
        let v = rule.evaluate(current: .up, facts: facts, now: lastPing + 60_000)
        let due = try XCTUnwrap(v.dueAt)
        // Due at the transition (07:00Z = 03:00 EDT), a day after the previous run — not 25h later.
        XCTAssertEqual(TimeParsing.format(due), "2026-03-08T07:00:00.000Z")
        XCTAssertEqual(v.nextEvaluation, due + 600_000)
        XCTAssertEqual(rule.evaluate(current: .up, facts: facts, now: due + 600_000).state, .down)
        XCTAssertTrue(rule.evaluate(current: .up, facts: facts, now: due + 600_000).reason.contains("cron '30 2 * * *' (America/New_York)"))
    }
}

final class RunExpectationRuleTests: XCTestCase {
    let window = RunWindow(start: 1_800_000_000_000, end: 1_800_000_000_000 + 6 * 3_600_000, partition: "2027-01-15")

    func rule(condition: PartitionCondition? = nil) throws -> RunExpectationRule {
        RunExpectationRule(
            workflow: "post_game_window_2",
            windows: RunWindowSchedule(opens: try CronSchedule("0 8 * * *", timeZone: "UTC"), durationMs: 6 * 3_600_000),
            graceMs: 600_000, condition: condition)
    }

    func testRunInsideTheWindowIsOK() throws {
        let decisions = [
            DecisionSighting(observedAt: window.start + 1000, decision: .skip, reason: "games not finished"),
            DecisionSighting(observedAt: window.start + 7_200_000, decision: .run, reason: nil),
        ]
        XCTAssertEqual(try rule().judge(window, decisions: decisions, partitionCount: nil), .ran(at: window.start + 7_200_000))
    }

    func testOnlySkipsIsAGapNamingTheWindowAndReasons() throws {
        let decisions =
            (0..<3).map { DecisionSighting(observedAt: window.start + Millis($0) * 3_600_000, decision: .skip, reason: "3 games still In Progress") }
            + [DecisionSighting(observedAt: window.end, decision: .run, reason: nil)]  // at the end: outside [start, end)
        guard case .gap(let reason) = try rule().judge(window, decisions: decisions, partitionCount: nil) else { return XCTFail("expected a gap") }
        XCTAssertTrue(reason.contains("window 2027-01-15T08:00:00.000Z to 2027-01-15T14:00:00.000Z (2027-01-15) closed with no RUN"), reason)
        XCTAssertTrue(reason.contains("SKIP (3 games still In Progress) ×3"), reason)
    }

    func testNoDecisionsAtAllIsAGap() throws {
        guard case .gap(let reason) = try rule().judge(window, decisions: [], partitionCount: nil) else { return XCTFail("expected a gap") }
        XCTAssertTrue(reason.hasSuffix("no decisions were seen in it"), reason)
    }

    func testPartitionConditionDecidesWhetherARunWasExpected() throws {
        let r = try rule(condition: PartitionCondition(dataset: "nba_raw.nbac_schedule"))
        XCTAssertEqual(
            try r.judge(window, decisions: [], partitionCount: nil),
            .notExpected(reason: "nba_raw.nbac_schedule has no rows for 2027-01-15 (needs 1)"))
        XCTAssertEqual(
            try r.judge(window, decisions: [], partitionCount: 0),
            .notExpected(reason: "nba_raw.nbac_schedule has 0 rows for 2027-01-15 (needs 1)"))
        guard case .gap = try r.judge(window, decisions: [], partitionCount: 9) else { return XCTFail("games scheduled: a gap") }
    }
}

final class NotificationDecisionTests: XCTestCase {
    let now: Millis = 1_800_000_000_000

    func silence(rule: String? = nil, subject: String? = nil, labels: [String: String] = [:], from: Millis = 0, to: Millis = .max) -> Silence {
        Silence(id: 7, rule: rule, subject: subject, labels: labels, startsAt: from, endsAt: to, comment: "maintenance")
    }

    func decide(
        event: String = "opened", feederAgent: String? = nil, feeder: FeederState = .unknown, notified: Bool = false, silences: [Silence] = []
    ) -> NotificationDecision {
        decideNotification(
            event: event, rule: "heartbeat", subject: "check:nightly-export", labels: ["env": "prod", "team": "data"],
            feederAgent: feederAgent, feeder: feeder, openingNotified: notified, silences: silences, now: now)
    }

    func testPlainOpeningIsSent() {
        XCTAssertEqual(decide(), .send)
        XCTAssertEqual(decide(feederAgent: "host-1", feeder: .up), .send)
    }

    func testSilencesMatchByRuleSubjectGlobAndLabelsWithinTheirTimeRange() {
        XCTAssertEqual(decide(silences: [silence(rule: "heartbeat")]), .silenced(silenceID: 7))
        XCTAssertEqual(decide(silences: [silence(subject: "check:nightly-*")]), .silenced(silenceID: 7))
        XCTAssertEqual(decide(silences: [silence(labels: ["env": "prod"])]), .silenced(silenceID: 7))
        XCTAssertEqual(decide(silences: [silence(rule: "liveness")]), .send)
        XCTAssertEqual(decide(silences: [silence(subject: "check:hourly-*")]), .send)
        XCTAssertEqual(decide(silences: [silence(labels: ["env": "staging"])]), .send)
        XCTAssertEqual(decide(silences: [silence(rule: "heartbeat", from: now + 1)]), .send, "not started yet")
        XCTAssertEqual(decide(silences: [silence(rule: "heartbeat", to: now)]), .send, "ended")
    }

    func testDependencySuppressionAndDeferral() {
        XCTAssertEqual(
            decide(feederAgent: "host-1", feeder: .down), .suppressed(reason: "agent host-1, the only source of this check, is down"))
        XCTAssertEqual(decide(feederAgent: "host-1", feeder: .late(decidedBy: now + 5_000)), .deferUntil(now + 5_000))
    }

    func testResolutionIsNotifiedExactlyWhenTheOpeningWas() {
        XCTAssertEqual(decide(event: "resolved", notified: true), .send)
        XCTAssertEqual(decide(event: "resolved", notified: false), .notNeeded(reason: "the opening was not notified"))
        XCTAssertEqual(decide(event: "resolved", notified: true, silences: [silence(rule: "heartbeat")]), .send)
        XCTAssertEqual(decide(event: "reminder", notified: true), .send)
        XCTAssertEqual(decide(event: "reminder", notified: true, silences: [silence(rule: "heartbeat")]), .silenced(silenceID: 7))
        XCTAssertEqual(decide(event: "reminder", notified: false), .notNeeded(reason: "the opening was not notified"))
    }

    func testGlob() {
        XCTAssertTrue(globMatch("*", ""))
        XCTAssertTrue(globMatch("a*c", "abbbc"))
        XCTAssertTrue(globMatch("*:x", "check:x"))
        XCTAssertFalse(globMatch("a*c", "abcd"))
        XCTAssertFalse(globMatch("abc", "ab"))
        XCTAssertTrue(globMatch("a**", "a"))
    }
}
