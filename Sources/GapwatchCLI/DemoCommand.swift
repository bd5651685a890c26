import ArgumentParser
import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol

/// The README's first command: a collector on its embedded default, an agent beside it, a small
/// pipeline pushing through the agent, and the collector's timeline printed as data arrives.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a collector and an agent side by side and watch data arrive.",
        discussion: """
            Starts `gapwatch collector` on its embedded default (127.0.0.1:7070, gapwatch.db) and
            `gapwatch-agent` beside it, both as separate processes in --dir. The agent reports its
            own heartbeat, probes the collector's /healthz, and runs a command probe that counts
            rows of a dataset; a simulated scraper and orchestrator push pings, counts and workflow
            decisions through `gapwatch-agent`. New observations are printed as the collector
            stores them. Ctrl-C stops everything; --seconds stops on its own.
            """)

    @Option(help: "Folder for the database, tokens, spool, configs and logs (kept afterwards).")
    var dir: String = "./gapwatch-demo"

    @Option(help: "Collector port.") var port: Int = 7070
    @Option(help: "The agent's local push port.") var agentPort: Int = 7071
    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var seconds: Int?

    func run() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let dirPath = URL(fileURLWithPath: dir).standardizedFileURL.path
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let agentBinary = binDir.appendingPathComponent("gapwatch-agent").path
        let selfBinary = binDir.appendingPathComponent("gapwatch").path
        guard fm.isExecutableFile(atPath: agentBinary) else {
            throw CLIError("gapwatch-agent is not beside this binary (\(agentBinary)); build both with `swift build`")
        }
        let collectorURL = "http://127.0.0.1:\(port)"
        if (try? HTTPClient(connectTimeoutMs: 300, timeoutMs: 1000).send(HTTPRequest(url: collectorURL + "/healthz"))) != nil {
            throw CLIError("something already listens on 127.0.0.1:\(port); stop it or pass --port")
        }

        say("▶ starting the collector (embedded default) in \(dirPath)")
        let collector = try spawn(
            selfBinary, ["collector", "--listen", "127.0.0.1:\(port)", "--database", "gapwatch.db"],
            cwd: dirPath, log: dirPath + "/collector.log")
        var children = [collector]
        defer { for child in children.reversed() { stop(child) } }
        try waitUntil("the collector answers /healthz", seconds: 30, process: collector, log: dirPath + "/collector.log") {
            (try? HTTPClient(connectTimeoutMs: 300, timeoutMs: 1000).send(HTTPRequest(url: collectorURL + "/healthz")).status) == 200
        }
        let tokenFile = dirPath + "/gapwatch.tokens"
        guard let tokenText = fm.contents(atPath: tokenFile).map({ String(decoding: $0, as: UTF8.self) }),
            let adminToken = readToken(fileText: tokenText, key: "GAPWATCH_ADMIN_TOKEN"),
            let agentID = readToken(fileText: tokenText, key: "GAPWATCH_AGENT_ID")
        else { throw CLIError("the collector wrote no token file at \(tokenFile)") }
        say("  tokens: \(tokenFile) (mode 0600; the admin token stays there)")

        let agentConfig = dirPath + "/agent.yaml"
        try """
            # Written by `gapwatch demo`. Every key is documented in agent/agent.example.yaml.
            agent:
              id: \(agentID)
              service: demo-pipeline
              labels:
                env: demo
            collector:
              url: \(collectorURL)
              token_file: \(tokenFile)
            heartbeat:
              interval: 5s
            spool:
              dir: \(dirPath)/spool
            listen: 127.0.0.1:\(agentPort)
            probes:
              http:
                - name: collector-health
                  url: \(collectorURL)/healthz
                  job: demo-health-check
                  interval: 10s
              commands:
                - name: raw-row-counts
                  argv: ["printf", "2026-01-21\\t240\\n2026-01-22\\t282\\n"]
                  interval: 15s
                  emit: count
                  dataset: nba_raw.bdl_player_boxscores
            """.write(toFile: agentConfig, atomically: true, encoding: .utf8)
        say("▶ starting gapwatch-agent beside it (id \(agentID), config \(agentConfig))")
        let agent = try spawn(agentBinary, ["run", "--config", agentConfig], cwd: dirPath, log: dirPath + "/agent.log")
        children.append(agent)
        let agentURL = "http://127.0.0.1:\(agentPort)"
        try waitUntil("the agent answers on \(agentURL)", seconds: 30, process: agent, log: dirPath + "/agent.log") {
            (try? HTTPClient(connectTimeoutMs: 300, timeoutMs: 1000).send(HTTPRequest(url: agentURL + "/healthz")).status) == 200
        }

        say("▶ a simulated pipeline pushes through the agent; the collector's timeline follows:\n")
        let watcher = TimelineWatcher(baseURL: collectorURL, token: adminToken)
        let pipeline = DemoPipeline(agentBinary: agentBinary, agentURL: agentURL)
        let started = Date()
        var step = 0
        // Ctrl-C or SIGTERM ends the loop, so the collector and agent are stopped too (not orphaned).
        let stopRequested = LockedBox(false)
        var signalSources: [any DispatchSourceSignal] = []
        signal(SIGPIPE, SIG_IGN)  // a closed stdout becomes a write error (see `say`), not a silent death
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stopRequested.withLock { $0 = true } }
            source.resume()
            signalSources.append(source)
        }
        defer { signalSources.forEach { $0.cancel() } }
        while !stopRequested.withLock({ $0 }) && !outputClosed.withLock({ $0 }) && (seconds.map({ Date().timeIntervalSince(started) < Double($0) }) ?? true) {
            if !collector.isRunning { throw CLIError("the collector exited; see \(dirPath)/collector.log") }
            if !agent.isRunning { throw CLIError("the agent exited; see \(dirPath)/agent.log") }
            if step % 3 == 0 { pipeline.step(step / 3) }
            step += 1
            for line in watcher.poll() { say(line) }
            Thread.sleep(forTimeInterval: 1)
        }
        for line in watcher.poll() { say(line) }
        say("\n▶ \(watcher.seen) observations stored; stopping the agent and the collector.")
        say("  Database, tokens, spool, configs and logs stay in \(dirPath). While a demo runs, query it with")
        say("  GAPWATCH_URL=\(collectorURL) GAPWATCH_TOKEN_FILE=\(tokenFile) gapwatch timeline --since 10m")
    }

    private func spawn(_ executable: String, _ arguments: [String], cwd: String, log: String) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    private func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()  // SIGTERM: both drain and stop cleanly
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    private func waitUntil(_ what: String, seconds: Double, process: Process, log: String, _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if ready() { return }
            if !process.isRunning {
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
                throw CLIError("waiting for \(what): the process exited (status \(process.terminationStatus)):\n\(tail)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw CLIError("timed out waiting for \(what)")
    }
}

/// Pushes a scraper's pings and counts and an orchestrator's decisions via the agent CLI.
struct DemoPipeline {
    let agentBinary: String
    let agentURL: String

    func step(_ n: Int) {
        let date = "2026-01-22"
        switch n % 4 {
        case 0:
            push(["ping", "scrape-boxscores", "--start"])
        case 1:
            push(["ping", "scrape-boxscores", "--duration-ms", "4210", "--message", "8 games scraped"])
            push(["count", "nba_analytics.player_game_summary", date, "\(min(282, 100 + n * 20))"])
        case 2:
            push(["decision", "post_game_window_1", "SKIP", "--reason", "3 games still In Progress"])
            push(["item", "game", "0022500612", n < 6 ? "In Progress" : "Final", "--reference-time", "2026-01-22T19:00:00Z"])
        default:
            push(["decision", "post_game_window_2", "RUN", "--reason", "all games Final"])
        }
    }

    private func push(_ arguments: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agentBinary)
        process.arguments = arguments + ["--agent-url", agentURL]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            say("  push failed: \(error)")
        }
    }
}

/// Follows the collector's timeline and renders observations it has not shown yet. The timeline is
/// ordered by observation time and spooled data can arrive late, so it re-reads a recent window
/// and remembers what it printed (a demo's volume is small).
final class TimelineWatcher {
    let baseURL: String
    let token: String
    private var shown = Set<String>()
    private let since = WallClock.nowMillis() - 3_600_000
    private let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 5000)
    var seen: Int { shown.count }

    init(baseURL: String, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    func poll() -> [String] {
        var lines: [String] = []
        var cursor: String?
        repeat {
            let path = "/v1/timeline?limit=1000&from=\(since)" + (cursor.map { "&cursor=\($0)" } ?? "")
            guard
                let response = try? client.send(HTTPRequest(url: baseURL + path, headers: [("Authorization", "Bearer \(token)")])),
                response.status == 200, let page = try? ReportCodec.decode(TimelinePage.self, from: response.body)
            else { return lines }
            for entry in page.observations {
                let key = "\(entry.agentID)/\(entry.spoolID)/\(entry.observation.seq)"
                guard shown.insert(key).inserted else { continue }
                let time = TimeParsing.format(entry.observation.observedAt).dropFirst(11).prefix(8)
                let kind = entry.observation.body.kind.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                lines.append("  \(time)  seq \(entry.observation.seq)\t\(kind) \(entry.subject)  \(entry.observation.body.summary)")
            }
            cursor = page.nextCursor
        } while cursor != nil
        return lines
    }
}

/// Writes a line to stdout at once (print is block-buffered when piped, and the demo is live).
/// A closed stdout (`gapwatch demo | head`) ends the demo like Ctrl-C does, so its children are
/// still stopped rather than orphaned.
func say(_ line: String) {
    do {
        try FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
    } catch {
        outputClosed.withLock { $0 = true }
    }
}

let outputClosed = LockedBox(false)
