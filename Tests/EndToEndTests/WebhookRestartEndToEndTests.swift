import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// A webhook action whose call is in flight when the collector is SIGKILLed: the real collector
/// restarts, settles it at once as interrupted and calls again under the same Idempotency-Key
/// (and attempt), instead of holding it `running` for timeout + 60 s and then escalating it.
final class WebhookRestartEndToEndTests: CollectorTestCase {
    var receiver: NotifyReceiver!

    override func setUp() async throws {
        try await super.setUp()
        receiver = try await NotifyReceiver.start()
        collector.appendLogs = true
        // One attempt only: a call lost to the crash that counted as a failed attempt would escalate.
        collector.extraConfig = """
            actions:
              - {name: rebuild, kind: webhook, url: "\(receiver.base)/hold-first", timeout: 10m, max_attempts: 1}
            """
    }

    override func tearDown() {
        receiver.stop()
        super.tearDown()
    }

    func action(_ id: String) throws -> ActionInfo {
        try ReportCodec.decode(ActionInfo.self, from: try collector.get("/v1/actions/\(id)").body)
    }

    func testAWebhookCallCutOffByAKillIsCalledAgainAtStartWithTheSameKeyAndNotEscalated() throws {
        try collector.start()
        let asked = try HTTPClient().send(
            .init(
                method: "POST", url: collector.url + "/v1/backfills",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(try collector.token("GAPWATCH_ADMIN_TOKEN"))")],
                body: Array(#"{"action":"rebuild","start":"2026-01-20","end":"2026-01-21"}"#.utf8)))
        XCTAssertEqual(asked.status, 202, asked.bodyText)
        let id = try ReportCodec.decode(ActionInfo.self, from: asked.body).id
        try waitFor("the receiver to hold the first call", timeout: 30) { receiver.requests.count == 1 }
        XCTAssertEqual(try action(id).state, "running")

        collector.child?.kill9()
        let restarted = Date()
        try collector.start()
        try waitFor("the call again after the restart", timeout: 30) { receiver.requests.count == 2 }
        let again = Date().timeIntervalSince(restarted)
        let keys = receiver.requests.map { $0.header("idempotency-key") }
        XCTAssertEqual(keys, [["gapwatch-\(id)"], ["gapwatch-\(id)"]], "one key per action, the same on the repeated call")
        XCTAssertEqual(receiver.requests.map { $0.header("gapwatch-attempt") }, [["1"], ["1"]], "the same attempt, repeated")
        XCTAssertEqual(receiver.requests[0].body, receiver.requests[1].body)

        try waitFor("the action to be verified", timeout: 30) { try action(id).state == "verified" }
        let settled = try action(id)
        XCTAssertEqual(settled.attempts, 1, "the interrupted call is not a failed attempt")
        let steps = try collector.timeline("subject=action:\(id)").compactMap { entry -> String? in
            if case .actionResult(let result) = entry.observation.body { return result.outputTail }
            return nil
        }
        XCTAssertTrue(steps.contains { $0.hasPrefix("interrupted: ") }, "\(steps)")
        XCTAssertFalse(steps.contains { $0.contains("escalated") }, "\(steps)")
        print("webhook action called again \(String(format: "%.1f", again)) s after the restart began")
    }
}
