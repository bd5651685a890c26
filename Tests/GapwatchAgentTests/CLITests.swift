import Foundation
import GapwatchAgent
import GapwatchProtocol
import XCTest

/// Runs the built `gapwatch-agent` binary as a process, as scripts and cron jobs do.
final class CLITests: XCTestCase {
    static let binary: String? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = dir.appendingPathComponent("gapwatch-agent").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the agent binary with `arguments`, or (`shell`) runs `arguments` as they are (argv).
    func run(_ arguments: [String], environment: [String: String] = [:], shell: Bool = false) throws -> Outcome {
        let binary = try XCTUnwrap(Self.binary, "build gapwatch-agent first (swift build)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: shell ? "/bin/sh" : binary)
        process.arguments = shell ? Array(arguments.dropFirst()) : arguments
        var env = ProcessInfo.processInfo.environment
        env["GAPWATCH_AGENT_URL"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A spool behind the real push endpoint on a free loopback port, stopped at the test's end.
    func localAgent() throws -> (Spool, String) {
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        let api = PushAPI(spool: spool, logger: quietLogger) { fatalError("unused") }
        let server = try LocalHTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger) { api.handle($0) }
        server.start()
        addTeardownBlock {
            server.stop()
            spool.close()
        }
        return (spool, "http://127.0.0.1:\(server.port)")
    }

    func testPushCommandsExitZeroOnlyAfterTheAgentSpooledThem() throws {
        let (spool, url) = try localAgent()

        let ping = try run(["ping", "nightly", "--exit-code", "3", "--duration-ms", "5", "--agent-url", url, "-v"])
        XCTAssertEqual(ping.status, 0, ping.stderr)
        XCTAssertTrue(ping.stdout.hasPrefix("seq 1 "), ping.stdout)
        XCTAssertEqual(try run(["count", "nba_raw.boxscores", "2026-01-22", "282"], environment: ["GAPWATCH_AGENT_URL": url]).status, 0)
        XCTAssertEqual(try run(["decision", "wf", "skip", "--reason", "not final", "--agent-url", url]).status, 0)
        XCTAssertEqual(try run(["item", "game", "42", "In Progress", "--reference-time", "2026-01-22T19:00:00Z", "--agent-url", url]).status, 0)
        XCTAssertEqual(
            try run(["lock", "backfill", "--holder", "w3", "--acquired-at", "1769108400000", "--ttl", "5m", "--agent-url", url]).status, 0)
        XCTAssertEqual(try run(["lock", "backfill", "--released", "--agent-url", url]).status, 0)

        let bodies = try spool.readBatch(maxRecords: 10).map(\.body)
        XCTAssertEqual(
            bodies,
            [
                .heartbeat(Heartbeat(name: "nightly", status: .fail, durationMs: 5, exitCode: 3)),
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-22", count: 282)),
                .decision(WorkflowDecision(workflow: "wf", decision: .skip, reason: "not final")),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "42", status: "In Progress", referenceTime: 1_769_108_400_000)),
                .lock(LockSighting(name: "backfill", holder: "w3", acquiredAt: 1_769_108_400_000, expiresAt: 1_769_108_700_000)),
                .lock(LockSighting(name: "backfill", holder: nil)),
            ])
    }

    func testCountMistakesAreExplainedAndCompleteBatchesZeroWhatVanished() throws {
        let (spool, url) = try localAgent()
        for (arguments, message) in [
            (["count", "d", "2026-01-22", "-5"], "gapwatch-agent: count: -5 is negative; a count is 0 or more (0: the partition has no rows)\n"),
            (["count", "d", "2026-13-45", "5"], "gapwatch-agent: partition: '2026-13-45' is not a real date (YYYY-MM-DD)\n"),
            (
                ["count", "nba raw", "2026-01-22", "5"],
                "gapwatch-agent: dataset: 'nba raw' contains whitespace; names of datasets, item kinds, workflows and locks may not\n"
            ),
        ] {
            let result = try run(arguments + ["--agent-url", url])
            XCTAssertEqual(result.status, 2, "\(arguments)")
            XCTAssertEqual(result.stderr, message)
        }
        XCTAssertEqual(try run(["count", "d", "2026-01-22", "0", "--agent-url", url]).status, 0, "a count of 0 is recorded")

        let dir = makeTempDir(self)
        writeFile(dir + "/all", Array("day|rows\n2026-01-21|300\n2026-01-22|282\n".utf8))
        writeFile(dir + "/fewer", Array("2026-01-21|300\n".utf8))
        func counts(_ file: String, _ extra: [String]) throws -> Outcome {
            let binary = try XCTUnwrap(Self.binary)
            return try run(["sh", "-c", "\"$0\" counts analytics \"$@\" < \(dir)/\(file)", binary] + extra + ["--agent-url", url], shell: true)
        }
        XCTAssertEqual(try counts("all", ["--covers", "all"]).status, 0)
        let fewer = try counts("fewer", ["--covers", "all"])
        XCTAssertEqual(fewer.status, 0, fewer.stderr)
        XCTAssertEqual(fewer.stdout, "recorded 1 count(s); 1 partition(s) no longer listed recorded as 0: 2026-01-22\n")
        let missing = try counts("fewer", [])
        XCTAssertEqual(missing.status, 64)
        XCTAssertTrue(missing.stderr.contains("say what the batch is complete for"), missing.stderr)
        let stored = try spool.readBatch(maxRecords: 20).compactMap { o -> String? in
            guard case .count(let c) = o.body, c.dataset == "analytics" else { return nil }
            return "\(c.partition)=\(c.count)"
        }
        XCTAssertEqual(stored, ["2026-01-21=300", "2026-01-22=282", "2026-01-21=300", "2026-01-22=0"])
    }

    func testUnreachableAgentIsAOneLineErrorAndNonZeroExit() throws {
        // A port nothing listens on.
        let server = try LocalHTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger) { _ in ServerResponse(status: 200, body: []) }
        let port = server.port
        server.start()
        server.stop()
        let result = try run(["ping", "job", "--agent-url", "http://127.0.0.1:\(port)"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(
            result.stderr, "gapwatch-agent: cannot reach the agent at http://127.0.0.1:\(port): connection refused (is gapwatch-agent running?)\n")
        XCTAssertEqual(result.stdout, "")
    }

    func testCheckConfigPrintsEffectiveConfigOrTheLineAtFault() throws {
        let dir = makeTempDir(self)
        writeFile(dir + "/good.yaml", Array("agent:\n  id: a1\ncollector:\n  token: tok_very_secret\n".utf8))
        let good = try run(["check-config", "--config", dir + "/good.yaml"])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertTrue(good.stdout.contains("batch_max: 500"))
        XCTAssertFalse(good.stdout.contains("tok_very_secret"))

        writeFile(dir + "/bad.yaml", Array("agent:\n  id: a1\nheartbeat:\n  intervl: 5s\n".utf8))
        let bad = try run(["check-config", "--config", dir + "/bad.yaml"])
        XCTAssertEqual(bad.status, 78)
        XCTAssertTrue(bad.stderr.contains("line 4: unknown key 'heartbeat.intervl'"), bad.stderr)
    }

    func testRunStopsCleanlyOnSIGTERM() throws {
        let dir = makeTempDir(self)
        writeFile(
            dir + "/agent.yaml",
            Array(
                """
                agent: {id: sig-test}
                collector: {url: "http://127.0.0.1:9"}
                spool: {dir: "\(dir)/spool"}
                listen: 127.0.0.1:0
                """.utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try XCTUnwrap(Self.binary))
        process.arguments = ["run", "--config", dir + "/agent.yaml"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Started: the spool folder and its state exist.
        let deadline = Date().addingTimeInterval(10)
        while !FileIO.exists(dir + "/spool/state") && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(FileIO.exists(dir + "/spool/state"))
        process.terminate()  // SIGTERM
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
