import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import XCTest

/// Issue 14's agent items that stay inside one process: spool damage counted per lost record,
/// parameters that could become options refused, command output made safe to display.
final class SpoolDamageTests: XCTestCase {
    /// Spools `n` counts (seq 1...n) in a folder and closes it; returns the folder.
    func spoolWith(_ n: Int, segmentBytes: Int64 = 1 << 20) throws -> String {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir, maxBytes: 64 << 20, segmentBytes: segmentBytes, logger: quietLogger)
        for i in 1...n { try spool.append(count(Int64(i))) }
        spool.close()
        return dir
    }

    /// Where each record (by seq) lies in a segment's bytes.
    func records(in path: String) throws -> [UInt64: Range<Int>] {
        let bytes = try FileIO.read(path)
        var out: [UInt64: Range<Int>] = [:]
        var at = 0
        while at + 12 <= bytes.count {
            let length = Int(bytes[at + 4]) | Int(bytes[at + 5]) << 8 | Int(bytes[at + 6]) << 16 | Int(bytes[at + 7]) << 24
            let payload = String(decoding: bytes[(at + 12)..<(at + 12 + length)], as: UTF8.self)
            let field = try XCTUnwrap(payload.split(separator: ",").first { $0.contains("\"seq\":") })
            let seq = try XCTUnwrap(UInt64(String(field.split(separator: ":").last ?? "").filter(\.isNumber)), payload)
            out[seq] = at..<(at + 12 + length)
            at += 12 + length
        }
        return out
    }

    /// Flips every byte of the records `runs` (their frames become garbage), in one segment.
    func damage(_ path: String, seqs runs: ClosedRange<UInt64>...) throws {
        let located = try records(in: path)
        var bytes = try FileIO.read(path)
        for seq in runs.joined() {
            for i in try XCTUnwrap(located[seq], "seq \(seq) in \(path)") { bytes[i] ^= 0xFF }
        }
        writeFile(path, bytes)
    }

    func droppedCorrupt(_ spool: Spool) throws -> Int64? {
        try spool.readBatch(maxRecords: 1000).compactMap { obs -> Int64? in
            if case .dropped(let d) = obs.body { return d.corrupt }
            return nil
        }.last
    }

    /// 10 records destroyed in 3 runs are 10 lost records, not 3; the count reaches the collector
    /// in the `dropped` observation, and a reopen does not count them again.
    func testEveryRecordOfADamagedRunIsCounted() throws {
        let dir = try spoolWith(30)
        let segment = dir + "/" + segmentFiles(dir)[0]
        try damage(segment, seqs: 5...7, 12...15, 20...22)

        var spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 10)
        let seqs = try spool.readBatch(maxRecords: 1000).map(\.seq)
        XCTAssertEqual(Array(seqs.prefix(20)), Array(1...4) + Array(8...11) + Array(16...19) + Array(23...30))
        XCTAssertEqual(try droppedCorrupt(spool), 10)
        spool.close()
        spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 10, "the damage was removed when counted")
        spool.close()
    }

    /// Damage at the end of one segment and the start of the next is one run, counted by the seqs
    /// between the valid records on either side; records the collector already stored are not lost.
    func testDamageAcrossSegmentsCountsOnlyUnstoredRecords() throws {
        // About 70 bytes a record: 4 KiB segments hold ~58 each.
        let dir = try spoolWith(150, segmentBytes: 4096)
        let files = segmentFiles(dir)
        XCTAssertGreaterThanOrEqual(files.count, 3)
        let first = try records(in: dir + "/" + files[0])
        let second = try records(in: dir + "/" + files[1])
        let lastOfFirst = try XCTUnwrap(first.keys.max())
        let firstOfSecond = try XCTUnwrap(second.keys.min())
        XCTAssertEqual(firstOfSecond, lastOfFirst + 1)
        // Acked through the first record to be destroyed: 4 of the 5 destroyed were not stored yet.
        let acking = try Spool(dir: dir, maxBytes: 64 << 20, segmentBytes: 4096, logger: quietLogger)
        try acking.ack(upTo: lastOfFirst - 2)
        acking.close()
        try damage(dir + "/" + files[0], seqs: (lastOfFirst - 2)...lastOfFirst)
        try damage(dir + "/" + files[1], seqs: firstOfSecond...(firstOfSecond + 1))

        let spool = try Spool(dir: dir, maxBytes: 64 << 20, segmentBytes: 4096, logger: quietLogger)
        XCTAssertEqual(spool.stats.ackedSeq, lastOfFirst - 2)
        XCTAssertEqual(spool.stats.corrupt, 4)
        XCTAssertEqual(try spool.readBatch(maxRecords: 1000).first?.seq, firstOfSecond + 2)
        spool.close()
    }

    /// A torn last write has no record after it to tell how much it took: it counts as one, as
    /// the docs say.
    func testDamageAtTheEndCountsAsOne() throws {
        let dir = try spoolWith(10)
        let segment = dir + "/" + segmentFiles(dir)[0]
        try damage(segment, seqs: 8...10)
        let spool = try Spool(dir: dir, logger: quietLogger)
        XCTAssertEqual(spool.stats.corrupt, 1)
        // Seqs go on after the last valid record (8 is the `dropped` record): the collector never had 8-10.
        XCTAssertEqual(try spool.readBatch(maxRecords: 100).map(\.seq), Array(1...8))
        XCTAssertEqual(try spool.append(count(99)).seq, 9)
        spool.close()
    }
}

final class ActionParameterOptionTests: XCTestCase {
    /// A value from observed data (a job name, a lock name) that begins with `-` is refused, so it
    /// can never become an option of the program; an int may be negative.
    func testValuesBeginningWithADashAreRefusedUnlessAnInt() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let pause = try AgentConfig.Action(
            name: "pause-job", argv: ["/bin/sh", "-c", "echo \"$@\" >> \"\(dir)/runs\"", "sh", "{job}", "{note}", "--by={shift}"],
            parameters: ["job": .identifier, "note": .text, "shift": .int])
        let actions = try ActionRunner(actions: [pause], spool: spool, logger: quietLogger)
        actions.handle([
            AgentCommand(actionID: "id-dash", name: "pause-job", parameters: ["job": "-rf", "note": "n", "shift": "1"]),
            AgentCommand(actionID: "text-dash", name: "pause-job", parameters: ["job": "nightly", "note": "--config=/tmp/evil", "shift": "1"]),
            AgentCommand(actionID: "negative", name: "pause-job", parameters: ["job": "nightly-export", "note": "a -b", "shift": "-3"]),
        ])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let results = try spool.readBatch(maxRecords: 100).compactMap { obs -> ActionResult? in
            if case .actionResult(let a) = obs.body { return a }
            return nil
        }
        let byID = Dictionary(uniqueKeysWithValues: results.map { ($0.actionID, $0) })
        XCTAssertEqual(byID["id-dash"]?.outcome, .rejected)
        XCTAssertEqual(
            byID["id-dash"]?.outputTail,
            "parameter job: '-rf' begins with '-', which the program could read as an option; identifier values may not (only int values may be negative)"
        )
        XCTAssertEqual(byID["text-dash"]?.outcome, .rejected)
        XCTAssertTrue(byID["text-dash"]?.outputTail?.contains("parameter note: '--config=/tmp/evil' begins with '-'") ?? false)
        XCTAssertEqual(byID["negative"]?.outcome, .ok)
        let runs = String(decoding: (try? FileIO.read(dir + "/runs")) ?? [], as: UTF8.self)
        XCTAssertEqual(runs, "nightly-export a -b --by=-3\n", "only the command without a dash-led value ran")
        XCTAssertFalse(ActionParameterType.identifier.accepts("-x"))
        XCTAssertFalse(ActionParameterType.text.accepts("-x"))
        XCTAssertTrue(ActionParameterType.int.accepts("-1"))
    }

    /// Output a command prints is free text: bidirectional controls in it are replaced, so its
    /// result is accepted by the protocol (which refuses them) and shows what it holds.
    func testCommandOutputWithBidiControlsIsNeutralised() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let say = try AgentConfig.Action(name: "say", argv: ["/bin/sh", "-c", "printf 'job \\342\\200\\256exe.txt done\\n'"])
        let actions = try ActionRunner(actions: [say], spool: spool, logger: quietLogger)
        actions.handle([AgentCommand(actionID: "bidi", name: "say")])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let result = try XCTUnwrap(
            spool.readBatch(maxRecords: 10).compactMap { obs -> ActionResult? in
                if case .actionResult(let a) = obs.body { return a }
                return nil
            }.first)
        XCTAssertEqual(result.outputTail, "job \u{FFFD}exe.txt done\n")
        XCTAssertNoThrow(try ObservationBody.actionResult(result).validate(path: "o"))
    }
}
