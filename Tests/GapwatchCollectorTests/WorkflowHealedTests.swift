import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchRules
import GapwatchTestSupport
import XCTest

/// A missed run window that Gapwatch re-ran and verified reads as healed everywhere a person
/// looks: the detector's table, `GET /v1/workflows/gaps` and the dashboard's /workflows page.
/// A real collector over HTTP on 127.0.0.1 with a real SQLite file; the "orchestrator" that
/// receives the rerun is the test's webhook receiver.
final class WorkflowHealedTests: XCTestCase {
    var collector: TestCollector!
    var orchestrator: NotifyReceiver!
    var seq: UInt64 = 0

    override func setUp() async throws {
        orchestrator = try await NotifyReceiver.start()
    }

    /// A collector with one run expectation (`window` in YAML) whose gaps are re-run.
    func start(window: String) async throws {
        let parsed = try CollectorConfig.parse(
            yaml: """
                liveness: {enabled: false}
                expectations:
                  - {name: post-game, workflow: post_game_window_1, window: \(window), grace: 5s, rerun: rerun}
                actions:
                  - {name: rerun, kind: webhook, url: "\(orchestrator.base)/ok", body: '{"workflow":"{workflow}","partition":"{partition}"}', cooldown: 0s}
                """)
        collector = try await TestCollector.start { config in
            config.detection = parsed.detection
            config.remediation = parsed.remediation
        }
    }

    override func tearDown() {
        collector?.stop()
        orchestrator.stop()
    }

    var runtime: CollectorRuntime { collector.runtime }

    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        try await runtime.actions.runPass(now: now)
        await runtime.actions.waitForCalls()
        _ = try runtime.detector.evaluateDue(now: now)
    }

    func run(at: Millis) async throws {
        seq += 1
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "orchestrator", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s",
            sentAt: at,
            observations: [
                Observation(
                    seq: seq, observedAt: at, body: .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .run, reason: "rerun")))
            ])
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    func testAMissedWindowThatWasRerunAndVerifiedReadsAsHealed() async throws {
        try await start(window: #"{cron: "* * * * *", duration: 30s}"#)
        let t0 = WallClock.nowMillis()
        let w1 = try XCTUnwrap(try CronSchedule("* * * * *", timeZone: "UTC").next(after: t0))
        // Watched from just before window 1 (a window closing between the start and then would count too).
        _ = try await collector.database.pool.write { db in
            try db.execute(
                sql: "UPDATE checks SET created_at = ?, judged_through = ?, next_due = ? WHERE name = 'post-game'", arguments: [w1 - 1, w1 - 1, w1])
        }
        // Window 1 passes with no run: a gap, its rerun is sent, the RUN arrives, verified.
        try await tick(w1 + 36_000)
        try await run(at: w1 + 40_000)
        try await tick(w1 + 41_000)
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).map(\.state), ["verified"])
        // Window 2 passes with no run too, and its rerun brings nothing (yet): still a gap.
        try await tick(w1 + 96_000)
        XCTAssertEqual(orchestrator.requests.count, 2, "one rerun per missed window")
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.state), ["open", "resolved"])

        let now = w1 + 100_000
        let report = try runtime.detector.workflowGaps(since: w1 - 3_600_000, now: now)
        XCTAssertEqual(report.hours.reduce(0) { $0 + $1.gaps }, 2, "two windows were missed")
        XCTAssertEqual(report.hours.reduce(0) { $0 + $1.healed }, 1, "the one re-run and verified is healed")
        XCTAssertEqual(report.hours.reduce(0) { $0 + $1.unhealed }, 1, "the other is still a gap")
    }

    /// Once every missed window was re-run and verified, the page says healed: no red gap badge
    /// and no red hour beside the RUNs. Here the collector's own loops judge a window of today
    /// that closed before the expectation was watched (its check is dated back), run the rerun,
    /// and verify it when the RUN arrives.
    func testTheWorkflowsPageShowsAHealedWindowAsHealed() async throws {
        try await start(window: #"{cron: "0 0 * * *", duration: 1m}"#)
        let daily = try CronSchedule("0 0 * * *", timeZone: "UTC")
        var now = WallClock.nowMillis()
        if let today = daily.previous(atOrBefore: now), now < today + 180_000 {
            // Just after midnight today's window may still close during the test.
            try await Task.sleep(for: .milliseconds(today + 180_000 - now))
            now = WallClock.nowMillis()
        }
        let window = try XCTUnwrap(daily.previous(atOrBefore: now))
        let due = now
        _ = try await collector.database.pool.write { db in
            try db.execute(
                sql: "UPDATE checks SET created_at = ?, judged_through = ?, next_due = ? WHERE name = 'post-game'",
                arguments: [window - 1, window - 1, due])
        }
        try waitUntil("the rerun of the missed window") { self.orchestrator.requests.count == 1 }
        try await run(at: WallClock.nowMillis())
        try waitUntil("the rerun to be verified") { try self.runtime.database.actions(ActionFilter()).map(\.state) == ["verified"] }

        // The API carries it (the wire type, as openapi.yaml describes it).
        let answer = try await collector.send("GET", "/v1/workflows/gaps?since=\(window - 3_600_000)", token: collector.adminToken)
        XCTAssertEqual(answer.status, 200, answer.bodyText)
        let hours = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])?["hours"] as? [[String: Any]])
        XCTAssertEqual(hours.compactMap { $0["healed"] as? Int }.reduce(0, +), 1, answer.bodyText)
        XCTAssertEqual(hours.compactMap { $0["gaps"] as? Int }.reduce(0, +), 1, answer.bodyText)

        let page = try await dashboardPage("/workflows?hours=48")
        XCTAssertTrue(page.contains("1 missed, 1 healed (re-run and verified), <strong>0 gap(s)</strong> still open"), page)
        XCTAssertTrue(page.contains("post-game <span class=\"badge b-ok\">ok</span>"), page)
        XCTAssertFalse(page.contains("class=\"badge b-gap\""), "no red gap badge: \(page)")
        XCTAssertFalse(page.contains("fill=\"#fbd3d2\""), "no hour shaded as an open gap")
        XCTAssertTrue(page.contains("fill=\"#d3f0dc\""), "the healed hour is shaded as healed")
    }

    func waitUntil(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        XCTFail("timed out waiting for \(what)")
    }

    /// Logs in with the admin token through the form, as a browser does, and GETs `path`.
    func dashboardPage(_ path: String) async throws -> String {
        let login = try await collector.send(
            "POST", "/login", token: nil, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("token=\(collector.adminToken)&next=/".utf8))
        let cookie = try XCTUnwrap(login.headers["set-cookie"]?.split(separator: ";").first.map(String.init), "\(login.status) \(login.headers)")
        let page = try await collector.send("GET", path, token: nil, headers: [("Cookie", cookie)])
        XCTAssertEqual(page.status, 200)
        return page.bodyText
    }
}
