import Foundation
import GapwatchAPI
import GapwatchCollector  // AppDatabase, for the integrity check of a collector's file
import GapwatchHTTPClient
import GapwatchProtocol

// Drives our own binaries as child processes on 127.0.0.1: used by the end-to-end tests and by
// the fault suite (`gapwatch-faults`), so both exercise the binaries the same way.

/// Our own binaries, built by `swift build` next to the running executable (the test runner or
/// `gapwatch-faults`).
public enum Binaries {
    public static let directory: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // xctest bundles on some platforms nest the executable; walk up until the binaries appear.
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("gapwatch").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()
    public static var gapwatch: String { directory.appendingPathComponent("gapwatch").path }
    public static var agent: String { directory.appendingPathComponent("gapwatch-agent").path }

    public static func check() throws {
        for path in [gapwatch, agent] where !FileManager.default.isExecutableFile(atPath: path) {
            throw HarnessError("\(path) is missing: run `swift build` first (make test and make faults do)")
        }
    }
}

/// A failure of the harness itself (a timeout, a missing binary, an unexpected answer).
public struct HarnessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// A child process that exited when it should be running.
public struct ProcessExited: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A temp folder (per test or per suite); `remove()` deletes it.
public final class Workspace {
    public let path: String
    public init(_ name: String, prefix: String = "gapwatch-e2e") throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    /// A folder inside this one, e.g. one per agent when several share a workspace.
    public init(inside parent: Workspace, _ name: String) throws {
        path = parent.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func file(_ name: String) -> String { path + "/" + name }
    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A port on 127.0.0.1 that was free a moment ago.
public func freePort() -> Int { freeLoopbackPort() }

/// The child processes still running, so that a driver that is stopped (SIGTERM from `timeout`)
/// can end them: each runs in its own process group and would outlive it.
public final class LiveChildren: @unchecked Sendable {
    public static let shared = LiveChildren()
    private let lock = NSLock()
    private var pids = Set<Int32>()
    func add(_ pid: Int32) { lock.withLock { _ = pids.insert(pid) } }
    func remove(_ pid: Int32) { lock.withLock { _ = pids.remove(pid) } }
    /// SIGKILLs every child still running.
    public func killAll() {
        for pid in lock.withLock({ pids }) { kill(pid, SIGKILL) }
    }
}

/// One of our binaries running as a child process, its output appended to a log file.
public final class ChildProcess {
    public let process = Process()
    public let logPath: String

    /// `appendLog`: keep what earlier runs wrote to `log` (a restarted process); otherwise start it empty.
    public init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:], appendLog: Bool = false) throws {
        logPath = log
        if !appendLog || !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        try process.run()
        LiveChildren.shared.add(process.processIdentifier)
    }

    deinit { LiveChildren.shared.remove(pid) }

    public var pid: Int32 { process.processIdentifier }

    /// Fails at once, with the process's log, when it has exited.
    public func requireRunning(_ what: String) throws {
        if !process.isRunning {
            throw ProcessExited(message: "the \(what) exited with status \(process.terminationStatus):\n\(log.suffix(4000))")
        }
    }
    public var isRunning: Bool { process.isRunning }

    public func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
        LiveChildren.shared.remove(pid)
    }

    /// SIGTERM and wait (bounded); returns the exit status, or nil if it had to be killed.
    @discardableResult
    public func terminate(timeout: TimeInterval = 15) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill9()
            return nil
        }
        LiveChildren.shared.remove(pid)
        return process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Resident set size in bytes, from /proc.
    public var rssBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}

/// Runs one of our binaries to completion (bounded) and returns its exit code and output.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60)
    throws -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes (then throws). A
/// `ProcessExited` thrown by the condition ends the wait at once; other errors count as "not yet".
public func waitFor(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        do {
            if try condition() { return }
        } catch let exited as ProcessExited {
            throw exited
        } catch {}
        usleep(100_000)
    }
    if try condition() { return }
    throw HarnessError("timed out after \(timeout)s waiting for \(what)")
}

/// A `gapwatch collector` process on its own port and database.
public final class CollectorProcess {
    public let workspace: Workspace
    public let port: Int
    public var child: ChildProcess?
    /// The SQLite file; the collector writes its token file beside it.
    public var database: String
    public var tokenFile: String { (database as NSString).deletingPathExtension + ".tokens" }
    public var url: String { "http://127.0.0.1:\(port)" }
    public let agentID: String
    /// More collector config (YAML), appended to the file each start writes.
    public var extraConfig = ""
    /// How long `start` waits for /healthz.
    public var startTimeout: TimeInterval = 30
    /// Keep the log of earlier starts (the fault suite restarts it many times).
    public var appendLogs = false

    public init(workspace: Workspace, agentID: String = "e2e-agent") {
        self.workspace = workspace
        self.port = freePort()
        self.agentID = agentID
        self.database = workspace.file("gapwatch.db")
    }

    public func start() throws {
        let config = workspace.file("collector.yaml")
        try "bootstrap_agent_id: \(agentID)\nlog_level: notice\n\(extraConfig)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess(
            Binaries.gapwatch, ["collector", "--config", config, "--listen", "127.0.0.1:\(port)", "--database", database],
            log: workspace.file("collector.log"), appendLog: appendLogs)
        self.child = child
        try waitFor("the collector to answer /healthz", timeout: startTimeout) {
            try child.requireRunning("collector")
            return (try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 2000).send(.init(url: url + "/healthz")).status) == 200
        }
    }

    public func token(_ key: String) throws -> String {
        let text = try String(contentsOfFile: tokenFile, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + "=") }) else {
            throw HarnessError("\(key) is not in \(tokenFile)")
        }
        return String(line.dropFirst(key.count + 1))
    }

    /// GET with the admin token.
    public func get(_ path: String) throws -> HTTPResponse {
        try HTTPClient(connectTimeoutMs: 1000, timeoutMs: 10_000).send(
            .init(url: url + path, headers: [("Authorization", "Bearer \(try token("GAPWATCH_ADMIN_TOKEN"))")]))
    }

    /// Every timeline entry matching `query`, following cursors.
    public func timeline(_ query: String) throws -> [TimelineEntry] {
        var all: [TimelineEntry] = []
        var cursor: String?
        repeat {
            let response = try get("/v1/timeline?limit=1000&\(query)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            guard response.status == 200 else { throw HarnessError("GET /v1/timeline answered \(response.status)") }
            let page = try ReportCodec.decode(TimelinePage.self, from: response.body)
            all += page.observations
            cursor = page.nextCursor
        } while cursor != nil
        return all
    }

    public func integrityCheck() throws -> String {
        try AppDatabase(StorageOptions(path: database)).integrityCheck()
    }
}

/// A `gapwatch-agent run` process with a config written for the test.
public final class AgentProcess {
    public let workspace: Workspace
    public let localPort: Int
    public let collectorURL: String
    public let tokenFile: String
    public let agentID: String
    public var child: ChildProcess?
    public var extraConfig: String = ""
    /// Extra lines for the config's `collector:` section (indented by two spaces).
    public var extraCollectorConfig: String = ""
    /// The agent's own liveness heartbeat; off unless a test needs it.
    public var heartbeatInterval = "0s"
    /// How long `start` waits for the local endpoint.
    public var startTimeout: TimeInterval = 30
    /// Keep the log of earlier starts (the fault suite restarts it many times).
    public var appendLogs = false
    public var spoolDir: String { workspace.file("spool") }
    public var localURL: String { "http://127.0.0.1:\(localPort)" }

    public init(workspace: Workspace, collectorURL: String, tokenFile: String, agentID: String = "e2e-agent") {
        self.workspace = workspace
        self.localPort = freePort()
        self.collectorURL = collectorURL
        self.tokenFile = tokenFile
        self.agentID = agentID
    }

    public var configPath: String { workspace.file("agent.yaml") }

    public func start() throws {
        let collectorExtra = extraCollectorConfig.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        let config = """
            agent:
              id: \(agentID)
              service: e2e-service
              labels:
                env: test
            collector:
              url: \(collectorURL)
              token_file: \(tokenFile)
              connect_timeout: 1s
              timeout: 5s
            \(collectorExtra)
            heartbeat:
              interval: \(heartbeatInterval)
            spool:
              dir: \(spoolDir)
            listen: 127.0.0.1:\(localPort)
            \(extraConfig)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let child = try ChildProcess(Binaries.agent, ["run", "--config", configPath], log: workspace.file("agent.log"), appendLog: appendLogs)
        self.child = child
        try waitFor("the agent's local endpoint", timeout: startTimeout) {
            try child.requireRunning("agent")
            return (try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 2000).send(.init(url: localURL + "/healthz")).status) == 200
        }
    }

    /// What the local endpoint answered to a push: the seq and spool it was recorded under.
    public struct Ack: Decodable, Sendable {
        public var seq: UInt64
        public var spoolID: String
        enum CodingKeys: String, SnakeCaseKey {
            case seq, spoolID
        }
    }

    /// Pushes one observation to the local endpoint at `url`; returns the ack once durably spooled.
    public static func push(_ body: ObservationBody, to url: String, client: HTTPClient) throws -> Ack {
        let response = try client.send(
            .init(
                method: "POST", url: url + "/v1/observations", headers: [("Content-Type", "application/json")],
                body: ReportCodec.encode(body)))
        guard response.status == 200 else {
            throw NSError(domain: "push", code: response.status, userInfo: [NSLocalizedDescriptionKey: response.bodyText])
        }
        return try ReportCodec.decode(Ack.self, from: response.body)
    }

    /// Pushes one observation to the local endpoint; returns its seq once durably spooled.
    public func push(_ body: ObservationBody, client: HTTPClient) throws -> UInt64 {
        try Self.push(body, to: localURL, client: client).seq
    }
}
