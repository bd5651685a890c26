import GapwatchProtocol
import XCTest

@testable import GapwatchRules

final class TargetHealthRuleTests: XCTestCase {
    func job(_ name: String, _ service: String?, enabled: Bool = true, failures: Int = 0, successes: Int = 0, byUs: Bool = false) -> JobHealth {
        JobHealth(
            name: name, service: service, enabled: enabled, consecutiveFailures: failures, consecutiveSuccesses: successes, disabledByGapwatch: byUs)
    }

    func testNineJobsOnOneDeadServiceAreOneFindingAndHealthyJobsAreLeftAlone() {
        let dead = "https://nba-phase1-scrapers.run.app"
        var jobs = (1...9).map { job("job-\($0)", dead, failures: 3) }
        jobs.append(job("healthy-1", "http://127.0.0.1:8080", successes: 5))
        jobs.append(job("healthy-2", "http://127.0.0.1:8080", failures: 2))  // not 3 in a row yet
        jobs.append(job("paused-by-person", dead, enabled: false, failures: 7))
        let verdict = TargetHealthRule().evaluate(jobs)
        XCTAssertEqual(verdict.failingServices, [dead: (1...9).map { "job-\($0)" } + ["paused-by-person"]])
        XCTAssertEqual(verdict.toDisable, (1...9).map { "job-\($0)" }, "only enabled jobs are disabled")
        XCTAssertEqual(verdict.toReenable, [])
    }

    func testOnlyJobsGapwatchDisabledAreReenabledAfterEnoughHealthyProbes() {
        let jobs = [
            job("ours-ready", "http://a", enabled: false, successes: 3, byUs: true),
            job("ours-not-yet", "http://a", enabled: false, successes: 2, byUs: true),
            job("paused-by-person", "http://a", enabled: false, successes: 9),
            job("ours-already-on", "http://a", enabled: true, successes: 9, byUs: true),
            job("never-probed", nil, enabled: false, byUs: true),
        ]
        XCTAssertEqual(TargetHealthRule().evaluate(jobs).toReenable, ["ours-ready"])
        XCTAssertEqual(TargetHealthRule(successesToReenable: 0).evaluate(jobs).toReenable, [], "0: never re-enable")
        XCTAssertEqual(TargetHealthRule(failuresToOpen: 0).failuresToOpen, 1, "at least one failure")
    }

    func testServiceOfAURL() {
        XCTAssertEqual(serviceOf(url: "https://User:pw@NBA-Scrapers.run.app:443/evaluate?x=1"), "https://nba-scrapers.run.app")
        XCTAssertEqual(serviceOf(url: "http://127.0.0.1:9/x"), "http://127.0.0.1:9")
        XCTAssertEqual(serviceOf(url: "http://host:80"), "http://host")
        XCTAssertNil(serviceOf(url: "ftp://host/x"))
        XCTAssertNil(serviceOf(url: "not a url"))
        XCTAssertNil(serviceOf(url: "http:///path"))
    }

    func testAReplacementKeepsEachJobsPathAndQueryOnTheNewService() throws {
        let r = try XCTUnwrap(TargetReplacement(target: "https://nba-phase1-scrapers.run.app/", replacement: "https://nba-scrapers.run.app/"))
        XCTAssertEqual(r.service, "https://nba-phase1-scrapers.run.app")
        XCTAssertEqual(r.rewrite("https://nba-phase1-scrapers.run.app/execute?x=1"), "https://nba-scrapers.run.app/execute?x=1")
        XCTAssertEqual(r.rewrite("https://NBA-phase1-scrapers.run.app:443"), "https://nba-scrapers.run.app", "same service, default port")
        XCTAssertNil(r.rewrite("https://other.run.app/execute"), "a job on another service is not moved")
        let prefixed = try XCTUnwrap(TargetReplacement(target: "http://old:8080", replacement: "http://gateway/old-svc"))
        XCTAssertEqual(prefixed.rewrite("http://old:8080/run/a"), "http://gateway/old-svc/run/a")
        XCTAssertNil(TargetReplacement(target: "http://old/run", replacement: "http://new"), "the target is a service, no path")
        XCTAssertNil(TargetReplacement(target: "http://old", replacement: "http://OLD:80/x"), "the same service")
        XCTAssertNil(TargetReplacement(target: "ftp://old", replacement: "http://new"))
        XCTAssertNil(TargetReplacement(target: "http://old", replacement: "http://new?q=1"))
    }
}

final class NoSuccessRuleTests: XCTestCase {
    let hourly = try! CronSchedule("5 * * * *", timeZone: "UTC")
    let t = TimeParsing.parseRFC3339("2026-01-22T12:00:00Z")!
    let minute: Millis = 60_000

    func testOverdueAfterTwoMissedFiresPlusGrace() {
        let rule = NoSuccessRule(periods: 2, graceMs: 10 * minute)
        // Last success 10:05; fires 11:05 and 12:05 pass; overdue from 12:15.
        let success = t - 115 * minute
        XCTAssertNil(rule.overdueSince(schedule: hourly, reference: success, now: t + 14 * minute))
        XCTAssertEqual(rule.overdueSince(schedule: hourly, reference: success, now: t + 15 * minute), t + 15 * minute)
        XCTAssertEqual(rule.overdueSince(schedule: hourly, reference: success, now: t + 5 * 60 * minute), t + 15 * minute)
        XCTAssertNil(NoSuccessRule(periods: 0).overdueSince(schedule: hourly, reference: success, now: t + 5 * 60 * minute), "0: off")
    }
}

final class StuckLockRuleTests: XCTestCase {
    let t = TimeParsing.parseRFC3339("2026-01-22T12:00:00Z")!
    let minute: Millis = 60_000

    func testALockPastItsExpiryPlusSlackIsStuck() {
        let rule = StuckLockRule(slackMs: 5 * minute)
        let lock = LockState(name: "workflow_controller", holder: "orch-1", acquiredAt: t - 10 * minute, expiresAt: t - 5 * minute)
        XCTAssertNil(rule.stuckReason(lock, now: t - minute), "inside the slack")
        XCTAssertEqual(
            rule.stuckReason(lock, now: t), "held by orch-1 past its expiry at 2026-01-22T11:55:00.000Z (slack 5m)")
        XCTAssertEqual(rule.stuckReason(lock, now: t + 90_000), rule.stuckReason(lock, now: t), "the same text while nothing changes")
        XCTAssertEqual(rule.stuckAt(lock), t)
    }

    func testALockInsideItsTTLOrFreeIsNeverStuck() {
        let rule = StuckLockRule(slackMs: 0, maxAgeMs: 60 * minute)
        XCTAssertNil(rule.stuckReason(LockState(name: "l", holder: "h", acquiredAt: t - 59 * minute, expiresAt: t + minute), now: t))
        XCTAssertNil(rule.stuckReason(LockState(name: "l", holder: nil, acquiredAt: t - 600 * minute, expiresAt: t - 500 * minute), now: t))
        XCTAssertNil(rule.stuckAt(LockState(name: "l", holder: nil, acquiredAt: nil, expiresAt: nil)))
    }

    func testALockOlderThanMaxAgeIsStuckEvenWithoutAnExpiry() {
        let rule = StuckLockRule(slackMs: 0, maxAgeMs: 60 * minute)
        let lock = LockState(name: "l", holder: "h", acquiredAt: t - 61 * minute, expiresAt: nil)
        XCTAssertEqual(rule.stuckReason(lock, now: t), "held by h since 2026-01-22T10:59:00.000Z, longer than max_age 1h")
        XCTAssertEqual(rule.stuckAt(lock), t - minute)
    }
}
