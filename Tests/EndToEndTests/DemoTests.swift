import Foundation
import GapwatchCollector
import GapwatchProcessHarness
import XCTest

/// The README's first command, run as a user would (with --exit so it ends by itself): the Jan 22
/// incident replayed against our binaries as processes, healed with no manual step. Outcomes are
/// checked three ways: what the demo prints, the simulated world the services changed, and the
/// collector's database.
final class DemoTests: XCTestCase {
    func testDemoReplaysTheJan22IncidentAndGapwatchHealsEveryPart() throws {
        try Binaries.check()
        let workspace = try Workspace("demo")
        defer { workspace.finish(self) }
        let dir = workspace.file("demo")
        let result = try runCommand(
            Binaries.gapwatch, ["demo", "--exit", "--dir", dir, "--port", "\(freePort())", "--timeout", "170"], timeout: 240)
        XCTAssertEqual(result.status, 0, result.output)
        let output = result.output
        for expected in [
            "DETECTED  incident", "NOTIFIED  on-call: incident", "ACTION    act-", "ANSWERED  act-", "VERIFIED  act-", "HEALED    incident",
            "records recovered: 282 of 282", "manual steps: 0", "every failure detected and healed by Gapwatch", "▶ dashboard: http://127.0.0.1:",
        ] {
            XCTAssertTrue(output.contains(expected), "demo output lacks '\(expected)':\n\(output)")
        }

        // The summary the demo wrote: five failures, each detected and healed.
        struct Summary: Decodable {
            struct Failure: Decodable {
                var name: String
                var healed: Bool
                var seconds_to_detect: Double?
                var seconds_to_heal: Double?
                var attempts: Int
            }
            var failures: [Failure]
            var records_recovered: Int
            var manual_steps: Int
            var all_healed: Bool
        }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(
            summary.failures.map(\.name).sorted(),
            ["analytics gap (282 records)", "dead scheduler target", "missed post-game windows", "stale \"In Progress\" games", "stuck workflow_controller lock"])
        for failure in summary.failures {
            XCTAssertTrue(failure.healed, failure.name)
            XCTAssertNotNil(failure.seconds_to_detect, failure.name)
            XCTAssertNotNil(failure.seconds_to_heal, failure.name)
            XCTAssertGreaterThan(failure.attempts, 0, "\(failure.name): healed by an action, not by itself")
        }
        XCTAssertEqual(summary.records_recovered, 282)
        XCTAssertEqual(summary.manual_steps, 0)
        XCTAssertTrue(summary.all_healed)

        // The world the simulated services keep: what the actions really changed.
        struct World: Decodable {
            struct Game: Decodable { var id: String; var status: String }
            struct Job: Decodable { var name: String; var enabled: Bool }
            struct Lock: Decodable { var name: String }
            var raw: [String: Int]
            var analytics: [String: Int]
            var games: [Game]
            var jobs: [Job]
            var locks: [Lock]
            var runs: [String]
        }
        let world = try JSONDecoder().decode(World.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/world.json")))
        let jan22 = try XCTUnwrap(world.raw.first { $0.value == 282 }?.key)
        XCTAssertEqual(world.analytics[jan22], 282, "the 282 records reached analytics")
        for id in ["0022500612", "0022500614", "0022500615"] {
            XCTAssertEqual(world.games.first { $0.id == id }?.status, "Final", "game \(id) refreshed")
        }
        let dead = ["execute-workflows", "post-game-window-1", "post-game-window-2", "post-game-window-3", "morning-recovery", "bdl-boxscores", "nbac-schedule", "injury-report", "odds-lines"]
        XCTAssertEqual(world.jobs.filter { !$0.enabled }.map(\.name).sorted(), dead.sorted(), "exactly the jobs on the deleted service paused")
        XCTAssertFalse(world.locks.contains { $0.name == "workflow_controller" }, "the stuck lock released")
        XCTAssertTrue(world.runs.contains { $0.hasPrefix("post_game_window_1 ") && $0.hasSuffix(" RUN") }, "\(world.runs)")

        // The collector's own record.
        let database = try AppDatabase(StorageOptions(path: dir + "/gapwatch.db"))
        XCTAssertEqual(try database.integrityCheck(), "ok")
        let incidents = try database.incidents(IncidentFilter())
        for rule in ["stale_items", "stuck_lock", "completeness", "workflow_gap"] {
            XCTAssertTrue(incidents.contains { $0.rule == rule && $0.state == "resolved" }, "\(rule): \(incidents)")
        }
        // The deleted service never returns: its incident stays open, its jobs paused.
        XCTAssertEqual(incidents.filter { $0.rule == "target_unhealthy" }.map(\.state), ["open"])
        let actions = try database.actions(ActionFilter())
        XCTAssertFalse(actions.contains { $0.state == "escalated" }, "\(actions)")
        XCTAssertFalse(actions.contains { $0.origin == "manual" || $0.approvedBy != nil }, "no person acted")
        XCTAssertEqual(actions.filter { $0.name == "pause-job" && $0.state == "verified" }.count, 9)
        // Children were stopped: the collector's log ends with a clean stop.
        let collectorLog = try String(contentsOfFile: dir + "/collector.log", encoding: .utf8)
        XCTAssertTrue(collectorLog.contains("collector stopped"), collectorLog)
    }
}
