import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchTestSupport
import Logging
import XCTest

/// The stuck-locks kind (`stuck_locks:`) against a real SQLite file and a real HTTP release
/// endpoint on 127.0.0.1, with the clock in the test's hands.
final class StuckLocksTests: SchedulerTestCase {
    func testAStuckLockIsReleasedOnceAndVerifiedAndALockInsideItsTTLIsNeverTouched() async throws {
        try open(
            """
            stuck_locks:
              - {name: controller-locks, locks: 'workflow_*', slack: 1m, release: release-lock}
            actions:
              - {name: release-lock, kind: webhook, url: "SERVICE/ok", body: '{"lock":"{lock}","holder":"{holder}"}', cooldown: 0s}
            """)
        let minute: Millis = 60_000
        try await report(
            [
                .lock(LockSighting(name: "workflow_controller", holder: "orch-dead", acquiredAt: t0 - 10 * minute, expiresAt: t0 - 5 * minute)),
                .lock(LockSighting(name: "workflow_backfill", holder: "orch-live", acquiredAt: t0 - minute, expiresAt: t0 + 4 * minute)),
                .lock(LockSighting(name: "other_lock", holder: "x", acquiredAt: t0 - 60 * minute, expiresAt: t0 - 50 * minute)),
            ], at: t0)
        try await tick(t0 + 1)
        try await tick(t0 + 2 * minute)
        let bodies = service.requests.map { String(decoding: $0.body, as: UTF8.self) }
        XCTAssertEqual(bodies, [#"{"lock":"workflow_controller","holder":"orch-dead"}"#], "released once; the live lock and other_lock untouched")
        let locks = try runtime.locks(now: t0 + 2 * minute)
        XCTAssertEqual(
            Dictionary(uniqueKeysWithValues: locks.map { ($0.name, $0.state) }),
            ["workflow_controller": "stuck", "workflow_backfill": "held", "other_lock": "held"], "no rule covers other_lock")

        // The agent's next listing shows it free: verified, incident resolved.
        try await report([.lock(LockSighting(name: "workflow_controller", holder: nil))], at: t0 + 3 * minute)
        try await tick(t0 + 3 * minute + 1)
        XCTAssertEqual(try runtime.database.actions(ActionFilter()).map(\.state), ["verified"])
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).map(\.state), ["resolved"])
        // The live lock runs out later without renewal: it becomes stuck then, not before.
        try await tick(t0 + 4 * minute + 59_000)
        XCTAssertEqual(service.requests.count, 1)
    }
}
