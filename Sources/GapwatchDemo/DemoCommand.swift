import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol

/// The README's first command: the Jan 22-23 incident replayed against a real collector and real
/// agents beside small simulated services, healed by Gapwatch with no person involved.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Replay the Jan 22-23 incident and watch Gapwatch detect and heal every part of it.",
        discussion: """
            Starts, as separate processes on 127.0.0.1: `gapwatch collector` (port 7070, or --port; database in --dir), five simulated services of a sports-data pipeline (scrapers, an analytics processor with /backfill, a schedule source, an orchestrator that takes a lock and records workflow decisions, an on-call pager) and a `gapwatch-agent` beside each of them and beside the scheduler. Then it replays the failure chain of the post-mortem in accelerated time (each minute stands for a post-game window):

              1. 9 scheduler jobs point at nba-phase1-scrapers, a deleted service;
              2. the post-game windows pass without a run (until Gapwatch has re-run the missed one; then the orchestrator runs each window itself again);
              3. 3 games stay "In Progress" in the schedule hours after they ended;
              4. the workflow_controller lock is held by an orchestrator that died;
              5. 282 player records of "Jan 22" (yesterday) never reach analytics.

            It prints the live timeline (detected, notified, action sent, verified, healed) and a summary: time to detect and to heal each failure, actions taken, records recovered, manual steps, and the messages the on-call pager received (one opening per cause; each message is in pager.jsonl). Then it keeps serving the dashboard until Ctrl-C, or exits with --exit.

            Everything (database, tokens, configs, world.json, logs) stays in --dir, which is reset at each start. A run takes under a minute or two; a failure not healed within --timeout makes it exit 1.
            """)

    @Option(help: "Folder for the database, tokens, configs, simulated world and logs (reset at start).")
    var dir: String = "./gapwatch-demo"
    @Option(
        help:
            "The collector's port on 127.0.0.1 (the dashboard and API are there); `make demo PORT=7171` passes it. The simulated services and agents take free ports of their own."
    )
    var port: Int = 7070
    @Flag(help: "Exit once the summary is printed instead of serving the dashboard until Ctrl-C.") var exit = false
    @Option(help: "Give up on healing after this many seconds.") var timeout: Int = 170

    func run() throws {
        let fm = FileManager.default
        let dirPath = URL(fileURLWithPath: dir).standardizedFileURL.path
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // The collector and the agents are the shipping binaries, beside this one (`swift build` builds all three).
        let agentBinary = binDir.appendingPathComponent("gapwatch-agent").path
        let gapwatchBinary = binDir.appendingPathComponent("gapwatch").path
        let demoBinary = binDir.appendingPathComponent("gapwatch-demo").path
        for binary in [agentBinary, gapwatchBinary] where !fm.isExecutableFile(atPath: binary) {
            throw CLIError(
                "\(URL(fileURLWithPath: binary).lastPathComponent) is not beside this binary (\(binary)); build them all with `swift build`")
        }
        let collectorURL = "http://127.0.0.1:\(port)"
        // Before anything is reset or started: a taken port is one line, not a collector that dies.
        do {
            try ListenCheck.probe(host: "127.0.0.1", port: port)
        } catch {
            let another = "pass another port: gapwatch demo --port 7171, or make demo PORT=7171"
            let line = error.message(inUse: "another collector or demo running? " + another, elsewhere: another)
            FileHandle.standardError.write(Data("gapwatch demo: \(line)\n".utf8))
            throw ExitCode(1)
        }
        try DemoFiles.reset(dirPath)
        let stopRequested = DemoSignals.install()
        let processes = DemoProcesses(dir: dirPath)
        defer { processes.stopAll() }

        say("Gapwatch demo: the Jan 22-23 incident of the post-mortem, replayed in accelerated time.\n")
        let ports = DemoPorts(collectorPort: port)
        let setup = DemoSetup(dir: dirPath, demo: demoBinary, agent: agentBinary, collectorURL: collectorURL, ports: ports)
        try setup.writeCollectorConfig()
        say("▶ collector on \(collectorURL) (database \(dirPath)/gapwatch.db, config \(dirPath)/collector.yaml)")
        let collector = try processes.start("collector", gapwatchBinary, ["collector", "--config", "collector.yaml"])
        try processes.waitUntil("the collector answers /healthz", seconds: 30, name: "collector") {
            (try? HTTPClient(connectTimeoutMs: 300, timeoutMs: 1000).send(HTTPRequest(url: collectorURL + "/healthz")).status) == 200
        }
        let tokenFile = dirPath + "/gapwatch.tokens"
        guard let tokenText = fm.contents(atPath: tokenFile).map({ String(decoding: $0, as: UTF8.self) }),
            let adminToken = readToken(fileText: tokenText, key: "GAPWATCH_ADMIN_TOKEN")
        else { throw CLIError("the collector wrote no token file at \(tokenFile)") }
        let api = DemoAPI(baseURL: collectorURL, token: adminToken)
        try setup.writeAgentToken(try api.issueFleetToken())

        // The failures are in place before anything watches: the world as it was on Jan 22.
        let scenario = DemoScenario(
            now: WallClock.nowMillis(), deadServiceURL: "http://127.0.0.1:\(ports.deadService)", scrapersURL: "http://127.0.0.1:\(ports.scrapers)")
        try DemoWorld(dir: dirPath).create(scenario.world())
        for (role, port) in ports.services {
            var arguments = ["service", role, "--world", dirPath, "--port", "\(port)"]
            if role == "orchestrator" { arguments += ["--agent-url", "http://127.0.0.1:\(ports.orchestratorAgent)"] }
            _ = try processes.start(role, demoBinary, arguments)
        }
        for (role, port) in ports.services {
            try processes.waitUntil("the \(role) service", seconds: 30, name: role) {
                (try? HTTPClient(connectTimeoutMs: 300, timeoutMs: 1000).send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")).status) == 200
            }
        }
        say(
            "▶ simulated pipeline: " + ports.services.map { "\($0.0) :\($0.1)" }.joined(separator: ", ")
                + "; scheduler, lock store and tables in \(dirPath)/world.json")
        for agent in setup.agents {
            try setup.writeAgentConfig(agent)
            _ = try processes.start(agent.id, agentBinary, ["run", "--config", "\(agent.id).yaml"])
        }
        say("▶ agents: " + setup.agents.map { "\($0.id) (beside \($0.beside))" }.joined(separator: ", "))
        let failuresAt = WallClock.nowMillis()
        say(
            """

            ▶ the failure chain, as on Jan 22 (here "Jan 22" is \(scenario.incidentDate)):
              1. \(DemoScenario.deadJobs.count) scheduler jobs point at nba-phase1-scrapers (\(scenario.deadServiceURL)), a deleted service
              2. the post_game_window_1 windows pass without a run (each minute here stands for one)
              3. \(DemoScenario.staleGames.count) games of \(scenario.incidentDate) still "In Progress" in the schedule, 5 h after tip-off
              4. the \(DemoScenario.lockName) lock is held by \(DemoScenario.lockHolder), which died 3 h ago
              5. \(DemoScenario.missingRecords) player records of \(scenario.incidentDate) are in nba_raw but not in nba_analytics

            ▶ live timeline (seconds since the agents started):
            """)

        let tracker = DemoTracker(startedAt: failuresAt)
        let deadline = Date().addingTimeInterval(Double(timeout))
        var healed = false
        var onSchedule = false
        while !stopRequested.withLock({ $0 }) && !outputClosed.withLock({ $0 }) && Date() < deadline {
            if let exited = processes.exited() { throw CLIError("\(exited) exited; see \(dirPath)/\(exited).log") }
            for line in tracker.poll(api) { say(line) }
            // The missed window was re-run: the replayed outage is over, and the orchestrator runs
            // each window itself again (else the demo would page for every window it let pass).
            if !onSchedule, tracker.windowsHealed(scenario: scenario) {
                try DemoWorld(dir: dirPath).update { $0.orchestratorOnSchedule = true }
                onSchedule = true
                say(tracker.line("WORLD", "the orchestrator runs each post-game window on schedule again: the replayed outage is over"))
            }
            if tracker.allHealed(scenario: scenario) {
                healed = true
                break
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        // Let the last verifications land in the timeline (an incident can resolve just before
        // its action is marked verified).
        let settle = Date().addingTimeInterval(5)
        while healed && tracker.actionsInFlight && Date() < settle {
            Thread.sleep(forTimeInterval: 0.5)
            for line in tracker.poll(api) { say(line) }
        }
        if stopRequested.withLock({ $0 }) || outputClosed.withLock({ $0 }) { return }
        let world = try DemoWorld(dir: dirPath).read()
        let summary = tracker.summary(scenario: scenario, world: world, pager: DemoPager(dir: dirPath).tally(), healed: healed)
        for line in summary.lines { say(line) }
        try summary.write(to: dirPath + "/summary.json")
        guard healed else {
            throw CLIError("not every failure was healed within \(timeout) s; logs and world.json are in \(dirPath)")
        }
        say(
            """

            ▶ dashboard: \(collectorURL)/ (log in with GAPWATCH_ADMIN_TOKEN from \(tokenFile))
              CLI: GAPWATCH_URL=\(collectorURL) GAPWATCH_TOKEN_FILE=\(tokenFile) gapwatch status
            """)
        if exit { return }
        say("  Serving until Ctrl-C.")
        while !stopRequested.withLock({ $0 }) && !outputClosed.withLock({ $0 }) && collector.isRunning {
            Thread.sleep(forTimeInterval: 0.5)
        }
    }
}

enum DemoSignals {
    /// Ctrl-C or SIGTERM ends the demo's loops, so its children are stopped too (not orphaned).
    static func install() -> LockedBox<Bool> {
        let stopRequested = LockedBox(false)
        signal(SIGPIPE, SIG_IGN)  // a closed stdout becomes a write error (see `say`), not a silent death
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stopRequested.withLock { $0 = true } }
            source.resume()
            sources.withLock { $0.append(source) }
        }
        return stopRequested
    }

    private static let sources = LockedBox<[any DispatchSourceSignal]>([])
}

enum DemoFiles {
    /// Starts from nothing each run, but only ever deletes what a demo writes.
    static func reset(_ dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
            let demoFile =
                name.hasPrefix("gapwatch.") || name.hasPrefix("world.") || name.hasSuffix(".log") || name.hasSuffix(".yaml")
                || name.hasSuffix("-spool") || name == "agents.token" || name == "summary.json" || name == "pager.jsonl"
            if demoFile { try fm.removeItem(atPath: dir + "/" + name) }
        }
    }
}
