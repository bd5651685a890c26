import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchProcessHarness
import GapwatchProtocol
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
            "pager: ",
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
            struct Pager: Decodable {
                var messages: Int
                var openings: Int
                var causes_opened: Int
                var by_event: [String: Int]
            }
            var failures: [Failure]
            var records_recovered: Int
            var manual_steps: Int
            var pager: Pager
            var all_healed: Bool
        }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(
            summary.failures.map(\.name).sorted(),
            [
                "analytics gap (282 records)", "dead scheduler target", "missed post-game windows", "stale \"In Progress\" games",
                "stuck workflow_controller lock",
            ])
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
            struct Game: Decodable {
                var id: String
                var status: String
            }
            struct Job: Decodable {
                var name: String
                var enabled: Bool
            }
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
        let dead = [
            "execute-workflows", "post-game-window-1", "post-game-window-2", "post-game-window-3", "morning-recovery", "bdl-boxscores",
            "nbac-schedule", "injury-report", "odds-lines",
        ]
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

        // One page per cause: the demo replays five causes, and each has exactly one incident
        // (no per-job incident, no second gap incident for a window it made pass).
        XCTAssertEqual(
            Dictionary(grouping: incidents, by: \.rule).mapValues(\.count),
            ["target_unhealthy": 1, "workflow_gap": 1, "stale_items": 1, "stuck_lock": 1, "completeness": 1],
            "\(incidents.map { ($0.rule, $0.subject) })")
        let target = try XCTUnwrap(incidents.first { $0.rule == "target_unhealthy" })
        let disables = try XCTUnwrap(try database.incident(id: target.id)?.events).filter { $0.event == "job_disabled" }
        XCTAssertEqual(disables.count, 1, "the nine pauses are one update: \(disables)")
        for job in dead { XCTAssertTrue(disables.first?.reason.contains(job) ?? false, "\(job): \(disables)") }
        // What the pager received: at most one opening per cause, and exactly the openings the
        // collector recorded as sent; the summary counted them.
        struct Page: Decodable {
            var event: String
            var rule: String
            var subject: String
            var incident_id: Int64
        }
        let pages = try String(contentsOfFile: dir + "/pager.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(Page.self, from: Data($0.utf8)) }
        let openings = pages.filter { $0.event == "opened" }
        XCTAssertEqual(openings.count, Set(openings.map(\.incident_id)).count, "one opening per incident: \(openings)")
        XCTAssertEqual(Set(openings.map(\.rule)).count, openings.count, "one opening per cause: \(openings)")
        XCTAssertTrue(Set(openings.map(\.rule)).isSubset(of: ["target_unhealthy", "workflow_gap", "stale_items", "stuck_lock", "completeness"]))
        let sentOpenings = try incidents.filter { incident in
            try database.incident(id: incident.id)?.events?.contains { $0.event == "opened" && $0.notify == "sent" } ?? false
        }
        XCTAssertEqual(Set(openings.map(\.incident_id)), Set(sentOpenings.map(\.id)))
        XCTAssertGreaterThanOrEqual(openings.count, 4, "the causes page (one may heal before its page is due)")
        XCTAssertLessThanOrEqual(pages.filter { $0.event == "job_disabled" }.count, 1)
        XCTAssertEqual(summary.pager.openings, summary.pager.causes_opened, "the summary counts one opening per cause")
        XCTAssertLessThanOrEqual(summary.pager.messages, pages.count)
        XCTAssertEqual(summary.pager.by_event.values.reduce(0, +), summary.pager.messages)
        XCTAssertTrue(
            output.contains(
                "pager: \(summary.pager.messages) message(s) received: \(summary.pager.openings) opening(s) for \(summary.pager.causes_opened) cause(s)"
            ),
            output)
        // Children were stopped: the collector's log ends with a clean stop.
        let collectorLog = try String(contentsOfFile: dir + "/collector.log", encoding: .utf8)
        XCTAssertTrue(collectorLog.contains("collector stopped"), collectorLog)
    }

    /// After its summary the demo keeps serving (as `make demo` does): the replayed outage is over,
    /// so the orchestrator runs its windows and the pager gets no new opening for windows the demo
    /// made pass. Two and a half window periods (a minute each) are watched. The missed window
    /// reads as healed in `gapwatch workflows gaps`.
    func testTheDemoServingAfterItsSummaryDoesNotPageForWindowsItMadePass() throws {
        try Binaries.check()
        let workspace = try Workspace("demo-serving")
        defer { workspace.finish(self) }
        let dir = workspace.file("demo")
        let port = freePort()
        let demo = try ChildProcess(
            Binaries.gapwatch, ["demo", "--dir", dir, "--port", "\(port)", "--timeout", "170"], log: workspace.file("demo.log"))
        defer { _ = demo.terminate() }
        try waitFor("the demo's summary", timeout: 240) {
            try demo.requireRunning("demo")
            return demo.log.contains("Serving until Ctrl-C.")
        }
        struct Page: Decodable {
            var event: String
            var rule: String
            var subject: String
        }
        func pages() throws -> [Page] {
            try String(contentsOfFile: dir + "/pager.jsonl", encoding: .utf8).split(separator: "\n").map {
                try JSONDecoder().decode(Page.self, from: Data($0.utf8))
            }
        }
        struct World: Decodable {
            var runs: [String]
            var orchestrator_on_schedule: Bool
        }
        func world() throws -> World { try JSONDecoder().decode(World.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/world.json"))) }
        let openingsAtSummary = try pages().filter { $0.event == "opened" }
        XCTAssertTrue(try world().orchestrator_on_schedule, demo.log)
        let runsAtSummary = try world().runs.count

        Thread.sleep(forTimeInterval: 150)
        try demo.requireRunning("demo")
        let openings = try pages().filter { $0.event == "opened" }
        XCTAssertEqual(openings.map(\.subject), openingsAtSummary.map(\.subject), "no new opening while the demo serves: \(openings)")
        let runs = try world().runs
        XCTAssertGreaterThanOrEqual(runs.count - runsAtSummary, 2, "the windows ran on schedule: \(runs)")
        XCTAssertFalse(demo.log.contains("DETECTED  incident 6"), demo.log)

        // The CLI reads the missed window as healed, not as a gap.
        let token = try XCTUnwrap(
            try String(contentsOfFile: dir + "/gapwatch.tokens", encoding: .utf8).split(separator: "\n")
                .first { $0.hasPrefix("GAPWATCH_ADMIN_TOKEN=") }.map { String($0.dropFirst("GAPWATCH_ADMIN_TOKEN=".count)) })
        let environment = ["GAPWATCH_URL": "http://127.0.0.1:\(port)", "GAPWATCH_TOKEN": token]
        let json = try runCommand(Binaries.gapwatch, ["workflows", "gaps", "--json"], environment: environment)
        XCTAssertEqual(json.status, 0, json.output)
        let report = try ReportCodec.decode(WorkflowGapsReport.self, from: Array(json.output.utf8))
        let missed = report.hours.reduce(0) { $0 + $1.gaps }
        let healed = report.hours.reduce(0) { $0 + $1.healed }
        XCTAssertGreaterThanOrEqual(missed, 1, json.output)
        XCTAssertEqual(healed, missed, "every missed window was re-run and verified: \(json.output)")
        let table = try runCommand(Binaries.gapwatch, ["workflows", "gaps"], environment: environment)
        XCTAssertTrue(table.output.contains("MISSED") && table.output.contains("HEALED"), table.output)
        XCTAssertEqual(demo.terminate(), 0, "the demo stops cleanly on SIGTERM")
    }
}
