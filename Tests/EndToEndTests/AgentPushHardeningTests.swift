import Foundation
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// The agent's local push endpoint and its process under hostile neighbours (issue 14, items 11
/// and 12): `gapwatch-agent run` as a process, pushed to over real sockets and by its own CLI.
final class AgentPushHardeningTests: XCTestCase {
    var workspace: Workspace!
    var agent: AgentProcess!

    override func setUpWithError() throws {
        try Binaries.check()
        workspace = try Workspace(name)
        // No collector is needed: the agent spools what it is told and keeps trying to ship.
        agent = AgentProcess(workspace: workspace, collectorURL: "http://127.0.0.1:\(freePort())", tokenFile: workspace.file("absent.tokens"))
    }

    override func tearDown() {
        agent.child?.terminate()
        workspace.finish(self)
    }

    func push(_ name: String, headers: [(String, String)] = [], url: String? = nil) throws -> HTTPResponse {
        try HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 5_000).send(
            .init(
                method: "POST", url: (url ?? agent.localURL) + "/v1/observations", headers: [("Content-Type", "application/json")] + headers,
                body: ReportCodec.encode(ObservationBody.heartbeat(Heartbeat(name: name, status: .ok)))))
    }

    /// A request with exactly this Host header, over a raw socket.
    func request(_ method: String, _ path: String, host: String, headers: String = "", body: String = "") -> String {
        RawConnection.exchange(
            port: agent.localPort,
            "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)") ?? ""
    }

    /// DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 sends its own name
    /// as Host. Only this agent's loopback names, with its port, are answered.
    func testOnlyLoopbackHostNamesAreAnswered() throws {
        try agent.start()
        let port = agent.localPort
        let ping = #"{"kind":"heartbeat","name":"rebound","status":"ok"}"#
        for host in ["evil.example:\(port)", "evil.example", "127.0.0.1:1", "localhost", "127.0.0.1.nip.io:\(port)"] {
            let answer = request("POST", "/v1/observations", host: host, headers: "Content-Type: application/json\r\n", body: ping)
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 403"), "\(host): \(answer)")
            XCTAssertTrue(answer.contains("not this agent's loopback address"), answer)
            XCTAssertTrue(request("GET", "/v1/status", host: host).hasPrefix("HTTP/1.1 403"), host)
        }
        for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST:\(port)", "[::1]:\(port)"] {
            let answer = request("POST", "/v1/observations", host: host, headers: "Content-Type: application/json\r\n", body: ping)
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200"), "\(host): \(answer)")
        }
        struct Status: Decodable { var last_seq: UInt64 }
        let status = try ReportCodec.decode(Status.self, from: try HTTPClient().send(.init(url: agent.localURL + "/v1/status")).body)
        XCTAssertEqual(status.last_seq, 4, "only the four loopback pushes were spooled")
    }

    /// `listen_token_file`: a group- or world-readable file stops the start; with a private one,
    /// pushes need the token, which the CLI reads from the agent config.
    func testAPushTokenFromAPrivateFileIsRequired() throws {
        let tokenFile = workspace.file("push.token")
        let token = "3f1c9a0b7d2e4f6a8b1c3d5e7f9a0b2c"
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o644)
        agent.extraConfig = "listen_token_file: \(tokenFile)"
        XCTAssertThrowsError(try agent.start(), "a token others may read protects nothing")
        XCTAssertTrue(agent.child?.log.contains("chmod 600") ?? false, agent.child?.log ?? "")

        chmod(tokenFile, 0o600)
        try agent.start()
        XCTAssertEqual(try push("no-token").status, 401)
        XCTAssertEqual(try push("wrong", headers: [("Authorization", "Bearer 3f1c9a0b7d2e4f6a8b1c3d5e7f9a0b2d")]).status, 401)
        XCTAssertEqual(try push("right", headers: [("Authorization", "Bearer \(token)")]).status, 200)
        XCTAssertEqual(try HTTPClient().send(.init(url: agent.localURL + "/v1/status")).status, 401)
        XCTAssertEqual(try HTTPClient().send(.init(url: agent.localURL + "/healthz")).status, 200, "health checks need no token")

        let cli = try runCommand(Binaries.agent, ["ping", "from-cli", "--config", agent.configPath, "--verbose"])
        XCTAssertEqual(cli.status, 0, cli.output)
        XCTAssertTrue(cli.output.contains("seq 2"), cli.output)
        XCTAssertEqual(try runCommand(Binaries.agent, ["status", "--config", agent.configPath]).status, 0)
        let env = try runCommand(Binaries.agent, ["ping", "from-env", "--agent-url", agent.localURL], environment: ["GAPWATCH_PUSH_TOKEN": token])
        XCTAssertEqual(env.status, 0, env.output)
        let without = try runCommand(Binaries.agent, ["ping", "no-token", "--agent-url", agent.localURL], environment: ["GAPWATCH_PUSH_TOKEN": ""])
        XCTAssertEqual(without.status, 1)
        XCTAssertTrue(without.output.contains("HTTP 401"), without.output)
        XCTAssertFalse(agent.child?.log.contains(token) ?? true, "the token is never logged")
    }

    /// 100 sockets held open by someone (more than the 64 connections the endpoint serves) cannot
    /// lock out a push: the connection that has waited longest without a request makes room.
    func testIdleSocketsCannotBlockAPush() throws {
        try agent.start()
        let idle = (0..<100).compactMap { _ in RawConnection(port: agent.localPort) }
        XCTAssertEqual(idle.count, 100)
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        let cli = try runCommand(Binaries.agent, ["ping", "after-the-flood", "--agent-url", agent.localURL, "--verbose"], timeout: 20)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(cli.status, 0, cli.output)
        XCTAssertTrue(cli.output.contains("seq 1"), cli.output)
        XCTAssertLessThan(seconds, 3, "served at once, not after the 10 s idle timeout")
        Thread.sleep(forTimeInterval: 0.3)
        let closed = idle.filter { $0.waitClosed(waitMs: 0) }.count
        XCTAssertEqual(closed, 37, "36 made room for the newer idle sockets, one for the push")
        print("push past 100 idle sockets: \(String(format: "%.2f", seconds)) s; \(closed) idle sockets closed to make room")
    }

    /// Item 12. Under a file-size limit (ulimit -f) a spool write fails with EFBIG: the push is
    /// answered 503 and the agent lives on; once the limit is lifted pushes are recorded again.
    func testAFileSizeLimitFailsPushesWithoutKillingTheAgent() throws {
        try agent.start()
        let child = try XCTUnwrap(agent.child)
        XCTAssertEqual(try push("before").status, 200)
        let lowered = try runCommand("/usr/bin/prlimit", ["--pid", "\(child.pid)", "--fsize=1:unlimited"])
        XCTAssertEqual(lowered.status, 0, lowered.output)
        let refused = try push("during")
        XCTAssertEqual(refused.status, 503, refused.bodyText)
        XCTAssertTrue(refused.bodyText.contains("File too large"), refused.bodyText)
        Thread.sleep(forTimeInterval: 0.3)
        try child.requireRunning("agent")
        let raised = try runCommand("/usr/bin/prlimit", ["--pid", "\(child.pid)", "--fsize=unlimited:unlimited"])
        XCTAssertEqual(raised.status, 0, raised.output)
        let after = try push("after")
        XCTAssertEqual(after.status, 200, after.bodyText)
        XCTAssertEqual(try ReportCodec.decode(AgentProcess.Ack.self, from: after.body).seq, 2, "the refused push took no seq")
        try child.requireRunning("agent")
    }
}
