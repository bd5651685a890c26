import Foundation
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Clients that never finish, break off or guess: the collector as a process, attacked over real
/// sockets on 127.0.0.1 (issue 14, items 4, 14, 15 and 16).
final class HostileClientTests: CollectorTestCase {
    /// A one-heartbeat report from the agent the collector's generated token is bound to.
    func reportBody(seq: UInt64, name: String = "nightly-export") -> [UInt8] {
        ReportCodec.encode(
            Report(
                agent: AgentIdentity(id: collector.agentID, service: "e2e", host: "h", version: "1"), bootID: "boot-1", spoolID: "spool-1",
                sentAt: WallClock.nowMillis(),
                observations: [Observation(seq: seq, observedAt: WallClock.nowMillis(), body: .heartbeat(Heartbeat(name: name, status: .ok)))]))
    }

    func postReport(seq: UInt64, timeoutMs: Int = 10_000) throws -> HTTPResponse {
        try HTTPClient(connectTimeoutMs: 2_000, timeoutMs: timeoutMs).send(
            .init(
                method: "POST", url: collector.url + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(try collector.token("GAPWATCH_AGENT_TOKEN"))")],
                body: reportBody(seq: seq)))
    }

    func logLines(containing text: String) -> Int {
        (collector.child?.log ?? "").split(separator: "\n").filter { $0.contains(text) }.count
    }

    /// Starts the collector under `prlimit --nofile=<fileLimit>` (prlimit execs it: same pid).
    func startUnderFileLimit(_ fileLimit: Int) throws {
        let config = workspace.file("collector.yaml")
        try "bootstrap_agent_id: \(collector.agentID)\nlog_level: notice\n\(collector.extraConfig)\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess(
            "/usr/bin/prlimit",
            [
                "--nofile=\(fileLimit):\(fileLimit)", "--", Binaries.gapwatch, "collector", "--config", config, "--listen",
                "127.0.0.1:\(collector.port)", "--database", collector.database,
            ],
            log: workspace.file("collector.log"))
        collector.child = child
        try waitFor("the collector to answer /healthz", timeout: 30) {
            try child.requireRunning("collector")
            return (try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 2000).send(.init(url: collector.url + "/healthz")).status) == 200
        }
    }

    /// Item 4. At a file limit of 200 (the issue's run), bare sockets, half-sent heads and stalled
    /// bodies from many source addresses: the collector caps connections below its file limit and
    /// per source, closes each slow one after its timeout, and answers /healthz and a real report
    /// within a bound meanwhile.
    func testSlowAndIdleConnectionsAreClosedAndCannotStarveTheCollector() throws {
        collector.extraConfig = "listen_limits: {header_timeout: 2s, body_timeout: 2s, idle_timeout: 2s, max_connections_per_source: 40}"
        try startUnderFileLimit(200)
        let port = collector.port
        XCTAssertEqual(logLines(containing: "max_connections lowered to fit the open-file limit"), 1, collector.child?.log ?? "")
        XCTAssertTrue(collector.child?.log.contains("max_connections=136") ?? false, "200 less the 64 kept for files")

        // Per source: 40 held, the other 20 closed as soon as they are accepted.
        let oneSource = (0..<60).compactMap { _ in RawConnection(port: port, from: "127.0.0.50") }
        XCTAssertEqual(oneSource.count, 60)
        Thread.sleep(forTimeInterval: 1.0)
        XCTAssertEqual(oneSource.filter { $0.waitClosed(waitMs: 0) }.count, 20, "closed before any timeout: past the per-source cap")
        // Idle: a kept-alive connection that got its answer is closed after idle_timeout.
        let keptAlive = try XCTUnwrap(RawConnection(port: port, from: "127.0.0.60"))
        keptAlive.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        XCTAssertFalse(keptAlive.waitClosed(waitMs: 1_000))
        XCTAssertTrue(keptAlive.text.hasPrefix("HTTP/1.1 200"), keptAlive.text)
        XCTAssertTrue(keptAlive.waitClosed(waitMs: 3_000), "idle past 2 s")
        XCTAssertTrue(oneSource.allSatisfy { $0.waitClosed(waitMs: 3_000) }, "the held 40 sent no head within 2 s")

        // The flood: 180 bare sockets, 60 half-sent heads, 40 stalled bodies, from 14 addresses.
        let started = Date()
        var attackers: [RawConnection] = []
        for i in 0..<280 {
            let source = "127.0.0.\(2 + i / 20)"
            guard let connection = RawConnection(port: port, from: source) else { continue }
            if i >= 180 && i < 240 {
                connection.send("POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
            } else if i >= 240 {
                connection.send(
                    "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(try collector.token("GAPWATCH_AGENT_TOKEN"))\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"protocol\":1,")
            }
            attackers.append(connection)
        }
        XCTAssertGreaterThanOrEqual(attackers.count, 270, "the accept queue holds what is not accepted yet")

        // An honest probe and an honest report, from 127.0.0.1, while the flood holds every slot.
        let url = collector.url
        let agentToken = try collector.token("GAPWATCH_AGENT_TOKEN")
        let reportBody = reportBody(seq: 1)
        let answers = Answers()
        let both = DispatchGroup()
        for (index, request) in [
            HTTPRequest(url: url + "/healthz"),
            HTTPRequest(
                method: "POST", url: url + "/v1/reports", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(agentToken)")],
                body: reportBody),
        ].enumerated() {
            both.enter()
            Thread {
                let sent = Date()
                let status = (try? HTTPClient(connectTimeoutMs: 3_000, timeoutMs: 20_000).send(request).status) ?? 0
                answers.set(index, status: status, seconds: Date().timeIntervalSince(sent))
                both.leave()
            }.start()
        }
        both.wait()
        let (healthStatus, healthSeconds) = answers.get(0)
        let (reportStatus, reportSeconds) = answers.get(1)
        XCTAssertEqual(healthStatus, 200)
        XCTAssertEqual(reportStatus, 200)
        // 280 ahead in the queue, 136 at a time, each gone after 2 s: about three rounds.
        XCTAssertLessThan(healthSeconds, 10, "/healthz waited \(healthSeconds) s")
        XCTAssertLessThan(reportSeconds, 10, "the report waited \(reportSeconds) s")

        // Every slow connection is closed once its timeout has passed.
        let deadline = Date().addingTimeInterval(20)
        var open = attackers
        while !open.isEmpty && Date() < deadline {
            open = open.filter { !$0.waitClosed(waitMs: 0) }
            usleep(100_000)
        }
        XCTAssertEqual(open.count, 0, "\(open.count) slow connections still open after \(Date().timeIntervalSince(started)) s")
        print(
            "flood of \(attackers.count) slow connections at a file limit of 200: /healthz in \(String(format: "%.1f", healthSeconds)) s, "
                + "a report in \(String(format: "%.1f", reportSeconds)) s, all closed after \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
        )
        try collector.child?.requireRunning("collector")
        XCTAssertEqual(try collector.get("/healthz").status, 200)
        XCTAssertGreaterThanOrEqual(logLines(containing: "closed a connection that timed out"), 1)
        XCTAssertLessThanOrEqual(logLines(containing: "closed a connection that timed out"), 3, "throttled: at most one line a minute")
    }

    /// Item 14. A malformed chunked body is the client's fault (400, on the API and on the login
    /// form); bodies cut off by their clients are 400 too and cost one log line together.
    func testUnreadableBodiesAre400WithOneLogLine() throws {
        try collector.start()
        let token = try collector.token("GAPWATCH_AGENT_TOKEN")
        let chunked = "Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"
        let api = RawConnection.exchange(
            port: collector.port,
            "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n\(chunked)")
        XCTAssertTrue(api?.hasPrefix("HTTP/1.1 400") ?? false, api ?? "no answer")
        XCTAssertTrue(api?.contains("the request body could not be read") ?? false, api ?? "")
        let form = RawConnection.exchange(
            port: collector.port, "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\(chunked)")
        XCTAssertTrue(form?.hasPrefix("HTTP/1.1 400") ?? false, form ?? "no answer")

        // 20 bodies that end before their Content-Length.
        for _ in 0..<20 {
            let cut = try XCTUnwrap(RawConnection(port: collector.port))
            cut.send(
                "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"protocol\":"
            )
            cut.finishSending()
            XCTAssertTrue(cut.waitClosed(waitMs: 5_000))
            XCTAssertTrue(cut.text.isEmpty || cut.text.hasPrefix("HTTP/1.1 400"), cut.text)
        }
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(logLines(containing: "request failed"), 0, collector.child?.log ?? "")
        XCTAssertEqual(logLines(containing: "refused request bodies that could not be read"), 1, collector.child?.log ?? "")
        XCTAssertEqual(try postReport(seq: 1).status, 200, "the collector still serves")
    }

    func login(_ token: String) throws -> HTTPResponse {
        try HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000).send(
            .init(
                method: "POST", url: collector.url + "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array("token=\(token)".utf8)))
    }

    /// Item 15. Failed dashboard logins are logged without the token, and after ten from one source
    /// that source must wait (429, Retry-After), doubling per further failure; the right token
    /// waits too, then logs in.
    func testFailedLoginsAreThrottledPerSourceAndLoggedWithoutTheToken() throws {
        try collector.start()
        let admin = try collector.token("GAPWATCH_ADMIN_TOKEN")
        for i in 1...10 {
            XCTAssertEqual(try login("gw_admin_guess\(i)").status, 401, "failure \(i) is free")
        }
        XCTAssertEqual(try login("gw_admin_guess11").status, 401, "the 11th is checked, then the source waits")
        let refused = try login(admin)
        XCTAssertEqual(refused.status, 429, "while the source waits not even the right token is looked at")
        XCTAssertEqual(refused.headers["retry-after"], "1")
        XCTAssertTrue(refused.bodyText.contains("Too many failed logins"), refused.bodyText)
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try login("gw_admin_guess12").status, 401)
        let second = try login("gw_admin_guess13")
        XCTAssertEqual(second.status, 429)
        XCTAssertEqual(second.headers["retry-after"], "2", "the wait doubles per failure")
        Thread.sleep(forTimeInterval: 2.2)
        let ok = try login(admin)
        XCTAssertEqual(ok.status, 303, ok.bodyText)
        XCTAssertNotNil(ok.headers["set-cookie"])
        // A success clears the count: the next failure is free again.
        XCTAssertEqual(try login("gw_admin_guess14").status, 401)
        XCTAssertEqual(try login(admin).status, 303)

        let log = collector.child?.log ?? ""
        XCTAssertEqual(logLines(containing: "dashboard login failed"), 13, log)
        XCTAssertEqual(logLines(containing: "source=127.0.0.1"), logLines(containing: "dashboard login"), "every login line names its source")
        XCTAssertEqual(logLines(containing: "dashboard login refused: too many failed logins"), 1, "the 429s are logged once a minute")
        XCTAssertFalse(log.contains("gw_admin_guess"), "no guessed token in the log")
        XCTAssertFalse(log.contains(admin), "no token in the log")
    }

    /// Item 16. Outside systemd (umask 022) the database, its WAL and shared-memory files are 0600.
    func testDatabaseFilesAreCreatedPrivate() throws {
        let previous = umask(0o022)
        defer { umask(previous) }
        try collector.start()
        XCTAssertEqual(try postReport(seq: 1).status, 200)
        for path in [collector.database, collector.database + "-wal", collector.database + "-shm", collector.tokenFile] {
            var info = stat()
            XCTAssertEqual(stat(path, &info), 0, "\(path) exists")
            XCTAssertEqual(info.st_mode & 0o777, 0o600, "\(path) is \(String(info.st_mode & 0o777, radix: 8))")
        }
    }
}

/// What two concurrent requests answered, and after how long.
private final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var answers: [Int: (Int, TimeInterval)] = [:]
    func set(_ index: Int, status: Int, seconds: TimeInterval) { lock.withLock { answers[index] = (status, seconds) } }
    func get(_ index: Int) -> (Int, TimeInterval) { lock.withLock { answers[index] ?? (0, 0) } }
}
