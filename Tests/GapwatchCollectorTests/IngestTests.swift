import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

final class IngestTests: XCTestCase {
    var collector: TestCollector!

    override func setUp() async throws {
        // Over a socket: the surface's live test, and a 413 answered while libcurl is still sending.
        collector = try await TestCollector.start(
            transport: transport(socketFor: "testReportIsStoredAndAcknowledgedWithItsHighestSeq", "testOversizedBodiesAre413"))
    }

    override func tearDown() async throws {
        collector.stop()
    }

    func testReportIsStoredAndAcknowledgedWithItsHighestSeq() async throws {
        let response = try await collector.post(makeTestReport(seqs: 1...20))
        XCTAssertEqual(response.status, 200, response.bodyText)
        let ack = try ReportCodec.decode(ReportResponse.self, from: response.body)
        XCTAssertEqual(ack, ReportResponse(ackedSeq: 20, stored: 20, duplicates: 0, commands: []))
        XCTAssertEqual(try collector.storedCount(), 20)
        XCTAssertTrue(response.bodyText.contains("\"commands\":[]"), "the commands field exists even when empty")
    }

    func testRepeatedObservationsAreDroppedAndAcknowledged() async throws {
        _ = try await collector.post(makeTestReport(seqs: 1...10))
        let again = try await collector.post(makeTestReport(seqs: 5...15))
        let ack = try ReportCodec.decode(ReportResponse.self, from: again.body)
        XCTAssertEqual(ack.ackedSeq, 15)
        XCTAssertEqual(ack.stored, 5)
        XCTAssertEqual(ack.duplicates, 6)
        XCTAssertEqual(try collector.storedCount(), 15)
    }

    func testASeqBelowTheHighestStoredThatWasNeverStoredIsKept() async throws {
        // 4-6 were never sent (a gap, e.g. records moved aside); an agent that later sends them
        // anyway must not have them dropped as duplicates just because 7 and 8 are stored.
        var first = makeTestReport(seqs: 1...8)
        first.observations.removeAll { (4...6).contains($0.seq) }
        _ = try await collector.post(first)
        let response = try await collector.post(makeTestReport(seqs: 4...9))
        XCTAssertEqual(response.status, 200, response.bodyText)
        let ack = try ReportCodec.decode(ReportResponse.self, from: response.body)
        XCTAssertEqual(ack, ReportResponse(ackedSeq: 9, stored: 4, duplicates: 2, commands: []))
        XCTAssertEqual(try collector.storedCount(), 9)
        let resend = try ReportCodec.decode(ReportResponse.self, from: try await collector.post(makeTestReport(seqs: 1...9)).body)
        XCTAssertEqual(resend, ReportResponse(ackedSeq: 9, stored: 0, duplicates: 9, commands: []))
    }

    func testAFreshSpoolsSeqOneIsNotADuplicate() async throws {
        _ = try await collector.post(makeTestReport(spool: "old-spool", seqs: 1...3))
        let response = try await collector.post(makeTestReport(spool: "new-spool", seqs: 1...3))
        let ack = try ReportCodec.decode(ReportResponse.self, from: response.body)
        XCTAssertEqual(ack.stored, 3)
        XCTAssertEqual(try collector.storedCount(), 6)
    }

    func testIdentityBodyIsAccepted() async throws {
        let response = try await collector.postRaw(ReportCodec.encode(makeTestReport(seqs: 1...2)), token: collector.agentToken, encoding: nil)
        XCTAssertEqual(response.status, 200, response.bodyText)
    }

    // MARK: - Bad input gets a clear error and changes nothing

    func testMissingAndUnknownTokensAre401() async throws {
        let body = Gzip.compress(ReportCodec.encode(makeTestReport(seqs: 1...1)))
        let missing = try await collector.postRaw(body, token: nil)
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(try decodeError(missing).error, "unauthorized")
        XCTAssertTrue(try decodeError(missing).message.contains("Bearer"))
        let unknown = try await collector.postRaw(body, token: "gw_agent_not-a-real-token")
        XCTAssertEqual(unknown.status, 401)
        XCTAssertEqual(try collector.storedCount(), 0)
    }

    func testAgentTokenUsedForAnotherAgentIdIs403() async throws {
        let response = try await collector.post(makeTestReport(agent: "someone-else", seqs: 1...3))
        XCTAssertEqual(response.status, 403)
        XCTAssertEqual(try decodeError(response).error, "forbidden")
        XCTAssertTrue(try decodeError(response).message.contains("agent-1"))
        XCTAssertEqual(try collector.storedCount(), 0)
        let agents = try collector.database.agents()
        XCTAssertTrue(agents.isEmpty, "a refused report must not register an agent")
    }

    func testFleetTokenMayReportForAnyAgentAndReadTokenMayNot() async throws {
        let fleet = try collector.runtime.tokens.issue(kind: .fleet, agentID: nil, name: "fleet", now: 0).token
        let read = try collector.runtime.tokens.issue(kind: .read, agentID: nil, name: "read", now: 0).token
        let ok = try await collector.post(makeTestReport(agent: "any-agent-7", seqs: 1...2), token: fleet)
        XCTAssertEqual(ok.status, 200)
        let refused = try await collector.post(makeTestReport(agent: "any-agent-7", seqs: 3...4), token: read)
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(try collector.storedCount(), 2)
    }

    func testWrongContentTypeOrEncodingIs415() async throws {
        let body = Gzip.compress(ReportCodec.encode(makeTestReport(seqs: 1...1)))
        let text = try await collector.postRaw(body, token: collector.agentToken, contentType: "text/plain")
        XCTAssertEqual(text.status, 415)
        XCTAssertEqual(try decodeError(text).error, "unsupported_media_type")
        let br = try await collector.postRaw(body, token: collector.agentToken, encoding: "br")
        XCTAssertEqual(br.status, 415)
        XCTAssertTrue(try decodeError(br).message.contains("br"))
        XCTAssertEqual(try collector.storedCount(), 0)
    }

    func testBadGzipBadJSONAndSchemaViolationsAre400NamingTheProblem() async throws {
        let badGzip = try await collector.postRaw(Array("not gzip at all".utf8), token: collector.agentToken)
        XCTAssertEqual(badGzip.status, 400)
        XCTAssertEqual(try decodeError(badGzip).error, "bad_gzip")

        let badJSON = try await collector.postRaw(Gzip.compress(Array("{\"protocol\":1,".utf8)), token: collector.agentToken)
        XCTAssertEqual(badJSON.status, 400)
        XCTAssertEqual(try decodeError(badJSON).error, "bad_json")

        var report = makeTestReport(seqs: 1...3)
        report.observations[2].seq = 2
        let invalid = try await collector.post(report)
        XCTAssertEqual(invalid.status, 400)
        XCTAssertEqual(try decodeError(invalid).error, "invalid_report")
        XCTAssertEqual(try decodeError(invalid).field, "observations[2].seq")

        var json = String(decoding: ReportCodec.encode(makeTestReport(seqs: 1...1)), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"seq\":1", with: "\"seq\":\"one\"")
        let wrongType = try await collector.postRaw(Gzip.compress(Array(json.utf8)), token: collector.agentToken)
        XCTAssertEqual(wrongType.status, 400)
        let wrongTypeError = try decodeError(wrongType)
        XCTAssertTrue(wrongTypeError.message.contains("observations[0].seq"), wrongTypeError.message)
        XCTAssertEqual(try collector.storedCount(), 0, "a refused batch stores nothing, not even its valid part")
    }

    func testUnknownProtocolVersionListsTheSupportedOnes() async throws {
        var report = makeTestReport(seqs: 1...1)
        report.protocolVersion = 9
        let response = try await collector.post(report)
        XCTAssertEqual(response.status, 400)
        let error = try decodeError(response)
        XCTAssertEqual(error.error, "unsupported_version")
        XCTAssertEqual(error.supported, [1])
    }

    func testOversizedBodiesAre413() async throws {
        // Over the compressed limit as sent: 1 MiB of random-ish bytes does not compress.
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(1 << 20) + 10).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let big = try await collector.postRaw(noise, token: collector.agentToken)
        XCTAssertEqual(big.status, 413)
        XCTAssertEqual(try decodeError(big).error, "payload_too_large")
        // Under the compressed limit, over the inflated one (8 MiB): refused while inflating.
        let bomb = Gzip.compress([UInt8](repeating: 0x20, count: 16 << 20))
        XCTAssertLessThan(bomb.count, 1 << 20)
        let inflated = try await collector.postRaw(bomb, token: collector.agentToken)
        XCTAssertEqual(inflated.status, 413)
        XCTAssertTrue(try decodeError(inflated).message.contains("inflates"))
        XCTAssertEqual(try collector.storedCount(), 0)
    }

    // MARK: - Agents

    func testAgentsShowLastSeqDropsAndClockSkew() async throws {
        var report = makeTestReport(seqs: 1...4, at: WallClock.nowMillis() - 10_000)
        report.sentAt = WallClock.nowMillis() - 2_000  // agent clock 2 s behind
        report.observations.append(
            Observation(seq: 5, observedAt: WallClock.nowMillis() - 5_000, body: .dropped(DroppedRecords(overflow: 7, corrupt: 2))))
        _ = try await collector.post(report)
        let response = try await collector.send("GET", "/v1/agents", token: collector.adminToken)
        XCTAssertEqual(response.status, 200)
        struct Agents: Decodable { var agents: [AgentInfo] }
        let agents = try ReportCodec.decode(Agents.self, from: response.body).agents
        XCTAssertEqual(agents.count, 1)
        let agent = try XCTUnwrap(agents.first)
        XCTAssertEqual(agent.id, "agent-1")
        XCTAssertEqual(agent.service, "nba-scrapers")
        XCTAssertEqual(agent.lastSeq, 5)
        XCTAssertEqual(agent.droppedOverflow, 7)
        XCTAssertEqual(agent.droppedCorrupt, 2)
        XCTAssertGreaterThanOrEqual(agent.clockSkewMs, 2_000)
        XCTAssertLessThan(agent.clockSkewMs, 30_000)
    }

    func testReadEndpointsRefuseAgentTokens() async throws {
        let response = try await collector.send("GET", "/v1/agents", token: collector.agentToken)
        XCTAssertEqual(response.status, 403)
    }
}
