import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchTestSupport
import Logging
import XCTest

/// Scheduler targets and stuck locks against a real SQLite file and a real HTTP "scheduler API"
/// on 127.0.0.1 (the test receiver), with the clock in the test's hands.
final class SchedulerTests: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var service: NotifyReceiver!
    var t0: Millis = 0
    var seq: UInt64 = 0
    let dead = "http://127.0.0.1:9"
    let alive = "http://127.0.0.1:8"

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "gapwatch-sched-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        service = try await NotifyReceiver.start()
    }

    override func tearDown() {
        service.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func open(_ yaml: String) throws {
        var config = try CollectorConfig.parse(yaml: "liveness: {enabled: false}\n" + yaml.replacingOccurrences(of: "SERVICE", with: service.base))
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        t0 = WallClock.nowMillis()
    }

    func report(_ bodies: [ObservationBody], at: Millis) async throws {
        let observations = bodies.map { body -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: body)
        }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "scheduler", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s",
            sentAt: at, observations: observations)
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        for i in 0..<4 {  // enough passes for every start allowed by max_concurrent
            try await runtime.actions.runPass(now: now + Millis(i))
            await runtime.actions.waitForCalls()
        }
        _ = try runtime.detector.evaluateDue(now: now + 5)
    }

    func job(_ name: String, _ base: String, enabled: Bool = true, change: JobSighting.Change = .added) -> ObservationBody {
        .job(JobSighting(name: name, change: change, enabled: enabled, target: "\(base)/run/\(name)", scheduler: "cloud-scheduler"))
    }

    func probe(_ name: String, _ base: String, healthy: Bool) -> ObservationBody {
        .probe(
            TargetProbe(
                job: name, target: "\(base)/run/\(name)", httpStatus: healthy ? 200 : nil, error: healthy ? nil : "connection refused", latencyMs: 1,
                healthy: healthy))
    }

    var calledJobs: [String] {
        service.requests.compactMap { (try? JSONDecoder().decode([String: String].self, from: Data($0.body)))?["job"] }
    }

    static let config = """
        scheduler_targets: {failures: 3, reenable_after: 2, disable: disable-job, reenable: enable-job}
        guardrails: {max_per_hour: 100, max_concurrent: 4}
        actions:
          - {name: disable-job, kind: webhook, url: "SERVICE/ok", body: '{"job":"{job}","op":"pause"}', cooldown: 0s}
          - {name: enable-job, kind: webhook, url: "SERVICE/ok", body: '{"job":"{job}","op":"resume"}', cooldown: 0s}
        """

    func testNineJobsOnADeadServiceAreOneIncidentDisabledOnceEachAndReenabledWhenItReturns() async throws {
        try open(Self.config)
        let deadJobs = (1...9).map { "phase1-\($0)" }
        try await report(deadJobs.map { job($0, dead) } + [job("healthy-a", alive), job("healthy-b", alive)], at: t0)
        for round in 0..<3 {
            let at = t0 + 1_000 + Millis(round) * 60_000
            try await report(deadJobs.map { probe($0, dead, healthy: false) } + ["healthy-a", "healthy-b"].map { probe($0, alive, healthy: true) }, at: at)
            try await tick(at + 1)
            if round < 2 { XCTAssertEqual(service.requests.count, 0, "\(round + 1) failed probes: not yet") }
        }
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 1, "one incident for the service, not nine")
        XCTAssertEqual(incidents.first?.subject, "target:\(dead)")
        XCTAssertEqual(Set(calledJobs), Set(deadJobs), "every job on the dead service is disabled")
        XCTAssertEqual(calledJobs.count, 9, "once each")

        // The scheduler's next inventory shows them paused: verified, and each one announced.
        try await report(deadJobs.map { job($0, dead, enabled: false, change: .changed) }, at: t0 + 200_000)
        try await tick(t0 + 200_001)
        let actions = try runtime.database.actions(ActionFilter())
        XCTAssertEqual(actions.filter { $0.name == "disable-job" }.map(\.state), Array(repeating: "verified", count: 9))
        let events = try XCTUnwrap(try runtime.database.incident(id: incidents[0].id)?.events)
        XCTAssertEqual(events.filter { $0.event == "job_disabled" }.count, 9, "an alert for every disabled job")
        var audit = try runtime.auditJobs(now: t0 + 200_002)
        XCTAssertEqual(audit.filter { $0.flags.contains("disabled_by_gapwatch") }.map(\.name), deadJobs)
        XCTAssertEqual(audit.filter { $0.name.hasPrefix("healthy") }.map(\.flags), [[], []], "the healthy jobs are untouched")
        try await tick(t0 + 300_000)
        XCTAssertEqual(calledJobs.count, 9, "nothing more while the service is down")

        // The service comes back: two healthy probes in a row re-enable what Gapwatch disabled.
        for round in 0..<2 {
            let at = t0 + 400_000 + Millis(round) * 60_000
            try await report(deadJobs.map { probe($0, dead, healthy: true) }, at: at)
            try await tick(at + 1)
        }
        XCTAssertEqual(try runtime.database.incident(id: incidents[0].id)?.state, "resolved")
        let resumed = service.requests.filter { String(decoding: $0.body, as: UTF8.self).contains("resume") }
        XCTAssertEqual(resumed.count, 9)
        try await report(deadJobs.map { job($0, dead, enabled: true, change: .changed) }, at: t0 + 600_000)
        try await tick(t0 + 600_001)
        XCTAssertEqual(
            try runtime.database.actions(ActionFilter()).filter { $0.name == "enable-job" }.map(\.state), Array(repeating: "verified", count: 9))
        audit = try runtime.auditJobs(now: t0 + 600_002)
        XCTAssertEqual(audit.flatMap(\.flags), [], "all healthy, enabled and present again")
    }

    func testAuditFlagsAServiceFilterAndTheReport() async throws {
        try open(Self.config)
        let day: Millis = 86_400_000
        try await report(
            [
                job("a-dead", dead),
                .job(
                    JobSighting(
                        name: "b-stale", change: .added, enabled: true, target: "\(alive)/x", schedule: "0 * * * *", lastAttemptAt: t0 - 1_000,
                        lastResult: "failure", lastSuccessAt: t0 - 8 * day)),
                job("c-gone", alive),
            ], at: t0)
        try await report([job("c-gone", alive, change: .removed)], at: t0 + 1)
        for i in 0..<3 { try await report([probe("a-dead", dead, healthy: false)], at: t0 + 10 + Millis(i)) }
        let audit = try runtime.auditJobs(now: t0 + 100)
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: audit.map { ($0.name, $0.flags) }),
            ["a-dead": ["target_failing"], "b-stale": ["no_recent_success"], "c-gone": ["missing_from_inventory"]])
        XCTAssertEqual(try runtime.auditJobs(service: dead + "/anything", now: t0).map(\.name), ["a-dead"], "a URL matches its service")
        XCTAssertEqual(try runtime.auditJobs(service: "127.0.0.1:8", now: t0).map(\.name), ["b-stale", "c-gone"], "part of a host")
        XCTAssertEqual(try runtime.auditJobs(service: "nowhere.example", now: t0).map(\.name), [])
        let text = try runtime.auditReport(now: t0 + 100)
        XCTAssertTrue(text.hasPrefix("Gapwatch scheduler audit, "), text)
        XCTAssertTrue(text.contains("3 job(s) on 2 service(s); 3 flagged"), text)
        XCTAssertTrue(text.contains("  a-dead: enabled, target failing, no success reported [target_failing]"), text)
        // The hourly job that keeps failing is flagged by the rule too: an incident of its own.
        _ = try runtime.detector.evaluateDue(now: t0 + 200)
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(Set(incidents.map(\.subject)), ["target:\(dead)", "job:b-stale"])
        XCTAssertTrue(incidents.first { $0.subject == "job:b-stale" }?.reason.contains("last attempt: failure") ?? false)
    }

    func testTheAuditReportGoesToEveryChannel() async throws {
        try open("""
            notify:
              channels:
                - {name: ops, kind: webhook, url: "SERVICE/ok"}
            scheduler_targets: {audit_report: {cron: '0 8 * * 1', timezone: Europe/Berlin}}
            """)
        try await report([job("nightly-export", alive)], at: t0)
        let outcomes = try await runtime.sendAuditReport(now: t0 + 1)
        XCTAssertEqual(outcomes, ["ops": .delivered(detail: "HTTP 200: ok")])
        let message = try JSONDecoder().decode(NotificationMessage.self, from: Data(try XCTUnwrap(service.requests.first).body))
        XCTAssertEqual([message.event, message.rule, message.subject], ["report", "scheduler_audit", "audit:jobs"])
        XCTAssertTrue(message.reason.contains("1 job(s) on 1 service(s); 0 flagged"), message.reason)
        XCTAssertTrue(message.reason.contains("  nightly-export: enabled, target unknown, no success reported"), message.reason)
    }

    func testAStuckLockIsReleasedOnceAndVerifiedAndALockInsideItsTTLIsNeverTouched() async throws {
        try open("""
            stuck_locks:
              - {name: controller-locks, locks: 'workflow_*', slack: 1m, release: release-lock}
            actions:
              - {name: release-lock, kind: webhook, url: "SERVICE/ok", body: '{"lock":"{lock}","holder":"{holder}"}', cooldown: 0s}
            """)
        let minute: Millis = 60_000
        try await report(
            [
                .lock(LockSighting(name: "workflow_controller", holder: "orch-dead", acquiredAt: t0 - 10 * minute, expiresAt: t0 - 5 * minute)),
                .lock(LockSighting(name: "workflow_backfill", holder: "orch-live", acquiredAt: t0 - minute, expiresAt: t0 + 4 * minute)),
                .lock(LockSighting(name: "other_lock", holder: "x", acquiredAt: t0 - 60 * minute, expiresAt: t0 - 50 * minute)),
            ], at: t0)
        try await tick(t0 + 1)
        try await tick(t0 + 2 * minute)
        let bodies = service.requests.map { String(decoding: $0.body, as: UTF8.self) }
        XCTAssertEqual(bodies, [#"{"lock":"workflow_controller","holder":"orch-dead"}"#], "released once; the live lock and other_lock untouched")
        let locks = try runtime.locks(now: t0 + 2 * minute)
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: locks.map { ($0.name, $0.state) }),
            ["workflow_controller": "stuck", "workflow_backfill": "held", "other_lock": "held"], "no rule covers other_lock")

        // The agent's next listing shows it free: verified, incident resolved.
        try await report([.lock(LockSighting(name: "workflow_controller", holder: nil))], at: t0 + 3 * minute)
        try await tick(t0 + 3 * minute + 1)
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).map(\.state), ["verified"])
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.state), ["resolved"])
        // The live lock runs out later without renewal: it becomes stuck then, not before.
        try await tick(t0 + 4 * minute + 59_000)
        XCTAssertEqual(service.requests.count, 1)
    }

    func testSchedulerConfigErrorsNameTheKey() {
        func message(_ yaml: String) -> String {
            do {
                _ = try CollectorConfig.parse(yaml: yaml)
                return "parsed"
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(message("scheduler_targets: {failures: 0}"), "scheduler_targets.failures: expected a positive whole number")
        XCTAssertEqual(message("scheduler_targets: {reenable_after: -1}"), "scheduler_targets.reenable_after: expected a whole number of 0 or more")
        XCTAssertEqual(message("scheduler_targets: {reenable_after: 0, no_success_periods: 0}"), "parsed")
        XCTAssertEqual(message("scheduler_targets: {disable: nope}"), "scheduler_targets.disable: no action named 'nope' (declared: )")
        XCTAssertEqual(message("scheduler_targets: {audit_report: {timezone: UTC}}"), "scheduler_targets.audit_report.cron: required (e.g. '0 8 * * 1')")
        // No key is close to "probes": no guess, but the keys allowed there.
        XCTAssertEqual(message("scheduler_targets: {probes: 3}").components(separatedBy: " (known keys here: ")[0], "scheduler_targets.probes: unknown key")
        XCTAssertTrue(message("scheduler_targets: {probes: 3}").contains("failures, name, no_success_grace"), message("scheduler_targets: {probes: 3}"))
        XCTAssertEqual(message("stuck_locks:\n  - {locks: 'x*'}"), "stuck_locks[0].name: required")
        XCTAssertEqual(
            message("stuck_locks:\n  - {name: l, release: nope}"), "stuck_locks[0].release: no action named 'nope' (declared: )")
    }
}
