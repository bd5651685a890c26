import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchRules
import Logging
import XCTest

/// Detection, incidents and notifications against a real SQLite file, with the clock in the
/// test's hands: reports go through the real ingest writer, passes run at chosen instants, and a
/// real command channel (argv, no shell of ours) appends each notification to a file.
class DetectionHarness: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var sink: String { dir + "/notifications.jsonl" }
    /// Real now right after open: checks were created at or before it, so test instants are offsets from it.
    var t0: Millis = 0

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "gapwatch-detect-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let logger: Logger = {
        var l = Logger(label: "test")
        l.logLevel = .critical
        return l
    }()

    /// Opens a collector with `yaml` plus a `notify:` section whose one channel is `sink`, or
    /// the command `argv` given.
    func open(_ yaml: String, notify: String = "", argv: String? = nil) throws {
        let command = argv ?? #"["/bin/sh", "-c", "cat >> \#(sink); echo >> \#(sink)"]"#
        var config = try CollectorConfig.parse(
            yaml: yaml + """

                notify:
                \(notify)
                  channels:
                    - name: sink
                      kind: command
                      argv: \(command)
                """)
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        runtime = try Collector.open(config: config, logger: Self.logger)
        t0 = WallClock.nowMillis()  // after open: checks were created at or before t0
    }

    func report(agent: String = "agent-1", service: String = "svc", firstSeq: UInt64, at: Millis, _ bodies: [ObservationBody]) -> Report {
        Report(
            agent: AgentIdentity(id: agent, service: service, host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s-\(agent)",
            sentAt: at, observations: bodies.enumerated().map { Observation(seq: firstSeq + UInt64($0.offset), observedAt: at, body: $0.element) })
    }

    func ingest(_ r: Report, receivedAt: Millis) async throws {
        _ = try await runtime.writer.ingest(r, receivedAt: receivedAt)
    }

    /// Runs the evaluator and the notifier at `now`.
    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        try await runtime.notifier.runPass(now: now)
    }

    func check(_ name: String, at now: Millis) throws -> CheckInfo {
        try XCTUnwrap(try runtime.detector.checks(now: now).first { $0.name == name }, "check \(name)")
    }

    func notifications() throws -> [NotificationMessage] {
        guard let text = try? String(contentsOfFile: sink, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try ReportCodec.decode(NotificationMessage.self, from: Array($0.utf8)) }
    }

    func ping(_ name: String, _ status: Heartbeat.Status = .ok, exit: Int? = nil, message: String? = nil) -> ObservationBody {
        .heartbeat(Heartbeat(name: name, status: status, exitCode: exit, message: message))
    }

}

/// Heartbeat checks, liveness, silences and notifications (see `DetectionHarness`).
final class DetectionTests: DetectionHarness {
    // MARK: heartbeat checks

    func testEveryGraceDownOnceThenLateSpoolDataResolvesIt() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: nightly, ping: nightly-export, every: 60s, grace: 30s, labels: {team: data}}
            """)
        try await ingest(report(firstSeq: 1, at: t0 + 1_000, [ping("nightly-export")]), receivedAt: t0 + 1_000)
        try await tick(t0 + 1_001)
        XCTAssertEqual(try check("nightly", at: t0 + 1_001).state, "up")
        try await tick(t0 + 61_000)
        XCTAssertEqual(try check("nightly", at: t0 + 61_000).state, "up")
        XCTAssertTrue(try check("nightly", at: t0 + 61_000).late, "past due, within grace: late")
        try await tick(t0 + 91_000)
        XCTAssertEqual(try check("nightly", at: t0 + 91_000).state, "down")
        try await tick(t0 + 95_000)  // a second pass must not open or send again
        var sent = try notifications()
        XCTAssertEqual(sent.map(\.event), ["opened"])
        XCTAssertEqual(sent.first?.subject, "check:nightly")
        XCTAssertEqual(sent.first?.labels["team"], "data")
        XCTAssertTrue(sent.first?.reason.contains("every 1m + 30s grace") ?? false, sent.first?.reason ?? "")

        // A ping observed at +80 s (in time) that sat in the agent's spool arrives at +100 s.
        try await ingest(report(firstSeq: 2, at: t0 + 80_000, [ping("nightly-export")]), receivedAt: t0 + 100_000)
        try await tick(t0 + 100_001)
        XCTAssertEqual(try check("nightly", at: t0 + 100_001).state, "up")
        sent = try notifications()
        XCTAssertEqual(sent.map(\.event), ["opened", "resolved"])
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 1)
        XCTAssertEqual(incidents.first?.state, "resolved")
        let history = try XCTUnwrap(try runtime.database.incident(id: incidents[0].id)?.events)
        XCTAssertEqual(history.map(\.event), ["opened", "resolved"])
        XCTAssertEqual(history.map(\.notify), ["sent", "sent"])
        // Every attempt is on the timeline.
        var filter = TimelineFilter()
        filter.subject = "action:notify:sink"
        XCTAssertEqual(try runtime.database.timeline(filter).observations.count, 2)
    }

    func testFailPingIsDownAtOnceAndStartOkMeasuresTheRun() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: job, ping: job, every: 1h, grace: 5m}
            """)
        try await ingest(report(firstSeq: 1, at: t0 + 1_000, [ping("job", .start)]), receivedAt: t0 + 1_000)
        try await ingest(report(firstSeq: 2, at: t0 + 43_000, [ping("job")]), receivedAt: t0 + 43_000)
        try await tick(t0 + 43_001)
        XCTAssertEqual(try check("job", at: t0 + 43_001).lastDurationMs, 42_000)
        try await ingest(report(firstSeq: 3, at: t0 + 50_000, [ping("job", exit: 3, message: "disk full")]), receivedAt: t0 + 50_000)
        try await tick(t0 + 50_001)
        let c = try check("job", at: t0 + 50_001)
        XCTAssertEqual(c.state, "down")
        XCTAssertTrue(c.reason.contains("exit code 3: disk full"), c.reason)
        XCTAssertEqual(try notifications().map(\.event), ["opened"])
    }

    func testServiceAndLabelFiltersDecideWhichPingsCount() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: prod-job, ping: job, service: scrapers, every: 1m, grace: 0s}
            agents:
              - {id: a2, service: scrapers}
            """)
        try await ingest(report(service: "other", firstSeq: 1, at: t0 + 1_000, [ping("job")]), receivedAt: t0 + 1_000)
        try await tick(t0 + 2_000)
        XCTAssertNil(try check("prod-job", at: t0 + 2_000).lastPingAt, "a ping from another service does not count")
        try await ingest(report(agent: "a2", service: "scrapers", firstSeq: 1, at: t0 + 3_000, [ping("job")]), receivedAt: t0 + 3_000)
        try await tick(t0 + 3_001)
        XCTAssertEqual(try check("prod-job", at: t0 + 3_001).lastPingAt, t0 + 3_000)
        XCTAssertEqual(try check("prod-job", at: t0 + 3_001).state, "up")
    }

    func testNeverPingedCheckGoesDownOnePeriodAfterItWasDeclared() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: daily, ping: daily, cron: "0 6 * * *", timezone: Europe/Berlin, grace: 10m}
            """)
        let schedule = try CronSchedule("0 6 * * *", timeZone: "Europe/Berlin")
        let due = try XCTUnwrap(schedule.next(after: t0))
        try await tick(due + 600_000 - 1)
        XCTAssertEqual(try check("daily", at: due).state, "new")
        try await tick(due + 600_000)
        let c = try check("daily", at: due + 600_000)
        XCTAssertEqual(c.state, "down")
        XCTAssertTrue(c.reason.contains("cron '0 6 * * *' (Europe/Berlin)"), c.reason)
    }

    func testCollectorRestartHoldsLivenessOffForTheAgentsBackoffAndOneGrace() async throws {
        try open("liveness: {every: 30s, grace: 60s}")
        try await ingest(report(firstSeq: 1, at: t0 + 1_000, [ping("agent:agent-1")]), receivedAt: t0 + 1_000)
        try await tick(t0 + 1_001)
        XCTAssertEqual(try check("agent:agent-1", at: t0 + 1_001).state, "up")
        // The collector was down for an hour and starts again: the agent's liveness is long
        // overdue, but the agent may still be backing off (up to agent_backoff_max, default 5m) and
        // then draining its spool; it gets that and one grace period.
        let restart = t0 + 3_600_000
        let detector = Detector(database: runtime.database, config: runtime.config.detection, startedAt: restart, logger: Self.logger)
        _ = try detector.evaluateDue(now: restart + 1_000)
        XCTAssertEqual(try check("agent:agent-1", at: restart + 1_000).state, "up")
        // The spool drains: observations from the outage arrive, observed in time.
        try await ingest(report(firstSeq: 2, at: restart - 10_000, [ping("agent:agent-1")]), receivedAt: restart + 20_000)
        _ = try detector.evaluateDue(now: restart + 60_000)
        XCTAssertEqual(try check("agent:agent-1", at: restart + 60_000).state, "up")
        XCTAssertTrue(try runtime.database.incidents(IncidentFilter()).isEmpty, "the collector's own downtime paged nobody")
        // One grace alone is not enough: an agent at its longest backoff has not even retried yet.
        _ = try detector.evaluateDue(now: restart + 90_000)
        XCTAssertEqual(try check("agent:agent-1", at: restart + 90_000).state, "up")
        _ = try detector.evaluateDue(now: restart + 359_999)
        XCTAssertEqual(try check("agent:agent-1", at: restart + 359_999).state, "up")
        // Nothing more arrives: after the hold-off (start + 5m + 60s) it goes down as usual.
        _ = try detector.evaluateDue(now: restart + 360_000)
        XCTAssertEqual(try check("agent:agent-1", at: restart + 360_000).state, "down")
    }

    // MARK: dependencies and silences

    func testAgentDownSuppressesTheChecksOnlyItFeeds() async throws {
        try open(
            """
            liveness: {every: 10s, grace: 20s}
            checks:
              - {name: fed, ping: fed-job, every: 10s, grace: 5s}
              - {name: shared, ping: shared-job, every: 10s, grace: 5s}
            owners:
              - {facts: ["ping:shared-job"], agents: [agent-1, agent-2]}
            """)
        let at = t0 + 1_000
        try await ingest(report(firstSeq: 1, at: at, [ping("fed-job"), ping("shared-job")]), receivedAt: at)
        try await ingest(report(agent: "agent-2", firstSeq: 1, at: at, [ping("shared-job")]), receivedAt: at)
        try await ingest(report(agent: "agent-2", firstSeq: 2, at: at + 25_000, [ping("agent:agent-2")]), receivedAt: at + 25_000)
        // +15 s: both job checks are down; agent-1 is late (not yet down), so `fed` waits.
        try await tick(at + 15_000)
        XCTAssertEqual(try check("fed", at: at + 15_000).state, "down")
        XCTAssertEqual(try check("shared", at: at + 15_000).state, "down")
        XCTAssertEqual(try notifications().map(\.subject), ["check:shared"], "several agents feed it: sent")
        // +30 s: agent-1's liveness is down: one page for the agent, `fed` suppressed.
        try await tick(at + 30_000)
        try await tick(at + 31_000)
        try await tick(at + 40_000)
        XCTAssertEqual(try notifications().map(\.subject), ["check:shared", "agent:agent-1"])
        let fed = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first { $0.subject == "check:fed" })
        let events = try XCTUnwrap(try runtime.database.incident(id: fed.id)?.events)
        XCTAssertEqual(events.first?.notify, "suppressed", "recorded, not sent")
        XCTAssertEqual(events.first?.notifyDetail, "agent agent-1, the only source of this check, is down")
    }

    func testSilencedIncidentsAreRecordedNotNotified() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: nightly, ping: nightly, every: 10s, grace: 0s, labels: {env: prod}}
            """)
        let silence = try runtime.database.createSilence(
            SilenceRequest(labels: ["env": "prod"], duration: "1h", comment: "maintenance"), createdBy: "test", now: t0)
        try await tick(t0 + 10_001)
        XCTAssertEqual(try check("nightly", at: t0 + 10_001).state, "down")
        XCTAssertEqual(try notifications().count, 0)
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first)
        XCTAssertEqual(try runtime.database.incident(id: incident.id)?.events?.first?.notify, "silenced")
        XCTAssertEqual(try runtime.database.incident(id: incident.id)?.events?.first?.notifyDetail, "silence \(silence.id)")
        // Its resolution is not sent either: nobody was told it opened.
        try await ingest(report(firstSeq: 1, at: t0 + 20_000, [ping("nightly")]), receivedAt: t0 + 20_000)
        try await tick(t0 + 20_001)
        XCTAssertEqual(try notifications().count, 0)
    }

    func testSilenceValidation() throws {
        try open("liveness: {enabled: false}")
        let db = runtime.database
        func error(_ r: SilenceRequest) -> String? {
            do {
                _ = try db.createSilence(r, createdBy: "t", now: t0)
                return nil
            } catch let e as SilenceValidationError {
                return e.field + ": " + e.message
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(
            error(SilenceRequest(duration: "1h")), "rule: a silence needs at least one of rule, subject or labels (it would silence everything)")
        XCTAssertEqual(
            error(SilenceRequest(rule: "hartbeat", duration: "1h")),
            "rule: rule: 'hartbeat' is not one of heartbeat, liveness, workflow_gap, completeness, stale_items, freshness, target_unhealthy, job_no_success, stuck_lock, probe_failing, clock_skew"
        )
        XCTAssertEqual(
            error(SilenceRequest(rule: "heartbeat", startsAt: "2030-01-02T00:00:00Z", endsAt: "2030-01-01T00:00:00Z")),
            "ends_at: the range is reversed or empty: ends_at is not after starts_at")
        XCTAssertEqual(error(SilenceRequest(rule: "heartbeat")), "ends_at: give ends_at or duration")
        XCTAssertEqual(error(SilenceRequest(rule: "heartbeat", duration: "soon")), "duration: duration: 'soon' is not a duration (e.g. 30m, 2h)")
        XCTAssertEqual(error(SilenceRequest(rule: "heartbeat", duration: "400d")), "ends_at: a silence may last at most 366 days")
        XCTAssertEqual(try db.silences(includeEnded: true, now: t0).count, 0, "nothing refused was stored")
    }

    // MARK: notification delivery

    func testTwoNotifiersNeverSendTheSameEventTwice() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: a, ping: a, every: 10s, grace: 0s}
              - {name: b, ping: b, every: 10s, grace: 0s}
              - {name: c, ping: c, every: 10s, grace: 0s}
            """)
        _ = try runtime.detector.evaluateDue(now: t0 + 10_001)
        let second = Notifier(database: runtime.database, detection: runtime.config.detection, collectorName: "second", logger: Self.logger)
        let first = runtime.notifier
        let now = t0 + 10_002
        async let one = first.runPass(now: now)
        async let two = second.runPass(now: now)
        let handled = try await one + two
        XCTAssertEqual(handled, 3)
        XCTAssertEqual(try notifications().map(\.subject).sorted(), ["check:a", "check:b", "check:c"])
    }

    func testFailingChannelRetriesWithBackoffThenSucceeds() async throws {
        let flag = dir + "/fail"
        FileManager.default.createFile(atPath: flag, contents: nil)
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: a, ping: a, every: 10s, grace: 0s}
            """, notify: "  retry_initial: 2s\n  retry_max: 2s",
            argv: #"["/bin/sh", "-c", "test ! -e \#(flag) && cat >> \#(sink) && echo >> \#(sink)"]"#)
        try await tick(t0 + 10_001)
        XCTAssertEqual(try notifications().count, 0)
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first)
        var event = try XCTUnwrap(try runtime.database.incident(id: incident.id)?.events?.first)
        XCTAssertEqual(event.notify, "pending")
        XCTAssertEqual(event.attempts, 1)
        XCTAssertEqual(event.deliveries.first?.state, "retrying")
        try FileManager.default.removeItem(atPath: flag)
        try await tick(t0 + 10_400)  // within the 500 ms floor of any backoff: no attempt
        XCTAssertEqual(try runtime.database.incident(id: incident.id)?.events?.first?.attempts, 1)
        try await tick(t0 + 13_000)
        event = try XCTUnwrap(try runtime.database.incident(id: incident.id)?.events?.first)
        XCTAssertEqual(event.notify, "sent")
        XCTAssertEqual(event.attempts, 2)
        XCTAssertEqual(try notifications().count, 1)
    }

    func testRemindersRepeatWhileOpen() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: a, ping: a, every: 10s, grace: 0s}
            """, notify: "  reminder: 1m")
        try await tick(t0 + 10_001)
        try await tick(t0 + 40_000)
        try await tick(t0 + 70_001)
        try await tick(t0 + 70_002)
        XCTAssertEqual(try notifications().map(\.event), ["opened", "reminder"])
    }

    func testAChannelThatFailsForGoodIsNotRetried() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: a, ping: a, every: 10s, grace: 0s}
            """, argv: #"["/nonexistent/gapwatch-notify"]"#)
        try await tick(t0 + 10_001)
        try await tick(t0 + 20_000)
        try await tick(t0 + 400_000)
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first)
        let event = try XCTUnwrap(try runtime.database.incident(id: incident.id)?.events?.first)
        XCTAssertEqual(event.notify, "failed")
        XCTAssertEqual(event.notifyDetail, "gave up on sink")
        XCTAssertEqual(event.deliveries.map(\.state), ["failed"])
        XCTAssertEqual(event.deliveries.first?.attempts, 1, "a program that cannot start is not retried")
    }

    func testTurningLivenessOffRemovesItsChecksAndResolvesTheirIncidents() async throws {
        try open("liveness: {every: 10s, grace: 0s}")
        try await ingest(report(firstSeq: 1, at: t0 + 1_000, [ping("agent:agent-1")]), receivedAt: t0 + 1_000)
        try await tick(t0 + 12_000)
        XCTAssertEqual(try check("agent:agent-1", at: t0 + 12_000).state, "down")
        var config = runtime.config
        config.detection.liveness.enabled = false
        runtime = try Collector.open(config: config, logger: Self.logger)
        XCTAssertTrue(try runtime.detector.checks(now: t0).isEmpty)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.state), ["resolved"])
    }

    // MARK: run expectations

    func testWorkflowGapOnlyOnPartitionsWithRows() async throws {
        // Windows open every minute for 30 s; judged 5 s after they close.
        try open(
            """
            liveness: {enabled: false}
            expectations:
              - name: post-game
                workflow: post_game_window_2
                window: {cron: "* * * * *", duration: 30s, timezone: UTC}
                only_when: {dataset: nba_raw.schedule}
                grace: 5s
            """)
        let schedule = try CronSchedule("* * * * *", timeZone: "UTC")
        let w1 = try XCTUnwrap(schedule.next(after: t0))  // first window opens
        let w2 = w1 + 60_000
        let date = schedule.localDate(of: w2)
        // No games scheduled for the date: a window with no RUN is not a gap.
        try await tick(w1 + 35_000)
        XCTAssertEqual(try check("post-game", at: w1 + 35_000).state, "new")
        XCTAssertTrue(try check("post-game", at: w1 + 35_000).reason.contains("not expected"))
        // Games on the date: the next window sees only SKIPs -> one gap incident naming window and reasons.
        try await ingest(
            report(firstSeq: 1, at: w1 + 40_000, [.count(Count(dataset: "nba_raw.schedule", partition: date, count: 9))]), receivedAt: w1 + 40_000)
        try await ingest(
            report(
                firstSeq: 2, at: w2 + 1_000,
                [.decision(WorkflowDecision(workflow: "post_game_window_2", decision: .skip, reason: "3 games still In Progress"))]),
            receivedAt: w2 + 1_000)
        try await tick(w2 + 35_000)
        XCTAssertEqual(try check("post-game", at: w2 + 35_000).state, "down")
        let gap = try XCTUnwrap(try notifications().first)
        XCTAssertEqual(gap.rule, "workflow_gap")
        XCTAssertTrue(gap.reason.contains("closed with no RUN; decisions seen: SKIP (3 games still In Progress)"), gap.reason)
        // The hourly table shows it (computed from today's data, for windows opening since `since`).
        let table = try runtime.detector.workflowGaps(since: w2, now: w2 + 35_000)
        XCTAssertEqual(table.hours.count, 1)
        XCTAssertEqual(table.hours.first?.hour, w2 - w2 % 3_600_000)
        XCTAssertEqual(table.hours.first?.gaps, 1)
        XCTAssertEqual(table.hours.first?.expected, 1)
        XCTAssertEqual(table.hours.first?.skips, 1)
        XCTAssertEqual(table.hours.first?.reasons, ["3 games still In Progress"])
        // A catch-up RUN resolves it.
        try await ingest(
            report(firstSeq: 3, at: w2 + 36_000, [.decision(WorkflowDecision(workflow: "post_game_window_2", decision: .run, reason: "catch-up"))]),
            receivedAt: w2 + 36_000)
        try await tick(w2 + 36_001)
        XCTAssertEqual(try check("post-game", at: w2 + 36_001).state, "up")
        XCTAssertEqual(try notifications().map(\.event), ["opened", "resolved"])
    }

    func testWindowsThatClosedWhileTheCollectorWasDownAreJudgedAfterRestart() async throws {
        try open(
            """
            liveness: {enabled: false}
            expectations:
              - {name: hourly, workflow: w, window: {cron: "* * * * *", duration: 30s}, grace: 0s}
            """)
        // The collector "was down" for 5 minutes: the first pass after it judges all 5 windows.
        _ = try runtime.detector.evaluateDue(now: t0 + 300_000)
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 1, "one incident per expectation, not one per window")
        let events = try XCTUnwrap(try runtime.database.incident(id: incidents[0].id)?.events)
        XCTAssertEqual(events.first?.event, "opened")
        XCTAssertGreaterThanOrEqual(events.filter { $0.event == "updated" }.count, 3, "each further gapped window is in the history")
    }

    func testPauseAndResume() async throws {
        try open(
            """
            liveness: {enabled: false}
            checks:
              - {name: a, ping: a, every: 10s, grace: 0s}
            """)
        try await tick(t0 + 10_001)
        XCTAssertEqual(try runtime.detector.pause(name: "a", now: t0 + 11_000), .changed)
        XCTAssertEqual(try runtime.detector.pause(name: "a", now: t0 + 11_000), .unchanged)
        XCTAssertEqual(try runtime.detector.pause(name: "nope", now: t0 + 11_000), .notFound)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).first?.state, "resolved", "pausing resolves its incident")
        try await tick(t0 + 100_000)
        XCTAssertEqual(try check("a", at: t0 + 100_000).state, "paused")
        XCTAssertEqual(try runtime.detector.resume(name: "a", now: t0 + 100_000), .changed)
        try await tick(t0 + 100_001)
        XCTAssertEqual(try check("a", at: t0 + 100_001).state, "new")
        try await tick(t0 + 110_000)
        XCTAssertEqual(try check("a", at: t0 + 110_000).state, "down", "due one period after the resume")
    }

    func testConfigErrorsNameTheKey() {
        func message(_ yaml: String) -> String {
            do {
                _ = try CollectorConfig.parse(yaml: yaml)
                return "parsed"
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(message("checks:\n  - {name: a, ping: a}"), "checks[0]: needs either every (e.g. 1h) or cron (e.g. '0 6 * * *')")
        XCTAssertEqual(message("checks:\n  - {name: a, ping: a, every: 1h, cron: '* * * * *'}"), "checks[0]: give either every or cron, not both")
        XCTAssertEqual(
            message("checks:\n  - {name: a, ping: a, every: 1h}\n  - {name: a, ping: b, every: 1h}"), "checks[1].name: 'a' is declared twice")
        XCTAssertEqual(
            message("checks:\n  - {name: 'agent:x', ping: a, every: 1h}"),
            "checks[0].name: the prefix 'agent:' is reserved for agents' liveness checks")
        XCTAssertTrue(message("checks:\n  - {name: a, ping: a, cron: '61 * * * *'}").hasPrefix("checks[0].cron: "))
        XCTAssertTrue(message("checks:\n  - {name: a, ping: a, cron: '0 6 * * *', timezone: Mars/Olympus}").contains("Mars/Olympus"))
        XCTAssertEqual(
            message("checks:\n  - {name: a, ping: a, every: 1h, evry: 2h}"),
            "checks[0].evry: unknown key; did you mean 'every'? (known keys here: agent_labels, cron, every, grace, labels, name, ping, service, timezone)"
        )
        XCTAssertEqual(
            message("expectations:\n  - {name: e, workflow: w}"),
            "expectations[0].window: required, e.g. {cron: '0 19 * * *', duration: 6h, timezone: America/New_York}")
        XCTAssertEqual(message("liveness: {every: 0s}"), "liveness.every: must be longer than 0")
    }
}
