import Foundation
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol

/// Distinct free ports on 127.0.0.1 for the demo's services and the orchestrator's agent (the
/// collector's is an option; the other agents let the kernel pick). The dead service's port is
/// free too, and nothing ever listens on it.
struct DemoPorts {
    let scrapers: Int, analytics: Int, schedule: Int, orchestrator: Int, pager: Int, deadService: Int, orchestratorAgent: Int

    /// `collectorPort` is not listening yet, so the kernel could hand it out: it is skipped.
    init(collectorPort: Int) {
        let p = freeLoopbackPorts(8).filter { $0 != collectorPort }
        (scrapers, analytics, schedule, orchestrator, pager, deadService, orchestratorAgent) = (p[0], p[1], p[2], p[3], p[4], p[5], p[6])
    }

    var services: [(String, Int)] {
        [("scrapers", scrapers), ("analytics", analytics), ("schedule", schedule), ("orchestrator", orchestrator), ("pager", pager)]
    }
}

/// The collector's and agents' configs for the demo: the rules and actions a team would write
/// for this pipeline, with intervals shortened so the replay takes a minute or two.
struct DemoSetup {
    struct Agent {
        var id: String
        var service: String
        var beside: String
        /// YAML for the agent's own part (probes, scheduler, locks, actions).
        var body: String
        /// The local push endpoint's port; 0 lets the kernel pick (nobody pushes to those agents).
        var listen: Int = 0
    }

    let dir: String
    /// The gapwatch-demo binary, whose `world` verbs the agents run.
    let demo: String
    let agent: String
    let collectorURL: String
    let ports: DemoPorts

    var agents: [Agent] {
        // The agents' commands: gapwatch-demo's world verbs, argv only (no shell).
        func world(_ verb: [String]) -> String {
            "[\"\(demo)\", \"world\", " + verb.map { "\"\($0)\"" }.joined(separator: ", ") + ", \"--world\", \"\(dir)\"]"
        }
        return [
            Agent(
                id: "scrapers-agent", service: "nba-scrapers", beside: "the scrapers and the raw store",
                body: """
                    probes:
                      http:
                        - {name: scrapers-health, url: "http://127.0.0.1:\(ports.scrapers)/health", interval: 5s, timeout: 2s}
                      commands:
                        - {name: raw-boxscores, argv: \(world(["counts", "raw"])), interval: 2s, timeout: 10s, emit: count, dataset: nba_raw.bdl_player_boxscores, covers: all}
                    """),
            Agent(
                id: "analytics-agent", service: "nba-analytics", beside: "the analytics processor",
                body: """
                    probes:
                      commands:
                        - {name: analytics-boxscores, argv: \(world(["counts", "analytics"])), interval: 2s, timeout: 10s, emit: count, dataset: nba_analytics.player_game_summary, covers: all}
                    """),
            Agent(
                id: "schedule-agent", service: "nba-schedule", beside: "the schedule source",
                body: """
                    probes:
                      commands:
                        - {name: game-statuses, argv: \(world(["games"])), interval: 2s, timeout: 10s, emit: item_status, item_kind: game}
                        - {name: schedule-counts, argv: \(world(["counts", "schedule"])), interval: 5s, timeout: 10s, emit: count, dataset: nba_raw.nbac_schedule, covers: all}
                    """),
            Agent(
                id: "scheduler-agent", service: "cloud-scheduler", beside: "the scheduler",
                body: """
                    scheduler:
                      name: cloud-scheduler/us-west2
                      jobs_command: {argv: \(world(["jobs"])), timeout: 10s}
                      inventory_interval: 2s
                      probe_interval: 1s
                      probe_timeout: 1s
                    actions:
                      - {name: pause-job, argv: \(world(["pause-job", "{job}"])), parameters: {job: identifier}, timeout: 30s}
                      - {name: resume-job, argv: \(world(["resume-job", "{job}"])), parameters: {job: identifier}, timeout: 30s}
                    """),
            Agent(
                id: "orchestrator-agent", service: "nba-orchestrator", beside: "the orchestrator",
                body: """
                    locks: {argv: \(world(["locks"])), interval: 1s, timeout: 10s}
                    actions:
                      - {name: release-lock, argv: \(world(["release-lock", "{lock}"])), parameters: {lock: identifier}, timeout: 30s}
                    """,
                listen: ports.orchestratorAgent),
        ]
    }

    func writeCollectorConfig() throws {
        func url(_ port: Int, _ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
        try """
        # Written by `gapwatch demo`. Every key is documented in collector/collector.example.yaml.
        # The rules a team would write for the Jan 22 pipeline, with intervals shortened for the replay.
        listen: 127.0.0.1:\(URL(string: collectorURL)?.port ?? 7070)
        database: gapwatch.db
        log_level: notice
        notify:
          channels:
            - {name: on-call, kind: webhook, url: "\(url(ports.pager, "/notify"))"}
        # Post-game windows: here one opens each minute and lasts 10 s (on Jan 22: hourly at :05).
        expectations:
          - name: post-game-window-1
            workflow: \(DemoScenario.workflow)
            window: {cron: "* * * * *", duration: \(DemoScenario.windowSeconds)s}
            only_when: {dataset: nba_raw.nbac_schedule}
            grace: 3s
            rerun: rerun-window
        completeness:
          - {name: boxscores, source: nba_raw.bdl_player_boxscores, derived: nba_analytics.player_game_summary, min_ratio: 0.9, lookback: 3d, settle: 2s, due_after: 0s, backfill: backfill-analytics}
        stale_items:
          - {name: games-final, item_kind: game, final: [Final], deadline: 4h, refresh: refresh-schedule}
        # 9 of the scheduler's 12 jobs point at the deleted service. The breaker holds a disable past
        # max_share of one scheduler's jobs for approval (default 50%); this team lets 80% go unattended.
        scheduler_targets: {failures: 3, reenable_after: 3, disable: pause-job, reenable: resume-job, breaker: {max_share: 80%}}
        stuck_locks:
          - {name: controller-locks, locks: 'workflow_*', slack: 1m, release: release-lock}
        recheck_interval: 3s
        guardrails: {max_per_hour: 200, max_concurrent: 4}
        actions:
          - {name: backfill-analytics, kind: webhook, url: "\(url(ports.analytics, "/backfill"))", body: '{"start": "{start}", "end": "{end}", "bypass_checks": "{bypass_checks}"}', cooldown: 3s, verify_within: 8s, max_attempts: 5}
          - {name: refresh-schedule, kind: webhook, url: "\(url(ports.schedule, "/refresh"))", body: '{"games": "{items}"}', cooldown: 3s, verify_within: 10s}
          - {name: rerun-window, kind: webhook, url: "\(url(ports.orchestrator, "/run"))", body: '{"workflow": "{workflow}", "partition": "{partition}"}', cooldown: 3s, verify_within: 10s, max_attempts: 6}
          - {name: pause-job, kind: agent, agent: scheduler-agent, command: pause-job, parameters: {job: "{job}"}, cooldown: 0s, verify_within: 30s}
          - {name: resume-job, kind: agent, agent: scheduler-agent, command: resume-job, parameters: {job: "{job}"}, cooldown: 0s, verify_within: 30s}
          - {name: release-lock, kind: agent, agent: orchestrator-agent, command: release-lock, parameters: {lock: "{lock}"}, cooldown: 0s, verify_within: 30s}
        """.write(toFile: dir + "/collector.yaml", atomically: true, encoding: .utf8)
    }

    /// One fleet token for the five agents, in a file only the owner can read.
    func writeAgentToken(_ token: String) throws {
        let path = dir + "/agents.token"
        FileManager.default.createFile(atPath: path, contents: Data("GAPWATCH_AGENT_TOKEN=\(token)\n".utf8), attributes: [.posixPermissions: 0o600])
    }

    func writeAgentConfig(_ agent: Agent) throws {
        try """
        # Written by `gapwatch demo`. Every key is documented in agent/agent.example.yaml.
        agent:
          id: \(agent.id)
          service: \(agent.service)
          labels: {env: demo}
        collector:
          url: \(collectorURL)
          token_file: \(dir)/agents.token
        heartbeat:
          interval: 1s
        spool:
          dir: \(dir)/\(agent.id)-spool
        listen: 127.0.0.1:\(agent.listen)
        \(agent.body)
        """.write(toFile: "\(dir)/\(agent.id).yaml", atomically: true, encoding: .utf8)
    }
}

/// The collector's API, as the demo reads it (admin token).
struct DemoAPI {
    let baseURL: String
    let token: String
    private let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 5000)

    init(baseURL: String, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    func get(_ path: String) throws -> [UInt8] {
        let response = try client.send(HTTPRequest(url: baseURL + path, headers: [("Authorization", "Bearer \(token)")]))
        guard response.status == 200 else { throw CLIError("GET \(path): HTTP \(response.status): \(response.bodyText)") }
        return response.body
    }

    func issueFleetToken() throws -> String {
        struct Issued: Decodable { var token: String }
        let response = try client.send(
            HTTPRequest(
                method: "POST", url: baseURL + "/v1/tokens",
                headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: Array(#"{"kind": "fleet", "name": "demo agents"}"#.utf8)))
        guard response.status == 201 else { throw CLIError("cannot issue the agents' token: HTTP \(response.status): \(response.bodyText)") }
        return try ReportCodec.decode(Issued.self, from: response.body).token
    }
}

/// The demo's child processes, each logging to DIR/NAME.log; stopped with SIGTERM in reverse order.
final class DemoProcesses {
    let dir: String
    private var children: [(name: String, process: Process)] = []

    init(dir: String) { self.dir = dir }

    func start(_ name: String, _ executable: String, _ arguments: [String]) throws -> Process {
        let log = "\(dir)/\(name).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        children.append((name, process))
        return process
    }

    /// The first child that is no longer running, if any.
    func exited() -> String? { children.first { !$0.process.isRunning }?.name }

    func waitUntil(_ what: String, seconds: Double, name: String, _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        let process = children.first { $0.name == name }?.process
        while Date() < deadline {
            if ready() { return }
            if let process, !process.isRunning {
                let log = "\(dir)/\(name).log"
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
                throw CLIError("waiting for \(what): the process exited (status \(process.terminationStatus)):\n\(tail)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw CLIError("timed out waiting for \(what)")
    }

    func stopAll() {
        for child in children.reversed() where child.process.isRunning { child.process.terminate() }  // SIGTERM: each drains
        let deadline = Date().addingTimeInterval(10)
        for child in children.reversed() {
            while child.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
        }
    }
}
