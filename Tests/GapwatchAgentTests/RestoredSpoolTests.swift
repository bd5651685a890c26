import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import XCTest

/// Issue 14, item 9 at the agent: a spool restored from a copy reuses seqs the collector already
/// holds. Told so (`conflicting_seq`), or acked above anything it wrote, the spool takes a new id
/// and sends the records again under it, so none is dropped as a duplicate. A real spool folder
/// and a real HTTP server on 127.0.0.1 standing in for the collector.
final class RestoredSpoolTests: XCTestCase {
    func makeShipper(_ spool: Spool, _ url: String) -> Shipper {
        var options = ShipperOptions(
            reportsURL: url + "/v1/reports", token: "tok", identity: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "t"),
            bootID: "boot-1")
        options.shipIntervalMs = 50
        options.connectTimeoutMs = 1_000
        options.timeoutMs = 3_000
        return Shipper(spool: spool, options: options, logger: quietLogger)
    }

    static func answer(_ response: ReportResponse) -> TinyHTTPResponder.Reply {
        TinyHTTPResponder.Reply(status: 200, body: String(decoding: ReportCodec.encode(response), as: UTF8.self))
    }

    func testAConflictingSeqRotatesTheSpoolAndTheRestIsSentAgainUnderANewID() throws {
        let calls = CallLog()
        // The collector holds seq 3 of this spool with other content: it stores 1-2 and says so.
        let collector = TinyHTTPResponder { request in
            let report = ShipperTests.report(request)
            if calls.record() == 1 { return Self.answer(ReportResponse(ackedSeq: 2, stored: 2, duplicates: 0, conflictingSeq: 3)) }
            return Self.answer(ReportResponse(ackedSeq: report?.observations.last?.seq ?? 0, stored: report?.observations.count ?? 0, duplicates: 0))
        }
        defer { collector.stop() }
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir, logger: quietLogger)
        for i in 1...5 { try spool.append(count(Int64(i))) }
        let old = spool.spoolID
        let shipper = makeShipper(spool, collector.url)

        XCTAssertEqual(shipper.shipOnce(), .rotated(fromSeq: 3))
        XCTAssertNotEqual(spool.spoolID, old)
        XCTAssertEqual(spool.previousSpoolID, old)
        XCTAssertEqual(spool.stats.ackedSeq, 2, "only what the collector stored is acked")
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 5))
        let resent = try XCTUnwrap(ShipperTests.report(collector.received[1]))
        XCTAssertEqual(resent.spoolID, spool.spoolID)
        XCTAssertEqual(resent.previousSpoolID, old, "the new id names the old one, so the agent's commands follow it")
        XCTAssertEqual(resent.observations.map(\.seq), [3, 4, 5], "nothing after the conflict was lost")
        XCTAssertNoThrow(try resent.validate())

        // The new id and the old one survive a restart of the agent.
        let current = spool.spoolID
        spool.close()
        let reopened = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(reopened.spoolID, current)
        XCTAssertEqual(reopened.previousSpoolID, old)
        XCTAssertEqual(reopened.stats.nextSeq, 6)
    }

    func testAnAckAboveAnythingTheSpoolWroteRotatesItBeforeItReusesThoseSeqs() throws {
        // A copy taken at seq 3 came back, and the collector already holds this spool up to seq 9.
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        for i in 1...3 { try spool.append(count(Int64(i))) }
        let old = spool.spoolID
        let collector = TinyHTTPResponder { request in
            let report = ShipperTests.report(request)
            let last = report?.observations.last?.seq ?? 0
            let n = report?.observations.count ?? 0
            if report?.spoolID == old { return Self.answer(ReportResponse(ackedSeq: max(9, last), stored: 0, duplicates: n)) }
            return Self.answer(ReportResponse(ackedSeq: last, stored: n, duplicates: 0))
        }
        defer { collector.stop() }
        let shipper = makeShipper(spool, collector.url)
        XCTAssertEqual(shipper.shipOnce(), .rotated(fromSeq: 4))
        XCTAssertEqual(spool.stats.ackedSeq, 3)
        XCTAssertNotEqual(spool.spoolID, old)
        // The next records (seqs 4 and 5) go out under the new id, where nothing holds them yet.
        try spool.append(count(4))
        try spool.append(count(5))
        XCTAssertEqual(shipper.shipOnce(), .sent(ackedSeq: 5))
        let next = try XCTUnwrap(ShipperTests.report(collector.received[1]))
        XCTAssertEqual(next.spoolID, spool.spoolID)
        XCTAssertEqual(next.observations.map(\.seq), [4, 5])
    }

    func testRotationKeepsRecordsAndStartsTheDropTotalsFromWhatTheOldIdWasNotTold() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir, maxBytes: 600, segmentBytes: 200, logger: quietLogger)
        for i in 1...30 { try spool.append(count(Int64(i))) }
        let before = spool.stats
        XCTAssertGreaterThan(before.overflow, 0, "the cap dropped records (and spooled a dropped observation)")
        let records = try spool.readBatch(maxRecords: 100)
        XCTAssertFalse(records.isEmpty)
        let ids = try spool.rotate()
        XCTAssertEqual(ids.old, before.spoolID)
        XCTAssertEqual(ids.new, spool.spoolID)
        let after = spool.stats
        XCTAssertEqual(after.ackedSeq, before.ackedSeq)
        XCTAssertEqual(after.nextSeq, before.nextSeq, "seqs go on: records keep theirs")
        XCTAssertEqual(after.overflow, 0, "the old id's stream was told every drop already")
        XCTAssertEqual(try spool.readBatch(maxRecords: 100), records, "every unacked record is still there, to go out under the new id")
    }
}
