import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import XCTest

final class SpoolTests: XCTestCase {
    func testAppendReadAckAcrossReopenContinuesSeq() throws {
        let dir = makeTempDir(self)
        var spool = try Spool(dir: dir, logger: quietLogger)
        let id = spool.spoolID
        for i in 1...5 { XCTAssertEqual(try spool.append(count(Int64(i))).seq, UInt64(i)) }
        XCTAssertEqual(try spool.readBatch(maxRecords: 3).map(\.seq), [1, 2, 3])
        try spool.ack(upTo: 2)
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).map(\.seq), [3, 4, 5])
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).first?.body, count(3))
        spool.close()

        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.spoolID, id, "the same folder keeps its spool id")
        XCTAssertEqual(spool.stats.ackedSeq, 2)
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).map(\.seq), [3, 4, 5])
        XCTAssertEqual(try spool.append(count(6)).seq, 6, "seq continues after a restart")
        try spool.ack(upTo: 6)
        XCTAssertTrue(try spool.readBatch(maxRecords: 10).isEmpty)
        XCTAssertEqual(segmentFiles(dir), [], "fully acked segments are deleted")
        spool.close()

        // Everything acked and deleted: the seq still continues from the acked seq.
        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(try spool.append(count(7)).seq, 7)
        spool.close()
    }

    func testNewFolderGetsNewSpoolID() throws {
        let a = try Spool(dir: makeTempDir(self) + "/spool", logger: quietLogger)
        let b = try Spool(dir: makeTempDir(self) + "/nested/spool", logger: quietLogger)
        XCTAssertNotEqual(a.spoolID, b.spoolID)
        XCTAssertEqual(a.spoolID.count, 36)
        XCTAssertEqual(try b.append(count(1)).seq, 1)
    }

    func testSecondProcessOnSameFolderIsRefused() throws {
        let dir = makeTempDir(self)
        let first = try Spool(dir: dir, logger: quietLogger)
        XCTAssertThrowsError(try Spool(dir: dir, logger: quietLogger)) { error in
            XCTAssertTrue("\(error)".contains("in use"), "\(error)")
        }
        first.close()
        XCTAssertNoThrow(try Spool(dir: dir, logger: quietLogger))
    }

    func testTornTailIsTruncatedAndCounted() throws {
        let dir = makeTempDir(self)
        var spool = try Spool(dir: dir, logger: quietLogger)
        for i in 1...3 { try spool.append(count(Int64(i))) }
        spool.close()
        let segment = dir + "/" + segmentFiles(dir)[0]
        let goodSize = try XCTUnwrap(FileIO.fileSize(segment))
        // A write cut short: a header and half a payload.
        appendFile(segment, [0x47, 0x57, 0x53, 0x52, 100, 0, 0, 0, 1, 2, 3, 4] + Array("{\"seq\":4,".utf8))

        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 1)
        XCTAssertEqual(FileIO.fileSize(segment), goodSize, "the torn tail is truncated away")
        let batch = try spool.readBatch(maxRecords: 10)
        XCTAssertEqual(batch.prefix(3).map(\.seq), [1, 2, 3])
        XCTAssertEqual(batch.last?.body, .dropped(DroppedRecords(overflow: 0, corrupt: 1)), "the loss is spooled for the collector")
        XCTAssertEqual(try spool.append(count(9)).seq, 5)
        spool.close()

        // Counted once: reopening does not count it again.
        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 1)
    }

    func testGarbageMidFileIsSkippedByResyncAndCounted() throws {
        let dir = makeTempDir(self)
        var spool = try Spool(dir: dir, logger: quietLogger)
        for i in 1...4 { try spool.append(count(Int64(i))) }
        spool.close()
        let segment = dir + "/" + segmentFiles(dir)[0]
        var bytes = try FileIO.read(segment)
        // Flip bytes inside the second record's payload: its CRC no longer matches.
        let recordLength = bytes.count / 4
        for i in (recordLength + 20)..<(recordLength + 30) { bytes[i] ^= 0xFF }
        writeFile(segment, bytes)

        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 1)
        let batch = try spool.readBatch(maxRecords: 10)
        XCTAssertEqual(batch.map(\.seq), [1, 3, 4, 5])
        XCTAssertEqual(batch.last?.body, .dropped(DroppedRecords(overflow: 0, corrupt: 1)))
        spool.close()
        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 1, "the bad record was removed, so it is not counted twice")
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).map(\.seq), [1, 3, 4, 5])
    }

    func testGarbageOnlyFilesStillOpen() throws {
        let dir = makeTempDir(self)
        let garbage = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        writeFile(dir + "/seg-00000000000000000001.log", garbage)
        writeFile(dir + "/seg-00000000000000000050.log", [])
        writeFile(dir + "/state", Array("not a state file at all \u{0}\u{1}".utf8))
        writeFile(dir + "/unrelated.txt", Array("hello".utf8))

        let spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertGreaterThanOrEqual(spool.stats.corrupt, 1)
        XCTAssertEqual(spool.spoolID.count, 36, "an unreadable state gets a fresh spool id")
        let first = try spool.append(count(1))
        XCTAssertGreaterThanOrEqual(first.seq, 1)
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).last?.seq, first.seq)
    }

    func testSizeCapDropsOldestSegmentsAndCountsThem() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir, maxBytes: 16 * 1024, segmentBytes: 4096, logger: quietLogger)
        for i in 1...400 { try spool.append(count(Int64(i))) }
        let stats = spool.stats
        XCTAssertLessThanOrEqual(stats.totalBytes, 16 * 1024)
        XCTAssertGreaterThan(stats.overflow, 0)
        let batch = try spool.readBatch(maxRecords: 1000)
        // Oldest records are gone; the newest are kept, and a dropped observation tells how many went.
        XCTAssertGreaterThan(batch.first!.seq, 1)
        XCTAssertTrue(batch.contains { $0.body == count(400) })
        let lastDropped = batch.compactMap { obs -> DroppedRecords? in
            if case .dropped(let d) = obs.body { return d }
            return nil
        }.last
        let dropped = try XCTUnwrap(lastDropped)
        XCTAssertGreaterThan(dropped.overflow, 0)
        XCTAssertLessThanOrEqual(dropped.overflow, stats.overflow)
        // Every seq assigned is either still spooled or counted as overflow.
        let spooled = Int64(batch.count)
        XCTAssertEqual(spooled + stats.overflow, Int64(stats.nextSeq - 1))
    }

    func testReadBatchHonoursByteBudgetButReturnsAtLeastOne() throws {
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        for i in 1...10 { try spool.append(count(Int64(i))) }
        XCTAssertEqual(try spool.readBatch(maxRecords: 100, maxBytes: 1).count, 1)
        let recordBytes = (spool.stats.totalBytes - 1) / 10  // counts 1...9 have one digit, 10 has two
        XCTAssertEqual(try spool.readBatch(maxRecords: 100, maxBytes: 3 * recordBytes).count, 3)
        XCTAssertEqual(try spool.readBatch(maxRecords: 100, maxBytes: 3 * recordBytes - 1).count, 2)
        XCTAssertEqual(try spool.readBatch(maxRecords: 4, maxBytes: 1 << 20).count, 4)
    }

    func testSkipRefusedCountsAsCorrupt() throws {
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        for i in 1...3 { try spool.append(count(Int64(i))) }
        try spool.skipRefused(seq: 1)
        XCTAssertEqual(spool.stats.corrupt, 1)
        let batch = try spool.readBatch(maxRecords: 10)
        XCTAssertEqual(batch.map(\.seq), [2, 3, 4])
        XCTAssertEqual(batch.last?.body, .dropped(DroppedRecords(overflow: 0, corrupt: 1)))
    }

    func testAppendNotifiesListeners() throws {
        let spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        let wakeup = Wakeup()
        spool.addAppendListener { wakeup.signal() }
        try spool.append(count(1))
        let started = WallClock.monotonicMillis()
        wakeup.wait(ms: 5_000)
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 1_000)
    }
}
