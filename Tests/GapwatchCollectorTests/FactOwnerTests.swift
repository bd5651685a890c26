import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// Facts have owners, and only what a token or the config binds is trusted (issue 14, item 3):
/// a real collector on 127.0.0.1 with agent tokens of its own, reports over real HTTP.
final class FactOwnerTests: XCTestCase {
    var collector: TestCollector!
    var seqs: [String: UInt64] = [:]

    override func tearDown() {
        collector?.stop()
    }

    /// Starts a collector with `yaml`'s detection, remediation and ownership sections.
    func start(_ yaml: String) async throws {
        let parsed = try CollectorConfig.parse(yaml: yaml)
        collector = try await TestCollector.start { config in
            config.detection = parsed.detection
            config.remediation = parsed.remediation
            config.ownership = parsed.ownership
        }
    }

    func agentToken(_ agentID: String) throws -> String {
        try collector.runtime.tokens.issue(kind: .agent, agentID: agentID, name: agentID, now: WallClock.nowMillis()).token
    }

    /// Posts `bodies` as `agent` (claiming `labels`), numbered after what it sent before.
    func post(
        _ agent: String, token: String, _ bodies: [ObservationBody], at: Millis = WallClock.nowMillis(), service: String = "svc",
        labels: [String: String] = [:], resendFrom: UInt64? = nil
    ) async throws -> ReportResponse {
        let first = resendFrom ?? (seqs[agent, default: 0] + 1)
        let observations = bodies.enumerated().map { Observation(seq: first + UInt64($0.offset), observedAt: at, body: $0.element) }
        seqs[agent] = max(seqs[agent, default: 0], first + UInt64(bodies.count) - 1)
        let report = Report(
            agent: AgentIdentity(id: agent, service: service, host: "h", version: "1", labels: labels), bootID: "b", spoolID: "spool-\(agent)",
            sentAt: at, observations: observations)
        let response = try await collector.post(report, token: token)
        XCTAssertEqual(response.status, 200, response.bodyText)
        return try ReportCodec.decode(ReportResponse.self, from: response.body)
    }

    func get<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let response = try await collector.send("GET", path, token: collector.adminToken)
        XCTAssertEqual(response.status, 200, response.bodyText)
        return try ReportCodec.decode(type, from: response.body)
    }

    struct Agents: Decodable { var agents: [AgentInfo] }
    struct Actions: Decodable { var actions: [ActionInfo] }

    /// Evaluates and runs actions now, a few times (the collector's own loops run too).
    func settle() async throws {
        for _ in 0..<3 {
            _ = try collector.runtime.detector.evaluateDue(now: WallClock.nowMillis())
            try await collector.runtime.actions.runPass(now: WallClock.nowMillis())
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    static let schedulerConfig = """
        liveness: {enabled: false}
        scheduler_targets: {failures: 3, disable: pause-job, breaker: {max_share: 100%}}
        stuck_locks:
          - {name: controller-locks, locks: 'workflow_*', slack: 0s, release: release-lock}
        recheck_interval: 1s
        actions:
          - {name: pause-job, kind: agent, agent: scheduler-agent, command: pause-job, parameters: {job: "{job}"}, cooldown: 0s}
          - {name: release-lock, kind: agent, agent: scheduler-agent, command: release-lock, parameters: {lock: "{lock}"}, cooldown: 0s}
        """

    func job(_ name: String) -> ObservationBody {
        .job(JobSighting(name: name, change: .added, enabled: true, target: "http://127.0.0.1:9/run/\(name)", scheduler: "cloud-scheduler/us-west2"))
    }

    func probe(_ name: String, healthy: Bool) -> ObservationBody {
        .probe(
            TargetProbe(
                job: name, target: "http://127.0.0.1:9/run/\(name)", httpStatus: healthy ? 200 : nil, error: healthy ? nil : "connection refused",
                latencyMs: 1, healthy: healthy))
    }

    /// The attack of issue 14: an agent with a valid token for itself sends 3 failing probes for
    /// each of another agent's 40 scheduler jobs and an expired copy of its lock, beside honest
    /// observations of its own. Each forged observation is refused alone and counted; the honest
    /// ones are stored; the owner's jobs and lock do not change and no command reaches it.
    func testForgedProbesAndLockAboutAnotherAgentsFactsAreRefusedOneByOneAndTheHonestOnesStored() async throws {
        try await start(Self.schedulerConfig)
        let scheduler = try agentToken("scheduler-agent")
        let forger = try agentToken("forger")
        let now = WallClock.nowMillis()
        let jobs = (1...40).map { "job-\($0)" }
        let lock = LockSighting(name: "workflow_controller", holder: "worker-7", acquiredAt: now - 60_000, expiresAt: now + 3_600_000)
        let own = try await post("scheduler-agent", token: scheduler, jobs.map(job) + jobs.map { probe($0, healthy: true) } + [.lock(lock)], at: now)
        XCTAssertEqual(own.stored, 81)
        XCTAssertEqual(own.refused, [])

        let forged = LockSighting(name: "workflow_controller", holder: "worker-7", acquiredAt: now - 3 * 3_600_000, expiresAt: now - 2 * 3_600_000)
        let honest: [ObservationBody] = [
            .count(Count(dataset: "forger.rows", partition: "2026-01-22", count: 5)), .heartbeat(Heartbeat(name: "forger-loop", status: .ok)),
        ]
        let attack = jobs.flatMap { Array(repeating: probe($0, healthy: false), count: 3) } + [.lock(forged)] + honest
        let answer = try await post("forger", token: forger, attack, at: now + 1_000)
        XCTAssertEqual(answer.stored, 2, "the honest observations are stored")
        XCTAssertEqual(answer.duplicates, 0)
        XCTAssertEqual(answer.ackedSeq, UInt64(attack.count), "refused ones are acknowledged: the agent does not send them again")
        let refused = answer.refused
        XCTAssertEqual(refused.map(\.seq), Array(1...121).map(UInt64.init), "each forged observation, by its seq")
        XCTAssertEqual(refused[0].field, "observations[0].job", "the field that names the fact")
        XCTAssertEqual(refused[120].field, "observations[120].name")
        XCTAssertEqual(
            refused[0].reason,
            "job:job-1: agent forger may not report it; only agent scheduler-agent (its owner; gapwatch owners reassign moves it) may")
        XCTAssertTrue(refused[120].reason.hasPrefix("lock:workflow_controller: agent forger may not report it"), refused[120].reason)

        try await settle()
        let queued = try await get(Actions.self, "/v1/actions").actions.map(\.key)
        XCTAssertEqual(queued, [], "no action is queued")
        let next = try await post("scheduler-agent", token: scheduler, [.heartbeat(Heartbeat(name: "scheduler-agent", status: .ok))])
        XCTAssertEqual(next.commands, [], "no command reaches the scheduler's agent")
        let audit = try collector.runtime.auditJobs(now: WallClock.nowMillis())
        XCTAssertEqual(audit.count, 40)
        XCTAssertTrue(audit.allSatisfy { $0.probeFailures == 0 && $0.targetHealth == "healthy" && $0.agentID == "scheduler-agent" }, "\(audit[0])")
        let locks = try collector.runtime.locks(now: WallClock.nowMillis())
        XCTAssertEqual(locks.map(\.state), ["held"])
        XCTAssertEqual(locks.first?.expiresAt, now + 3_600_000, "the owner's sighting stands")
        XCTAssertEqual(locks.first?.agentID, "scheduler-agent")

        // Who said what: the forger's honest observations on the timeline; its refusals counted and listed.
        let timeline = try await get(TimelinePage.self, "/v1/timeline?agent=forger")
        XCTAssertEqual(timeline.observations.map(\.subject).sorted(), ["dataset:forger.rows", "ping:forger-loop"])
        let agents = try await get(Agents.self, "/v1/agents").agents
        XCTAssertEqual(agents.first { $0.id == "forger" }?.refused, 121)
        XCTAssertEqual(agents.first { $0.id == "scheduler-agent" }?.refused, 0)
        let owners = try await get(OwnersListing.self, "/v1/owners?agent=forger")
        XCTAssertEqual(owners.refused.count, 20, "at most 20 refused facts are remembered per agent; all are counted")
        XCTAssertTrue(owners.refused.allSatisfy { $0.count == 3 && $0.fact.hasPrefix("job:job-") && $0.entitled.hasPrefix("agent scheduler-agent") })
        XCTAssertEqual(Set(owners.owners.map(\.fact)), ["dataset:forger.rows"], "the forger owns only what it said first")
        let metrics = try await collector.send("GET", "/metrics", token: collector.adminToken).bodyText
        XCTAssertTrue(metrics.contains(#"gapwatch_ingest_refused_total{kind="probe"} 120"#), metrics)
        XCTAssertTrue(metrics.contains(#"gapwatch_ingest_refused_total{kind="lock"} 1"#), metrics)

        // A resend (a lost response) is a duplicate: not refused or counted again.
        let resend = try await post("forger", token: forger, attack, at: now + 1_000, resendFrom: 1)
        XCTAssertEqual(resend.duplicates, attack.count)
        XCTAssertEqual(resend.refused, [])
        let forgerRefused = try await get(Agents.self, "/v1/agents").agents.first { $0.id == "forger" }?.refused
        XCTAssertEqual(forgerRefused, 121)
    }

    /// A lock (or job) the forger reports first is its own, but a command about it bound for
    /// another agent waits for a person: whoever reports a fact cannot steer another agent.
    func testACommandAboutAFactReportedByAnotherAgentWaitsForApproval() async throws {
        try await start(Self.schedulerConfig)
        let scheduler = try agentToken("scheduler-agent")
        let forger = try agentToken("forger")
        let now = WallClock.nowMillis()
        let invented = LockSighting(name: "workflow_invented", holder: "x", acquiredAt: now - 3 * 3_600_000, expiresAt: now - 2 * 3_600_000)
        let answer = try await post("forger", token: forger, [.lock(invented)], at: now)
        XCTAssertEqual(answer.stored, 1, "nobody owned it: the forger's first report makes it the owner")
        try await settle()
        let actions = try await get(Actions.self, "/v1/actions").actions
        XCTAssertEqual(actions.map(\.state), ["awaiting_approval"])
        XCTAssertEqual(
            actions.first?.detail,
            "lock:workflow_invented is reported by agent forger, but this command would run on agent scheduler-agent: waiting for `gapwatch actions approve \(actions[0].id)`"
        )
        let beforeApproval = try await post("scheduler-agent", token: scheduler, [.heartbeat(Heartbeat(name: "hb", status: .ok))]).commands
        XCTAssertEqual(beforeApproval, [])

        // A person decides: approved, the command goes out.
        let approve = try await collector.send("POST", "/v1/actions/\(actions[0].id)/approve", token: collector.adminToken)
        XCTAssertEqual(approve.status, 200, approve.bodyText)
        try await settle()
        let commands = try await post("scheduler-agent", token: scheduler, [.heartbeat(Heartbeat(name: "hb", status: .ok))]).commands
        XCTAssertEqual(commands.map(\.name), ["release-lock"])
        XCTAssertEqual(commands.first?.parameters, ["lock": "workflow_invented"])
    }

    /// Check filters match what the token binds, never what the report claims.
    func testAReportClaimingLabelsItIsNotBoundToDoesNotFeedALabelFilteredCheck() async throws {
        try await start(
            """
            liveness: {enabled: false}
            checks:
              - {name: prod-backup, ping: backup, every: 1h, service: db, agent_labels: {env: prod}}
            """)
        func issue(_ body: String) async throws -> IssuedToken {
            let r = try await collector.send("POST", "/v1/tokens", token: collector.adminToken, body: Array(body.utf8))
            XCTAssertEqual(r.status, 201, r.bodyText)
            return try ReportCodec.decode(IssuedToken.self, from: r.body)
        }
        let intruder = try await issue(#"{"kind": "agent", "agent_id": "intruder"}"#)
        let bound = try await issue(#"{"kind": "agent", "agent_id": "db-1", "service": "db", "labels": {"env": "prod"}}"#)
        XCTAssertEqual(bound.info.service, "db")
        XCTAssertEqual(bound.info.labels, ["env": "prod"])
        func lastPing() throws -> Millis? {
            try collector.runtime.detector.checks(now: WallClock.nowMillis()).first { $0.name == "prod-backup" }?.lastPingAt
        }

        let t = WallClock.nowMillis()
        let claimed = try await post(
            "intruder", token: intruder.token, [.heartbeat(Heartbeat(name: "backup", status: .ok))], at: t, service: "db", labels: ["env": "prod"])
        XCTAssertEqual(claimed.stored, 1, "stored on the timeline as the intruder's, feeding nothing")
        XCTAssertNil(try lastPing(), "claimed service and labels satisfy no filter")
        // The bound agent claims nothing in its report: its token says what it is.
        _ = try await post("db-1", token: bound.token, [.heartbeat(Heartbeat(name: "backup", status: .ok))], at: t + 1_000, service: "", labels: [:])
        XCTAssertEqual(try lastPing(), t + 1_000)
        let agents = try await get(Agents.self, "/v1/agents").agents
        let shown = try XCTUnwrap(agents.first { $0.id == "intruder" })
        XCTAssertEqual(shown.labels, ["env": "prod"], "its claim is shown...")
        XCTAssertNil(shown.boundLabels, "...apart from what is vouched for")
        XCTAssertEqual(agents.first { $0.id == "db-1" }?.boundLabels, ["env": "prod"])
        XCTAssertEqual(agents.first { $0.id == "db-1" }?.boundService, "db")

        // Binding is for reporting tokens only, with the rules of a report's labels.
        for (body, field) in [
            (#"{"kind": "read", "labels": {"env": "prod"}}"#, "labels"), (#"{"kind": "fleet", "labels": {"bad key": "x"}}"#, "labels"),
            (#"{"kind": "fleet", "service": ""}"#, "service"),
        ] {
            let r = try await collector.send("POST", "/v1/tokens", token: collector.adminToken, body: Array(body.utf8))
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(try decodeError(r).field, field, body)
        }
    }

    /// Where the config is silent, the first reporter owns a fact until an admin reassigns it.
    func testTheFirstReporterOwnsADatasetUntilAnAdminReassignsIt() async throws {
        try await start(
            """
            liveness: {enabled: false}
            owners:
              - {facts: ['dataset:bound.*'], agents: [counter-b]}
            """)
        let a = try agentToken("counter-a")
        let b = try agentToken("counter-b")
        func count(_ dataset: String, _ n: Int64) -> ObservationBody { .count(Count(dataset: dataset, partition: "2026-01-22", count: n)) }
        let firstStored = try await post("counter-a", token: a, [count("raw.games", 10)]).stored
        XCTAssertEqual(firstStored, 1)
        let second = try await post("counter-b", token: b, [count("raw.games", 0), count("bound.x", 1)])
        XCTAssertEqual(second.stored, 1)
        XCTAssertEqual(second.refused.map(\.seq), [1])
        XCTAssertEqual(second.refused.first?.field, "observations[0].dataset")
        // The config binds bound.*: its first reporter does not matter.
        let a2 = try await post("counter-a", token: a, [count("bound.x", 9)])
        XCTAssertEqual(
            a2.refused.first?.reason, "dataset:bound.x: agent counter-a may not report it; only agent counter-b (owners: in the collector config) may"
        )

        var listing = try await get(OwnersListing.self, "/v1/owners")
        XCTAssertEqual(listing.owners.map(\.fact), ["dataset:raw.games"])
        XCTAssertEqual(listing.owners.first?.agentID, "counter-a")
        XCTAssertNil(listing.owners.first?.assignedBy)
        XCTAssertEqual(listing.rules, [OwnerRuleInfo(facts: ["dataset:bound.*"], agents: ["counter-b"], service: nil, labels: [:])])
        XCTAssertEqual(Set(listing.refused.map { "\($0.agentID) \($0.fact)" }), ["counter-b dataset:raw.games", "counter-a dataset:bound.x"])

        // Only an admin reassigns, one fact at a time, and never one the config binds.
        func reassign(_ body: String, token: String) async throws -> HTTPResponse {
            try await collector.send("POST", "/v1/owners", token: token, body: Array(body.utf8))
        }
        let notAdmin = try await reassign(#"{"fact": "dataset:raw.games", "agent_id": "counter-b"}"#, token: b).status
        XCTAssertEqual(notAdmin, 403)
        let bad = try await reassign(#"{"fact": "dataset:raw.*", "agent_id": "counter-b"}"#, token: collector.adminToken)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try decodeError(bad).field, "fact")
        let bound = try await reassign(#"{"fact": "dataset:bound.x", "agent_id": "counter-a"}"#, token: collector.adminToken)
        XCTAssertEqual(bound.status, 409, bound.bodyText)
        let moved = try await reassign(#"{"fact": "dataset:raw.games", "agent_id": "counter-b"}"#, token: collector.adminToken)
        XCTAssertEqual(moved.status, 200, moved.bodyText)

        let newOwner = try await post("counter-b", token: b, [count("raw.games", 11)]).refused
        XCTAssertEqual(newOwner, [], "the new owner is accepted...")
        let oldOwner = try await post("counter-a", token: a, [count("raw.games", 12)]).refused.count
        XCTAssertEqual(oldOwner, 1, "...the old one refused")
        listing = try await get(OwnersListing.self, "/v1/owners?fact=dataset:raw.*")
        XCTAssertEqual(listing.owners.first?.agentID, "counter-b")
        XCTAssertNotNil(listing.owners.first?.assignedBy)
    }

    /// An owners: rule with a label selector admits the agents whose token carries the labels, and
    /// no one else, whoever reported first.
    func testAnOwnersRuleAdmitsAgentsByTheLabelsTheirTokenCarries() async throws {
        try await start(
            """
            liveness: {enabled: false}
            owners:
              - {facts: ['job:*'], labels: {role: scheduler}}
            """)
        let fleet = try collector.runtime.tokens.issue(
            kind: .fleet, agentID: nil, name: "schedulers", now: WallClock.nowMillis(), labels: ["role": "scheduler"]
        ).token
        let other = try agentToken("worker-1")
        let sighting = JobSighting(name: "nightly", change: .added, enabled: true, target: "http://127.0.0.1:9/run")
        let first = try await post("worker-1", token: other, [.job(sighting)], labels: ["role": "scheduler"])
        XCTAssertEqual(
            first.refused.first?.reason,
            "job:nightly: agent worker-1 may not report it; only agents bound to role=scheduler (owners: in the collector config) may")
        let sched1 = try await post("sched-1", token: fleet, [.job(sighting)]).refused
        XCTAssertEqual(sched1, [])
        let sched2 = try await post("sched-2", token: fleet, [.job(sighting)]).refused
        XCTAssertEqual(sched2, [], "every agent of the fleet token carries the label")
        XCTAssertEqual(try collector.runtime.auditJobs(now: WallClock.nowMillis()).map(\.agentID), ["sched-2"])
    }
}
