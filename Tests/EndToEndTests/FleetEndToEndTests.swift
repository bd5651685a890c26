import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// A fleet as processes: agents whose reports the collector refuses show up in `gapwatch agents`,
/// and an agent whose token file is fixed ships at once instead of waiting out its backoff.
final class FleetEndToEndTests: CollectorTestCase {
    let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 10_000)

    override func setUpWithError() throws {
        try collector.start()
    }

    /// An agent in its own folder of the workspace, with its own config, spool and log.
    func agent(id: String, tokenFile: String) throws -> AgentProcess {
        let folder = try Workspace(inside: workspace, id)
        let agent = AgentProcess(workspace: folder, collectorURL: collector.url, tokenFile: tokenFile, agentID: id)
        agents.append(agent)
        return agent
    }

    func gapwatch(_ arguments: [String]) throws -> String {
        let (status, output) = try runCommand(
            Binaries.gapwatch, arguments + ["--url", collector.url, "--token-file", collector.tokenFile], timeout: 30)
        XCTAssertEqual(status, 0, output)
        return output
    }

    struct Agents: Decodable {
        var agents: [AgentInfo]
        var rejected: [RejectedAgentInfo]
    }

    func rejected() throws -> [RejectedAgentInfo] {
        try ReportCodec.decode(Agents.self, from: try collector.get("/v1/agents").body).rejected
    }

    func issue(kind: String, agentID: String?) throws -> (id: String, token: String) {
        var arguments = ["tokens", "create", "--kind", kind, "--json"]
        if let agentID { arguments += ["--agent-id", agentID] }
        let issued = try ReportCodec.decode(IssuedToken.self, from: Array(try gapwatch(arguments).utf8))
        return (issued.info.id, issued.token)
    }

    /// Three refused agents, each a real `gapwatch-agent run`: one with the collector's agent
    /// token under another agent id (403), one with a revoked token (401), one with a token the
    /// collector never issued (401). `gapwatch agents` (and --json, and /metrics) shows each with
    /// its reason and a count that grows; the agent that may report is listed as an agent.
    func testRefusedAgentsAreListedWithReasonAndCount() throws {
        let good = try agent(id: "e2e-agent", tokenFile: collector.tokenFile)
        let impostor = try agent(id: "impostor-7", tokenFile: collector.tokenFile)
        let revoked = try issue(kind: "agent", agentID: "rotated-1")
        _ = try gapwatch(["tokens", "revoke", revoked.id])
        let revokedFile = workspace.file("revoked.tokens")
        try "\(revoked.token)\n".write(toFile: revokedFile, atomically: true, encoding: .utf8)
        let rotated = try agent(id: "rotated-1", tokenFile: revokedFile)
        let strangerFile = workspace.file("stranger.tokens")
        try "gw_agent_neverissuedbythiscollector\n".write(toFile: strangerFile, atomically: true, encoding: .utf8)
        let stranger = try agent(id: "stranger-3", tokenFile: strangerFile)
        for agent in [good, impostor, rotated, stranger] {
            agent.extraCollectorConfig = "backoff_max: 1s"  // refused agents retry each second
            try agent.start()
            _ = try agent.push(.count(Count(dataset: "raw.games", partition: "2026-01-22", count: 3)), client: client)
        }

        try waitFor("the three refused agents, each refused twice or more", timeout: 60) {
            let rows = try rejected()
            return [("impostor-7", "wrong_agent_id"), ("rotated-1", "revoked_token"), ("stranger-3", "unknown_token")].allSatisfy { id, reason in
                rows.contains { $0.claimedAgentID == id && $0.reason.rawValue == reason && $0.count >= 2 }
            }
        }
        let rows = try rejected()
        let impostorRow = try XCTUnwrap(rows.first { $0.claimedAgentID == "impostor-7" })
        XCTAssertNotNil(impostorRow.tokenID, "the token was valid, only bound to another agent id")
        XCTAssertEqual(impostorRow.source, "127.0.0.1")
        XCTAssertLessThanOrEqual(impostorRow.firstSeen, impostorRow.lastSeen)
        XCTAssertEqual(rows.first { $0.claimedAgentID == "rotated-1" }?.tokenID, revoked.id, "a revoked token is named by its id")
        XCTAssertNil(rows.first { $0.claimedAgentID == "stranger-3" }?.tokenID)
        XCTAssertFalse(rows.contains { $0.claimedAgentID == "e2e-agent" }, "the agent that may report is not refused")

        // The CLI: the agent that reported, then the rejected ones with reason and count.
        let table = try gapwatch(["agents"])
        XCTAssertTrue(table.contains("e2e-agent"), table)
        let rejectedPart = try XCTUnwrap(table.components(separatedBy: "Rejected").last, table)
        for (id, reason) in [("impostor-7", "wrong_agent_id"), ("rotated-1", "revoked_token"), ("stranger-3", "unknown_token")] {
            let line = try XCTUnwrap(rejectedPart.split(separator: "\n").first { $0.contains(id) }, table)
            XCTAssertTrue(line.contains(reason), String(line))
            XCTAssertTrue(line.contains("127.0.0.1"), String(line))
        }
        let json = try ReportCodec.decode(Agents.self, from: Array(try gapwatch(["agents", "--json"]).utf8))
        XCTAssertEqual(json.agents.map(\.id), ["e2e-agent"])
        XCTAssertEqual(Set(json.rejected.map(\.claimedAgentID)), ["impostor-7", "rotated-1", "stranger-3"])

        // Counts grow while the agents keep trying; the metric counts by reason.
        let before = try XCTUnwrap(try rejected().first { $0.claimedAgentID == "impostor-7" }).count
        try waitFor("more refusals of impostor-7", timeout: 30) {
            try XCTUnwrap(try rejected().first { $0.claimedAgentID == "impostor-7" }).count > before
        }
        let metrics = try collector.get("/metrics").bodyText
        for reason in ["wrong_agent_id", "revoked_token", "unknown_token"] {
            let line = try XCTUnwrap(
                metrics.split(separator: "\n").first { $0.hasPrefix(#"gapwatch_ingest_rejected_total{reason="\#(reason)"}"#) }, metrics)
            XCTAssertGreaterThanOrEqual(Double(line.split(separator: " ").last ?? "") ?? 0, 2, String(line))
        }
        XCTAssertTrue(metrics.contains(#"gapwatch_ingest_rejected_total{reason="missing_token"} 0"#), "every reason is there from the start")

        // Recorded in the database (flushed every 2 s), so a restart keeps them.
        collector.child?.terminate()
        try collector.start()
        XCTAssertTrue(try rejected().contains { $0.claimedAgentID == "rotated-1" && $0.reason == .revokedToken }, "kept across a restart")
    }

    /// An agent refused for a bad token backs off up to `backoff_max` (here 10 minutes); when its
    /// token file is rewritten with a good token it ships within seconds, not minutes.
    func testARewrittenTokenFileIsUsedAtOnce() throws {
        let tokenFile = workspace.file("agent.tokens")
        try "GAPWATCH_AGENT_TOKEN=gw_agent_wrongwrongwrong\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let agent = try agent(id: "e2e-agent", tokenFile: tokenFile)
        agent.extraCollectorConfig = "backoff_max: 10m"
        try agent.start()
        _ = try agent.push(.count(Count(dataset: "raw.games", partition: "2026-01-22", count: 7)), client: client)
        try waitFor("the collector to refuse the agent", timeout: 30) {
            try rejected().contains { $0.claimedAgentID == "e2e-agent" && $0.reason == .unknownToken }
        }
        // Let the agent settle into its long wait after the refusal.
        sleep(2)
        XCTAssertTrue(agent.child?.log.contains("retry_in=10m") ?? false, "the refusal backs off for backoff_max: \(agent.child?.log ?? "")")
        XCTAssertTrue(try collector.timeline("subject=dataset:raw.games").isEmpty)
        XCTAssertFalse(agent.child?.log.contains("token file changed") ?? true, "nothing changed yet")

        let started = Date()
        try "GAPWATCH_AGENT_TOKEN=\(try collector.token("GAPWATCH_AGENT_TOKEN"))\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try waitFor("the count to arrive after the token file was fixed", timeout: 20) {
            try collector.timeline("subject=dataset:raw.games").contains {
                if case .count(let c) = $0.observation.body { c.count == 7 } else { false }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("the count arrived \(String(format: "%.2f", seconds)) s after the token file was rewritten (backoff_max 10m)")
        XCTAssertLessThan(seconds, 10)
        XCTAssertTrue(agent.child?.log.contains("token file changed") ?? false, agent.child?.log ?? "")
    }
}
