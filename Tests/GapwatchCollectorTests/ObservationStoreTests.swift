import GRDB
import GapwatchProtocol
import GapwatchRules
import XCTest

@testable import GapwatchCollector

/// The observation stores on an in-memory database: what `ObservationWriter` stores, the rule
/// kinds read back through `ObservationStore` as the rules see it.
final class ObservationStoreTests: XCTestCase {
    let t0: Millis = 1_769_100_000_000

    /// Streams are not this test's subject: without foreign keys, observations need no agent and stream rows.
    func migratedDatabase() throws -> SQLiteStores { try SQLiteStores.inMemory(foreignKeys: false) }

    func testWhatTheWriterStoresTheRulesReadBack() throws {
        try migratedDatabase().write { tx in
            let writer = try tx.observationWriter()
            let dataset = try writer.addSubject(named: "dataset:box")
            let workflow = try writer.addSubject(named: "workflow:nightly")
            XCTAssertEqual(try writer.subjectID(named: "dataset:box"), dataset)
            var seq: Int64 = 0
            func put(_ body: ObservationBody, _ subject: Int64, at: Millis) throws -> Bool {
                seq += 1
                return try writer.insert(
                    streamID: 1, seq: seq, observedAt: at, receivedLagMs: 0, kind: body.kind.storageCode, subjectID: subject, columns: body.columns)
            }
            func count(_ partition: String, _ n: Int64) -> ObservationBody { .count(Count(dataset: "box", partition: partition, count: n)) }
            XCTAssertTrue(try put(count("2026-01-22", 5), dataset, at: t0))
            XCTAssertTrue(try put(count("2026-01-22", 7), dataset, at: t0 + 10))
            XCTAssertTrue(try put(count("2026-01-22", 7), dataset, at: t0 + 20))
            XCTAssertTrue(try put(count("2026-01-22T13", 1), dataset, at: t0))
            XCTAssertTrue(try put(count("2026-01-22 14:00:00", 2), dataset, at: t0))
            XCTAssertTrue(try put(count("2026-01-23T01", 3), dataset, at: t0))
            XCTAssertTrue(try put(.decision(WorkflowDecision(workflow: "nightly", decision: .skip, reason: "not yet")), workflow, at: t0 + 5))
            XCTAssertTrue(try put(.decision(WorkflowDecision(workflow: "nightly", decision: .run, reason: nil)), workflow, at: t0 + 1))
            seq = 0
            XCTAssertFalse(try put(count("2026-01-22", 5), dataset, at: t0), "stored already (same subject, time, stream and seq): nothing written")

            let copy = try XCTUnwrap(try writer.storedCopy(subjectID: dataset, observedFrom: t0, through: t0 + 10, streamID: 1, seq: 2))
            XCTAssertEqual(copy.kind, Int64(ObservationKind.count.storageCode))
            XCTAssertEqual(copy.columns, count("2026-01-22", 7).columns)
            XCTAssertNil(try writer.storedCopy(subjectID: dataset, observedFrom: t0 + 11, through: t0 + 20, streamID: 1, seq: 2), "outside its times")

            let store = tx.observations
            let newest = try XCTUnwrap(try store.newestCount(subjectID: dataset, partition: "2026-01-22"))
            XCTAssertEqual(newest.count, 7)
            XCTAssertEqual(newest.observedAt, t0 + 20)
            XCTAssertEqual(
                try store.firstSighting(ofCount: 7, subjectID: dataset, partition: "2026-01-22"), t0 + 10, "the value since its first sighting")
            XCTAssertEqual(try store.latestCount(dataset: "box", partition: "2026-01-22"), 7)
            XCTAssertEqual(try store.lastCountAt(dataset: "box"), t0 + 20)
            XCTAssertNil(try store.lastCountAt(dataset: "other"))
            // The keys of one day, in order, one seek each.
            var keys: [String] = []
            var cursor = "2026-01-21\u{10FFFF}"
            while let key = try store.nextCountPartition(subjectID: dataset, after: cursor, before: "2026-01-22\u{10FFFF}") {
                keys.append(key)
                cursor = key
            }
            XCTAssertEqual(keys, ["2026-01-22", "2026-01-22 14:00:00", "2026-01-22T13"])
            XCTAssertEqual(
                try store.decisions(workflow: "nightly", from: t0, to: t0 + 5).map(\.decision), [.run], "[from, to), oldest first")
            XCTAssertEqual(try store.decisions(workflow: "nightly", from: t0, to: .max).map(\.reason), [nil, "not yet"])
        }
    }
}
