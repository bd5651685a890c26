import Foundation
import GapwatchProcessHarness
import XCTest

/// The README's first command, run as a user would (with --seconds so it ends by itself).
final class DemoTests: XCTestCase {
    func testDemoShowsDataArrivingFromAnAgentBesideTheCollectorAndStopsCleanly() throws {
        try Binaries.check()
        let workspace = try Workspace("demo")
        defer { workspace.finish(self) }
        let result = try runCommand(
            Binaries.gapwatch,
            ["demo", "--seconds", "12", "--dir", workspace.file("demo"), "--port", "\(freePort())", "--agent-port", "\(freePort())"],
            timeout: 90)
        XCTAssertEqual(result.status, 0, result.output)
        for expected in [
            "heartbeat", "ping:scrape-boxscores", "count", "dataset:nba_raw.bdl_player_boxscores", "2026-01-22 = 282",
            "probe", "job:demo-health-check", "decision", "workflow:post_game_window_1", "SKIP: 3 games still In Progress",
        ] {
            XCTAssertTrue(result.output.contains(expected), "demo output lacks '\(expected)':\n\(result.output)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: workspace.file("demo/gapwatch.db")))
        // Both children were stopped: their logs end with a clean stop.
        let collectorLog = try String(contentsOfFile: workspace.file("demo/collector.log"), encoding: .utf8)
        XCTAssertTrue(collectorLog.contains("collector stopped"), collectorLog)
    }
}
