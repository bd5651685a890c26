import Foundation
import GRDB
import GapwatchProtocol
import XCTest
import Yams

@testable import GapwatchCollector

/// Incident states, the notifier's outbox states, the per-channel delivery states and the silence statuses are
/// enums (`IncidentState`, `NotifyState`, `DeliveryState`, `SilenceStatus`): the API documents exactly their
/// values, and the outbox's partial index names the same `pending` the queries interpolate.
final class OutboxStateTests: XCTestCase {
    func testOpenAPIStateEnumsAreTheCollectorsEnums() throws {
        let text = try String(contentsOf: RuleNameTests.package.appendingPathComponent("protocol/openapi.yaml"), encoding: .utf8)
        let spec = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
        let schemas = try XCTUnwrap((spec["components"] as? [String: Any])?["schemas"] as? [String: Any])
        func values(_ schema: String, property: String? = nil) throws -> [String]? {
            var node = try XCTUnwrap(schemas[schema] as? [String: Any], schema)
            if let property { node = try XCTUnwrap((node["properties"] as? [String: Any])?[property] as? [String: Any], "\(schema).\(property)") }
            return node["enum"] as? [String]
        }
        XCTAssertEqual(try values("IncidentInfo", property: "state"), IncidentState.allCases.map(\.rawValue))
        XCTAssertEqual(try values("NotifyState"), NotifyState.allCases.map(\.rawValue))
        XCTAssertEqual(try values("Delivery", property: "state"), DeliveryState.allCases.map(\.rawValue))
        XCTAssertEqual(try values("SilenceInfo", property: "status"), SilenceStatus.allCases.map(\.rawValue))
    }

    func testTheOutboxIndexNamesThePendingStateTheQueriesUse() throws {
        let queue = try DatabaseQueue()
        try AppDatabase.migrator.migrate(queue)
        let index = try queue.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'incident_events_pending'") }
        XCTAssertTrue(try XCTUnwrap(index).hasSuffix("WHERE notify = \(NotifyState.pending.sqlLiteral)"), index ?? "")
    }

    func testASilencesStatusFollowsItsTimes() {
        let now: Millis = 1_769_100_000_000
        XCTAssertEqual(SilenceStatus(startsAt: now + 1, endsAt: now + 2, deletedAt: nil, now: now), .pending)
        XCTAssertEqual(SilenceStatus(startsAt: now, endsAt: now + 1, deletedAt: nil, now: now), .active)
        XCTAssertEqual(SilenceStatus(startsAt: now - 2, endsAt: now, deletedAt: nil, now: now), .expired)
        XCTAssertEqual(SilenceStatus(startsAt: now - 2, endsAt: now + 5, deletedAt: now - 1, now: now), .deleted)
    }
}
