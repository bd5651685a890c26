import Foundation
import GRDB
import GapwatchProtocol
import Logging
import XCTest

@testable import GapwatchCollector

/// A database written by an older collector keeps its observations through the v8 rewrite of
/// `observations`, and deduplication afterwards knows every seq stored before it.
final class MigrationTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gapwatch-migration-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testObservationsSurviveTheV8RewriteAndStayDeduplicated() async throws {
        let path = dir + "/old.db"
        let base: Millis = 1_769_100_000_000
        try writeV7Database(path: path, base: base)

        let database = try AppDatabase(StorageOptions(path: path))
        XCTAssertEqual(try database.observationCount(), 14)
        let indexes = try await database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'observations' ORDER BY name")
        }
        XCTAssertEqual(indexes, ["observations_counts"], "the subject index is gone; the table itself is ordered by subject")
        let freePages = try await database.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA freelist_count") }
        XCTAssertEqual(freePages, 0, "the old table's pages were given back")
        try await checkDedup(database, base: base)
    }

    /// The schema as v7 left it, with seqs 1-10 and 13-15 of one spool stored (11 and 12 never
    /// arrived) and one observation of another spool.
    func writeV7Database(path: String, base: Millis) throws {
        do {
            let queue = try DatabaseQueue(path: path)
            try AppDatabase.migrator.migrate(queue, upTo: "v7-count-index-with-value")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO agents (id, service, host, version, labels, boot_id, first_seen, last_seen, clock_skew_ms)
                        VALUES ('agent-1', 'nba-scrapers', 'host-a', 'test', '{"env":"test"}', 'boot-1', 0, 0, 0);
                        INSERT INTO streams (id, agent_id, spool_id, last_seq, first_seen, last_seen) VALUES (10, 'agent-1', 'spool-a', 15, 0, 0);
                        INSERT INTO streams (id, agent_id, spool_id, last_seq, first_seen, last_seen) VALUES (11, 'agent-1', 'spool-b', 1, 0, 0);
                        INSERT INTO subjects (id, name) VALUES (7, 'dataset:nba_raw.bdl_player_boxscores'), (8, 'ping:nightly');
                        """)
                for seq in Array(1...10) + Array(13...15) {
                    try db.execute(
                        sql: """
                            INSERT INTO observations (stream_id, seq, observed_at, received_at, kind, subject_id, part, num)
                            VALUES (10, ?, ?, ?, 3, 7, '2026-01-22', ?)
                            """, arguments: [seq, base + Int64(seq) * 1000, base + Int64(seq) * 1000 + 250, seq])
                }
                try db.execute(
                    sql: """
                        INSERT INTO observations (stream_id, seq, observed_at, received_at, kind, subject_id, status, num, text)
                        VALUES (11, 1, ?, ?, 1, 8, 'fail', 42, 'disk full')
                        """, arguments: [base, base + 90_000])
            }
        }
    }

    /// The old rows read back as before; a resend across them stores only what never arrived.
    func checkDedup(_ database: AppDatabase, base: Millis) async throws {
        var filter = TimelineFilter()
        filter.subject = "dataset:nba_raw.bdl_player_boxscores"
        let page = try database.timeline(filter)
        XCTAssertEqual(page.observations.map(\.observation.seq), Array(1...10) + Array(13...15))
        let first = try XCTUnwrap(page.observations.first)
        XCTAssertEqual(first.agentID, "agent-1")
        XCTAssertEqual(first.spoolID, "spool-a")
        XCTAssertEqual(first.receivedAt, base + 1000 + 250)
        XCTAssertEqual(first.observation.body, .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: "2026-01-22", count: 1)))
        filter.subject = "ping:nightly"
        let ping = try XCTUnwrap(try database.timeline(filter).observations.first)
        XCTAssertEqual(ping.receivedAt, base + 90_000)
        XCTAssertEqual(ping.observation.body, .heartbeat(Heartbeat(name: "nightly", status: .fail, durationMs: 42, message: "disk full")))

        // A resend across the old rows: stored ones are duplicates, the two that never arrived are new.
        let writer = IngestWriter(database: database, logger: Logger(label: "test"))
        let resend = try await writer.ingest(makeTestReport(seqs: 5...16, at: base), receivedAt: base + 20_000)
        XCTAssertEqual(resend.ackedSeq, 16)
        XCTAssertEqual(resend.stored, 3, "11, 12 and 16")
        XCTAssertEqual(resend.duplicates, 9)
        let again = try await writer.ingest(makeTestReport(seqs: 1...16, at: base), receivedAt: base + 30_000)
        XCTAssertEqual(again.stored, 0)
        XCTAssertEqual(again.duplicates, 16)
        // Seq 1 of spool-b sent again as stored (the fail ping), seq 2 new.
        var otherSpoolReport = makeTestReport(spool: "spool-b", seqs: 1...2, at: base)
        otherSpoolReport.observations[0] = Observation(
            seq: 1, observedAt: base, body: .heartbeat(Heartbeat(name: "nightly", status: .fail, durationMs: 42, message: "disk full")))
        let otherSpool = try await writer.ingest(otherSpoolReport, receivedAt: base + 30_000)
        XCTAssertEqual(otherSpool.stored, 1)
        XCTAssertEqual(otherSpool.duplicates, 1)
        XCTAssertEqual(try database.observationCount(), 18)
        XCTAssertEqual(try database.integrityCheck(), "ok")
    }
}
