import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchTestSupport
import Logging
import XCTest

/// Scheduler targets against a real SQLite file and a real HTTP "scheduler API" on 127.0.0.1
/// (the test receiver), with the clock in the test's hands.
final class SchedulerTests: SchedulerTestCase {
    let dead = "http://127.0.0.1:9"
    let alive = "http://127.0.0.1:8"

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

    // The breaker would hold disables past half the scheduler's jobs for approval, and one rule
    // would get half the global slots (GuardrailScopeTests).
    static let config = """
        scheduler_targets: {failures: 3, reenable_after: 2, disable: disable-job, reenable: enable-job, breaker: {max_share: 100%}}
        guardrails: {max_per_hour: 100, max_concurrent: 4, per_rule: {max_concurrent: 4}, per_target: {max_concurrent: 4}}
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
            try await report(
                deadJobs.map { probe($0, dead, healthy: false) } + ["healthy-a", "healthy-b"].map { probe($0, alive, healthy: true) }, at: at)
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
        // Every job Gapwatch disabled is announced, the nine in one update of the incident.
        let announced = events.filter { $0.event == "job_disabled" }
        XCTAssertEqual(announced.count, 1, "one batched announcement, not one per job")
        for job in deadJobs { XCTAssertTrue(announced.first?.reason.contains(job) ?? false, "\(job) is named: \(announced)") }
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
        XCTAssertEqual(try runtime.database.incident(id: incidents[0].id)?.reason, "the target answers its probes again")
        let resumed = service.requests.filter { String(decoding: $0.body, as: UTF8.self).contains("resume") }
        XCTAssertEqual(resumed.count, 9)
        try await report(deadJobs.map { job($0, dead, enabled: true, change: .changed) }, at: t0 + 600_000)
        try await tick(t0 + 600_001)
        XCTAssertEqual(
            try runtime.database.actions(ActionFilter()).filter { $0.name == "enable-job" }.map(\.state), Array(repeating: "verified", count: 9))
        audit = try runtime.auditJobs(now: t0 + 600_002)
        XCTAssertEqual(audit.flatMap(\.flags), [], "all healthy, enabled and present again")
    }

    /// Notifier passes too: what a pager would receive.
    func tickAndNotify(_ now: Millis) async throws {
        try await tick(now)
        try await runtime.notifier.runPass(now: now + 6)
    }

    /// A job with run history as gcloud's inventory carries it: its last attempt failed and its
    /// last success was three days ago.
    func historied(_ name: String, _ base: String, enabled: Bool = true, change: JobSighting.Change = .added) -> ObservationBody {
        .job(
            JobSighting(
                name: name, change: change, enabled: enabled, target: "\(base)/run/\(name)", schedule: "*/5 * * * *", scheduler: "cloud-scheduler",
                lastAttemptAt: t0 - 60_000, lastResult: "failure", lastSuccessAt: t0 - 3 * 86_400_000))
    }

    /// What the pager got, as (event, subject).
    func pages(_ pager: NotifyReceiver) throws -> [(event: String, subject: String, reason: String)] {
        try pager.requests.map { try JSONDecoder().decode(NotificationMessage.self, from: Data($0.body)) }.map { ($0.event, $0.subject, $0.reason) }
    }

    /// The measured case: a dead target whose jobs report failed runs. The jobs' own "no recent
    /// success" must not page before (or beside) the target's incident; the target's incident is
    /// the one opening and lists every job; Gapwatch's disables are one update per batch; the
    /// resolution says the jobs no longer point there. A job on a healthy target whose runs fail
    /// is its own cause and still pages.
    func testADeadTargetWithRunHistoryPagesOnceWithBatchedDisablesAndSaysWhyItResolved() async throws {
        let pager = try await NotifyReceiver.start()
        defer { pager.stop() }
        try open("notify:\n  channels:\n    - {name: on-call, kind: webhook, url: \"\(pager.base)/ok\"}\n" + Self.config)
        let deadJobs = (1...4).map { "export-\($0)" }
        try await report(deadJobs.map { historied($0, dead) } + [historied("reachable-but-failing", alive)], at: t0)
        try await tickAndNotify(t0 + 1)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.subject), [], "nothing is judged before the targets are probed")
        for round in 0..<3 {
            let at = t0 + 1_000 + Millis(round) * 60_000
            try await report(deadJobs.map { probe($0, dead, healthy: false) } + [probe("reachable-but-failing", alive, healthy: true)], at: at)
            try await tickAndNotify(at + 1)
            if round < 2 {
                XCTAssertEqual(
                    try runtime.database.incidents(IncidentFilter()).map(\.subject), ["job:reachable-but-failing"],
                    "\(round + 1) failed probe(s): the dead jobs' no-success waits for their target's verdict")
            }
        }
        var incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(Set(incidents.map(\.subject)), ["target:\(dead)", "job:reachable-but-failing"], "one incident per cause")
        let target = try XCTUnwrap(incidents.first { $0.subject == "target:\(dead)" })
        XCTAssertEqual(
            target.reason,
            "4 job(s) point at \(dead), which failed 3+ probes in a row (last: connection refused): export-1, export-2, export-3, export-4")
        XCTAssertEqual(Set(calledJobs), Set(deadJobs))

        // The scheduler shows all four paused in one inventory: one update, sent.
        try await report(deadJobs.map { historied($0, dead, enabled: false, change: .changed) }, at: t0 + 200_000)
        try await tickAndNotify(t0 + 200_001)
        // A fifth job appears on the dead target later: it joins the incident, is disabled, and
        // that later disable is a second single update.
        try await report([historied("export-5", dead)], at: t0 + 210_000)
        for round in 0..<3 {
            let at = t0 + 211_000 + Millis(round) * 60_000
            try await report([probe("export-5", dead, healthy: false)], at: at)
            try await tickAndNotify(at + 1)
        }
        try await report([historied("export-5", dead, enabled: false, change: .changed)], at: t0 + 400_000)
        try await tickAndNotify(t0 + 400_001)
        var events = try XCTUnwrap(try runtime.database.incident(id: target.id)?.events)
        XCTAssertEqual(
            events.filter { $0.event == "job_disabled" }.map(\.reason),
            [
                "Gapwatch disabled 4 job(s) pointing at \(dead): export-1, export-2, export-3, export-4",
                "Gapwatch disabled 1 job(s) pointing at \(dead): export-5",
            ])
        XCTAssertTrue(try runtime.database.incident(id: target.id)?.reason.hasPrefix("5 job(s) point at") ?? false)

        // A person re-points three jobs and deletes two: no job points at the dead target any more.
        try await report(
            (1...3).map { historied("export-\($0)", alive, enabled: false, change: .changed) }
                + [4, 5].map { historied("export-\($0)", dead, enabled: false, change: .removed) }, at: t0 + 500_000)
        try await tickAndNotify(t0 + 500_001)
        XCTAssertEqual(try runtime.database.incident(id: target.id)?.state, "resolved")
        XCTAssertEqual(try runtime.database.incident(id: target.id)?.reason, "no job points at \(dead) any more: 3 re-pointed, 2 deleted")
        // The re-pointed jobs' new target answers: Gapwatch resumes what it paused, and their
        // old failed runs (the dead target's doing) do not page them now.
        for round in 0..<2 {
            let at = t0 + 510_000 + Millis(round) * 60_000
            try await report((1...3).map { probe("export-\($0)", alive, healthy: true) }, at: at)
            try await tickAndNotify(at + 1)
        }
        try await report((1...3).map { historied("export-\($0)", alive, enabled: true, change: .changed) }, at: t0 + 640_000)
        try await tickAndNotify(t0 + 640_001)
        try await tickAndNotify(t0 + 500_000 + 15 * 60_000)
        incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.filter { $0.rule == "job_no_success" }.map(\.subject), ["job:reachable-but-failing"])
        let resumed = service.requests.compactMap { try? JSONDecoder().decode([String: String].self, from: Data($0.body)) }.filter {
            $0["op"] == "resume"
        }
        XCTAssertEqual(Set(resumed.compactMap { $0["job"] }), ["export-1", "export-2", "export-3"], "the re-pointed jobs are resumed")
        XCTAssertEqual(
            try runtime.auditJobs(now: t0 + 640_002).filter { $0.present && $0.flags.contains("disabled_by_gapwatch") }.map(\.name), [])

        let received = try pages(pager)
        let about = received.filter { $0.subject == "target:\(dead)" }
        XCTAssertEqual(about.map(\.event), ["opened", "job_disabled", "job_disabled", "resolved"], "\(about)")
        XCTAssertEqual(received.filter { $0.event == "opened" }.map(\.subject).sorted(), ["job:reachable-but-failing", "target:\(dead)"])
        events = try XCTUnwrap(try runtime.database.incident(id: target.id)?.events)
        XCTAssertEqual(events.filter { $0.notify == "sent" }.count, 4)
    }

    /// A job's no-success incident that opened while its target was healthy folds into the
    /// target's incident once the target dies: resolved with a pointer, not a second cause.
    func testANoSuccessIncidentFoldsIntoItsTargetsIncident() async throws {
        try open(Self.config)
        try await report([historied("nightly", dead)], at: t0)
        try await report([probe("nightly", dead, healthy: true)], at: t0 + 1_000)
        try await tick(t0 + 1_001)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.subject), ["job:nightly"], "its target answers: its own cause")
        for round in 0..<3 {
            let at = t0 + 60_000 + Millis(round) * 60_000
            try await report([probe("nightly", dead, healthy: false)], at: at)
            try await tick(at + 1)
        }
        let incidents = try runtime.database.incidents(IncidentFilter())
        let target = try XCTUnwrap(incidents.first { $0.subject == "target:\(dead)" })
        let own = try XCTUnwrap(incidents.first { $0.subject == "job:nightly" })
        XCTAssertEqual(target.state, "open")
        XCTAssertEqual(own.state, "resolved")
        XCTAssertEqual(own.reason, "folded into incident \(target.id): its target \(dead) is failing")
        try await tick(t0 + 400_000)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).filter { $0.state == "open" }.map(\.subject), ["target:\(dead)"])
    }

    static let repointConfig = """
        scheduler_targets:
          failures: 3
          disable: disable-job
          repoint: repoint-job
          replacements:
            - {target: "DEAD", replacement: "ALIVE/v2"}
            - {target: "OTHER", replacement: "http://127.0.0.1:6"}
        guardrails: {max_per_hour: 100, max_concurrent: 4}
        actions:
          - {name: disable-job, kind: webhook, url: "SERVICE/ok", body: '{"job":"{job}","op":"pause"}', cooldown: 0s}
          - {name: repoint-job, kind: webhook, url: "SERVICE/ok", body: '{"job":"{job}","op":"repoint","from":"{target}","to":"{replacement}"}', cooldown: 0s}
        """

    /// A dead target with a healthy replacement: each job is re-pointed (not disabled), verified by
    /// the inventory, and the incident resolves saying the jobs were re-pointed. A dead target
    /// whose replacement is not known to be healthy has its jobs disabled, as before.
    func testJobsOnADeadTargetAreRepointedToAHealthyReplacementElseDisabled() async throws {
        let other = "http://127.0.0.1:7"
        try open(
            Self.repointConfig.replacingOccurrences(of: "DEAD", with: dead).replacingOccurrences(of: "ALIVE", with: alive)
                .replacingOccurrences(of: "OTHER", with: other))
        let moved = ["a-1", "a-2", "a-3"]
        let stuck = ["b-1", "b-2"]
        try await report(moved.map { job($0, dead) } + stuck.map { job($0, other) }, at: t0)
        for round in 0..<3 {
            let at = t0 + 1_000 + Millis(round) * 60_000
            // An agent's http probe of the replacement (probes.http): the replacement answers.
            try await report(
                moved.map { probe($0, dead, healthy: false) } + stuck.map { probe($0, other, healthy: false) }
                    + [.probe(TargetProbe(target: "\(alive)/v2/healthz", httpStatus: 200, latencyMs: 1, healthy: true))], at: at)
            try await tick(at + 1)
        }
        let bodies = service.requests.compactMap { try? JSONDecoder().decode([String: String].self, from: Data($0.body)) }
        XCTAssertEqual(
            Set(bodies.filter { $0["op"] == "repoint" }),
            Set(moved.map { ["job": $0, "op": "repoint", "from": "\(dead)/run/\($0)", "to": "\(alive)/v2/run/\($0)"] }))
        XCTAssertEqual(Set(bodies.filter { $0["op"] == "pause" }.compactMap { $0["job"] }), Set(stuck), "no healthy replacement known: disabled")
        XCTAssertEqual(bodies.count, 5, "one action per job")

        // The scheduler's next inventory shows the new targets: verified, and nothing points at
        // the dead target any more.
        try await report(
            moved.map { .job(JobSighting(name: $0, change: .changed, enabled: true, target: "\(alive)/v2/run/\($0)", scheduler: "cloud-scheduler")) },
            at: t0 + 200_000)
        try await tick(t0 + 200_001)
        let actions = try runtime.database.actions(ActionFilter())
        XCTAssertEqual(actions.filter { $0.name == "repoint-job" }.map(\.state), ["verified", "verified", "verified"])
        for action in actions where action.name == "repoint-job" {
            XCTAssertEqual(try runtime.detector.actionHealed(action), true, "the inventory shows \(action.parameters) done")
        }
        let incidents = try runtime.database.incidents(IncidentFilter())
        let deadIncident = try XCTUnwrap(incidents.first { $0.subject == "target:\(dead)" })
        XCTAssertEqual(deadIncident.state, "resolved")
        XCTAssertEqual(deadIncident.reason, "no job points at \(dead) any more: 3 re-pointed, 0 deleted")
        XCTAssertEqual(try runtime.database.incident(id: deadIncident.id)?.events?.map(\.event), ["opened", "resolved"], "no disable to announce")
        XCTAssertEqual(incidents.first { $0.subject == "target:\(other)" }?.state, "open")
        // A late probe of the old URL (sent before the re-point) does not count against the new target.
        try await report(moved.map { probe($0, dead, healthy: false) }, at: t0 + 200_500)
        XCTAssertEqual(try runtime.auditJobs(now: t0 + 200_600).filter { moved.contains($0.name) }.map(\.probeFailures), [0, 0, 0])
    }

    func testReplacementConfigErrorsNameTheKey() {
        func message(_ yaml: String) -> String {
            do {
                _ = try CollectorConfig.parse(yaml: "actions:\n  - {name: rp, kind: webhook, url: 'http://x/y'}\n" + yaml)
                return "parsed"
            } catch {
                return error.message
            }
        }
        XCTAssertEqual(
            message("scheduler_targets: {repoint: rp, replacements: [{target: 'http://old', replacement: 'https://new:8443/v2'}]}"), "parsed")
        XCTAssertEqual(
            message("scheduler_targets: {repoint: rp}"),
            "scheduler_targets.repoint: needs replacements: (which service replaces which) to know where jobs go")
        XCTAssertEqual(
            message("scheduler_targets: {replacements: [{target: 'http://old', replacement: 'http://new'}]}"),
            "scheduler_targets.replacements: needs repoint: (the action that re-points a job)")
        XCTAssertEqual(
            message("scheduler_targets: {repoint: rp, replacements: [{target: 'http://old/run', replacement: 'http://new'}]}"),
            "scheduler_targets.replacements[0]: target must be an http(s) service without a path (scheme://host[:port], got 'http://old/run'), "
                + "replacement an http(s) URL on another service, without a query (got 'http://new')")
        XCTAssertEqual(
            message("scheduler_targets: {repoint: rp, replacements: [{target: 'http://old'}]}"),
            "scheduler_targets.replacements[0]: target and replacement are required (e.g. {target: http://old-svc, replacement: http://new-svc})")
        XCTAssertEqual(
            message(
                "scheduler_targets: {repoint: rp, replacements: [{target: 'http://old', replacement: 'http://a'}, {target: 'HTTP://OLD:80/', replacement: 'http://b'}]}"
            ),
            "scheduler_targets.replacements[1].target: http://old already has a replacement")
        XCTAssertEqual(
            message("scheduler_targets: {repoint: rp, replacements: [{target: 'http://old', replacement: 'http://new', note: x}]}"),
            "scheduler_targets.replacements[0].note: unknown key (known keys here: replacement, target)")
        // {replacement} is a placeholder an action may use; a misspelt one is refused.
        XCTAssertNoThrow(
            try CollectorConfig.parse(yaml: "actions:\n  - {name: w, kind: agent, agent: a, command: c, parameters: {to: '{replacement}'}}"))
        XCTAssertThrowsError(
            try CollectorConfig.parse(yaml: "actions:\n  - {name: w, kind: agent, agent: a, command: c, parameters: {to: '{replacment}'}}")
        ) {
            XCTAssertTrue(($0 as? ConfigError)?.message.hasPrefix("actions[0].parameters.to: unknown placeholder {replacment}") ?? false, "\($0)")
        }
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
        // The hourly job that keeps failing is flagged by the rule too: an incident of its own,
        // once its target has answered a probe (a failing target would be the cause instead).
        try await report([.probe(TargetProbe(job: "b-stale", target: "\(alive)/x", httpStatus: 200, latencyMs: 1, healthy: true))], at: t0 + 150)
        _ = try runtime.detector.evaluateDue(now: t0 + 200)
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(Set(incidents.map(\.subject)), ["target:\(dead)", "job:b-stale"])
        XCTAssertTrue(incidents.first { $0.subject == "job:b-stale" }?.reason.contains("last attempt: failure") ?? false)
    }

    func testTheAuditReportGoesToEveryChannel() async throws {
        try open(
            """
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
        XCTAssertEqual(
            message("scheduler_targets: {audit_report: {timezone: UTC}}"), "scheduler_targets.audit_report.cron: required (e.g. '0 8 * * 1')")
        // No key is close to "probes": no guess, but the keys allowed there.
        XCTAssertEqual(
            message("scheduler_targets: {probes: 3}").components(separatedBy: " (known keys here: ")[0], "scheduler_targets.probes: unknown key")
        XCTAssertTrue(
            message("scheduler_targets: {probes: 3}").contains("failures, name, no_success_grace"), message("scheduler_targets: {probes: 3}"))
        XCTAssertEqual(message("stuck_locks:\n  - {locks: 'x*'}"), "stuck_locks[0].name: required")
        XCTAssertEqual(
            message("stuck_locks:\n  - {name: l, release: nope}"), "stuck_locks[0].release: no action named 'nope' (declared: )")
    }
}
