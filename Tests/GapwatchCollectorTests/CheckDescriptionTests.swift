import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// `GET /v1/checks` (what `gapwatch checks` prints, and the dashboard's Checks page) says in words
/// what every check kind expects: never "?".
final class CheckDescriptionTests: XCTestCase {
    func testEveryCheckKindSaysWhatItExpects() async throws {
        let collector = try await TestCollector.start { config in
            config = try! CollectorConfig.parse(
                yaml: """
                    checks:
                      - {name: nightly, ping: nightly-export, cron: '0 6 * * *', timezone: America/New_York, grace: 15m, service: scrapers}
                      - {name: loop, ping: scraper-loop, every: 5m, grace: 1m}
                    expectations:
                      - {name: post-game, workflow: post_game_window, window: {cron: '0 19 * * *', duration: 6h, timezone: America/New_York}, only_when: {dataset: nba_raw.schedule}}
                    completeness:
                      - {name: analytics, source: nba_raw.boxscores, derived: nba.analytics, min_ratio: 0.9, lookback: 3d, settle: 10m}
                    stale_items:
                      - {name: games-final, item_kind: game, final: [Final, Postponed], deadline: 4h}
                    freshness:
                      - {name: boxscores-fresh, dataset: nba_raw.boxscores, max_age: 6h}
                    scheduler_targets: {failures: 3, no_success_periods: 2}
                    stuck_locks:
                      - {name: controller-locks, locks: 'workflow_*', slack: 5m, max_age: 2h}
                    """)
            config.listenPort = 0
            config.databasePath = NSTemporaryDirectory() + "gapwatch-describe-\(UUID().uuidString).db"
            config.bootstrapAgentID = "agent-1"
        }
        defer { collector.stop() }
        let posted = try await collector.post(makeTestReport(seqs: 1...1)).status
        XCTAssertEqual(posted, 200)  // agent-1's liveness check
        struct List: Decodable { var checks: [CheckInfo] }
        var checks: [CheckInfo] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            checks = try ReportCodec.decode(List.self, from: try await collector.send("GET", "/v1/checks", token: collector.adminToken).body).checks
            if checks.contains(where: { $0.kind == "liveness" }) { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        let expects = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0.expects) })
        XCTAssertEqual(
            Set(checks.map(\.kind)),
            ["heartbeat", "liveness", "expectation", "completeness", "stale_items", "freshness", "job_targets", "stuck_locks", "clock_skew"],
            "one check of every kind (the test report's sent_at, in January 2026, makes agent-1's clock look far behind)")
        for check in checks {
            XCTAssertFalse(check.expects.contains("?"), "\(check.kind) \(check.name): \(check.expects)")
            XCTAssertFalse(check.expects.contains("cannot describe"), "\(check.kind) \(check.name): \(check.expects)")
        }
        XCTAssertEqual(expects["loop"], "a ping 'scraper-loop' every 5m (grace 1m)")
        XCTAssertEqual(expects["nightly"], "a ping 'nightly-export' at each cron '0 6 * * *' (America/New_York) from service scrapers (grace 15m)")
        XCTAssertEqual(expects["agent:agent-1"], "anything from the agent every 30s (grace 1m)")
        XCTAssertEqual(expects["clock:agent-1"], "the agent's clock within 5m of the collector's, judged from its reports' sent_at")
        XCTAssertEqual(
            expects["post-game"],
            "a RUN of post_game_window within 6h of each cron '0 19 * * *' (America/New_York), when nba_raw.schedule has rows for the date (grace 10m)"
        )
        XCTAssertEqual(
            expects["analytics"],
            "derived nba.analytics ≥ 90% of nba_raw.boxscores per day (UTC), today and 2 days back; a day is due 1h after it ends; judged once the source count is settled for 10m"
        )
        XCTAssertEqual(expects["games-final"], "every game final (Final, Postponed) within 4h of its reference time")
        XCTAssertEqual(expects["boxscores-fresh"], "a count of nba_raw.boxscores at least every 6h")
        XCTAssertEqual(
            expects["job-targets"],
            "every scheduler job's target answers its probes (unhealthy after 3 failures in a row); every enabled job succeeds within 2 scheduled runs + 10m"
        )
        XCTAssertEqual(expects["controller-locks"], "no lock 'workflow_*' held past its expiry + 5m, nor longer than 2h")
    }
}
