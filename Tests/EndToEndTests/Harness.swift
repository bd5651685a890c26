import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import XCTest

typealias HTTPResponse = GapwatchHTTPClient.HTTPResponse

/// Our own binaries, built by `swift build` next to the test bundle.
enum Binaries {
    static let directory: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // xctest bundles on some platforms nest the executable; walk up until the binaries appear.
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("gapwatch").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()
    static var gapwatch: String { directory.appendingPathComponent("gapwatch").path }
    static var agent: String { directory.appendingPathComponent("gapwatch-agent").path }

    static func check() throws {
        for path in [gapwatch, agent] where !FileManager.default.isExecutableFile(atPath: path) {
            XCTFail("\(path) is missing: run `swift build` before `swift test` (make test does)")
            throw CancellationError()
        }
    }
}

/// A temp folder per test, removed afterwards unless the test failed (kept for its logs).
final class Workspace {
    /// Removes the folder when `test` has recorded no failure; otherwise says where the logs are.
    func finish(_ test: XCTestCase) {
        if let run = test.testRun, run.failureCount + run.unexpectedExceptionCount == 0 {
            remove()
        } else {
            print("kept logs in \(path)")
        }
    }

    let path: String
    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "gapwatch-e2e-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A port on 127.0.0.1 that was free a moment ago.
func freePort() -> Int { freeLoopbackPort() }

/// One of our binaries running as a child process, its output in a log file.
final class ChildProcess {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
        logPath = log
        FileManager.default.createFile(atPath: log, contents: nil)
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
    }

    var pid: Int32 { process.processIdentifier }

    /// Fails at once, with the process's log, when it has exited.
    func requireRunning(_ what: String) throws {
        if !process.isRunning {
            throw ProcessExited(message: "the \(what) exited with status \(process.terminationStatus):\n\(log)")
        }
    }
    var isRunning: Bool { process.isRunning }

    func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait (bounded); returns the exit status, or nil if it had to be killed.
    @discardableResult
    func terminate(timeout: TimeInterval = 15) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill9()
            return nil
        }
        return process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Resident set size in bytes, from /proc.
    var rssBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
}

/// Runs one of our binaries to completion (bounded) and returns its exit code and output.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60)
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

struct ProcessExited: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes. A `ProcessExited` thrown by
/// the condition ends the wait at once.
func waitFor(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        do {
            if try condition() { return }
        } catch let exited as ProcessExited {
            XCTFail(exited.message)
            throw exited
        } catch {}
        usleep(100_000)
    }
    if try condition() { return }
    XCTFail("timed out after \(timeout)s waiting for \(what)")
    throw CancellationError()
}

/// A `gapwatch collector` process on its own port and database.
final class CollectorProcess {
    let workspace: Workspace
    let port: Int
    var child: ChildProcess?
    var database: String { workspace.file("gapwatch.db") }
    var tokenFile: String { workspace.file("gapwatch.tokens") }
    var url: String { "http://127.0.0.1:\(port)" }
    let agentID: String
    /// More collector config (YAML), appended to the file each start writes.
    var extraConfig = ""

    init(workspace: Workspace, agentID: String = "e2e-agent") {
        self.workspace = workspace
        self.port = freePort()
        self.agentID = agentID
    }

    func start() throws {
        let config = workspace.file("collector.yaml")
        try "bootstrap_agent_id: \(agentID)\nlog_level: notice\n\(extraConfig)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess(
            Binaries.gapwatch, ["collector", "--config", config, "--listen", "127.0.0.1:\(port)", "--database", database],
            log: workspace.file("collector.log"))
        self.child = child
        try waitFor("the collector to answer /healthz", timeout: 30) {
            try child.requireRunning("collector")
            return (try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 2000).send(.init(url: url + "/healthz")).status) == 200
        }
    }

    func token(_ key: String) throws -> String {
        let text = try String(contentsOfFile: tokenFile, encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + "=") }) else {
            throw CancellationError()
        }
        return String(line.dropFirst(key.count + 1))
    }

    /// GET with the admin token.
    func get(_ path: String) throws -> HTTPResponse {
        try HTTPClient(connectTimeoutMs: 1000, timeoutMs: 10_000).send(
            .init(url: url + path, headers: [("Authorization", "Bearer \(try token("GAPWATCH_ADMIN_TOKEN"))")]))
    }

    /// Every timeline entry matching `query`, following cursors.
    func timeline(_ query: String) throws -> [TimelineEntry] {
        var all: [TimelineEntry] = []
        var cursor: String?
        repeat {
            let response = try get("/v1/timeline?limit=1000&\(query)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            guard response.status == 200 else { throw CancellationError() }
            let page = try ReportCodec.decode(TimelinePage.self, from: response.body)
            all += page.observations
            cursor = page.nextCursor
        } while cursor != nil
        return all
    }

    func integrityCheck() throws -> String {
        try AppDatabase(StorageOptions(path: database)).integrityCheck()
    }
}

/// A `gapwatch-agent run` process with a config written for the test.
final class AgentProcess {
    let workspace: Workspace
    let localPort: Int
    let collectorURL: String
    let tokenFile: String
    let agentID: String
    var child: ChildProcess?
    var extraConfig: String = ""
    /// The agent's own liveness heartbeat; off unless a test needs it.
    var heartbeatInterval = "0s"
    var spoolDir: String { workspace.file("spool") }
    var localURL: String { "http://127.0.0.1:\(localPort)" }

    init(workspace: Workspace, collectorURL: String, tokenFile: String, agentID: String = "e2e-agent") {
        self.workspace = workspace
        self.localPort = freePort()
        self.collectorURL = collectorURL
        self.tokenFile = tokenFile
        self.agentID = agentID
    }

    var configPath: String { workspace.file("agent.yaml") }

    func start() throws {
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
            heartbeat:
              interval: \(heartbeatInterval)
            spool:
              dir: \(spoolDir)
            listen: 127.0.0.1:\(localPort)
            \(extraConfig)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let child = try ChildProcess(Binaries.agent, ["run", "--config", configPath], log: workspace.file("agent.log"))
        self.child = child
        try waitFor("the agent's local endpoint", timeout: 30) {
            try child.requireRunning("agent")
            return (try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 2000).send(.init(url: localURL + "/healthz")).status) == 200
        }
    }

    /// Pushes one observation to the local endpoint; returns its seq once durably spooled.
    func push(_ body: ObservationBody, client: HTTPClient) throws -> UInt64 {
        let response = try client.send(
            .init(method: "POST", url: localURL + "/v1/observations", headers: [("Content-Type", "application/json")],
                  body: ReportCodec.encode(body)))
        guard response.status == 200 else {
            throw NSError(domain: "push", code: response.status, userInfo: [NSLocalizedDescriptionKey: response.bodyText])
        }
        struct Ack: Decodable { var seq: UInt64 }
        return try ReportCodec.decode(Ack.self, from: response.body).seq
    }
}
