import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// Retention against a real SQLite file: old raw observations go in small batches, their days
/// stay as rollups, incidents and actions stay, and ingest goes on meanwhile.
final class RetentionTests: XCTestCase {
    var collector: TestCollector!
    let day: Millis = 86_400_000
    var now: Millis = 0

    override func setUp() async throws {
        collector = try await TestCollector.start()
        now = WallClock.nowMillis()
    }

    override func tearDown() {
        collector.stop()
    }

    func store(_ bodies: [(Millis, ObservationBody)], spool: String, firstSeq: UInt64 = 1) async throws {
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: spool, sentAt: now,
            observations: bodies.enumerated().map { Observation(seq: firstSeq + UInt64($0.offset), observedAt: $0.element.0, body: $0.element.1) })
        _ = try await collector.runtime.writer.ingest(report, receivedAt: now)
    }

    func testOldObservationsArePrunedInBatchesAndTheirDaysKeptAsRollups() async throws {
        // Ten days of a ping every 2 hours (every fourth one failing), and a recent one.
        var pings: [(Millis, ObservationBody)] = []
        for i in 0..<120 {
            let at = now - 10 * day + Millis(i) * 7_200_000
            pings.append((at, .heartbeat(Heartbeat(name: "nightly", status: i % 4 == 0 ? .fail : .ok, durationMs: Int64(i)))))
        }
        try await store(pings, spool: "a")
        let incidentsBefore = try collector.database.incidents(IncidentFilter())
        let retention = Retention(database: collector.database, horizonMs: 3 * day, batch: 7)

        let first = try await retention.prune(now: now, maxBatches: 1)
        XCTAssertEqual(first, 7, "one small batch per transaction")
        // Ingest goes on while pruning: a report stored between passes is acknowledged and kept.
        try await store([(now, .heartbeat(Heartbeat(name: "nightly", status: .ok)))], spool: "b")
        let rest = try await retention.prune(now: now)
        let old = pings.filter { $0.0 < now - 3 * day }.count
        XCTAssertEqual(first + rest, old)
        XCTAssertEqual(try collector.database.observationCount(), 120 - old + 1)

        let rollups = try collector.database.rollups(subject: "ping:nightly", fromDay: "0000-01-01", toDay: "9999-12-31")
        XCTAssertEqual(rollups.reduce(0) { $0 + $1.observations }, Int64(old), "every pruned observation is counted in a rollup")
        let failed = pings.enumerated().filter { $0.element.0 < now - 3 * day && $0.offset % 4 == 0 }.count
        XCTAssertEqual(rollups.reduce(0) { $0 + $1.failed }, Int64(failed))
        XCTAssertEqual(rollups.map(\.day), rollups.map(\.day).sorted())
        XCTAssertEqual(rollups.first?.numMin, 0)
        XCTAssertEqual(try collector.database.incidents(IncidentFilter()), incidentsBefore)
        let again = try await retention.prune(now: now)
        XCTAssertEqual(again, 0, "nothing left to prune")

        let r = try await collector.send("GET", "/v1/rollups?subject=ping:nightly&from=2020-01-01", token: collector.adminToken)
        XCTAssertEqual(r.status, 200, r.bodyText)
        let bad = try await collector.send("GET", "/v1/rollups?subject=ping:nightly&from=2026-02-30", token: collector.adminToken)
        XCTAssertEqual(try decodeError(bad).message, "from: '2026-02-30' is not a date (YYYY-MM-DD)")
    }

    func testRetentionShorterThanALookbackIsRefused() {
        XCTAssertThrowsError(
            try CollectorConfig.parse(
                yaml: """
                    storage: {retention: 2d}
                    completeness:
                      - {name: c, source: a, derived: b, lookback: 7d}
                    """)
        ) { error in
            XCTAssertEqual(
                (error as? ConfigError)?.message,
                "storage.retention: 2d is shorter than 8d (at least a day, and the longest completeness lookback plus a day)")
        }
        XCTAssertNoThrow(try CollectorConfig.parse(yaml: "storage: {retention: 90d, retention_batch: 500}"))
    }
}
