import GRDB
import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

/// `ActionTable.move` writes only the columns its `ActionChange` names: nil leaves a column as
/// it is, `.some(nil)` clears `next_attempt_at`, and a returned attempt never goes below zero.
final class ActionTableTests: XCTestCase {
    let now: Millis = 1_769_100_000_000

    func testAMoveSetsOnlyTheColumnsItsChangeNames() throws {
        try SQLiteStores.inMemory().write { tx in
            let table = tx.actions
            let db = try SQLiteStores.sqlite(tx)
            try table.insert(
                NewActionRow(
                    id: "act-1", name: "backfill", kind: "webhook", key: "manual:1", incidentID: nil, origin: "manual", parameters: ["a": "b"],
                    maxAttempts: 3, createdAt: now, nextAttemptAt: now + 5, detail: "queued", requestedBy: nil, scopeRule: "manual",
                    scopeTarget: "webhook:http://127.0.0.1:9", healsRule: nil, healsCheck: nil),
                state: ActionState.pending)
            func row() throws -> Row { try XCTUnwrap(Row.fetchOne(db, sql: "SELECT * FROM actions WHERE id = 'act-1'")) }

            // Only the state and detail change: updated_at and next_attempt_at stay.
            XCTAssertTrue(try table.move("act-1", from: [ActionState.pending], to: .running, ActionChange(detail: "started")))
            XCTAssertEqual(try row()["state"] as String, "running")
            XCTAssertEqual(try row()["detail"] as String, "started")
            XCTAssertEqual(try row()["updated_at"] as Millis, now)
            XCTAssertEqual(try row()["next_attempt_at"] as Millis?, now + 5)

            // A move from a state the action is not in changes nothing.
            XCTAssertFalse(try table.move("act-1", from: [ActionState.pending], to: .running, ActionChange(detail: "again")))
            XCTAssertEqual(try row()["detail"] as String, "started")

            // Clearing next_attempt_at, and giving back an attempt never counted (attempts stay at 0).
            XCTAssertTrue(
                try table.move(
                    "act-1", from: [ActionState.running], to: .pending,
                    ActionChange(updatedAt: now + 9, nextAttemptAt: .some(nil), returnAttempt: true)))
            XCTAssertEqual(try row()["attempts"] as Int, 0)
            XCTAssertNil(try row()["next_attempt_at"] as Millis?)
            XCTAssertEqual(try row()["updated_at"] as Millis, now + 9)
            XCTAssertEqual(try row()["detail"] as String, "started")
        }
    }
}
