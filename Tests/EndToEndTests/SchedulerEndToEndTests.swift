import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Scheduler targets and locks with our binaries as processes. The "scheduler" is a jobs file the
/// agent lists with a command, and commands (from the agent's allow-list) that pause and resume
/// jobs in it; the "dead service" is a port where nothing listens until the test starts another
/// collector there; the lock store is a file the agent lists and a release command edits.
final class SchedulerEndToEndTests: CollectorTestCase {
    var revived: CollectorProcess?
    var revivedWorkspace: Workspace?

    override func setUpWithError() throws {
        // Commands ride on report responses: a heartbeat each second keeps reports coming.
        agent.heartbeatInterval = "1s"
    }

    override func tearDown() {
        revived?.child?.terminate()
        revivedWorkspace?.finish(self)
        super.tearDown()
    }

    func lines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: workspace.file(file), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func script(_ name: String, _ body: String) throws -> String {
        let path = workspace.file(name)
        try ("#!/bin/sh\nset -e\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func actions() throws -> [ActionInfo] {
        struct List: Decodable { var actions: [ActionInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/actions?limit=1000").body).actions
    }

    func incidents() throws -> [IncidentInfo] {
        struct List: Decodable { var incidents: [IncidentInfo] }
        return try ReportCodec.decode(List.self, from: try collector.get("/v1/incidents").body).incidents
    }

    func events(_ incident: Int64) throws -> [IncidentEventInfo] {
        try ReportCodec.decode(IncidentInfo.self, from: try collector.get("/v1/incidents/\(incident)").body).events ?? []
    }

    /// What a pager behind the collector's webhook channel received: (event, subject, reason).
    func pages(_ pager: NotifyReceiver) -> [(event: String, subject: String, reason: String)] {
        pager.requests.compactMap { try? JSONDecoder().decode(NotificationMessage.self, from: Data($0.body)) }.map {
            ($0.event, $0.subject, $0.reason)
        }
    }

    /// The jobs file in our inventory shape, each job with run history when `lastSuccessAgo` is set
    /// (the last attempt a minute ago, failed; the last success that long ago).
    func writeJobs(_ jobs: [(name: String, base: String)], lastSuccessAgo: Millis?) throws {
        let now = WallClock.nowMillis()
        let entries = jobs.map { job in
            var fields = [
                #""name":"\#(job.name)""#, #""target":"\#(job.base)/run""#, #""health_url":"\#(job.base)/healthz""#, #""schedule":"*/5 * * * *""#,
                #""enabled":true"#,
            ]
            if let ago = lastSuccessAgo {
                fields += [
                    #""last_attempt_at":"\#(TimeParsing.format(now - 60_000))""#, #""last_result":"failure""#,
                    #""last_success_at":"\#(TimeParsing.format(now - ago))""#,
                ]
            }
            return "{" + fields.joined(separator: ",") + "}"
        }
        try ("[\n" + entries.joined(separator: ",\n") + "\n]\n").write(toFile: workspace.file("jobs.json"), atomically: true, encoding: .utf8)
    }

    /// The agent's scheduler: section for the jobs file, read every 2 s, targets probed every second.
    var schedulerListing: String {
        """
        scheduler:
          name: test-scheduler
          jobs_command: {argv: ["/bin/cat", "\(workspace.file("jobs.json"))"], timeout: 10s}
          inventory_interval: 2s
          probe_interval: 1s
          probe_timeout: 2s
        """
    }

    /// The scheduler of the jobs file (listed with cat), with pause and resume commands that flip
    /// a job's "enabled" on its own line (names end with a quote, so phase1-1 never matches
    /// phase1-10; up to four run at once, max_concurrent: flock keeps their edits apart), each
    /// logged to pauses.txt / resumes.txt; the collector disables jobs on failing targets with
    /// them and re-enables them. `collectorConfig` is added to the collector's config.
    func pauseAndResumeJobs(collectorConfig: String = "") throws {
        let jobs = workspace.file("jobs.json")
        let pause = try script(
            "pause.sh",
            #"echo "$1" >> \#(workspace.file("pauses.txt"))"# + "\n"
                + #"flock \#(jobs).lock sed -i "s/^\(.*\"name\":\"$1\",.*\"enabled\":\)true/\1false/" \#(jobs)"#)
        let resume = try script(
            "resume.sh",
            #"echo "$1" >> \#(workspace.file("resumes.txt"))"# + "\n"
                + #"flock \#(jobs).lock sed -i "s/^\(.*\"name\":\"$1\",.*\"enabled\":\)false/\1true/" \#(jobs)"#)
        agent.extraConfig = """
            \(schedulerListing)
            actions:
              - {name: pause-job, argv: ["/bin/sh", "\(pause)", "{job}"], parameters: {job: identifier}, timeout: 30s}
              - {name: resume-job, argv: ["/bin/sh", "\(resume)", "{job}"], parameters: {job: identifier}, timeout: 30s}
            """
        // Every dead job of the scheduler is disabled unattended: the breaker is off (100%), and the
        // scheduler rule and agent may use every slot.
        collector.extraConfig = """
            recheck_interval: 2s
            scheduler_targets: {failures: 3, reenable_after: 2, disable: pause-job, reenable: resume-job, breaker: {max_share: 100%}}
            guardrails: {max_per_hour: 100, max_concurrent: 4, per_rule: {max_concurrent: 4}, per_target: {max_concurrent: 4}}
            actions:
              - {name: pause-job, kind: agent, agent: e2e-agent, command: pause-job, parameters: {job: "{job}"}, cooldown: 0s}
              - {name: resume-job, kind: agent, agent: e2e-agent, command: resume-job, parameters: {job: "{job}"}, cooldown: 0s}
            \(collectorConfig)
            """
    }

    func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runCommand(
            Binaries.gapwatch, arguments,
            environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
    }

    func testNineJobsOnADeadServiceAreDisabledOnceEachAndReenabledWhenItReturns() throws {
        let revivedWorkspace = try Workspace(name + "-service")
        self.revivedWorkspace = revivedWorkspace
        let service = CollectorProcess(workspace: revivedWorkspace)  // not started: nothing listens on its port
        revived = service
        let dead = "http://127.0.0.1:\(service.port)"
        let deadJobs = (1...9).map { "phase1-\($0)" }
        var entries = deadJobs.map {
            #"{"name":"\#($0)","target":"\#(dead)/run","health_url":"\#(dead)/healthz","schedule":"5 * * * *","enabled":true}"#
        }
        // Two jobs on a healthy service: the collector under test answers its own /healthz.
        entries += ["healthy-a", "healthy-b"].map { #"{"name":"\#($0)","target":"\#(collector.url)/healthz","enabled":true}"# }
        try ("[\n" + entries.joined(separator: ",\n") + "\n]\n").write(toFile: workspace.file("jobs.json"), atomically: true, encoding: .utf8)
        try pauseAndResumeJobs()
        try collector.start()
        try agent.start()

        try waitFor("nine pauses", timeout: 90) { lines("pauses.txt").count >= 9 }
        try waitFor("the pauses to be verified", timeout: 60) {
            try actions().filter { $0.name == "pause-job" && $0.state == "verified" }.count == 9
        }
        XCTAssertEqual(lines("pauses.txt").sorted(), deadJobs.sorted(), "each job on the dead service paused once; the healthy ones untouched")
        let open = try incidents().filter { $0.state == "open" }
        XCTAssertEqual(open.map(\.subject), ["target:\(dead)"], "one grouped incident")
        // Every disabled job is announced, the nine together in one update of the incident.
        try waitFor("the disables to be announced", timeout: 30) { try self.events(open[0].id).contains { $0.event == "job_disabled" } }
        let announced = try events(open[0].id).filter { $0.event == "job_disabled" }
        XCTAssertEqual(announced.count, 1, "one batched announcement: \(announced)")
        for job in deadJobs { XCTAssertTrue(announced.first?.reason.contains(job) ?? false, "\(job) named: \(announced)") }

        // Before deleting a service: which jobs point at it?
        let audit = try cli(["audit", "service", dead])
        XCTAssertEqual(audit.status, 0, audit.output)
        for job in deadJobs { XCTAssertTrue(audit.output.contains(job), audit.output) }
        XCTAssertFalse(audit.output.contains("healthy-a"), audit.output)
        XCTAssertTrue(audit.output.contains("9 job(s) point at \(dead); 0 enabled."), audit.output)
        let report = try cli(["audit", "report"])
        XCTAssertTrue(report.output.contains("11 job(s) on 2 service(s); 9 flagged, 9 disabled by Gapwatch"), report.output)

        // The service comes back: two healthy probes in a row, and Gapwatch resumes what it paused.
        try service.start()
        try waitFor("nine resumes", timeout: 90) { lines("resumes.txt").count >= 9 }
        try waitFor("the incident to resolve", timeout: 60) { try incidents().allSatisfy { $0.state == "resolved" } }
        try waitFor("the resumes to be verified", timeout: 60) {
            try actions().filter { $0.name == "resume-job" && $0.state == "verified" }.count == 9
        }
        sleep(3)
        XCTAssertEqual(lines("pauses.txt").count, 9, "no second pause")
        XCTAssertEqual(lines("resumes.txt").sorted(), deadJobs.sorted(), "each resumed once")
    }

    /// The measured case, as processes: nine jobs whose inventory carries run history (failed last
    /// attempt, last success three days ago) on a service that is gone. The pager behind the
    /// collector's webhook gets one opening (the target's, listing every job), one update for the
    /// nine disables and, once a person re-points the jobs, one resolution saying so; no "no
    /// recent success" page for any job, before or after.
    func testADeadTargetWithRunHistoryIsOneOpeningOneDisableUpdateAndOneResolution() async throws {
        let pager = try await NotifyReceiver.start()
        defer { pager.stop() }
        let dead = "http://127.0.0.1:\(freePort())"  // nothing listens there
        let deadJobs = (1...9).map { "phase1-\($0)" }
        try writeJobs(deadJobs.map { ($0, dead) }, lastSuccessAgo: 3 * 86_400_000)
        let jobs = workspace.file("jobs.json")
        try pauseAndResumeJobs(
            collectorConfig: """
                notify:
                  channels:
                    - {name: pager, kind: webhook, url: "\(pager.base)/ok"}
                """)
        try collector.start()
        try agent.start()

        try waitFor("nine pauses", timeout: 90) { lines("pauses.txt").count >= 9 }
        try waitFor("the disable update to reach the pager", timeout: 60) { pages(pager).contains { $0.event == "job_disabled" } }
        let opened = try XCTUnwrap(pages(pager).first)
        XCTAssertEqual(opened.event, "opened")
        XCTAssertEqual(opened.subject, "target:\(dead)")
        for job in deadJobs { XCTAssertTrue(opened.reason.contains(job), "the opening lists \(job): \(opened.reason)") }

        // A person re-points the nine jobs at a service that answers (this collector's /healthz).
        try String(contentsOfFile: jobs, encoding: .utf8).replacingOccurrences(of: dead, with: collector.url)
            .write(toFile: jobs, atomically: true, encoding: .utf8)
        try waitFor("the resolution to reach the pager", timeout: 60) { pages(pager).contains { $0.event == "resolved" } }
        try waitFor("the re-pointed jobs to be resumed", timeout: 60) {
            try actions().filter { $0.name == "resume-job" && $0.state == "verified" }.count == 9
        }
        sleep(5)  // any late page would show now: reminders are off, runs are failing "since days"
        let received = pages(pager)
        XCTAssertEqual(received.map(\.event), ["opened", "job_disabled", "resolved"], "\(received)")
        XCTAssertEqual(Set(received.map(\.subject)), ["target:\(dead)"])
        XCTAssertEqual(received.last?.reason, "no job points at \(dead) any more: 9 re-pointed, 0 deleted")
        XCTAssertEqual(try incidents().map(\.rule), ["target_unhealthy"], "no job has an incident of its own")
    }

    /// A dead target with a replacement that an agent's http probe shows healthy: Gapwatch
    /// re-points every job through the allow-listed command (which edits the jobs file), verifies
    /// each in the inventory, disables nothing, and the incident resolves saying the jobs moved.
    func testJobsOnADeadTargetAreRepointedToItsHealthyReplacement() async throws {
        let pager = try await NotifyReceiver.start()
        defer { pager.stop() }
        let dead = "http://127.0.0.1:\(freePort())"
        let deadJobs = (1...9).map { "phase1-\($0)" }
        try writeJobs(deadJobs.map { ($0, dead) }, lastSuccessAgo: nil)
        let jobs = workspace.file("jobs.json")
        // repoint.sh JOB TARGET REPLACEMENT: the job's target becomes REPLACEMENT, and its
        // health_url moves to the same service.
        let repoint = try script(
            "repoint.sh",
            #"echo "$1 $3" >> \#(workspace.file("repoints.txt"))"# + "\n"
                + #"old=$(echo "$2" | sed -E 's|^(https?://[^/]+).*|\1|'); new=$(echo "$3" | sed -E 's|^(https?://[^/]+).*|\1|')"# + "\n"
                + #"flock \#(jobs).lock sed -i "/\"name\":\"$1\"/ { s|\"target\":\"[^\"]*\"|\"target\":\"$3\"|; s|$old/|$new/|g }" \#(jobs)"#)
        let pause = try script("pause.sh", #"echo "$1" >> \#(workspace.file("pauses.txt"))"#)
        agent.extraConfig = """
            \(schedulerListing)
            probes:
              http:
                - {name: replacement-health, url: "\(collector.url)/healthz", interval: 1s, timeout: 2s}
            actions:
              - {name: repoint-job, argv: ["/bin/sh", "\(repoint)", "{job}", "{target}", "{replacement}"], parameters: {job: identifier, target: text, replacement: text}, timeout: 30s}
              - {name: pause-job, argv: ["/bin/sh", "\(pause)", "{job}"], parameters: {job: identifier}, timeout: 30s}
            """
        collector.extraConfig = """
            recheck_interval: 2s
            notify:
              channels:
                - {name: pager, kind: webhook, url: "\(pager.base)/ok"}
            scheduler_targets:
              failures: 3
              disable: pause-job
              repoint: repoint-job
              replacements:
                - {target: "\(dead)", replacement: "\(collector.url)"}
            guardrails: {max_per_hour: 100, max_concurrent: 4}
            actions:
              - {name: pause-job, kind: agent, agent: e2e-agent, command: pause-job, parameters: {job: "{job}"}, cooldown: 0s}
              - {name: repoint-job, kind: agent, agent: e2e-agent, command: repoint-job, parameters: {job: "{job}", target: "{target}", replacement: "{replacement}"}, cooldown: 0s}
            """
        try collector.start()
        try agent.start()

        try waitFor("the re-points to be verified", timeout: 90) {
            try actions().filter { $0.name == "repoint-job" && $0.state == "verified" }.count == 9
        }
        try waitFor("the incident to resolve", timeout: 60) { try incidents().allSatisfy { $0.state == "resolved" } }
        try waitFor("the resolution to reach the pager", timeout: 30) { pages(pager).contains { $0.event == "resolved" } }
        sleep(3)
        XCTAssertEqual(lines("repoints.txt").sorted(), deadJobs.map { "\($0) \(collector.url)/run" }.sorted(), "each job re-pointed once")
        XCTAssertEqual(lines("pauses.txt"), [], "nothing disabled")
        let listed = try String(contentsOfFile: jobs, encoding: .utf8)
        XCTAssertFalse(listed.contains(dead), listed)
        let incident = try XCTUnwrap(try incidents().first)
        XCTAssertEqual(incident.subject, "target:\(dead)")
        XCTAssertEqual(incident.reason, "no job points at \(dead) any more: 9 re-pointed, 0 deleted")
        XCTAssertEqual(pages(pager).map(\.event), ["opened", "resolved"], "one opening, one resolution")
        XCTAssertEqual(try events(incident.id).filter { $0.event == "job_disabled" }.count, 0)
    }

    func testAStuckLockIsReleasedOnceAndVerifiedAndALiveLockIsNeverTouched() throws {
        let now = WallClock.nowMillis()
        let store = workspace.file("locks.lines")
        try """
        {"name":"workflow_controller","holder":"orchestrator-dead","acquired_at":\(now - 600_000),"expires_at":\(now - 300_000)}
        {"name":"workflow_live","holder":"orchestrator-live","acquired_at":\(now - 60_000),"expires_at":\(now + 3_600_000)}

        """.write(toFile: store, atomically: true, encoding: .utf8)
        let list = try script("list-locks.sh", "printf '['; paste -sd, \(store); printf ']'")
        let release = try script(
            "release.sh",
            #"echo "$1" >> \#(workspace.file("releases.txt"))"# + "\n" + #"grep -v "\"name\":\"$1\"" \#(store) > \#(store).new || true"# + "\n"
                + "mv \(store).new \(store)")
        agent.extraConfig = """
            locks: {argv: ["/bin/sh", "\(list)"], interval: 1s, timeout: 10s}
            actions:
              - {name: release-lock, argv: ["/bin/sh", "\(release)", "{lock}"], parameters: {lock: identifier}, timeout: 30s}
            """
        collector.extraConfig = """
            stuck_locks:
              - {name: controller-locks, locks: 'workflow_*', slack: 1m, release: release-lock}
            actions:
              - {name: release-lock, kind: agent, agent: e2e-agent, command: release-lock, parameters: {lock: "{lock}"}, cooldown: 0s}
            """
        try collector.start()
        try agent.start()
        try waitFor("the release", timeout: 60) { !lines("releases.txt").isEmpty }
        try waitFor("the release to be verified", timeout: 60) { try actions().first?.state == "verified" }
        try waitFor("the incident to resolve", timeout: 30) { try incidents().map(\.state) == ["resolved"] }
        sleep(3)
        XCTAssertEqual(lines("releases.txt"), ["workflow_controller"], "released once; the lock inside its TTL untouched")
        let shown = try cli(["locks"])
        XCTAssertTrue(shown.output.contains("workflow_live"), shown.output)
        XCTAssertTrue(shown.output.split(separator: "\n").contains { $0.contains("workflow_controller") && $0.contains("free") }, shown.output)

        // A person may still release a live lock by hand; it is recorded with who asked.
        let asked = try cli(["locks", "release", "workflow_live"])
        XCTAssertEqual(asked.status, 0, asked.output)
        try waitFor("the manual release", timeout: 60) { lines("releases.txt").count == 2 }
        let manual = try XCTUnwrap(try actions().first { $0.origin == "manual" })
        XCTAssertNotNil(manual.requestedBy)
        try waitFor("the manual release to be verified", timeout: 60) { try actions().first { $0.origin == "manual" }?.state == "verified" }
        let again = try cli(["locks", "release", "workflow_live"])
        XCTAssertNotEqual(again.status, 0, "a free lock: nothing to release")
        XCTAssertTrue(again.output.contains("lock workflow_live is free"), again.output)
    }
}
