import GRDB
import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

/// `ActionQueue` is the only place an action changes state: it moves an action only along
/// `ActionState.successors` and refuses anything else without writing; `v15-action-heals` gives
/// rows written before it the rule and check their keys named.
final class ActionQueueTests: XCTestCase {
    let now: Millis = 1_769_100_000_000
    let action = ActionConfig(name: "backfill", target: .webhook(method: "POST", url: "http://127.0.0.1:9/hook", headers: [:], body: "{}"))

    func migratedDatabase() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try AppDatabase.migrator.migrate(queue)
        return queue
    }

    func state(_ db: Database, _ id: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT state FROM actions WHERE id = ?", arguments: [id])
    }

    func timelineEntries(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT last_seq FROM streams WHERE agent_id = '@collector'") ?? 0
    }

    /// The transitions the runner, the detector and a person make today, and no others.
    func testTheTransitionTableIsTheLifeOfAnAction() {
        let expected: [ActionState: Set<ActionState>] = [
            .pending: [.running, .awaitingApproval, .dryRun, .escalated, .verified, .cancelled],
            .awaitingApproval: [.pending, .verified, .cancelled],
            .running: [.verifying, .pending, .escalated],
            .verifying: [.verified, .pending, .escalated],
            .verified: [], .failed: [], .escalated: [], .dryRun: [], .cancelled: [],
        ]
        for state in ActionState.allCases { XCTAssertEqual(state.successors, expected[state], "\(state)") }
        XCTAssertEqual(
            ActionState.allCases.map(\.rawValue),
            ["pending", "awaiting_approval", "running", "verifying", "verified", "failed", "escalated", "dry_run", "cancelled"],
            "the stored strings, so databases written before the enum read unchanged")
    }

    func testEachMoveHappensOnlyFromAStateThatAllowsIt() throws {
        let queue = try migratedDatabase()
        try queue.write { db in
            let actions = ActionQueue(tx: SQLiteTransaction(db: db))
            let queued = try actions.enqueue(
                action, key: "completeness:box:backfill:2026-01-01..2026-01-02", heals: ActionHeals(.completeness, "box"), incidentID: nil,
                origin: "rule", parameters: ["start": "2026-01-01", "end": "2026-01-02"], now: now)
            let id = try XCTUnwrap(queued.id, queued.reason)
            XCTAssertEqual(try state(db, id), "pending")
            XCTAssertEqual(try actions.heals(of: id), ActionHeals(.completeness, "box"))

            // Refused from pending: nothing changes and nothing is recorded.
            let before = try timelineEntries(db)
            XCTAssertFalse(try actions.approve(id, by: "tok", now: now), "only an action awaiting approval can be approved")
            try actions.markVerifying(id, verifyBy: now + 1, detail: "answered", now: now)
            XCTAssertFalse(
                try actions.retry(id, at: now + 1, detail: "retry", failure: "failed", now: now), "a pending action has no attempt to retry")
            XCTAssertEqual(try state(db, id), "pending")
            XCTAssertEqual(try timelineEntries(db), before, "a refused move records nothing")

            // pending → awaiting_approval → (no start) → approved → running.
            XCTAssertTrue(try actions.settle(id, as: .awaitingApproval, detail: "waiting", now: now))
            XCTAssertFalse(try actions.markRunning(id, attempt: 1, giveUpAt: now + 10, detail: "running", started: "started", now: now))
            XCTAssertEqual(try state(db, id), "awaiting_approval")
            XCTAssertTrue(try actions.approve(id, by: "tok", now: now))
            XCTAssertFalse(try actions.approve(id, by: "tok", now: now), "only once")
            XCTAssertTrue(try actions.markRunning(id, attempt: 1, giveUpAt: now + 10, detail: "running", started: "started", now: now))

            // A running action is left to its result: an incident resolving does not finish it.
            XCTAssertFalse(try actions.finish(id, as: .verified, detail: "verified: resolved", now: now))
            XCTAssertFalse(try actions.settle(id, as: .dryRun, detail: "dry run", now: now))
            XCTAssertEqual(try state(db, id), "running")
            try actions.markVerifying(id, verifyBy: now + 1, detail: "answered", now: now)
            XCTAssertEqual(try state(db, id), "verifying")
            XCTAssertTrue(try actions.settle(id, as: .verified, detail: "verified", now: now))

            // Verified is final.
            let settled = try timelineEntries(db)
            XCTAssertFalse(try actions.retry(id, at: now + 1, detail: "retry", failure: "failed", now: now))
            XCTAssertFalse(try actions.escalate(id, why: "late failure", now: now))
            XCTAssertFalse(try actions.finish(id, as: .cancelled, detail: "late", now: now))
            XCTAssertEqual(try state(db, id), "verified")
            XCTAssertEqual(try timelineEntries(db), settled)
        }
    }

    /// Rows queued before v15 get the rule and check their keys name; a person's backfill none.
    func testV15FillsTheHealedRuleAndCheckFromExistingKeys() throws {
        let queue = try DatabaseQueue()
        try AppDatabase.migrator.migrate(queue, upTo: "v14-clock-skew")
        let rows: [(key: String, parameters: String, rule: String?, check: String?)] = [
            ("completeness:box:scores:backfill:2026-01-01..2026-01-03", #"{"start":"2026-01-01","end":"2026-01-03"}"#, "completeness", "box:scores"),
            ("completeness:raw:scrape:2026-01-01T05..2026-01-01T06", #"{"start":"2026-01-01T05","end":"2026-01-01T06"}"#, "completeness", "raw"),
            ("stale:games", "{}", "stale_items", "games"),
            ("freshness:odds:live", "{}", "freshness", "odds:live"),
            ("expectation:nightly:rerun", "{}", "expectation", "nightly"),
            ("job:disable:ingest", "{}", "scheduler_targets", "ingest"),
            ("job:enable:ingest:eu", "{}", "scheduler_targets", "ingest:eu"),
            ("job:repoint:export", "{}", "scheduler_targets", "export"),
            ("lock:release:workflow", "{}", "stuck_locks", "workflow"),
            ("manual:backfill:2026-01-01..2026-01-01", #"{"start":"2026-01-01","end":"2026-01-01"}"#, nil, nil),
        ]
        try queue.write { db in
            for (n, row) in rows.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO actions (id, name, kind, key, origin, parameters, state, max_attempts, created_at, updated_at)
                        VALUES (?, 'a', 'webhook', ?, 'rule', ?, 'verified', 3, 0, 0)
                        """, arguments: ["act-\(n)", row.key, row.parameters])
            }
        }
        try AppDatabase.migrator.migrate(queue)
        try queue.read { db in
            for (n, row) in rows.enumerated() {
                let stored = try XCTUnwrap(
                    try Row.fetchOne(db, sql: "SELECT heals_rule, heals_check FROM actions WHERE id = ?", arguments: ["act-\(n)"]))
                XCTAssertEqual(stored["heals_rule"] as String?, row.rule, row.key)
                XCTAssertEqual(stored["heals_check"] as String?, row.check, row.key)
                XCTAssertEqual(
                    try ActionQueue(tx: SQLiteTransaction(db: db)).heals(of: "act-\(n)"),
                    row.rule.map { ActionHeals(rule: $0, check: row.check) } ?? nil, row.key)
            }
        }
    }
}
