import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Times bounded by the collector's clock, with our binaries as processes: a ping dated 2099
/// (pushed through a real agent) cannot hold a check up against the real service's failure, and
/// an agent whose clock is off opens a clock incident while its data is still stored.
final class ClockEndToEndTests: CollectorTestCase {
    let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 10_000)

    override func setUpWithError() throws {
        collector.extraConfig = """
            checks:
              - {name: svc-check, ping: svc, every: 1h}
            """
        try collector.start()
    }

    var env: [String: String] { ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN_FILE": collector.tokenFile] }

    func gapwatch(_ arguments: [String]) throws -> String {
        let (status, output) = try runCommand(Binaries.gapwatch, arguments, environment: env, timeout: 30)
        XCTAssertEqual(status, 0, output)
        return output
    }

    /// A real agent in a folder of its own, with a token bound to its id.
    func startAgent(id: String) throws -> AgentProcess {
        let folder = try Workspace(inside: workspace, id)
        var tokenFile = collector.tokenFile
        if id != collector.agentID {
            let issued = try ReportCodec.decode(
                IssuedToken.self, from: Array(try gapwatch(["tokens", "create", "--kind", "agent", "--agent-id", id, "--json"]).utf8))
            tokenFile = folder.file("token")
            try "\(issued.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        }
        let agent = AgentProcess(workspace: folder, collectorURL: collector.url, tokenFile: tokenFile, agentID: id)
        agents.append(agent)
        try agent.start()
        return agent
    }

    func ping(_ agent: AgentProcess, _ arguments: [String]) throws {
        let (status, output) = try runCommand(Binaries.agent, ["ping", "svc", "--agent-url", agent.localURL] + arguments, timeout: 30)
        XCTAssertEqual(status, 0, output)
    }

    struct Checks: Decodable { var checks: [CheckInfo] }
    struct Incidents: Decodable { var incidents: [IncidentInfo] }
    struct Agents: Decodable { var agents: [AgentInfo] }

    func check(_ name: String) throws -> CheckInfo? {
        try ReportCodec.decode(Checks.self, from: try collector.get("/v1/checks").body).checks.first { $0.name == name }
    }

    func incidents(rule: String) throws -> [IncidentInfo] {
        try ["open", "resolved"].flatMap { state in
            try ReportCodec.decode(Incidents.self, from: try collector.get("/v1/incidents?state=\(state)").body).incidents.filter { $0.rule == rule }
        }
    }

    func agentInfo(_ id: String) throws -> AgentInfo? {
        try ReportCodec.decode(Agents.self, from: try collector.get("/v1/agents").body).agents.first { $0.id == id }
    }

    /// The part of an agent's `GET /v1/status` these tests read.
    struct AgentStatus: Decodable {
        var pending: Int
        var refused: Int64?
    }

    func agentStatus(_ agent: AgentProcess) throws -> AgentStatus {
        try ReportCodec.decode(AgentStatus.self, from: try client.send(.init(url: agent.localURL + "/v1/status")).body)
    }

    /// The service's agent pings ok; another agent pushes an ok ping dated 2099 (through its local
    /// endpoint, as any service beside it can); then the service fails with exit code 3. The check
    /// goes down at once: the 2099 ping was refused one by one (the other agent counts it), so it
    /// never became "the newest ping".
    func testAPingDated2099CannotHoldACheckUpAgainstARealFailure() throws {
        let service = try startAgent(id: collector.agentID)
        let other = try startAgent(id: "other-agent")
        try ping(service, [])
        try waitFor("the check to be up", timeout: 30) { try check("svc-check")?.state == "up" }

        try ping(other, ["--observed-at", "2099-01-01T00:00:00Z"])
        try waitFor("the 2099 ping to be shipped", timeout: 30) { try agentStatus(other).pending == 0 }

        try ping(service, ["--fail", "--exit-code", "3", "--message", "upstream 500"])
        try waitFor("the check to go down on the real failure", timeout: 30) { try check("svc-check")?.state == "down" }
        let incident = try XCTUnwrap(try incidents(rule: "heartbeat").first { $0.subject == "check:svc-check" })
        XCTAssertEqual(incident.state, "open")
        XCTAssertTrue(incident.reason.contains("exit code 3"), incident.reason)

        // The 2099 ping was refused on its own, acknowledged, and counted on both sides.
        XCTAssertEqual(try agentStatus(other).refused, 1)
        XCTAssertEqual(try agentInfo("other-agent")?.clockRefused, 1)
        XCTAssertTrue(other.child?.log.contains("refused an observation") ?? false, other.child?.log ?? "")
        XCTAssertTrue(try collector.timeline("subject=ping:svc&agent=other-agent").isEmpty, "a refused observation is not stored")
        XCTAssertTrue(collector.child?.isRunning ?? false)
    }

    /// POSTs a report as an agent whose clock says `agentNow`: sent then, one ok ping observed then.
    func postFromClock(_ agentNow: Millis, agent: String, seq: UInt64) throws -> ReportResponse {
        let report = Report(
            agent: AgentIdentity(id: agent, service: "skewed-svc", host: "h", version: "t"), bootID: "b", spoolID: "s", sentAt: agentNow,
            observations: [Observation(seq: seq, observedAt: agentNow, body: .heartbeat(Heartbeat(name: "svc-\(agent)", status: .ok)))])
        let response = try client.send(
            .init(
                method: "POST", url: collector.url + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(try collector.token("GAPWATCH_ADMIN_TOKEN"))")],
                body: ReportCodec.encode(report)))
        XCTAssertEqual(response.status, 200, response.bodyText)
        return try ReportCodec.decode(ReportResponse.self, from: response.body)
    }

    /// An agent whose clock runs 2 h ahead: its observations are stored, moved back by its skew
    /// (not refused, not lost), `gapwatch agents` shows the skew, and one clock_skew incident
    /// opens; it resolves with the first report whose clock is right. A clock 2 h behind opens one
    /// too, its data stored as dated.
    func testASkewedAgentOpensAClockIncidentAndItsDataIsStored() throws {
        let ahead = WallClock.nowMillis() + 2 * 3_600_000
        let answer = try postFromClock(ahead, agent: "fast-clock", seq: 1)
        XCTAssertEqual(answer.stored, 1)
        XCTAssertEqual(answer.refused, [])
        let stored = try XCTUnwrap(try collector.timeline("agent=fast-clock").first)
        XCTAssertLessThanOrEqual(stored.observation.observedAt, WallClock.nowMillis(), "stored moved back by the skew")
        XCTAssertGreaterThan(stored.observation.observedAt, WallClock.nowMillis() - 60_000)
        XCTAssertEqual(try agentInfo("fast-clock")?.clockCorrected, 1)

        let behind = WallClock.nowMillis() - 2 * 3_600_000
        XCTAssertEqual(try postFromClock(behind, agent: "slow-clock", seq: 1).stored, 1)
        XCTAssertEqual(try collector.timeline("agent=slow-clock").first?.observation.observedAt, behind, "a clock behind is stored as dated")

        try waitFor("a clock_skew incident for each", timeout: 30) {
            Set(try incidents(rule: "clock_skew").filter { $0.state == "open" }.map(\.subject)) == ["clock:fast-clock", "clock:slow-clock"]
        }
        let fast = try XCTUnwrap(try incidents(rule: "clock_skew").first { $0.subject == "clock:fast-clock" })
        XCTAssertTrue(
            ["119m", "2h 0m"].contains { fast.reason.contains("fast-clock's clock is \($0) ahead of the collector's (tolerance 5m)") }, fast.reason)
        XCTAssertEqual(fast.labels["agent"], "fast-clock")
        XCTAssertEqual(fast.labels["service"], "skewed-svc")
        let listing = try gapwatch(["agents"])
        let line = try XCTUnwrap(listing.split(separator: "\n").first { $0.hasPrefix("fast-clock") }, listing)
        XCTAssertTrue(line.contains("ahead: OFF (over 5m)") && line.contains("1 corrected"), String(line))
        XCTAssertTrue(listing.split(separator: "\n").contains { $0.hasPrefix("slow-clock") && $0.contains("behind: OFF") }, listing)

        // The clock is right again: the next report resolves it.
        XCTAssertEqual(try postFromClock(WallClock.nowMillis(), agent: "fast-clock", seq: 2).stored, 1)
        try waitFor("the fast clock's incident to resolve", timeout: 30) {
            try incidents(rule: "clock_skew").first { $0.subject == "clock:fast-clock" }?.state == "resolved"
        }
        XCTAssertEqual(try incidents(rule: "clock_skew").first { $0.subject == "clock:slow-clock" }?.state, "open")
        XCTAssertEqual(try collector.timeline("agent=fast-clock").count, 2, "every observation of the skewed agent is stored")
    }
}
