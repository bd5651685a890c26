import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import XCTest

final class ShipperTests: XCTestCase {
    /// Decodes the report a responder received.
    static func report(_ request: TinyHTTPResponder.Request) -> Report? {
        guard let json = try? Gzip.decompress(request.body, limit: 8 << 20) else { return nil }
        return try? ReportCodec.decode(Report.self, from: json)
    }

    static func ok(ackedSeq: UInt64, stored: Int = 0) -> TinyHTTPResponder.Reply {
        TinyHTTPResponder.Reply(
            status: 200, body: String(decoding: ReportCodec.encode(ReportResponse(ackedSeq: ackedSeq, stored: stored, duplicates: 0)), as: UTF8.self))
    }

    /// A collector that stores everything and acks the last seq.
    static let acceptAll: @Sendable (TinyHTTPResponder.Request) -> TinyHTTPResponder.Reply = { request in
        guard let report = report(request) else { return .init(status: 400, body: #"{"error":"bad_gzip","message":"x"}"#) }
        return ok(ackedSeq: report.observations.last?.seq ?? 0, stored: report.observations.count)
    }

    func makeShipper(_ spool: Spool, _ url: String, token: String? = "tok_secret_123", batchMax: Int = 500) -> Shipper {
        var options = ShipperOptions(
            reportsURL: url + "/v1/reports", token: token,
            identity: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "t"), bootID: "boot-1")
        options.batchMax = batchMax
        options.shipIntervalMs = 50
        options.connectTimeoutMs = 1_000
        options.timeoutMs = 3_000
        return Shipper(spool: spool, options: options, logger: quietLogger)
    }

    func testShipsGzipReportWithTokenAndAcks() throws {
        let collector = TinyHTTPResponder(respond: Self.acceptAll)
        defer { collector.stop() }
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir, logger: quietLogger)
        for i in 1...7 { try spool.append(count(Int64(i))) }
        let shipper = makeShipper(spool, collector.url, batchMax: 5)

        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 5))
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 7))
        XCTAssertEqual(shipper.shipOnce(), .idle)

        let requests = collector.received
        XCTAssertEqual(requests.count, 2)
        let first = requests[0]
        XCTAssertEqual(first.method, "POST")
        XCTAssertEqual(first.path, "/v1/reports")
        XCTAssertEqual(first.headers["content-type"], "application/json")
        XCTAssertEqual(first.headers["content-encoding"], "gzip")
        XCTAssertEqual(first.headers["authorization"], "Bearer tok_secret_123")
        let report = try XCTUnwrap(Self.report(first))
        XCTAssertEqual(report.protocolVersion, 1)
        XCTAssertEqual(report.agent.id, "agent-1")
        XCTAssertEqual(report.bootID, "boot-1")
        XCTAssertEqual(report.spoolID, spool.spoolID)
        XCTAssertEqual(report.observations.map(\.seq), [1, 2, 3, 4, 5])
        XCTAssertNoThrow(try report.validate())
        XCTAssertEqual(Self.report(requests[1])?.observations.map(\.seq), [6, 7])

        XCTAssertEqual(spool.stats.ackedSeq, 7)
        XCTAssertEqual(spool.stats.backlogRecords, 0)
        XCTAssertEqual(segmentFiles(dir), [], "acked segments are deleted")
        XCTAssertNil(shipper.status.lastError)
        XCTAssertNotNil(shipper.status.lastOKAt)
    }

    func testServiceUnavailableHonoursRetryAfterAndKeepsRecords() throws {
        let collector = TinyHTTPResponder { _ in
            .init(status: 503, headers: [("Retry-After", "7")], body: #"{"error":"unavailable","message":"disk full"}"#)
        }
        defer { collector.stop() }
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        try spool.append(count(1))
        let shipper = makeShipper(spool, collector.url)
        guard case .retry(let delay) = shipper.shipOnce() else { return XCTFail("expected a retry") }
        XCTAssertGreaterThanOrEqual(delay, 7_000)
        XCTAssertLessThanOrEqual(delay, 7_000 + 1_000, "the first backoff is at most 1 s")
        XCTAssertEqual(spool.stats.ackedSeq, 0)
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).count, 1)
        XCTAssertTrue(shipper.status.lastError?.contains("503") == true)
    }

    func testShipperThreadWaitsRetryAfterThenDelivers() throws {
        let calls = CallLog()
        let collector = TinyHTTPResponder { request in
            if calls.record() == 1 {
                return .init(status: 503, headers: [("Retry-After", "1")], body: #"{"error":"unavailable","message":"busy"}"#)
            }
            return Self.acceptAll(request)
        }
        defer { collector.stop() }
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        let shipper = makeShipper(spool, collector.url)
        shipper.start()
        defer { shipper.stop(timeoutMs: 2_000) }
        try spool.append(count(1))

        let deadline = WallClock.monotonicMillis() + 6_000
        while spool.stats.ackedSeq < 1 && WallClock.monotonicMillis() < deadline { usleep(20_000) }
        XCTAssertEqual(spool.stats.ackedSeq, 1, "delivered after the retry")
        let times = calls.times
        XCTAssertEqual(times.count, 2)
        XCTAssertGreaterThanOrEqual(times[1] - times[0], 950, "waited for Retry-After")
    }

    func testRefusedObservationIsSkippedAndCountedWithoutBlockingTheSpool() throws {
        // This collector refuses seq 2 wherever it sits in a report.
        let collector = TinyHTTPResponder { request in
            guard let report = Self.report(request) else { return .init(status: 400) }
            if let index = report.observations.firstIndex(where: { $0.seq == 2 }) {
                return .init(
                    status: 400,
                    body: #"{"error":"invalid_report","field":"observations[\#(index)].count","message":"observations[\#(index)].count: bad"}"#)
            }
            return Self.acceptAll(request)
        }
        defer { collector.stop() }
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        for i in 1...4 { try spool.append(count(Int64(i))) }
        let shipper = makeShipper(spool, collector.url)

        XCTAssertEqual(shipper.shipOnce(), .shrunk(to: 1), "first store what comes before the refused record")
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 1))
        XCTAssertEqual(shipper.shipOnce(), .rejected(seq: 2))
        XCTAssertEqual(spool.stats.corrupt, 1)
        XCTAssertEqual(shipper.status.rejected, 1)
        // 3, 4 and the dropped record (5) go through.
        var outcome = shipper.shipOnce()
        for _ in 0..<5 where outcome != .idle { outcome = shipper.shipOnce() }
        XCTAssertEqual(outcome, .idle)
        XCTAssertEqual(spool.stats.ackedSeq, 5)
        let stored = collector.received.compactMap(Self.report).filter { !$0.observations.contains { $0.seq == 2 } }.flatMap(\.observations)
        XCTAssertEqual(stored.map(\.seq), [1, 3, 4, 5])
        XCTAssertEqual(stored.last?.body, .dropped(DroppedRecords(overflow: 0, corrupt: 1)))
    }

    func testUnauthorizedKeepsEverythingAndRetriesSlowlyWithoutLoggingTheToken() throws {
        let collector = TinyHTTPResponder { _ in .init(status: 401, body: #"{"error":"unauthorized","message":"unknown token"}"#) }
        defer { collector.stop() }
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        try spool.append(count(1))
        let shipper = makeShipper(spool, collector.url)
        XCTAssertEqual(shipper.shipOnce(), .retry(afterMs: 300_000))
        XCTAssertEqual(spool.stats.ackedSeq, 0)
        let error = try XCTUnwrap(shipper.status.lastError)
        XCTAssertTrue(error.contains("401"), error)
        XCTAssertFalse(error.contains("tok_secret_123"), error)
    }

    func testTokenFileWrittenOrRotatedLaterIsPickedUp() throws {
        let collector = TinyHTTPResponder { request in
            request.headers["authorization"] == "Bearer tok_new"
                ? Self.acceptAll(request) : .init(status: 401, body: #"{"error":"unauthorized","message":"no"}"#)
        }
        defer { collector.stop() }
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        try spool.append(count(1))
        var options = ShipperOptions(
            reportsURL: collector.url + "/v1/reports", token: nil,
            identity: AgentIdentity(id: "agent-1", service: "", host: "h", version: "t"), bootID: "boot-1")
        options.tokenFile = dir + "/agent.env"
        let shipper = Shipper(spool: spool, options: options, logger: quietLogger)

        // No file yet: nothing is sent without a token, and the reason is shown.
        guard case .retry = shipper.shipOnce() else { return XCTFail("expected a retry") }
        XCTAssertEqual(collector.received.count, 0)
        XCTAssertTrue(shipper.status.lastError?.contains("no collector token yet") == true)

        writeFile(dir + "/agent.env", Array("GAPWATCH_AGENT_TOKEN=tok_old\n".utf8))
        XCTAssertEqual(shipper.shipOnce(), .retry(afterMs: 300_000), "the old token is refused")
        writeFile(dir + "/agent.env", Array("GAPWATCH_AGENT_TOKEN=tok_new\n".utf8))
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 1), "the rotated token is read after the 401")
    }

    func testPayloadTooLargeHalvesTheBatch() throws {
        let collector = TinyHTTPResponder { request in
            guard let report = Self.report(request) else { return .init(status: 400) }
            if report.observations.count > 2 { return .init(status: 413, body: #"{"error":"payload_too_large","message":"x"}"#) }
            return Self.acceptAll(request)
        }
        defer { collector.stop() }
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        for i in 1...8 { try spool.append(count(Int64(i))) }
        let shipper = makeShipper(spool, collector.url, batchMax: 8)
        XCTAssertEqual(shipper.shipOnce(), .shrunk(to: 4))
        XCTAssertEqual(shipper.shipOnce(), .shrunk(to: 2))
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 2))
    }

    func testTransportErrorBacksOff() throws {
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        try spool.append(count(1))
        // A port nothing listens on: bind one and close it again.
        let unused = TinyHTTPResponder { _ in .init(status: 200) }
        let url = unused.url
        unused.stop()
        let shipper = makeShipper(spool, url)
        guard case .retry(let delay) = shipper.shipOnce() else { return XCTFail("expected a retry") }
        XCTAssertLessThanOrEqual(delay, 1_000)
        guard case .retry = shipper.shipOnce() else { return XCTFail("expected a retry") }
        XCTAssertTrue(shipper.status.lastError?.contains("cannot reach the collector") == true)
        XCTAssertEqual(spool.stats.ackedSeq, 0)
    }

    func testBackoffGrowsWithFullJitterUpToTheCap() {
        var backoff = Backoff(baseMs: 1_000, capMs: 300_000)
        var ceilings: [Int64] = []
        for _ in 0..<12 {
            ceilings.append(backoff.ceilingMs)
            let d = backoff.next()
            XCTAssertLessThanOrEqual(d, ceilings.last!)
            XCTAssertGreaterThanOrEqual(d, 0)
        }
        XCTAssertEqual(Array(ceilings.prefix(4)), [1_000, 2_000, 4_000, 8_000])
        XCTAssertEqual(ceilings.last, 300_000)
        backoff.reset()
        XCTAssertEqual(backoff.ceilingMs, 1_000)
    }

    func testAgentShipsAPushedObservationEndToEnd() throws {
        let collector = TinyHTTPResponder(respond: Self.acceptAll)
        defer { collector.stop() }
        let dir = makeTempDir(self)
        let yaml = """
            agent: {id: e2e-agent, service: test}
            collector: {url: "\(collector.url)", token: tok_e2e, ship_interval: 50ms}
            heartbeat: {interval: 0}
            spool: {dir: "\(dir)/spool"}
            listen: 127.0.0.1:0
            """
        let agent = try Agent(config: AgentConfig.parse(yaml: yaml), logger: quietLogger)
        agent.start()
        defer { agent.stop() }
        let client = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 5_000)
        let response = try client.send(
            HTTPRequest(
                method: "POST", url: "http://127.0.0.1:\(agent.server.port)/v1/observations", headers: [("Content-Type", "application/json")],
                body: Array(#"{"kind":"decision","workflow":"post_game_window_1","decision":"SKIP"}"#.utf8)))
        XCTAssertEqual(response.status, 200)
        let deadline = WallClock.monotonicMillis() + 5_000
        while agent.spool.stats.ackedSeq < 1 && WallClock.monotonicMillis() < deadline { usleep(20_000) }
        XCTAssertEqual(agent.spool.stats.ackedSeq, 1)
        let report = try XCTUnwrap(collector.received.first.flatMap(Self.report))
        XCTAssertEqual(report.agent.id, "e2e-agent")
        XCTAssertEqual(report.observations.first?.body, .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .skip)))
        XCTAssertEqual(agent.status().lastError, nil)
    }
}

/// Counts calls and when they came, across threads.
final class CallLog: @unchecked Sendable {
    private let lock = ConditionLock()
    private var stamps: [Int64] = []

    /// Records a call; returns its 1-based number.
    func record() -> Int {
        lock.withLock {
            stamps.append(WallClock.monotonicMillis())
            return stamps.count
        }
    }

    var times: [Int64] { lock.withLock { stamps } }
}
