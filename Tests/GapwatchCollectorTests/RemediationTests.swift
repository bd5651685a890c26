import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchRules
import GapwatchTestSupport
import Logging
import XCTest

/// Self-healing against a real SQLite file and a real HTTP "analytics service" on 127.0.0.1 (the
/// test receiver), with the clock in the test's hands.
final class RemediationTests: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var service: NotifyReceiver!
    var t0: Millis = 0
    var seq: UInt64 = 0

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "gapwatch-heal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        service = try await NotifyReceiver.start()
    }

    override func tearDown() {
        service.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func open(_ yaml: String) throws {
        var config = try CollectorConfig.parse(yaml: "liveness: {enabled: false}\n" + yaml)
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        t0 = WallClock.nowMillis()
    }

    /// The date `daysAgo` days before t0 (UTC), as a partition key.
    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(t0 - Millis(daysAgo) * 86_400_000).prefix(10)) }

    func counts(_ dataset: String, _ values: [(String, Int64)], at: Millis) async throws {
        let observations = values.map { v -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: .count(Count(dataset: dataset, partition: v.0, count: v.1)))
        }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s",
            sentAt: at, observations: observations)
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        try await runtime.actions.runPass(now: now)
        await runtime.actions.waitForCalls()
        _ = try runtime.detector.evaluateDue(now: now)
    }

    var backfillBodies: [[String: String]] {
        service.requests.compactMap { try? JSONDecoder().decode([String: String].self, from: Data($0.body)) }
    }

    static let completeness = """
        completeness:
          - {name: boxscores, source: nba_raw.boxscores, derived: nba_analytics.summary, due_after: 0s, min_ratio: 0.9, lookback: 3d, settle: 0s, backfill: backfill}
        """

    /// A probe re-reads the raw table every second and reports the same count each time: the
    /// partition settles `settle` after the count last changed, not after the latest report.
    func testACountReReportedUnchangedStillSettles() async throws {
        try open(
            """
            completeness:
              - {name: boxscores, source: nba_raw.boxscores, derived: nba_analytics.summary, due_after: 0s, lookback: 3d, settle: 5s, backfill: backfill}
            actions:
              - {name: backfill, kind: webhook, url: "SERVICE/ok", body: '{"start":"{start}","end":"{end}"}', cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 250)], at: t0 + 1_000)
        for second in 2...4 { try await counts("nba_raw.boxscores", [(day(1), 282)], at: t0 + Millis(second) * 1_000) }
        try await tick(t0 + 6_000)
        XCTAssertEqual(service.requests.count, 0, "the count changed to 282 at +2 s: 4 s ago, not settled yet")
        for second in 5...9 { try await counts("nba_raw.boxscores", [(day(1), 282)], at: t0 + Millis(second) * 1_000) }
        try await tick(t0 + 9_500)
        try await tick(t0 + 9_600)
        XCTAssertEqual(backfillBodies, [["start": day(1), "end": day(1)]], "unchanged since +2 s, reported again each second")
    }

    func testPostMortemGapIsBackfilledOnceAsOneRangeAndVerified() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", body: '{"start":"{start}","end":"{end}","dataset":"{dataset}"}', cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(2), 282), (day(1), 300), (day(0), 310)], at: t0 + 1_000)
        try await counts("nba_analytics.summary", [(day(1), 255), (day(0), 310)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        XCTAssertEqual(backfillBodies, [["start": day(2), "end": day(1), "dataset": "nba_analytics.summary"]], "one call, the merged range")
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 1)
        XCTAssertTrue(incidents[0].reason.contains("\(day(2)) derived_missing"), incidents[0].reason)
        XCTAssertTrue(incidents[0].reason.contains("\(day(1)) incomplete"), incidents[0].reason)
        var action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(action.state, "verifying", "the call succeeded; recovery is not done until the data shows it")
        XCTAssertEqual(action.incidentID, incidents[0].id)
        try await tick(t0 + 3_000)
        XCTAssertEqual(service.requests.count, 1, "no second call while one is in flight")

        // The service writes the rows; the agent reports the new counts.
        try await counts("nba_analytics.summary", [(day(2), 282), (day(1), 300)], at: t0 + 60_000)
        try await tick(t0 + 61_000)
        action = try XCTUnwrap(try runtime.database.action(id: action.id))
        XCTAssertEqual(action.state, "verified")
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "resolved")
        XCTAssertEqual(service.requests.count, 1)
        // Every step is on the timeline under the action's subject.
        var filter = TimelineFilter()
        filter.subject = "action:\(action.id)"
        let steps = try runtime.database.timeline(filter).observations.compactMap { entry -> String? in
            if case .actionResult(let r) = entry.observation.body { return r.outputTail } else { return nil }
        }
        XCTAssertTrue(steps.first?.hasPrefix("queued backfill") ?? false, "\(steps)")
        XCTAssertTrue(steps.contains { $0.hasPrefix("attempt 1 started") }, "\(steps)")
        XCTAssertTrue(steps.last?.hasPrefix("verified") ?? false, "\(steps)")
    }

    /// A gap that grows at one end keeps its incident; the range already being healed is verified
    /// by its own partitions, and the new date is healed after it, never both at once.
    func testAGapThatChangesShapeKeepsItsIncidentAndVerifiesEachRangeByItsPartitions() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", body: '{"start":"{start}","end":"{end}"}', cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(2), 282), (day(1), 300), (day(0), 310)], at: t0 + 1_000)
        try await counts("nba_analytics.summary", [(day(1), 300), (day(0), 310)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        XCTAssertEqual(backfillBodies, [["start": day(2), "end": day(2)]])
        let first = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(first.state, "verifying")
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first)

        // Yesterday's analytics rows are deleted: the gap is now day(2)..day(1).
        try await counts("nba_analytics.summary", [(day(1), 0)], at: t0 + 10_000)
        try await tick(t0 + 11_000)
        var incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.map(\.id), [incident.id], "the same incident, still open")
        XCTAssertEqual(incidents.first?.state, "open")
        XCTAssertTrue(incidents.first?.reason.contains("\(day(2))..\(day(1))") ?? false, incidents.first?.reason ?? "")
        XCTAssertEqual(try runtime.database.action(id: first.id)?.state, "verifying", "day(2) is not healed yet")
        XCTAssertEqual(service.requests.count, 1, "the merged range overlaps the one in flight: it waits")

        // The first backfill lands: day(2) is verified by its own partition, day(1) is queued next.
        try await counts("nba_analytics.summary", [(day(2), 282)], at: t0 + 20_000)
        try await tick(t0 + 21_000)
        XCTAssertEqual(try runtime.database.action(id: first.id)?.state, "verified")
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "open", "day(1) is still a gap")
        try await tick(t0 + 22_000)
        XCTAssertEqual(backfillBodies, [["start": day(2), "end": day(2)], ["start": day(1), "end": day(1)]])
        try await counts("nba_analytics.summary", [(day(1), 300)], at: t0 + 30_000)
        try await tick(t0 + 31_000)
        incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.map(\.state), ["resolved"])
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).map(\.state), ["verified", "verified"])
    }

    /// A retry waiting out its backoff when the data heals by itself is verified: an attempt ran.
    func testAPendingRetryIsVerifiedWhenTheGapCloses() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/fail", cooldown: 1m}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        var action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(action.state, "pending", "HTTP 500: retried after the backoff")
        XCTAssertEqual(action.attempts, 1)
        try await counts("nba_analytics.summary", [(day(1), 300)], at: t0 + 5_000)
        try await tick(t0 + 6_000)
        action = try XCTUnwrap(try runtime.database.action(id: action.id))
        XCTAssertEqual(action.state, "verified", action.detail)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "resolved")
        XCTAssertEqual(service.requests.count, 1)
    }

    /// A slow endpoint holds its own slot: the pass returns, and other actions start and finish.
    func testASlowWebhookDoesNotHoldUpOtherActions() async throws {
        try open(
            """
            completeness:
              - {name: slow, source: raw-a, derived: derived-a, due_after: 0s, settle: 0s, backfill: slow}
              - {name: fast, source: raw-b, derived: derived-b, due_after: 0s, settle: 0s, backfill: fast}
            actions:
              - {name: slow, kind: webhook, url: "SERVICE/hang", cooldown: 0s, timeout: 10s}
              - {name: fast, kind: webhook, url: "SERVICE/ok", cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("raw-a", [(day(1), 10)], at: t0 + 1_000)
        try await counts("raw-b", [(day(1), 10)], at: t0 + 1_000)
        _ = try runtime.detector.evaluateDue(now: t0 + 2_000)
        try await runtime.actions.runPass(now: t0 + 2_000)
        func state(_ name: String) throws -> String? { try runtime.database.actions(ActionFilter()).first { $0.name == name }?.state }
        // /hang answers after 3 s; the fast call is done well before (bounded wait: 2.5 s).
        var waited = 0
        while try state("fast") != "verifying", waited < 50 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        XCTAssertEqual(try state("fast"), "verifying")
        XCTAssertEqual(try state("slow"), "running", "the slow call is still in flight")
        try await runtime.actions.runPass(now: t0 + 2_500)  // a follow-up pass is not blocked either
        XCTAssertEqual(try state("slow"), "running")
        await runtime.actions.waitForCalls()
        XCTAssertEqual(try state("slow"), "verifying")
    }

    func testABackfillThatNeverFixesTheDataEscalatesAndStops() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", max_attempts: 2, cooldown: 0s, verify_within: 1m}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        var now = t0 + 2_000
        for _ in 0..<12 {
            try await tick(now)
            now += 61_000
        }
        XCTAssertEqual(service.requests.count, 2, "attempts stop at the limit")
        let action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(action.state, "escalated")
        XCTAssertEqual(action.attempts, 2)
        let incident = try XCTUnwrap(try runtime.database.incident(id: try XCTUnwrap(action.incidentID)))
        XCTAssertEqual(incident.state, "open")
        XCTAssertTrue(incident.events?.contains { $0.event == "escalated" } ?? false)
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).count, 1, "no new action for an escalated incident")
    }

    func testRateLimitAndConcurrencyHoldUnderABurstOf100Gaps() async throws {
        try open(
            """
            completeness:
              - {name: wide, source: raw, derived: derived, due_after: 0s, lookback: 201d, settle: 0s, backfill: backfill}
            guardrails: {max_per_hour: 10, max_concurrent: 4, per_rule: {max_per_hour: 10, max_concurrent: 4}, per_target: {max_per_hour: 10, max_concurrent: 4}}
            actions:
              - {name: backfill, kind: webhook, url: "SERVICE/ok", cooldown: 10m}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        // Every other day is missing: 100 separate ranges (the 200 days before today, which are due).
        try await counts("raw", (1...200).map { (day($0), 100) }, at: t0 + 1_000)
        try await counts("derived", (1...200).filter { $0 % 2 == 0 }.map { (day($0), 100) }, at: t0 + 1_000)
        try await tick(t0 + 2_000)
        for i in 0..<5 {
            try await runtime.actions.runPass(now: t0 + 3_000 + Millis(i))
            await runtime.actions.waitForCalls()
        }
        let open = try runtime.database.incidents(IncidentFilter(state: "open", limit: 1000))
        XCTAssertEqual(open.count, 1, "one incident for the check's backfill gaps, not a page per range")
        XCTAssertTrue(open.first?.reason.contains("over 100 range(s)") ?? false, open.first?.reason ?? "")
        XCTAssertEqual(try runtime.database.actions(ActionFilter(limit: 1000)).count, 100, "one action per gap range")
        XCTAssertEqual(service.requests.count, 10, "at most 10 actions start per hour")
        // An hour later the next 10 may start.
        // (max_concurrent with calls that take seconds: HealingEndToEndTests.)
        for i in 0...3 {
            try await runtime.actions.runPass(now: t0 + 3_700_000 + Millis(i))
            await runtime.actions.waitForCalls()
        }
        XCTAssertEqual(service.requests.count, 20)
    }

    func testStaleGameGetsOneRefreshAndResolvesWhenFinal() async throws {
        try open(
            """
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h, refresh: refresh}
            actions:
              - {name: refresh, kind: webhook, url: "SERVICE/ok", body: '{"games":"{items}"}', cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        func status(_ s: String, at: Millis) async throws {
            seq += 1
            let report = Report(
                agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s", sentAt: at,
                observations: [
                    Observation(
                        seq: seq, observedAt: at,
                        body: .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500610", status: s, referenceTime: t0 - 5 * 3_600_000)))
                ])
            _ = try await runtime.writer.ingest(report, receivedAt: at)
        }
        try await status("In Progress", at: t0 + 1_000)
        try await tick(t0 + 2_000)
        try await tick(t0 + 3_000)
        XCTAssertEqual(backfillBodies, [["games": "0022500610"]])
        try await status("Final", at: t0 + 10_000)
        try await tick(t0 + 11_000)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "resolved")
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).first?.state, "verified")
        XCTAssertEqual(service.requests.count, 1)
    }

    /// Post-game windows passed while the orchestrator was down: the gap's `rerun` action asks
    /// for the window again once, and a RUN decision verifies it and resolves the incident.
    func testAMissedRunWindowIsRerunOnceAndVerifiedByTheRun() async throws {
        try open(
            """
            expectations:
              - {name: post-game, workflow: post_game_window_1, window: {cron: "* * * * *", duration: 30s}, grace: 5s, rerun: rerun}
            actions:
              - {name: rerun, kind: webhook, url: "SERVICE/ok", body: '{"workflow":"{workflow}","partition":"{partition}"}', cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        let w1 = try XCTUnwrap(try CronSchedule("* * * * *", timeZone: "UTC").next(after: t0))
        try await tick(w1 + 36_000)
        try await tick(w1 + 37_000)
        let partition = String(TimeParsing.format(w1).prefix(10))
        XCTAssertEqual(backfillBodies, [["workflow": "post_game_window_1", "partition": partition]], "one rerun of the missed window")
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).first?.state, "verifying")
        // The orchestrator runs it: a RUN decision arrives.
        seq += 1
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s", sentAt: w1 + 40_000,
            observations: [
                Observation(
                    seq: seq, observedAt: w1 + 40_000,
                    body: .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .run, reason: "rerun")))
            ])
        _ = try await runtime.writer.ingest(report, receivedAt: w1 + 40_000)
        try await tick(w1 + 41_000)
        try await tick(w1 + 42_000)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.state), ["resolved"])
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).map(\.state), ["verified"])
        XCTAssertEqual(service.requests.count, 1, "no further calls")
    }

    func testAnExpectationsRerunMustNameADeclaredAction() {
        XCTAssertThrowsError(
            try CollectorConfig.parse(yaml: "expectations:\n  - {name: e, workflow: w, window: {cron: '* * * * *', duration: 30s}, rerun: nope}")
        ) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "expectations[0].rerun: unknown action 'nope'; declare it under actions:")
        }
    }

    func testADatasetThatStopsUpdatingIsStaleUntilItUpdates() async throws {
        try open(
            """
            freshness:
              - {name: schedule-fresh, dataset: nba_raw.schedule, max_age: 1h, refresh: refresh}
            actions:
              - {name: refresh, kind: webhook, url: "SERVICE/ok", body: '{"dataset":"{dataset}"}', cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.schedule", [(day(0), 12)], at: t0 + 1_000)
        try await tick(t0 + 3_600_000)
        XCTAssertEqual(service.requests.count, 0, "59 minutes old: fresh")
        try await tick(t0 + 3_601_001)
        try await tick(t0 + 3_601_002)
        XCTAssertEqual(backfillBodies, [["dataset": "nba_raw.schedule"]])
        try await counts("nba_raw.schedule", [(day(0), 12)], at: t0 + 3_700_000)
        try await tick(t0 + 3_700_001)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "resolved")
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).first?.state, "verified")
    }

    func testCatchUpReevaluatesEveryRuleAndSecretsComeFromAFile() async throws {
        let secret = dir + "/analytics.token"
        try "s3cret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try open(
            Self.completeness
                + """

                recheck_interval: 1h
                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", headers: {Authorization: "file:\(secret)"}, cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await tick(t0 + 1_000)  // nothing yet; the next look is an hour away
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 2_000)
        try await tick(t0 + 3_000)
        XCTAssertEqual(service.requests.count, 1)
        XCTAssertEqual(service.requests.first?.header("authorization"), ["s3cret"])
        let scheduled = try await runtime.detector.scheduleCatchUp(now: t0 + 4_000)
        XCTAssertEqual(scheduled, 1, "every completeness and stale-item check is due now")
        let due = try runtime.detector.evaluateDue(now: t0 + 4_001)
        XCTAssertEqual(due.evaluated, 1)
    }

    func testAScheduledDateWithNoSourceRowsIsScraped() async throws {
        try open(
            """
            completeness:
              - {name: boxscores, source: raw, derived: analytics, due_after: 0s, lookback: 3d, settle: 0s, expected_from: schedule, backfill: backfill, scrape: scrape}
            actions:
              - {name: backfill, kind: webhook, url: "SERVICE/ok", body: '{"heal":"backfill"}', cooldown: 0s}
              - {name: scrape, kind: webhook, url: "SERVICE/ok", body: '{"heal":"scrape","start":"{start}","end":"{end}","dataset":"{dataset}"}', cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        // Games were scheduled yesterday and the day before; the scraper wrote nothing for either.
        try await counts("schedule", [(day(2), 9), (day(1), 11)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        XCTAssertEqual(backfillBodies, [["heal": "scrape", "start": day(2), "end": day(1), "dataset": "raw"]])
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first)
        XCTAssertEqual(incident.subject, "completeness:boxscores:scrape")
        XCTAssertTrue(incident.reason.contains("source_missing"), incident.reason)
    }

    func testAClientErrorFromTheServiceEscalatesAtOnce() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/gone", max_attempts: 5, cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        try await tick(t0 + 100_000)
        let action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(action.state, "escalated", "HTTP 404 will not get better by retrying")
        XCTAssertTrue(action.detail.contains("HTTP 404"), action.detail)
        XCTAssertEqual(service.requests.count, 1)
    }

    /// The url and header values may come from the environment or a file; a missing or empty
    /// secret stops the collector with the key named and the value never quoted.
    func testActionURLAndHeadersTakeSecretsFromEnvOrFile() async throws {
        setenv("GW_TEST_ACTION_URL", service.base + "/ok", 1)
        let empty = dir + "/empty.token"
        try "\n".write(toFile: empty, atomically: true, encoding: .utf8)
        func message(_ action: String) -> String {
            do {
                _ = try CollectorConfig.parse(yaml: "actions:\n  - \(action)")
                return "parsed"
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(
            message("{name: a, kind: webhook, url: 'env:GW_TEST_UNSET_URL'}"), "actions[0].url: environment variable GW_TEST_UNSET_URL is not set")
        XCTAssertEqual(message("{name: a, kind: webhook, url: 'file:\(empty)'}"), "actions[0].url: secret file \(empty) is empty")
        XCTAssertEqual(message("{name: a, kind: webhook, url: 'ftp://x'}"), "actions[0].url: must be an http:// or https:// URL")
        XCTAssertEqual(
            message("{name: a, kind: webhook, url: 'env:GW_TEST_ACTION_URL', headers: {Authorization: 'file:\(dir!)/none'}}"),
            "actions[0].headers.Authorization: cannot read secret file \(dir!)/none")
        try open(
            Self.completeness + """

                actions:
                  - {name: backfill, kind: webhook, url: "env:GW_TEST_ACTION_URL", cooldown: 0s}
                """)
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        XCTAssertEqual(service.requests.map(\.path), ["/ok"], "the url came from the environment")
    }

    func testDryRunAndApprovalModes() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", mode: approval, cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        let action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(action.state, "awaiting_approval")
        XCTAssertEqual(service.requests.count, 0)
        XCTAssertTrue(try runtime.database.approveAction(id: action.id, by: "admin", now: t0 + 3_000))
        XCTAssertFalse(try runtime.database.approveAction(id: action.id, by: "admin", now: t0 + 3_000), "only once")
        try await tick(t0 + 3_001)
        XCTAssertEqual(service.requests.count, 1)
    }
}

extension IncidentFilter {
    init(state: String? = nil, limit: Int = 100) {
        self.init()
        self.state = state
        self.limit = limit
    }
}

extension ActionFilter {
    init(limit: Int) {
        self.init()
        self.limit = limit
    }
}

/// Manual backfills and the actions API over real HTTP.
final class RemediationAPITests: XCTestCase {
    var collector: TestCollector!

    override func setUp() async throws {
        collector = try await TestCollector.start { config in
            config.remediation = try! CollectorConfig.parse(
                yaml: """
                    completeness:
                      - {name: boxscores, source: raw, derived: analytics, due_after: 0s, lookback: 3d, settle: 0s, backfill: backfill}
                    actions:
                      - {name: backfill, kind: webhook, url: "http://127.0.0.1:9/backfill", mode: dry_run, max_range_days: 7}
                    """
            ).remediation
        }
    }

    override func tearDown() {
        collector.stop()
    }

    func post(_ body: String, token: String?) async throws -> HTTPResponse {
        try await collector.send("POST", "/v1/backfills", token: token, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    func testBadBackfillsAreRefusedAndQueueNothing() async throws {
        for (body, field, message) in [
            (
                #"{"action":"backfill","start":"2026-01-22","end":"2026-01-20"}"#, "start",
                "the range is reversed: start 2026-01-22 is after end 2026-01-20"
            ),
            (
                #"{"action":"backfill","start":"2026-01-01","end":"2026-01-08"}"#, "end",
                "the range is larger than action 'backfill' allows: more than 7 days (max_range_days)"
            ),
            (#"{"action":"scrape","start":"2026-01-20","end":"2026-01-21"}"#, "action", "action: no action named 'scrape'; configured: backfill"),
            (#"{"action":"backfill","start":"2026-02-30","end":"2026-03-01"}"#, "start", "start: '2026-02-30' is not a date (YYYY-MM-DD)"),
            (#"{"action":"backfill","start":"yesterday","end":"2026-03-01"}"#, "start", "start: 'yesterday' is not a date (YYYY-MM-DD)"),
        ] {
            let r = try await post(body, token: collector.adminToken)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(try decodeError(r).field, field, body)
            XCTAssertEqual(try decodeError(r).message, message, body)
        }
        let r = try await post(#"{"action":"backfill","start":"2026-01-20","end":"2026-01-21"}"#, token: collector.agentToken)
        XCTAssertEqual(r.status, 403, "an agent token may not order backfills")
        XCTAssertEqual(try collector.database.actions(ActionFilter()).count, 0, "nothing was queued")
    }

    /// A person's backfill and a rule's backfill of overlapping dates never run together.
    func testAManualBackfillOverlappingARuleBackfillIsRefused() async throws {
        let now = WallClock.nowMillis()
        func day(_ ago: Int) -> String { String(TimeParsing.format(now - Millis(ago) * 86_400_000).prefix(10)) }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s", sentAt: now,
            observations: [Observation(seq: 1, observedAt: now, body: .count(Count(dataset: "raw", partition: day(1), count: 300)))])
        _ = try await collector.runtime.writer.ingest(report, receivedAt: now)
        _ = try collector.runtime.detector.evaluateDue(now: now + 1)
        let rule = try XCTUnwrap(try collector.database.actions(ActionFilter()).first)
        XCTAssertEqual(rule.origin, "rule")
        XCTAssertEqual(rule.parameters["start"], day(1))
        var r = try await post(#"{"action":"backfill","start":"\#(day(2))","end":"\#(day(1))"}"#, token: collector.adminToken)
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(
            try decodeError(r).message,
            "action \(rule.id) is already in flight for an overlapping range (completeness:boxscores:backfill:\(day(1))..\(day(1)))")
        r = try await post(#"{"action":"backfill","start":"\#(day(3))","end":"\#(day(2))"}"#, token: collector.adminToken)
        XCTAssertEqual(r.status, 202, "the dates before it do not overlap")
        XCTAssertEqual(try collector.database.actions(ActionFilter()).count, 2)
    }

    func testAManualBackfillIsQueuedOncePerRange() async throws {
        var r = try await post(#"{"action":"backfill","start":"2026-01-20","end":"2026-01-21","bypass_checks":true}"#, token: collector.adminToken)
        XCTAssertEqual(r.status, 202)
        let action = try ReportCodec.decode(ActionInfo.self, from: r.body)
        XCTAssertEqual(action.origin, "manual")
        XCTAssertEqual(action.parameters["bypass_checks"], "true")
        XCTAssertEqual(action.parameters["start"], "2026-01-20")
        r = try await post(#"{"action":"backfill","start":"2026-01-20","end":"2026-01-21"}"#, token: collector.adminToken)
        XCTAssertEqual(r.status, 409, "the same range is already in flight")
        // The dry-run mode records what would run, and runs nothing.
        try await collector.runtime.actions.runPass(now: WallClock.nowMillis() + 1)
        r = try await collector.send("GET", "/v1/actions/\(action.id)", token: collector.adminToken)
        let after = try ReportCodec.decode(ActionInfo.self, from: r.body)
        XCTAssertEqual(after.state, "dry_run")
        XCTAssertTrue(after.detail.hasPrefix("dry run: would run backfill"), after.detail)
        r = try await collector.send("GET", "/v1/actions?state=bogus", token: collector.adminToken)
        XCTAssertEqual(r.status, 400)
        r = try await collector.send("POST", "/v1/actions/\(action.id)/approve", token: collector.adminToken)
        XCTAssertEqual(r.status, 409, "only an action awaiting approval can be approved")
    }
}
