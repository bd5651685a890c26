import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

/// The seam's contract, engine-neutral (it uses only `StoreTransaction`): the stores a
/// transaction hands out share that one transaction.
final class StoreTransactionTests: XCTestCase {
    let now: Millis = 1_769_100_000_000

    struct Abandon: Error {}

    func testAWriteThatThrowsLeavesEveryStoreUnchanged() throws {
        let stores = try SQLiteStores.inMemory()
        XCTAssertThrowsError(
            try stores.write { tx in
                _ = try tx.checks.create(name: "box", kind: "completeness", judgedThrough: nil, now: now)
                _ = try tx.silences.insert(
                    rule: "heartbeat", subject: nil, labelsJSON: "{}", startsAt: now, endsAt: now + 60_000, comment: "", createdBy: "t", now: now)
                try tx.incidents(notifyWaitMs: 0, hasChannels: false).open(
                    rule: "completeness", subject: "box:1", reason: "r", labels: [:], feederAgent: nil, at: now)
                throw Abandon()
            })
        try stores.read { tx in
            XCTAssertEqual(try tx.checks.all().count, 0)
            XCTAssertEqual(try tx.silences.list(includeEnded: true, now: now).count, 0)
            XCTAssertEqual(try tx.incidentReads.count(state: nil), 0)
        }
    }

    func testTheStoresOfOneTransactionSeeEachOthersWrites() throws {
        let stores = try SQLiteStores.inMemory()
        try stores.write { tx in
            let id = try tx.checks.create(name: "box", kind: "completeness", judgedThrough: nil, now: now)
            XCTAssertEqual(try tx.checks.id(named: "box"), id)
            try tx.incidents(notifyWaitMs: 0, hasChannels: false).open(
                rule: "completeness", subject: "box:1", reason: "r", labels: ["check": "box"], feederAgent: nil, at: now)
            XCTAssertTrue(try tx.incidentReads.isOpen(rule: "completeness", subject: "box:1"), "another store, same transaction")
            XCTAssertEqual(try tx.incidentReads.open(rule: "completeness", subjectPrefix: "box:").map(\.subject), ["box:1"])
        }
        try stores.read { tx in
            XCTAssertEqual(try tx.checks.all().map(\.name), ["box"], "committed together")
            XCTAssertEqual(try tx.incidentReads.openCountByRule(), ["completeness": 1])
        }
    }
}
