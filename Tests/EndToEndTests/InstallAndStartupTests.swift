import Foundation
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Start-up errors and `--version`, with our binaries as processes. (`make install` itself is
/// exercised by .ci/install-check: it builds the release agent, which is too slow for this suite.)
final class InstallAndStartupTests: XCTestCase {
    var workspace: Workspace!
    var taken: TakenPort!

    override func setUpWithError() throws {
        try Binaries.check()
        workspace = try Workspace(name)
        taken = try TakenPort()
    }

    override func tearDown() {
        taken = nil
        workspace.finish(self)
    }

    /// Files a collector may have written in the workspace: database, WAL, shared memory, tokens.
    func collectorFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: workspace.path).filter {
            $0.hasSuffix(".db") || $0.hasSuffix(".db-wal") || $0.hasSuffix(".db-shm") || $0.hasSuffix(".db-journal")
                || $0.hasSuffix(".tokens") || $0.contains(".tokens.tmp")
        }.sorted()
    }

    func testCollectorOnATakenPortSaysOneLineAndWritesNothing() throws {
        let db = workspace.file("gapwatch.db")
        let result = try runCommand(Binaries.gapwatch, ["collector", "--listen", "127.0.0.1:\(taken.port)", "--database", db], timeout: 30)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertEqual(
            result.output,
            "gapwatch collector: cannot listen on 127.0.0.1:\(taken.port): address already in use "
                + "(another collector running? set listen: in the config or --listen)\n")
        XCTAssertEqual(try collectorFiles(), [], "a collector that cannot start leaves no database or token file")

        // The same from the config file's `listen:`.
        let config = workspace.file("collector.yaml")
        try "listen: 127.0.0.1:\(taken.port)\ndatabase: \(db)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let fromConfig = try runCommand(Binaries.gapwatch, ["collector", "--config", config], timeout: 30)
        XCTAssertEqual(fromConfig.status, 1, fromConfig.output)
        XCTAssertEqual(fromConfig.output.split(separator: "\n").count, 1, fromConfig.output)
        XCTAssertTrue(
            fromConfig.output.hasPrefix("gapwatch collector: cannot listen on 127.0.0.1:\(taken.port): address already in use"), fromConfig.output)
        XCTAssertEqual(try collectorFiles(), [])
    }

    func testCollectorOnATakenPortLeavesAnExistingStoreAsItWas() throws {
        // A first start creates the store and tokens, then stops.
        let collector = CollectorProcess(workspace: workspace)
        try collector.start()
        XCTAssertEqual(collector.child?.terminate(), 0)
        let files = try collectorFiles()
        XCTAssertTrue(files.contains("gapwatch.db") && files.contains("gapwatch.tokens"), "\(files)")
        let tokens = try String(contentsOfFile: collector.tokenFile, encoding: .utf8)
        let dbBytes = try Data(contentsOf: URL(fileURLWithPath: collector.database))

        let result = try runCommand(
            Binaries.gapwatch, ["collector", "--listen", "127.0.0.1:\(taken.port)", "--database", collector.database], timeout: 30)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertEqual(result.output.split(separator: "\n").count, 1, result.output)
        XCTAssertEqual(try collectorFiles(), files, "an existing store is never removed")
        XCTAssertEqual(try String(contentsOfFile: collector.tokenFile, encoding: .utf8), tokens)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: collector.database)), dbBytes)
    }

    func testCollectorThatFailsAfterCreatingItsDatabaseRemovesWhatItCreated() throws {
        // The port is free and the config is valid, but the token file cannot be written: the
        // start fails after the database was created and migrated.
        let config = workspace.file("collector.yaml")
        try "token_file: \(workspace.file("no-such-folder/gapwatch.tokens"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try runCommand(
            Binaries.gapwatch,
            ["collector", "--config", config, "--listen", "127.0.0.1:\(freePort())", "--database", workspace.file("gapwatch.db")], timeout: 30)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("cannot write token file"), result.output)
        XCTAssertEqual(try collectorFiles(), [], "a failed start removes the database it created")
    }

    func testAgentOnATakenPushPortSaysOneLine() throws {
        let config = workspace.file("agent.yaml")
        try """
        agent:
          id: startup-agent
        collector:
          url: http://127.0.0.1:\(freePort())
          token: gw_agent_unused
        spool:
          dir: \(workspace.file("spool"))
        listen: 127.0.0.1:\(taken.port)

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try runCommand(Binaries.agent, ["run", "--config", config], timeout: 30)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertEqual(
            result.output,
            "gapwatch-agent: cannot listen on 127.0.0.1:\(taken.port): address already in use "
                + "(the local push endpoint; another agent running? set listen: in the agent config)\n")
    }

    func testDemoOnATakenPortSaysOneLineAndStartsNothing() throws {
        let dir = workspace.file("demo")
        let result = try runCommand(Binaries.gapwatch, ["demo", "--exit", "--dir", dir, "--port", "\(taken.port)"], timeout: 30)
        XCTAssertEqual(result.status, 1, result.output)
        XCTAssertEqual(
            result.output,
            "gapwatch demo: cannot listen on 127.0.0.1:\(taken.port): address already in use (another collector or demo "
                + "running? pass another port: gapwatch demo --port 7171, or make demo PORT=7171)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir), "nothing was reset or started")
    }

    func testDemoPortIsDocumentedAndMakeDemoPassesIt() throws {
        let help = try runCommand(Binaries.gapwatch, ["demo", "--help"])
        XCTAssertEqual(help.status, 0, help.output)
        XCTAssertTrue(help.output.contains("--port <port>"), help.output)
        XCTAssertTrue(help.output.contains("make demo PORT=7171"), help.output)
        // The Makefile's demo recipe, dry-run: PORT from the command line becomes --port, plain
        // `make demo` is unchanged, and a PORT in the environment is not picked up.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        func demoLine(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
            let make = try runCommand("/usr/bin/make", ["-s", "-n", "-C", root, "demo"] + arguments, environment: environment)
            XCTAssertEqual(make.status, 0, make.output)
            return make.output.split(separator: "\n").last.map(String.init) ?? ""
        }
        XCTAssertEqual(try demoLine(["PORT=7171"]), ".build/debug/gapwatch demo --port 7171")
        XCTAssertEqual(try demoLine([]), ".build/debug/gapwatch demo")
        XCTAssertEqual(try demoLine([], environment: ["PORT": "8080"]), ".build/debug/gapwatch demo")
    }

    func testVersionOnBothBinaries() throws {
        for binary in [Binaries.gapwatch, Binaries.agent] {
            let result = try runCommand(binary, ["--version"])
            XCTAssertEqual(result.status, 0, result.output)
            // `swift build` binaries carry no commit stamp: the version alone.
            XCTAssertEqual(result.output, GapwatchVersion.number + "\n", binary)
        }
    }

    /// `make install` stamps the commit into the installed copies with objcopy; --version prints it,
    /// and ignores a section that does not hold a commit.
    func testVersionPrintsTheCommitStampedIntoTheBinary() throws {
        let copy = workspace.file("gapwatch-agent")
        try FileManager.default.copyItem(atPath: Binaries.agent, toPath: copy)
        func stamp(_ text: String) throws -> String {
            let stampFile = workspace.file("stamp")
            try text.write(toFile: stampFile, atomically: true, encoding: .utf8)
            let stamped = workspace.file("stamped-agent")
            try? FileManager.default.removeItem(atPath: stamped)
            let objcopy = try runCommand(
                "/usr/bin/objcopy",
                ["--add-section", ".gapwatch.commit=\(stampFile)", "--set-section-flags", ".gapwatch.commit=noload,readonly", copy, stamped])
            XCTAssertEqual(objcopy.status, 0, objcopy.output)
            return try runCommand(stamped, ["--version"]).output
        }
        XCTAssertEqual(try stamp("3fafa6ad48f6"), "\(GapwatchVersion.number) (commit 3fafa6ad48f6)\n")
        XCTAssertEqual(try stamp("3fafa6ad48f6-dirty"), "\(GapwatchVersion.number) (commit 3fafa6ad48f6-dirty)\n")
        XCTAssertEqual(try stamp("not a commit; rm -rf /"), "\(GapwatchVersion.number)\n")
    }
}

/// A port on 127.0.0.1 that this test process listens on until it is released.
final class TakenPort {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard fd >= 0, bound == 0, listen(fd, 4) == 0 else {
            if fd >= 0 { close(fd) }
            throw HarnessError("cannot hold a port: errno \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}
