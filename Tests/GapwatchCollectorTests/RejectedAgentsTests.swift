import Foundation
import GRDB
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// Refused reports over real HTTP and a real SQLite file: recorded with the right reason,
/// sanitised, written only when flushed, and bounded in rows.
final class RejectedAgentsTests: XCTestCase {
    var collector: TestCollector!

    override func setUp() async throws {
        // Over a socket where the refusal's source address is asserted: the router has no peer.
        collector = try await TestCollector.start(
            transport: transport(socketFor: "testEachRefusalIsRecordedWithItsReasonAndNothingIsWrittenUntilTheFlush"))
    }

    override func tearDown() {
        collector.stop()
    }

    func storedRows() throws -> Int {
        try collector.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rejected_agents") ?? -1 }
    }

    func post(token: String?, claiming header: String? = nil, agent: String = "agent-1") async throws -> Int {
        var headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        if let header { headers.append(("Gapwatch-Agent-Id", header)) }
        let body = Gzip.compress(ReportCodec.encode(makeTestReport(agent: agent, seqs: 1...1)))
        return try await collector.send("POST", "/v1/reports", token: token, headers: headers, body: body).status
    }

    func testEachRefusalIsRecordedWithItsReasonAndNothingIsWrittenUntilTheFlush() async throws {
        let tokens = collector.runtime.tokens
        let read = try tokens.issue(kind: .read, agentID: nil, name: "viewer", now: 0)
        let revoked = try tokens.issue(kind: .agent, agentID: "old-agent", name: "old", now: 0)
        XCTAssertTrue(try tokens.revoke(id: revoked.info.id, now: 1))

        for _ in 0..<3 {
            let noToken = try await post(token: nil, claiming: "no-token-agent")
            XCTAssertEqual(noToken, 401)
        }
        let forged = try await post(token: "gw_agent_forged", claiming: "forger")
        XCTAssertEqual(forged, 401)
        let revokedAnswer = try await post(token: revoked.token, claiming: "old-agent")
        XCTAssertEqual(revokedAnswer, 401)
        let wrongAgent = try await post(token: collector.agentToken, agent: "someone-else")
        XCTAssertEqual(wrongAgent, 403)
        let readAnswer = try await post(token: read.token, agent: "reader")
        XCTAssertEqual(readAnswer, 403)
        let rightAgent = try await post(token: collector.agentToken)
        XCTAssertEqual(rightAgent, 200, "the right agent is not refused")
        // Other endpoints' 401s are not reports: not recorded.
        let otherEndpoint = try await collector.send("GET", "/v1/agents", token: "gw_nope").status
        XCTAssertEqual(otherEndpoint, 401)

        // Listed at once (from memory, or the table once the collector's flush ran), and the same after a flush.
        let pending = try collector.runtime.rejections.list()
        XCTAssertEqual(pending.count, 5)
        try collector.runtime.rejections.flush()
        XCTAssertEqual(try storedRows(), 5)
        XCTAssertEqual(try collector.runtime.rejections.flush(), 0, "nothing pending twice")

        let rows = try collector.runtime.rejections.list()
        XCTAssertEqual(rows, pending, "the same before and after the flush")
        func row(_ id: String) throws -> RejectedAgentInfo { try XCTUnwrap(rows.first { $0.claimedAgentID == id }, "\(rows)") }
        XCTAssertEqual(try row("no-token-agent").reason, .missingToken)
        XCTAssertEqual(try row("no-token-agent").count, 3)
        XCTAssertEqual(try row("forger").reason, .unknownToken)
        XCTAssertNil(try row("forger").tokenID)
        XCTAssertEqual(try row("old-agent").reason, .revokedToken)
        XCTAssertEqual(try row("old-agent").tokenID, revoked.info.id)
        XCTAssertEqual(try row("someone-else").reason, .wrongAgentID, "the report's agent.id is the claim")
        XCTAssertNotNil(try row("someone-else").tokenID)
        XCTAssertEqual(try row("reader").reason, .readToken)
        XCTAssertEqual(try row("reader").tokenID, read.info.id)
        XCTAssertTrue(rows.allSatisfy { $0.source == "127.0.0.1" }, "\(rows.map(\.source))")

        // More refusals of a known key add to its row.
        let again = try await post(token: nil, claiming: "no-token-agent")
        XCTAssertEqual(again, 401)
        try collector.runtime.rejections.flush()
        XCTAssertEqual(try collector.runtime.rejections.list().first { $0.claimedAgentID == "no-token-agent" }?.count, 4)
        XCTAssertEqual(try storedRows(), 5)

        // The API shows them beside the agents.
        struct Agents: Decodable {
            var agents: [AgentInfo]
            var rejected: [RejectedAgentInfo]
        }
        let answer = try await collector.send("GET", "/v1/agents", token: read.token)
        let agents = try ReportCodec.decode(Agents.self, from: answer.body)
        XCTAssertEqual(agents.agents.map(\.id), ["agent-1"])
        XCTAssertEqual(Set(agents.rejected.map(\.claimedAgentID)), ["no-token-agent", "forger", "old-agent", "someone-else", "reader"])
    }

    /// A flood of refusals costs no write each: they are counted in memory and written by the
    /// flush (every 2 s in a running collector), one row per key, in one transaction.
    func testRefusalsAreWrittenOnlyByTheFlush() throws {
        let rejections = RejectedAgents(database: collector.database, metrics: CollectorMetrics())
        for i in 0..<5000 {
            rejections.record(claimedAgentID: "storm-\(i % 3)", tokenID: nil, source: "127.0.0.1", reason: .unknownToken, at: Millis(1_000 + i))
        }
        XCTAssertEqual(try storedRows(), 0, "no write per refusal")
        XCTAssertEqual(try rejections.list().map(\.count).reduce(0, +), 5000)
        XCTAssertEqual(try rejections.flush(), 3, "three rows written")
        XCTAssertEqual(try storedRows(), 3)
        XCTAssertEqual(try rejections.list().map(\.count).sorted(), [1666, 1667, 1667])
    }

    /// The claimed id is the caller's word: sanitised and cut, so it is safe to show anywhere.
    func testAClaimedIDIsSanitisedAndBounded() async throws {
        let hostile = "<script>alert(1)</script>" + String(repeating: "x", count: 1000)
        let hostileAnswer = try await post(token: nil, claiming: hostile)
        XCTAssertEqual(hostileAnswer, 401)
        let row = try XCTUnwrap(try collector.runtime.rejections.list().first)
        XCTAssertEqual(row.claimedAgentID.utf8.count, FieldLimits.id)
        XCTAssertTrue(row.claimedAgentID.hasPrefix("?script?alert?1???script?xxx"), row.claimedAgentID)
    }

    /// A flood of distinct claimed ids keeps at most 1000 keys in memory and 1000 rows on disk,
    /// the most recently seen.
    func testRowsAreBoundedKeepingTheNewest() throws {
        // Its own instance on the collector's file: flushed by this test alone.
        let rejections = RejectedAgents(database: collector.database, metrics: CollectorMetrics())
        for i in 0..<1500 {
            rejections.record(claimedAgentID: "flood-a-\(i)", tokenID: nil, source: "10.0.0.1", reason: .unknownToken, at: Millis(1_000 + i))
        }
        XCTAssertEqual(try rejections.list().count, RejectedAgents.maxRows, "in memory: the first 1000 keys, the rest only counted in the metric")
        XCTAssertEqual(try rejections.flush(), 1000)
        for i in 0..<600 {
            rejections.record(claimedAgentID: "flood-b-\(i)", tokenID: nil, source: "10.0.0.2", reason: .unknownToken, at: Millis(10_000 + i))
        }
        try rejections.flush()
        XCTAssertEqual(try storedRows(), RejectedAgents.maxRows)
        let kept = try rejections.list()
        XCTAssertEqual(kept.count, RejectedAgents.maxRows)
        XCTAssertEqual(kept.filter { $0.claimedAgentID.hasPrefix("flood-b-") }.count, 600, "the newest are kept")
        XCTAssertEqual(kept.first?.claimedAgentID, "flood-b-599", "most recently seen first")
        XCTAssertFalse(kept.contains { $0.claimedAgentID == "flood-a-0" }, "the oldest are evicted")
    }
}
