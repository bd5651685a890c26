import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Healing with our binaries as processes: stale items, a burst of gaps under the guardrails, and
/// a person's `gapwatch backfill --wait` following a range to verified, partition by partition.
final class HealingEndToEndTests: CollectorTestCase {
    var service: NotifyReceiver!
    let client = HTTPClient()

    override func setUp() async throws {
        try await super.setUp()
        service = try await NotifyReceiver.start()
        // Dates are computed from the wall clock: keep clear of a UTC day boundary.
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 120_000 { sleep(125) }
    }

    override func tearDown() {
        service.stop()
        super.tearDown()
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    func actions(_ query: String = "") throws -> [ActionInfo] {
        struct List: Decodable { var actions: [ActionInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/actions?limit=1000\(query)").body).actions
    }

    func incidents() throws -> [IncidentInfo] {
        struct List: Decodable { var incidents: [IncidentInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/incidents").body).incidents
    }

    /// How many observations of `subject` the collector has stored.
    func stored(_ subject: String) throws -> Int {
        try AppDatabase(StorageOptions(path: collector.database)).pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM observations o JOIN subjects s ON s.id = o.subject_id WHERE s.name = ?", arguments: [subject]) ?? 0
        }
    }

    func testAGameStillInProgressFourHoursAfterStartGetsOneRefreshAndResolvesWhenFinal() throws {
        collector.extraConfig = """
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h, refresh: refresh-schedule}
            actions:
              - {name: refresh-schedule, kind: webhook, url: "\(service.base)/ok", body: '{"games":"{items}"}', cooldown: 0s}
            """
        try collector.start()
        try agent.start()
        let start = WallClock.nowMillis() - 4 * 3_600_000 - 60_000
        func status(_ game: String, _ status: String) throws {
            _ = try agent.push(.itemStatus(ItemStatus(itemKind: "game", itemID: game, status: status, referenceTime: start)), client: client)
        }
        try status("0022500610", "In Progress")
        try status("0022500611", "Final")
        try waitFor("the refresh call", timeout: 30) { !service.requests.isEmpty }
        sleep(2)
        XCTAssertEqual(service.requests.count, 1, "one refresh")
        let body = try JSONDecoder().decode([String: String].self, from: Data(service.requests[0].body))
        XCTAssertEqual(body, ["games": "0022500610"], "only the game that is not final")
        XCTAssertEqual(try incidents().map(\.state), ["open"])

        try status("0022500610", "Final")
        try waitFor("the refresh to be verified", timeout: 30) { try actions().first?.state == "verified" }
        // Verified by whichever looks first: the runner (the item is final) or the rule (nothing stale).
        let detail = try actions().first?.detail ?? ""
        XCTAssertTrue(["verified: every refreshed item is final", "verified: every game is final or within its deadline"].contains(detail), detail)
        try waitFor("the incident to resolve", timeout: 30) { try incidents().map(\.state) == ["resolved"] }
        XCTAssertEqual(service.requests.count, 1, "no further calls")
    }

    func testABurstOf100GapsHoldsConcurrencyRateLimitAndCooldown() throws {
        collector.extraConfig = """
            completeness:
              - {name: wide, source: raw, derived: derived, due_after: 0s, lookback: 201d, settle: 0s, backfill: backfill}
            guardrails: {max_per_hour: 10, max_concurrent: 4, per_rule: {max_per_hour: 10, max_concurrent: 4}, per_target: {max_per_hour: 10, max_concurrent: 4}}
            actions:
              - {name: backfill, kind: webhook, url: "\(service.base)/hang", body: '{"start":"{start}"}', cooldown: 10m, verify_within: 2s}
            """
        try collector.start()
        try agent.start()
        // The derived rows first, then the source: every other date of the 200 before today (all
        // due) is missing, 100 one-day ranges.
        for i in stride(from: 2, through: 200, by: 2) {
            _ = try agent.push(.count(Count(dataset: "derived", partition: day(i), count: 100)), client: client)
        }
        try waitFor("the derived counts to be stored", timeout: 60) { try stored("dataset:derived") == 100 }
        // Each call hangs 3 s: at most 4 run at once, and at most 10 start in the hour. Actions
        // start while the source counts still stream in, so sampling starts with them.
        var mostRunning = 0
        func sample() throws { mostRunning = max(mostRunning, try actions("&state=running").count) }
        for i in 1...200 {
            _ = try agent.push(.count(Count(dataset: "raw", partition: day(i), count: 100)), client: client)
            if i % 4 == 0 { try sample() }
        }
        try waitFor("100 actions", timeout: 60) {
            try sample()
            return try actions().count == 100
        }
        try waitFor("10 attempts to end", timeout: 60) {
            try sample()
            guard service.requests.count == 10 else { return false }
            return try actions("&state=running").isEmpty && actions("&state=verifying").isEmpty
        }
        XCTAssertEqual(mostRunning, 4, "max_concurrent")
        sleep(3)
        XCTAssertEqual(service.requests.count, 10, "max_per_hour")
        let starts = Set(service.requests.map(\.body))
        XCTAssertEqual(starts.count, 10, "ten different ranges: no range was retried inside its cooldown")
        // Each of the ten failed verification (nothing wrote the rows) and waits out its cooldown.
        let retries = try actions("&state=pending").filter { $0.attempts == 1 }
        XCTAssertEqual(retries.count, 10)
        for action in retries {
            XCTAssertGreaterThanOrEqual((action.nextAttemptAt ?? 0) - action.updatedAt, 600_000, "retry after the 10m cooldown: \(action.detail)")
        }
        let open = try incidents()
        XCTAssertEqual(open.count, 1, "one incident for the rule's backfill gaps")
        XCTAssertTrue(open.first?.reason.contains("over 100 range(s)") ?? false, open.first?.reason ?? "")
    }

    func testBackfillWaitShowsPartitionsVerifiedUntilTheRangeIsComplete() throws {
        // settle: 1h keeps the rule from queuing its own backfill of the fresh source counts, so
        // the person's backfill is the only one.
        collector.extraConfig = """
            completeness:
              - {name: boxscores, source: raw, derived: analytics, due_after: 0s, lookback: 3d, settle: 1h, backfill: backfill}
            actions:
              - {name: backfill, kind: webhook, url: "\(service.base)/ok", body: '{"start":"{start}","end":"{end}"}', cooldown: 0s}
            """
        try collector.start()
        try agent.start()
        _ = try agent.push(.count(Count(dataset: "raw", partition: day(2), count: 282)), client: client)
        _ = try agent.push(.count(Count(dataset: "raw", partition: day(1), count: 300)), client: client)
        try waitFor("the source counts to be stored", timeout: 30) { try stored("dataset:raw") == 2 }

        final class Box: @unchecked Sendable {
            var result: (status: Int32, output: String)?
            var error: (any Error)?
        }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let environment = ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")]
        let arguments = ["backfill", "backfill", "--from", day(2), "--to", day(1), "--wait", "--timeout", "90s"]
        DispatchQueue.global().async {
            do { box.result = try runCommand(Binaries.gapwatch, arguments, environment: environment, timeout: 120) } catch { box.error = error }
            done.signal()
        }
        try waitFor("the backfill call", timeout: 30) { !service.requests.isEmpty }
        let id = try XCTUnwrap(try actions().first?.id)
        func progress() throws -> ActionProgress? {
            try ReportCodec.decode(ActionInfo.self, from: try collector.get("/v1/actions/\(id)").body).progress
        }
        XCTAssertEqual(try progress(), ActionProgress(verified: 0, total: 2))
        sleep(2)  // the CLI polls each second: let it show 0 / 2
        _ = try agent.push(.count(Count(dataset: "analytics", partition: day(2), count: 282)), client: client)
        try waitFor("one partition verified", timeout: 30) { try progress() == ActionProgress(verified: 1, total: 2) }
        sleep(2)
        _ = try agent.push(.count(Count(dataset: "analytics", partition: day(1), count: 300)), client: client)
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the CLI ends once the range is verified")
        let result = try XCTUnwrap(box.result, "\(String(describing: box.error))")
        XCTAssertEqual(result.status, 0, result.output)
        for line in ["partitions verified 0 / 2", "partitions verified 1 / 2", "verified: \(day(2))..\(day(1)) (2 days) is complete by its rule"] {
            XCTAssertTrue(result.output.contains(line), "missing '\(line)' in:\n\(result.output)")
        }
        XCTAssertEqual(service.requests.count, 1)
    }
}
