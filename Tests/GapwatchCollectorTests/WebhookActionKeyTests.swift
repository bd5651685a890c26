import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

extension RemediationTests {
    /// A webhook action carries one Idempotency-Key for its whole life, the same on every attempt;
    /// Gapwatch-Attempt tells its attempts apart.
    func testEveryAttemptOfAWebhookActionCarriesTheActionsOneIdempotencyKey() async throws {
        try open(Self.completeness + """

            actions:
              - {name: backfill, kind: webhook, url: "SERVICE/fail", max_attempts: 3, cooldown: 0s}
            """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        var now = t0 + 2_000
        for _ in 0..<4 {
            try await tick(now)
            now += 61_000  // past the Retry-After of 7 s and the backoff
        }
        let action = try XCTUnwrap(try runtime.database.actions(ActionFilter()).first)
        XCTAssertEqual(service.requests.count, 3)
        XCTAssertEqual(service.requests.map { $0.header("idempotency-key") }, Array(repeating: ["gapwatch-\(action.id)"], count: 3))
        XCTAssertEqual(service.requests.map { $0.header("gapwatch-attempt") }, [["1"], ["2"], ["3"]])
    }
}
