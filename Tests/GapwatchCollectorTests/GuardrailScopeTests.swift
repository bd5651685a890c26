import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchRules
import GapwatchTestSupport
import Logging
import XCTest

/// Guardrails per scope and the disable breaker (issue 14, item 3), against a real SQLite file and
/// real HTTP receivers on 127.0.0.1, with the clock in the test's hands.
final class GuardrailScopeTests: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var receivers: [NotifyReceiver] = []
    var t0: Millis = 0
    var seq: UInt64 = 0

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "gapwatch-scopes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for receiver in receivers { receiver.stop() }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func receiver() async throws -> NotifyReceiver {
        let started = try await NotifyReceiver.start()
        receivers.append(started)
        return started
    }

    func open(_ yaml: String) throws {
        var config = try CollectorConfig.parse(yaml: "liveness: {enabled: false}\n" + yaml)
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        t0 = WallClock.nowMillis()
    }

    func report(_ bodies: [ObservationBody], at: Millis) async throws {
        let observations = bodies.map { body -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: body)
        }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1"), bootID: "b", spoolID: "s", sentAt: at,
            observations: observations)
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    /// Evaluates, then runs enough action passes for every start the guardrails allow.
    func tick(_ now: Millis, passes: Int = 6) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        for i in 0..<passes {
            try await runtime.actions.runPass(now: now + Millis(i))
            await runtime.actions.waitForCalls()
        }
        _ = try runtime.detector.evaluateDue(now: now + Millis(passes))
    }

    func actions(_ state: String? = nil) throws -> [ActionInfo] {
        var filter = ActionFilter()
        filter.state = state
        filter.limit = 1000
        return try runtime.database.actions(filter)
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(t0 - Millis(daysAgo) * 86_400_000).prefix(10)) }

    // MARK: the breaker

    /// Eight of one scheduler's ten jobs point at a dead service: half of them are disabled
    /// unattended, the rest wait for a person, each saying why; an approval lets one go.
    func testTheBreakerHoldsAMassDisableForApproval() async throws {
        let scheduler = try await receiver()
        try open(
            """
            scheduler_targets: {failures: 3, disable: disable-job}
            guardrails: {max_per_hour: 100, max_concurrent: 8, per_rule: {max_concurrent: 8}, per_target: {max_concurrent: 8}}
            actions:
              - {name: disable-job, kind: webhook, url: "\(scheduler.base)/ok", body: '{"job":"{job}"}', cooldown: 0s}
            """)
        let dead = "http://127.0.0.1:9"
        let alive = "http://127.0.0.1:8"
        let deadJobs = (1...8).map { "dead-\($0)" }
        let liveJobs = ["live-1", "live-2"]
        func job(_ name: String, _ base: String) -> ObservationBody {
            .job(JobSighting(name: name, change: .added, enabled: true, target: "\(base)/run/\(name)", scheduler: "cloud-scheduler/us-west2"))
        }
        func probe(_ name: String, _ base: String, _ healthy: Bool) -> ObservationBody {
            .probe(TargetProbe(job: name, target: "\(base)/run/\(name)", httpStatus: healthy ? 200 : 503, latencyMs: 1, healthy: healthy))
        }
        try await report(deadJobs.map { job($0, dead) } + liveJobs.map { job($0, alive) }, at: t0)
        for round in 0..<3 {
            let at = t0 + 1_000 + Millis(round) * 60_000
            try await report(deadJobs.map { probe($0, dead, false) } + liveJobs.map { probe($0, alive, true) }, at: at)
            try await tick(at + 1)
        }
        XCTAssertEqual(scheduler.requests.count, 5, "5 of 10 jobs is half: no more is disabled unattended")
        let held = try actions("awaiting_approval")
        XCTAssertEqual(held.count, 3)
        for action in held {
            XCTAssertEqual(
                action.detail,
                "breaker: disabling it would make 6 of the 10 job(s) of scheduler cloud-scheduler/us-west2 on agent agent-1 disabled within 1h, "
                    + "more than 50% (scheduler_targets.breaker): waiting for `gapwatch actions approve \(action.id)`")
        }
        try await tick(t0 + 200_000)
        XCTAssertEqual(scheduler.requests.count, 5, "held until someone approves")

        XCTAssertTrue(try runtime.database.approveAction(id: held[0].id, by: "tok_admin", now: t0 + 201_000))
        try await tick(t0 + 201_001)
        XCTAssertEqual(scheduler.requests.count, 6, "the approved one runs")
        XCTAssertEqual(try actions("awaiting_approval").count, 2, "the others still wait")
    }

    // MARK: per-scope limits

    /// A hundred gap ranges of one rule, and a stale game of another rule: the flood takes at most
    /// its rule's share of the hour's starts, and the other rule's refresh still runs.
    func testAFloodOnOneRuleDoesNotStarveAnotherRulesAction() async throws {
        let service = try await receiver()
        try open(
            """
            completeness:
              - {name: wide, source: raw, derived: derived, due_after: 0s, lookback: 201d, settle: 0s, backfill: backfill}
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h, refresh: refresh}
            guardrails: {max_per_hour: 10, max_concurrent: 4, per_target: {max_per_hour: 10, max_concurrent: 4}}
            actions:
              - {name: backfill, kind: webhook, url: "\(service.base)/ok", body: '{"start":"{start}"}', cooldown: 10m}
              - {name: refresh, kind: webhook, url: "\(service.base)/ok", body: '{"games":"{items}"}', cooldown: 10m}
            """)
        try await floodAndStaleGame(at: t0 + 1_000)
        let bodies = service.requests.map { String(decoding: $0.body, as: UTF8.self) }
        XCTAssertEqual(bodies.filter { $0.contains("start") }.count, 5, "the flooding rule gets half the hour (per_rule default)")
        XCTAssertEqual(bodies.filter { $0.contains("games") }, [#"{"games":"0022500610"}"#], "the other rule's action runs")
        let waiting = try actions("pending").filter { $0.name == "backfill" && $0.attempts == 0 }
        XCTAssertEqual(waiting.count, 95)
        XCTAssertTrue(
            waiting.allSatisfy {
                $0.detail == "waiting: rule completeness:wide started 5 action(s) in the last hour (guardrails.per_rule.max_per_hour)"
            },
            waiting.first?.detail ?? "")
    }

    /// The same flood, against one webhook service: with rules unlimited, the target's share
    /// holds it, and an action for another service still runs.
    func testAFloodOnOneTargetDoesNotStarveAnotherTargetsAction() async throws {
        let flooded = try await receiver()
        let other = try await receiver()
        try open(
            """
            completeness:
              - {name: wide, source: raw, derived: derived, due_after: 0s, lookback: 201d, settle: 0s, backfill: backfill}
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h, refresh: refresh}
            guardrails: {max_per_hour: 10, max_concurrent: 4, per_rule: {max_per_hour: 10, max_concurrent: 4}}
            actions:
              - {name: backfill, kind: webhook, url: "\(flooded.base)/ok", body: '{"start":"{start}"}', cooldown: 10m}
              - {name: refresh, kind: webhook, url: "\(other.base)/ok", body: '{"games":"{items}"}', cooldown: 10m}
            """)
        try await floodAndStaleGame(at: t0 + 1_000)
        XCTAssertEqual(flooded.requests.count, 5, "one service gets half the hour (per_target default)")
        XCTAssertEqual(other.requests.count, 1, "the other service's action runs")
        let detail = try actions("pending").first { $0.attempts == 0 }?.detail
        XCTAssertEqual(detail, "waiting: target webhook:\(flooded.base) was sent 5 action(s) in the last hour (guardrails.per_target.max_per_hour)")
    }

    /// Every other day of 200 is missing (100 backfill ranges, queued first), then a game stays
    /// in progress past its deadline.
    func floodAndStaleGame(at: Millis) async throws {
        func counts(_ dataset: String, _ days: [Int]) -> [ObservationBody] {
            days.map { .count(Count(dataset: dataset, partition: day($0), count: 100)) }
        }
        try await report(counts("raw", Array(1...200)) + counts("derived", (1...200).filter { $0 % 2 == 0 }), at: at)
        try await tick(at + 1, passes: 1)
        XCTAssertEqual(try actions().count, 100)
        let game = ItemStatus(itemKind: "game", itemID: "0022500610", status: "In Progress", referenceTime: t0 - 5 * 3_600_000)
        try await report([.itemStatus(game)], at: at + 1_000)
        try await tick(at + 2_000)
        try await tick(at + 3_000)
    }
}
