import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

extension RemediationTests {
    /// A webhook action carries one Idempotency-Key for its whole life, the same on every attempt;
    /// Gapwatch-Attempt tells its attempts apart.
    func testEveryAttemptOfAWebhookActionCarriesTheActionsOneIdempotencyKey() async throws {
        try open(
            Self.completeness
                + """

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

    /// Webhook actions send through the same HTTP delivery as webhook channels: the standard
    /// headers, and a configured header replaces a default one of the same name instead of
    /// sending it twice.
    func testAWebhookActionSendsTheSharedHeadersAndAConfiguredOneReplacesTheDefault() async throws {
        try open(
            Self.completeness
                + """

                actions:
                  - {name: backfill, kind: webhook, url: "SERVICE/ok", headers: {User-Agent: ops-bot/2, X-Team: data}, cooldown: 0s}
                """.replacingOccurrences(of: "SERVICE", with: service.base))
        try await counts("nba_raw.boxscores", [(day(1), 300)], at: t0 + 1_000)
        try await tick(t0 + 2_000)
        let request = try XCTUnwrap(service.requests.first)
        XCTAssertEqual(service.requests.count, 1)
        XCTAssertEqual(request.header("user-agent"), ["ops-bot/2"], "sent once, the configured value")
        XCTAssertEqual(request.header("content-type"), ["application/json"])
        XCTAssertEqual(request.header("x-team"), ["data"])
        XCTAssertEqual(request.header("gapwatch-attempt"), ["1"])
    }
}
