import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Issue 13 with our binaries as processes and a real SQLite warehouse read by the real `sqlite3`:
/// rows that vanish, a day still filling, times printed without an offset.
final class DataShapeEndToEndTests: CollectorTestCase {
    var warehouse: String { workspace.file("warehouse.db") }

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else {
            throw HarnessError("these tests read a real warehouse with sqlite3: apt-get install sqlite3 (make test and .ci/run do)")
        }
        // Commands ride on report responses: a heartbeat each second keeps reports coming.
        agent.heartbeatInterval = "1s"
    }

    @discardableResult
    func sql(_ statement: String, json: Bool = false) throws -> String {
        let result = try runCommand("/usr/bin/sqlite3", (json ? ["-json"] : []) + [warehouse, statement])
        guard result.status == 0 else { throw HarnessError("sqlite3 failed (\(result.status)): \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    func cli(_ arguments: [String]) throws -> String {
        let result = try runCommand(
            Binaries.gapwatch, arguments,
            environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
        guard result.status == 0 else { throw HarnessError("gapwatch \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)") }
        return result.output
    }

    func incidents() throws -> [IncidentInfo] {
        struct List: Decodable { var incidents: [IncidentInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/incidents").body).incidents
    }

    func actions() throws -> [ActionInfo] {
        struct List: Decodable { var actions: [ActionInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/actions?limit=1000").body).actions
    }

    /// A day's rows in the warehouse are never judged across midnight (UTC) in these tests.
    func awayFromMidnight(margin: Millis = 150_000) {
        let intoDay = WallClock.nowMillis() % 86_400_000
        if intoDay > 86_400_000 - margin { sleep(UInt32((86_400_000 - intoDay) / 1000 + 5)) }
    }

    /// §1: every derived row of yesterday is deleted. The count probe (a plain GROUP BY, which
    /// prints no line for that day) covers 3 days, so the day reads as 0, is a gap, is backfilled
    /// once from the raw table by an allow-listed sqlite3 command, and the heal is verified.
    func testADayWhoseDerivedRowsAllVanishReadsAsZeroAndIsBackfilledFromTheRawTable() throws {
        awayFromMidnight()
        try sql(
            """
            CREATE TABLE raw (day TEXT, id INTEGER);
            CREATE TABLE analytics (day TEXT, id INTEGER);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 282)
            INSERT INTO raw SELECT '\(day(1))', i FROM n UNION ALL SELECT '\(day(2))', i FROM n;
            INSERT INTO analytics SELECT * FROM raw;
            """)
        XCTAssertEqual(try sql("SELECT COUNT(*) FROM analytics WHERE day = '\(day(1))'"), "282")
        func probe(_ table: String, _ dataset: String) -> String {
            """
                - name: \(table)-counts
                  argv: [sqlite3, "\(warehouse)", "SELECT day, COUNT(*) FROM \(table) WHERE day >= date('now', '-2 days') GROUP BY day"]
                  interval: 1s
                  emit: count
                  dataset: \(dataset)
                  covers: 3d
            """
        }
        agent.extraConfig = """
            probes:
              commands:
            \(probe("raw", "warehouse.raw"))
            \(probe("analytics", "warehouse.analytics"))
            actions:
              - name: backfill
                argv: [sqlite3, "\(warehouse)", "INSERT INTO analytics SELECT * FROM raw WHERE day BETWEEN '{start}' AND '{end}'"]
                parameters: {start: date, end: date}
                timeout: 30s
            """
        collector.extraConfig = """
            completeness:
              - {name: analytics, source: warehouse.raw, derived: warehouse.analytics, lookback: 3d, due_after: 0s, settle: 2s, backfill: backfill}
            actions:
              - {name: backfill, kind: agent, agent: e2e-agent, command: backfill, parameters: {start: "{start}", end: "{end}"}, cooldown: 5s, verify_within: 30s}
            recheck_interval: 1s
            """
        try collector.start()
        try agent.start()
        try waitFor("yesterday to read complete", timeout: 60) {
            try cli(["gaps", "--days", "3"]).split(separator: "\n").contains { $0.hasPrefix(day(1)) && $0.contains("282") && $0.contains(" ok") }
        }
        XCTAssertEqual(try incidents(), [])

        try sql("DELETE FROM analytics WHERE day = '\(day(1))'")
        try waitFor("the backfill to be verified", timeout: 90) { try actions().first?.state == "verified" }
        let action = try XCTUnwrap(try actions().first)
        XCTAssertEqual(try actions().count, 1, "one backfill")
        XCTAssertEqual(action.parameters["start"], day(1))
        XCTAssertEqual(action.parameters["end"], day(1))
        XCTAssertEqual(try sql("SELECT COUNT(*) FROM analytics WHERE day = '\(day(1))'"), "282", "the rows are back")
        try waitFor("the incident to resolve", timeout: 30) { try incidents().first?.state == "resolved" }
        let incident = try XCTUnwrap(try incidents().first)
        XCTAssertTrue(incident.reason.contains("every partition in range is complete") || incident.reason.contains("complete"), incident.reason)
        // The timeline shows the 0 the snapshot reported, between the 282s.
        let counts = try collector.timeline("subject=dataset:warehouse.analytics").compactMap { entry -> Int64? in
            guard case .count(let c) = entry.observation.body, c.partition == day(1) else { return nil }
            return c.count
        }
        XCTAssertTrue(counts.contains(0), "\(counts)")
        XCTAssertEqual(counts.first, 282)
        XCTAssertEqual(counts.last, 282)
        let pings = try collector.timeline("subject=ping:analytics-counts").compactMap { entry -> String? in
            guard case .heartbeat(let h) = entry.observation.body else { return nil }
            return h.message
        }
        XCTAssertTrue(pings.contains("1 row(s); 1 partition(s) no longer listed read as 0: \(day(1))"), "\(pings.suffix(5))")
    }

    /// §2: a day still receiving hourly data, at 17 of its 24 hours with analytics behind, is not
    /// due: shown as such, never a gap, never backfilled. An hourly rule backfills the hours that
    /// ended and never the current one.
    func testADayAndAnHourStillFillingAreNotDueAndNeverBackfilled() throws {
        awayFromMidnight(margin: 600_000)
        let now = WallClock.nowMillis()
        let hourStart = now - now % 3_600_000
        if now - hourStart > 3_600_000 - 90_000 { sleep(UInt32((hourStart + 3_600_000 - now) / 1000 + 5)) }
        let today = day(0)
        func hour(_ hoursAgo: Int) -> String {
            let t = WallClock.nowMillis() - Millis(hoursAgo) * 3_600_000
            return String(TimeParsing.format(t).prefix(13)).replacingOccurrences(of: "T", with: " ") + ":00:00"
        }
        collector.extraConfig = """
            completeness:
              - {name: daily, source: feed.raw, derived: feed.daily, lookback: 2d, settle: 1s, backfill: backfill-day}
              - {name: hourly, source: feed.raw_hourly, derived: feed.hourly, partition: hour, lookback: 4h, due_after: 0s, settle: 1s, backfill: backfill-hour}
            actions:
              - {name: backfill-day, kind: webhook, url: "http://127.0.0.1:9/day", mode: dry_run}
              - {name: backfill-hour, kind: webhook, url: "http://127.0.0.1:9/hour", mode: dry_run}
            recheck_interval: 1s
            """
        try collector.start()
        try agent.start()
        let client = HTTPClient()
        // Today: 170 raw rows so far, 100 aggregated an hour ago. Hourly: three ended hours (one
        // short) and the current one, just started. Derived counts first, so that no source count
        // is ever seen without its derived one.
        for body in [
            Count(dataset: "feed.daily", partition: today, count: 100), Count(dataset: "feed.raw", partition: today, count: 170),
            Count(dataset: "feed.hourly", partition: hour(3), count: 60), Count(dataset: "feed.hourly", partition: hour(2), count: 20),
            Count(dataset: "feed.hourly", partition: hour(1), count: 60), Count(dataset: "feed.hourly", partition: hour(0), count: 0),
            Count(dataset: "feed.raw_hourly", partition: hour(3), count: 60), Count(dataset: "feed.raw_hourly", partition: hour(2), count: 60),
            Count(dataset: "feed.raw_hourly", partition: hour(1), count: 60), Count(dataset: "feed.raw_hourly", partition: hour(0), count: 5),
        ] {
            _ = try agent.push(.count(body), client: client)
        }
        try waitFor("the hourly gap's action", timeout: 30) { try actions().contains { $0.name == "backfill-hour" } }
        sleep(4)  // several more passes: nothing else may be queued
        let queued = try actions()
        let canonical = { (text: String) in String(text.prefix(10)) + "T" + String(text.dropFirst(11).prefix(2)) }
        // (A dry run ends at once, and its retry waits out the cooldown: the same key again.)
        XCTAssertEqual(
            Set(queued.map(\.key)), ["completeness:hourly:backfill:\(canonical(hour(2)))..\(canonical(hour(2)))"],
            "only the hour that ended short; never the day still filling, never the current hour: \(queued.map { "\($0.key) \($0.state)" })")
        XCTAssertEqual(queued.first?.parameters["start"], canonical(hour(2)))
        let gaps = try cli(["gaps", "--days", "1"])
        let todayLine = try XCTUnwrap(gaps.split(separator: "\n").first { $0.hasPrefix(today) }, gaps)
        XCTAssertTrue(todayLine.contains("not due (until"), String(todayLine))
        let currentHour = try XCTUnwrap(gaps.split(separator: "\n").first { $0.hasPrefix(canonical(hour(0))) }, gaps)
        XCTAssertTrue(currentHour.contains("not due"), String(currentHour))
        XCTAssertEqual(try incidents().map(\.subject), ["completeness:hourly:backfill"])
        // A person asking for today is told why not.
        let refused = try runCommand(
            Binaries.gapwatch, ["backfill", "backfill-day", "--from", today, "--to", today],
            environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("is not due until"), refused.output)
    }

    /// §3: a game listing whose start times SQLite's datetime() prints without an offset. Without
    /// `timezone:` every run fails and, after three, one incident names the probe, the line and the
    /// fix; nothing is dropped silently. With `timezone:` the game is tracked (and stale). A lock
    /// table read with `sqlite3 -json` prints nothing once empty: that is a listing with no locks.
    func testTimesWithoutAnOffsetAreAnIncidentUntilTheProbeHasATimezone() throws {
        try sql(
            """
            CREATE TABLE games (id TEXT, status TEXT, start_time TEXT);
            INSERT INTO games VALUES ('0022500612', 'In Progress', datetime('now', '-5 hours'));
            CREATE TABLE locks (name TEXT, holder TEXT, acquired_at TEXT, expires_at TEXT);
            INSERT INTO locks VALUES ('workflow_controller', 'orchestrator-1', datetime('now', '-2 hours'), datetime('now', '-1 hours'));
            """)
        func agentConfig(timezone: String?) -> String {
            let zone = timezone.map { "      timezone: \($0)\n" } ?? ""
            return """
                probes:
                  commands:
                    - name: games
                      argv: [sqlite3, -separator, "|", "\(warehouse)", "SELECT id, status, start_time FROM games"]
                      interval: 1s
                      emit: item_status
                      item_kind: game
                \(zone)locks:
                  argv: [sqlite3, -json, "\(warehouse)", "SELECT name, holder, acquired_at, expires_at FROM locks"]
                  interval: 1s
                  timezone: UTC
                """
        }
        agent.extraConfig = agentConfig(timezone: nil)
        collector.extraConfig = """
            probe_failures: {after: 3}
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h}
            recheck_interval: 1s
            """
        try collector.start()
        try agent.start()
        try waitFor("the probe incident", timeout: 60) { try incidents().contains { $0.rule == "probe_failing" } }
        let incident = try XCTUnwrap(try incidents().first { $0.rule == "probe_failing" })
        XCTAssertEqual(incident.subject, "probe:e2e-agent/games")
        XCTAssertTrue(incident.reason.contains("probe 'games' on agent e2e-agent failed 3+ runs in a row"), incident.reason)
        XCTAssertTrue(incident.reason.contains("line 1: reference time '"), incident.reason)
        XCTAssertTrue(incident.reason.contains("has no UTC offset; set timezone: on probe 'games'"), incident.reason)
        XCTAssertFalse(try incidents().contains { $0.rule == "stale_items" }, "the game was not read, and not guessed")
        XCTAssertEqual(try incidents().filter { $0.rule == "probe_failing" }.count, 1, "one incident, not one per run")
        // The lock listing read its naive times in UTC.
        struct Locks: Decodable { var locks: [LockInfo] }
        try waitFor("the lock", timeout: 30) {
            try ReportCodec.decode(Locks.self, from: try collector.get("/v1/locks").body).locks.contains { $0.holder == "orchestrator-1" }
        }

        // The probe gets its zone: the game is read, found stale, and the probe incident resolves.
        agent.child?.terminate()
        agent.extraConfig = agentConfig(timezone: "UTC")
        try agent.start()
        try waitFor("the probe incident to resolve", timeout: 60) {
            try incidents().first { $0.rule == "probe_failing" }?.state == "resolved"
        }
        try waitFor("the stale game", timeout: 30) { try incidents().contains { $0.rule == "stale_items" && $0.reason.contains("0022500612") } }

        // The lock table is emptied: sqlite3 -json prints nothing, which is "no locks".
        try sql("DELETE FROM locks")
        XCTAssertEqual(try sql("SELECT name FROM locks", json: true), "")
        try waitFor("the lock to be seen free", timeout: 30) {
            try ReportCodec.decode(Locks.self, from: try collector.get("/v1/locks").body).locks.allSatisfy { $0.holder == nil }
        }
    }
}
