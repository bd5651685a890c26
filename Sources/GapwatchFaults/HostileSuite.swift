import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol

/// Issue 14 as one attack: while honest agents run (a scheduler agent with 40 jobs, a lock table and
/// the collector's pause and release commands; two agents pushing counts under load), one agent
/// holding a valid token for itself only tries every forgery at once: another owner's probes,
/// locks, counts and pings, far-future times, numbers past every bound, other agent ids, results
/// for actions it was never handed, changed resends, thousands of invented names, names with
/// bidirectional controls, and sockets left idle, half-sent or stalled.
///
/// Nothing of the honest agents may change, no command may reach them but the one their own data
/// asked for, the collector must stay up and answer, and every honest observation must be stored.
struct Hostile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract:
            "One agent with a valid token of its own tries every forgery while honest agents run: nothing of theirs changes, nothing reaches them, nothing honest is lost."
    )

    @Option(help: "Honest agents pushing counts.") var agents = 2
    @Option(help: "Pushes per second to each honest agent.") var rate = 20
    @Option(help: "Invented names (jobs and agent ids) the hostile agent sends.") var invented = 2000
    @Option(help: "Sockets the hostile side opens and leaves bare, half-sent or stalled.") var sockets = 150
    @OptionGroup var common: CommonOptions

    static let schedulerID = "faults-bootstrap"  // holds the collector's bootstrap agent token
    static let hostileID = "mallory"

    func run() throws {
        runSuite("hostile", common: common) { report, workspace in
            let fleet = Fleet(
                workspace,
                collectorExtraConfig: """
                    recheck_interval: 1s
                    listen_limits: {header_timeout: 2s, body_timeout: 2s, idle_timeout: 5s}
                    checks:
                      - {name: scheduler-loop, ping: scheduler-loop, every: 1h}

                    """ + SchedulerAgentFixture.collectorConfig(agentID: Self.schedulerID))
            defer { fleet.stopAll() }
            try fleet.startCollector()
            let collector = fleet.collector
            let admin = try collector.token("GAPWATCH_ADMIN_TOKEN")
            let client = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)
            func decoded<T: Decodable>(_ type: T.Type, _ path: String) throws -> T { try collector.decoded(type, path) }

            // The scheduler agent: 40 jobs on a healthy target, one live lock and one expired lock
            // (its release is the one command the suite expects), pause and release commands that
            // write what they did.
            let scheduler = AgentProcess(
                workspace: try Workspace(inside: workspace, "scheduler"), collectorURL: collector.url, tokenFile: collector.tokenFile,
                agentID: Self.schedulerID)
            let dir = scheduler.workspace
            // Slow on purpose: forged results for it arrive while it runs; then the lock is gone.
            let fixture = try SchedulerAgentFixture(
                workspace: dir, collectorURL: collector.url, releaseDelay: 2,
                afterRelease: "cp \(dir.file("live-only.json")) \(dir.file("locks.json"))")
            let (jobs, target) = (fixture.jobs, fixture.target)
            let now = WallClock.nowMillis()
            let liveLock = SchedulerAgentFixture.lock("workflow_controller", holder: "worker-7", acquiredAt: now - 60_000, expiresAt: now + 3_600_000)
            let staleLock = SchedulerAgentFixture.lock("workflow_stale", holder: "worker-3", acquiredAt: now - 7_200_000, expiresAt: now - 3_600_000)
            try fixture.writeLocks([liveLock], to: dir.file("live-only.json"))
            try fixture.writeLocks([liveLock])
            scheduler.heartbeatInterval = "1s"
            scheduler.extraConfig = fixture.agentConfig
            try scheduler.start()
            fleet.agents.append(scheduler)
            var pushers: [Pusher] = []
            for i in 0..<agents {
                let agent = try fleet.addAgent(i)
                try agent.start()
                let pusher = Pusher(agentID: agent.agentID, url: agent.localURL, perSecond: rate)
                pusher.start(threads: 1)
                pushers.append(pusher)
            }
            _ = try scheduler.push(.heartbeat(Heartbeat(name: "scheduler-loop", status: .ok)), client: client)
            try waitFor("the scheduler's 40 jobs probed healthy, its locks and its check", timeout: 60) {
                let audit = try decoded([String: [JobAudit]].self, "/v1/audit/jobs")["jobs"] ?? []
                let locks = try decoded([String: [LockInfo]].self, "/v1/locks")["locks"] ?? []
                let checks = try decoded([String: [CheckInfo]].self, "/v1/checks")["checks"] ?? []
                return audit.count == 40 && audit.allSatisfy { $0.targetHealth == "healthy" } && locks.count >= 1
                    && checks.contains { $0.name == "scheduler-loop" && $0.state == "up" }
            }
            let jobsBefore = try decoded([String: [JobAudit]].self, "/v1/audit/jobs")["jobs"] ?? []

            // The hostile agent's token: for itself only, issued as for any agent.
            let issued = try client.send(
                .init(
                    method: "POST", url: collector.url + "/v1/tokens",
                    headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
                    body: Array(#"{"kind":"agent","agent_id":"\#(Self.hostileID)","name":"hostile"}"#.utf8)))
            guard issued.status == 201 else { throw HarnessError("POST /v1/tokens answered \(issued.status): \(issued.bodyText)") }
            let hostile = HostileAgent(url: collector.url, token: try ReportCodec.decode(IssuedToken.self, from: issued.body).token)

            // Sockets: bare, half-sent heads and stalled bodies, opened before the forgeries and
            // held while they run (the collector closes them after its 2 s timeouts).
            let port = collector.port
            let slowStart = Date()
            var slow: [RawConnection] = []
            for i in 0..<sockets {
                // From 127.0.0.2: the honest agents use 127.0.0.1, so the per-source cap applies to the attacker alone.
                guard let socket = RawConnection(port: port, from: "127.0.0.2") else { continue }
                switch i % 3 {
                case 0: break
                case 1: socket.send("POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ")
                default: socket.send("POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{\"protocol\":1,")
                }
                slow.append(socket)
            }
            // A broken chunked body and a body shorter than its length, on fresh connections (from
            // another address: the first has used up its per-source connections).
            var unreadable: [Int] = []
            for bad in [
                "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(hostile.token)\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(hostile.token)\r\nContent-Length: 50\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"protocol\":1}",
            ] {
                guard let socket = RawConnection(port: port, from: "127.0.0.3") else { continue }
                socket.send(bad)
                socket.finishSending()
                socket.waitClosed(waitMs: 5_000)
                unreadable.append(socket.status ?? 0)
            }

            // While the attack runs: /healthz latency, and forged results for every action there is.
            let collectorURL = collector.url
            let stop = Locked(false)
            let healthLatencies = Locked<[Double]>([])
            let forgedResults = Locked(0)
            let forgedWhileRunning = Locked(0)
            let watchers = DispatchGroup()
            watchers.enter()
            Thread.detachNewThread {
                defer { watchers.leave() }
                let probe = HTTPClient(connectTimeoutMs: 5_000, timeoutMs: 10_000)
                while !stop.read({ $0 }) {
                    let began = Date()
                    let status = (try? probe.send(.init(url: collectorURL + "/healthz")).status) ?? 0
                    healthLatencies.write { $0.append(status == 200 ? Date().timeIntervalSince(began) : 99) }
                    usleep(200_000)
                }
            }
            // A second sender of its own (another spool): the main thread's sender is not shared.
            let resultForger = HostileAgent(url: collector.url, token: hostile.token, spool: "results")
            // A fleet member turned hostile (items 5 and 8): the shared fleet token lets it claim
            // any agent id, so it reports as the scheduler and as a fleet agent from spools of its
            // own, hoping to be handed their commands.
            let fleetToken = try String(contentsOfFile: fleet.fleetTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let impostor = HostileAgent(url: collector.url, token: fleetToken, spool: "impostor")
            let impostorAnswers = Locked<[Int]>([])
            let impostorCommands = Locked(0)
            watchers.enter()
            Thread.detachNewThread {
                defer { watchers.leave() }
                let reader = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)
                while !stop.read({ $0 }) {
                    // The attacker is assumed to know every action id (they are not secret).
                    let listing = try? reader.send(
                        .init(url: collectorURL + "/v1/actions?limit=1000", headers: [("Authorization", "Bearer \(admin)")]))
                    let known = listing.flatMap { try? ReportCodec.decode([String: [ActionInfo]].self, from: $0.body) }?["actions"] ?? []
                    if !known.isEmpty {
                        let results = known.map {
                            ObservationBody.actionResult(ActionResult(actionID: $0.id, outcome: .failed, exitCode: 99, outputTail: "forged"))
                        }
                        if (try? resultForger.send(results)).map({ $0.status == 200 }) == true {
                            forgedResults.write { $0 += known.count }
                            if known.contains(where: { $0.state == "running" }) { forgedWhileRunning.write { $0 += 1 } }
                        }
                    }
                    for claimed in [Self.schedulerID, "faults-agent-0"] {
                        if let answer = try? impostor.send([.heartbeat(Heartbeat(name: "impostor", status: .ok))], agentID: claimed) {
                            impostorAnswers.write { $0.append(answer.status) }
                            impostorCommands.write { $0 += answer.commands }
                        }
                    }
                    usleep(300_000)
                }
            }

            // The scheduler's lock table now shows a lock expired an hour ago: its release is the
            // one command this suite expects, and it runs (2 s) while forged results arrive.
            try fixture.writeLocks([liveLock, staleLock])

            // The forgeries.
            var answers = HostileAnswers()
            let probes = jobs.flatMap { job in
                (0..<3).map { _ in ObservationBody.probe(TargetProbe(job: job, target: target, httpStatus: 404, latencyMs: 3, healthy: false)) }
            }
            let expired = LockSighting(
                name: "workflow_controller", holder: "worker-7", acquiredAt: now - 3 * 3_600_000, expiresAt: now - 2 * 3_600_000)
            let otherCounts = (0..<20).map { ObservationBody.count(Count(dataset: Pusher.dataset, partition: "\(Self.hostileID)-\($0)", count: 0)) }
            let own: [ObservationBody] = [
                .count(Count(dataset: "mallory.rows", partition: "2026-01-22", count: 5)), .heartbeat(Heartbeat(name: "mallory-loop", status: .ok)),
            ]
            let forged = try hostile.send(
                probes + [.lock(expired)] + otherCounts + [.heartbeat(Heartbeat(name: "scheduler-loop", status: .ok))] + own)
            answers.record("forged facts of other owners", forged, expect: 200)
            let ownerRefused = forged.refused.count
            // 2099: for the scheduler's check, and for its own check.
            let future = TimeParsing.parse("2099-01-01T00:00:00Z") ?? .max
            let dated2099 = try hostile.send(
                [.heartbeat(Heartbeat(name: "scheduler-loop", status: .ok)), .heartbeat(Heartbeat(name: "mallory-loop", status: .ok))],
                observedAt: future)
            answers.record("observations dated 2099", dated2099, expect: 200)
            // Numbers past every bound: whole reports refused, nothing stored.
            for body in [
                ObservationBody.count(Count(dataset: "mallory.rows", partition: "2026-01-23", count: .max)),
                .heartbeat(Heartbeat(name: "mallory-loop", status: .ok, durationMs: .max)),
                .count(Count(dataset: "mallory.rows", partition: "2026-01-24", count: -1)),
            ] {
                answers.record("a number out of bounds", try hostile.send([body], spool: .some(nil)), expect: 400)
            }
            // Names with a right-to-left override or a line feed.
            for name in ["pay\u{202E}lortnoc", "two\nlines"] {
                answers.record(
                    "a name with a control character", try hostile.send([.heartbeat(Heartbeat(name: name, status: .ok))], spool: .some(nil)),
                    expect: 400)
            }
            // Other agent ids, with its own token: 403 each.
            for claimed in [Self.schedulerID, "faults-agent-0"] {
                answers.record(
                    "another agent's id", try hostile.send([.heartbeat(Heartbeat(name: "x", status: .ok))], agentID: claimed, spool: "imp"),
                    expect: 403)
            }
            // A resend of its own seq with other content: the stored copy stays.
            let firstSeq = forged.ackedSeq  // its last seq so far: the own ping
            let changed = try hostile.send([.heartbeat(Heartbeat(name: "mallory-loop", status: .fail, exitCode: 1))], seqs: [firstSeq])
            answers.record("a changed resend", changed, expect: 200)
            // Invented names: thousands of jobs in its own inventory (its own facts, bounded by the
            // report limits), and as many invented agent ids.
            let inventedStart = Date()
            var inventedJobs = 0
            for chunk in stride(from: 0, to: invented, by: 500) {
                let bodies = (chunk..<min(invented, chunk + 500)).map {
                    ObservationBody.job(JobSighting(name: "invented-\($0)", change: .added, enabled: true))
                }
                let answer = try hostile.send(bodies)
                answers.record("invented jobs", answer, expect: 200)
                inventedJobs += answer.stored
            }
            var inventedIDs = 0
            let keepAlive = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)
            for i in 0..<invented {
                let answer = try hostile.send(
                    [.heartbeat(Heartbeat(name: "x", status: .ok))], agentID: "invented-agent-\(i)", spool: "inv", client: keepAlive)
                if answer.status == 403 { inventedIDs += 1 }
            }
            let inventedSeconds = Date().timeIntervalSince(inventedStart)
            // The fleet member invents as many agent ids (each would be a liveness check).
            let fleetInventor = HostileAgent(url: collector.url, token: fleetToken, spool: "invented")
            var fleetAnswers: [Int: Int] = [:]
            for i in 0..<invented {
                let answer = try fleetInventor.send(
                    [.heartbeat(Heartbeat(name: "x", status: .ok))], agentID: "fleet-invented-\(i)", spool: "inv", client: keepAlive)
                fleetAnswers[answer.status, default: 0] += 1
            }

            // The scheduler's real failure, after the forged ok pings.
            _ = try scheduler.push(.heartbeat(Heartbeat(name: "scheduler-loop", status: .fail, exitCode: 3, message: "upstream 500")), client: client)
            // The legitimate release runs (2 s) while forged results arrive; rules re-judge each
            // second and the scheduler fetches commands each second.
            try waitFor("the stale lock to be released and verified", timeout: 60) {
                let actions = try decoded([String: [ActionInfo]].self, "/v1/actions?limit=1000")["actions"] ?? []
                return actions.contains {
                    $0.parameters["lock"] == "workflow_stale" && ["verified", "succeeded", "failed", "unverified"].contains($0.state)
                }
            }
            sleep(4)
            let slowClosed = slow.filter { $0.waitClosed(waitMs: 500) }.count
            let slowSeconds = Date().timeIntervalSince(slowStart)
            stop.write { $0 = true }
            watchers.wait()
            for pusher in pushers { pusher.stop() }
            _ = try waitForDrain(Array(fleet.agents.dropFirst()), acks: pushers.flatMap(\.acknowledged), timeout: 60)

            // What the honest agents have.
            let pauses = fixture.lines("pauses.txt")
            let releases = fixture.lines("releases.txt")
            let actions = try decoded([String: [ActionInfo]].self, "/v1/actions?limit=1000")["actions"] ?? []
            let audit = try decoded([String: [JobAudit]].self, "/v1/audit/jobs")["jobs"] ?? []
            let ownedJobs = audit.filter { $0.agentID == Self.schedulerID }
            let locks = try decoded([String: [LockInfo]].self, "/v1/locks")["locks"] ?? []
            let checks = try decoded([String: [CheckInfo]].self, "/v1/checks")["checks"] ?? []
            let agentList = try decoded(AgentList.self, "/v1/agents")
            let hostileInfo = agentList.agents.first { $0.id == Self.hostileID }
            let timeline = try collector.timeline("agent=\(Self.hostileID)")
            let ownPing = timeline.filter { $0.subject == "ping:mallory-loop" }
            let health = healthLatencies.read { $0 }
            let alive = collector.child?.isRunning ?? false
            var failedGets: [String] = []
            for path in try openAPIGetPaths(file: "protocol/openapi.yaml") where !path.contains("{") {
                let status = (try? collector.get(path).status) ?? 0
                if status >= 500 || status == 0 { failedGets.append("\(path) \(status)") }
            }

            report.figure("honest_agents", agents + 1)
            report.figure("forged_observations_sent", probes.count + 1 + otherCounts.count + 1 + 2)
            report.figure("refused_as_another_owners_fact", ownerRefused)
            report.figure("refused_as_dated_2099", dated2099.refused.count)
            report.figure("answers", answers.summary)
            report.figure("forged_action_results_sent", forgedResults.read { $0 })
            report.figure("forged_result_reports_while_the_action_ran", forgedWhileRunning.read { $0 })
            report.figure("invented_jobs_stored", inventedJobs)
            report.figure("invented_agent_ids_refused_403", "\(inventedIDs) of \(invented)")
            report.figure("invented_s", seconds(inventedSeconds))
            report.figure(
                "fleet_token_invented_agent_ids", fleetAnswers.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))
            let impostorStatuses = impostorAnswers.read { $0 }
            report.figure("fleet_token_impostor_reports", "\(impostorStatuses.count), commands handed: \(impostorCommands.read { $0 })")
            report.figure("slow_sockets_opened", slow.count)
            report.figure("slow_sockets_closed_by_the_collector", "\(slowClosed) within \(seconds(slowSeconds)) s")
            report.figure("unreadable_bodies_answered", unreadable)
            report.figure("healthz_probes", health.count)
            report.figure("healthz_max_s", seconds(health.max() ?? 0))
            report.figure("commands_run_on_the_scheduler", "pause \(pauses.count), release \(releases)")

            report.check(alive, "the collector stayed up through every forgery")
            report.check(failedGets.isEmpty, "every GET endpoint answers after the attack", failedGets.joined(separator: ", "))
            report.check(
                answers.unexpected.isEmpty, "each forgery got its documented answer (200 with refusals, 400, 403)",
                answers.unexpected.joined(separator: "; "))
            report.check(
                ownerRefused == probes.count + 1 + otherCounts.count + 1, "every forged fact of another owner was refused, one by one",
                "\(ownerRefused) of \(probes.count + 1 + otherCounts.count + 1)")
            report.check(dated2099.refused.count == 2, "both observations dated 2099 were refused", "\(dated2099.refused)")
            report.check(pauses.isEmpty, "no job of the scheduler was paused", "\(pauses)")
            report.check(releases == ["workflow_stale"], "only the lock the scheduler's own data showed expired was released, once", "\(releases)")
            let released = actions.filter { $0.parameters["lock"] == "workflow_stale" }
            report.check(
                actions.count == 1 && released.count == 1 && released[0].state == "verified" && !released[0].detail.contains("forged"),
                "no forged result moved an action: the one action ran and was verified on the scheduler's own result",
                actions.map { "\($0.name) \($0.state) \($0.detail)" }.joined(separator: "; "))
            report.check(forgedWhileRunning.read { $0 } > 0, "forged results arrived while the action ran (the suite exercised them)")
            report.check(
                ownedJobs.count == 40 && ownedJobs.allSatisfy { $0.probeFailures == 0 && $0.targetHealth == "healthy" }
                    && ownedJobs.map(\.name).sorted() == jobsBefore.map(\.name).sorted(),
                "the scheduler's 40 jobs are unchanged: healthy, no failed probe, still its own",
                "\(ownedJobs.first { $0.probeFailures > 0 || $0.targetHealth != "healthy" } as Any)")
            let live = locks.first { $0.name == "workflow_controller" }
            report.check(
                live?.agentID == Self.schedulerID && live?.state == "held" && live?.expiresAt == now + 3_600_000,
                "the live lock is the scheduler's, held, with its own expiry", "\(live as Any)")
            let loop = checks.first { $0.name == "scheduler-loop" }
            report.check(loop?.state == "down", "the scheduler's real failure is not masked by forged or 2099 pings", "\(loop?.state ?? "none")")
            report.check(
                ownPing.count == 1 && ownPing.allSatisfy { $0.observation.observedAt < future }
                    && timeline.contains { $0.subject == "dataset:mallory.rows" }
                    && !timeline.contains {
                        $0.subject.hasPrefix("job:export") || $0.subject.hasPrefix("lock:") || $0.subject == "dataset:\(Pusher.dataset)"
                    },
                "the hostile agent's own honest observations are stored and nothing forged is",
                timeline.map(\.subject).prefix(8).joined(separator: ", "))
            report.check(
                changed.conflictingSeq == firstSeq && ownPing.first?.observation.body == .heartbeat(Heartbeat(name: "mallory-loop", status: .ok)),
                "a changed resend is answered conflicting_seq and the stored copy stays", "\(changed.conflictingSeq as Any)")
            report.check(
                hostileInfo?.refused == Int64(ownerRefused), "the collector counted the hostile agent's refusals", "\(hostileInfo?.refused as Any)")
            report.check(inventedIDs == invented, "every invented agent id was refused (403)", "\(inventedIDs) of \(invented)")
            // The fleet token brought the honest fleet agents already; the default allows 100 an hour.
            let fleetNew = fleetAnswers[200] ?? 0
            report.check(
                fleetNew == 100 - agents && fleetAnswers[429] == invented - fleetNew,
                "a fleet token brings at most fleet.new_agents_per_hour (100) new agent ids; the rest are answered 429",
                "\(fleetAnswers)")
            report.check(
                !impostorStatuses.isEmpty && impostorCommands.read { $0 } == 0,
                "a fleet-token impostor of the scheduler and of a fleet agent was handed no command", "\(impostorCommands.read { $0 }) commands")
            report.check(!agentList.agents.contains { $0.id.hasPrefix("invented-agent-") }, "no agent id invented with an agent token exists")
            report.check(unreadable.allSatisfy { $0 == 400 }, "unreadable bodies are answered 400", "\(unreadable)")
            report.check(
                slowClosed == slow.count, "every idle, half-sent and stalled socket was closed by the collector", "\(slowClosed) of \(slow.count)")
            report.check((health.max() ?? 99) < 5, "/healthz answered within 5 s throughout", seconds(health.max() ?? 99))
            fleet.stopAll()
            try Reconciliation.run(database: collector.database, acks: pushers.flatMap(\.acknowledged)).report(to: report)
        }
    }

    struct AgentList: Decodable { var agents: [AgentInfo] }
}

/// What each forgery was answered, against what it should be.
struct HostileAnswers {
    var counts: [String: Int] = [:]
    var unexpected: [String] = []

    mutating func record(_ what: String, _ answer: HostileAgent.Answer, expect: Int) {
        counts["\(answer.status)", default: 0] += 1
        if answer.status != expect { unexpected.append("\(what): \(answer.status) (expected \(expect)): \(answer.text.prefix(200))") }
    }

    var summary: String { counts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ") }
}

/// The attacker: POSTs reports it writes itself with its own valid agent token.
final class HostileAgent: @unchecked Sendable {  // each instance is used by one thread
    let url: String
    let token: String
    private var nextSeq: [String: UInt64] = [:]
    private let client = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)

    let defaultSpool: String

    init(url: String, token: String, spool: String = "m1") {
        self.url = url
        self.token = token
        self.defaultSpool = spool
    }

    struct Answer {
        var status: Int
        var text: String
        var refused: [RefusedObservation] = []
        var stored = 0
        var ackedSeq: UInt64 = 0
        var commands = 0
        var conflictingSeq: UInt64?
    }

    /// Sends `bodies` as one report from `agentID` over `spool` (absent: the sender's own; nil: a
    /// spool used once), numbered
    /// from the spool's next seq unless `seqs` says.
    func send(
        _ bodies: [ObservationBody], agentID: String = Hostile.hostileID, spool: String?? = .none, seqs: [UInt64]? = nil, observedAt: Millis? = nil,
        client: HTTPClient? = nil
    ) throws -> Answer {
        // nil: the sender's spool; .some(nil): a spool used once.
        let spoolID = spool.map { $0 ?? "once-\(UUID().uuidString.prefix(8))" } ?? defaultSpool
        let now = WallClock.nowMillis()
        var observations: [Observation] = []
        for (i, body) in bodies.enumerated() {
            let seq: UInt64
            if let seqs {
                seq = seqs[i]
            } else {
                seq = (nextSeq[spoolID] ?? 0) + 1
                nextSeq[spoolID] = seq
            }
            observations.append(Observation(seq: seq, observedAt: observedAt ?? now, body: body))
        }
        let report = Report(
            agent: AgentIdentity(id: agentID, service: "nba-scrapers", host: "h", version: "evil", labels: ["env": "prod"]), bootID: "b",
            spoolID: spoolID, sentAt: now, observations: observations)
        let response = try (client ?? self.client).send(
            .init(
                method: "POST", url: url + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")], body: ReportCodec.encode(report)))
        var answer = Answer(status: response.status, text: response.bodyText)
        if response.status == 200, let decoded = try? ReportCodec.decode(ReportResponse.self, from: response.body) {
            answer.refused = decoded.refused
            answer.stored = decoded.stored
            answer.ackedSeq = decoded.ackedSeq
            answer.conflictingSeq = decoded.conflictingSeq
            answer.commands = decoded.commands.count
        }
        return answer
    }
}

extension RawConnection {
    /// The status code of the answer received so far, if any.
    var status: Int? {
        let text = String(decoding: received.prefix(32), as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }
}
