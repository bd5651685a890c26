import Foundation
import GRDB
import GapwatchCollector
import GapwatchProtocol
import Logging
import XCTest

/// Issue 14, item 8: a fleet token brings new agent ids at a bounded rate (refusals answered 429
/// and shown), and a burst of liveness incidents is one message per channel that lists them.
final class FleetBoundsTests: XCTestCase {
    // MARK: - New agent ids per fleet token (real HTTP, real SQLite)

    func post(_ collector: TestCollector, agent: String, seq: UInt64 = 1, token: String) async throws -> HTTPResponse {
        // A dataset of its own: the first agent to report a dataset owns it.
        var report = makeTestReport(agent: agent, seqs: seq...seq)
        report.observations[0].body = .count(Count(dataset: "ds.\(agent)", partition: "2026-01-22", count: Int64(seq)))
        return try await collector.post(report, token: token)
    }

    func testAFleetTokenBringsNewAgentIdsAtABoundedRateAndTheRefusalsAreShown() async throws {
        let collector = try await TestCollector.start { $0.fleet.newAgentsPerHour = 5 }
        defer { collector.stop() }
        let tokens = collector.runtime.tokens
        let fleet = try tokens.issue(kind: .fleet, agentID: nil, name: "shared", now: 0)
        let otherFleet = try tokens.issue(kind: .fleet, agentID: nil, name: "other shared", now: 0)

        var answers: [Int] = []
        var refusal: HTTPResponse?
        for i in 0..<20 {
            let response = try await post(collector, agent: "invented-\(i)", token: fleet.token)
            answers.append(response.status)
            if response.status == 429 { refusal = response }
        }
        XCTAssertEqual(answers.filter { $0 == 200 }.count, 5)
        XCTAssertEqual(answers.filter { $0 == 429 }.count, 15)
        let refused = try XCTUnwrap(refusal)
        let body = try decodeError(refused)
        XCTAssertEqual(body.error, "too_many_new_agents")
        XCTAssertEqual(body.field, "agent.id")
        XCTAssertTrue(body.message.contains("'invented-19' is new") && body.message.contains("fleet.new_agents_per_hour"), body.message)
        let retryAfter = try XCTUnwrap(refused.headers["retry-after"].flatMap { Int($0) })
        XCTAssertTrue((3_500...3_600).contains(retryAfter), "a slot frees an hour after the first new id: \(retryAfter)")

        // Ids that exist keep reporting; another token has a budget of its own; agent tokens name
        // their one id and are not counted.
        let known = try await post(collector, agent: "invented-0", seq: 2, token: fleet.token)
        XCTAssertEqual(known.status, 200)
        let other = try await post(collector, agent: "other-0", token: otherFleet.token)
        XCTAssertEqual(other.status, 200)
        let own = try await post(collector, agent: "agent-1", token: collector.agentToken)
        XCTAssertEqual(own.status, 200)
        XCTAssertEqual(try collector.database.agents().count, 7)
        XCTAssertEqual(try collector.storedCount(), 8, "nothing of a refused report was stored")

        try collector.runtime.rejections.flush()
        struct Agents: Decodable {
            var agents: [AgentInfo]
            var rejected: [RejectedAgentInfo]
        }
        let list = try ReportCodec.decode(Agents.self, from: try await collector.send("GET", "/v1/agents", token: collector.adminToken).body)
        let rateRefusals = list.rejected.filter { $0.reason == .newAgentRate }
        XCTAssertEqual(rateRefusals.count, 15)
        XCTAssertEqual(Set(rateRefusals.map(\.tokenID)), [fleet.info.id])
        XCTAssertEqual(Set(rateRefusals.map(\.claimedAgentID)), Set((5..<20).map { "invented-\($0)" }))
        let metrics = try await collector.send("GET", "/metrics", token: collector.adminToken).bodyText
        XCTAssertTrue(metrics.contains(#"gapwatch_ingest_rejected_total{reason="new_agent_rate"} 15"#), metrics)
    }

    func testWithZeroAFleetTokenReportsOnlyForAgentIdsThatExist() async throws {
        let collector = try await TestCollector.start { $0.fleet.newAgentsPerHour = 0 }
        defer { collector.stop() }
        let fleet = try collector.runtime.tokens.issue(kind: .fleet, agentID: nil, name: "shared", now: 0)
        let new = try await post(collector, agent: "brand-new", token: fleet.token)
        XCTAssertEqual(new.status, 429)
        XCTAssertTrue(try decodeError(new).message.contains("may not bring new agent ids"), new.bodyText)
        let own = try await post(collector, agent: "agent-1", token: collector.agentToken)
        XCTAssertEqual(own.status, 200)
        let existing = try await post(collector, agent: "agent-1", seq: 2, token: fleet.token)
        XCTAssertEqual(existing.status, 200, "an id that exists")
    }

    func testFleetAndGroupKeysAreReadAndCheckedFromTheConfig() throws {
        let config = try CollectorConfig.parse(
            yaml: "fleet: {new_agents_per_hour: 7, rebind_after: 2m}\nnotify:\n  group: {window: 5s, max_wait: 30s, rules: [liveness, heartbeat]}\n")
        XCTAssertEqual(config.fleet.newAgentsPerHour, 7)
        XCTAssertEqual(config.fleet.rebindAfterMs, 120_000)
        XCTAssertEqual(config.detection.notify.groupWindowMs, 5_000)
        XCTAssertEqual(config.detection.notify.groupMaxWaitMs, 30_000)
        XCTAssertEqual(config.detection.notify.groupRules, ["liveness", "heartbeat"])
        XCTAssertThrowsError(try CollectorConfig.parse(yaml: "notify:\n  group: {rules: [livenes]}\n")) { error in
            XCTAssertTrue("\(error)".hasPrefix("line 2: notify.group.rules[0]: unknown rule 'livenes'"), "\(error)")
        }
        XCTAssertThrowsError(try CollectorConfig.parse(yaml: "fleet: {new_agents_per_hour: -1}\n"))
    }

    // MARK: - A burst of liveness incidents (clock in hand, real command channels)

    var dir: String!
    var runtime: CollectorRuntime!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "gapwatch-burst-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func sink(_ name: String) -> String { dir + "/\(name).jsonl" }

    func messages(_ name: String) throws -> [NotificationMessage] {
        guard let text = try? String(contentsOfFile: sink(name), encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try ReportCodec.decode(NotificationMessage.self, from: Array($0.utf8)) }
    }

    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        try await runtime.notifier.runPass(now: now)
    }

    func alive(_ agent: String, seq: UInt64, at: Millis) async throws {
        let report = Report(
            agent: AgentIdentity(id: agent, service: "svc", host: "h", version: "1"), bootID: "b", spoolID: "s-\(agent)", sentAt: at,
            observations: [Observation(seq: seq, observedAt: at, body: .heartbeat(Heartbeat(name: "agent:\(agent)", status: .ok)))])
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    func testABurstOfLivenessIncidentsIsOneMessagePerChannelAndEachIncidentStands() async throws {
        var config = try CollectorConfig.parse(
            yaml: """
                liveness: {every: 10s, grace: 5s}
                notify:
                  channels:
                    - {name: pager, kind: command, argv: ["/bin/sh", "-c", "cat >> \(sink("pager")); echo >> \(sink("pager"))"]}
                    - {name: chat, kind: command, argv: ["/bin/sh", "-c", "cat >> \(sink("chat")); echo >> \(sink("chat"))"]}
                """)
        config.databasePath = dir + "/gapwatch.db"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        let t0 = WallClock.nowMillis()
        let agents = (0..<40).map { "w-\($0)" }
        for (i, agent) in agents.enumerated() { try await alive(agent, seq: 1, at: t0 + 1_000 + Millis(i) * 50) }
        _ = try runtime.database.createSilence(
            SilenceRequest(subject: "agent:w-7", duration: "1h", comment: "being rebuilt"), createdBy: "test", now: t0)

        // All 40 go silent: their liveness goes down over two seconds, 15 s after their heartbeats.
        for now in stride(from: t0 + 16_000, through: t0 + 18_000, by: 250) { try await tick(now) }
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).filter { $0.state == "open" }.count, 40)
        try await tick(t0 + 26_000)
        XCTAssertEqual(try messages("pager"), [], "held while the burst is still growing (notify.group.window 10s)")
        try await tick(t0 + 28_100)
        for channel in ["pager", "chat"] {
            let got = try messages(channel)
            XCTAssertEqual(got.count, 1, "one message on \(channel), not 39")
            let message = try XCTUnwrap(got.first)
            XCTAssertEqual(message.rule, "liveness")
            XCTAssertEqual(message.event, "opened")
            let listed = try XCTUnwrap(message.incidents)
            XCTAssertEqual(Set(listed.map(\.subject)), Set(agents.filter { $0 != "w-7" }.map { "agent:\($0)" }), "the silenced one is not paged")
            XCTAssertTrue(message.reason.hasPrefix("39 liveness incidents opened: agent:w-"), message.reason)
        }
        // Each incident still stands on its own, with its own event and deliveries.
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 40)
        for incident in incidents {
            let event = try XCTUnwrap(try runtime.database.incident(id: incident.id)?.events?.first)
            if incident.subject == "agent:w-7" {
                XCTAssertEqual(event.notify, "silenced")
            } else {
                XCTAssertEqual(event.notify, "sent", incident.subject)
                XCTAssertEqual(event.deliveries.map(\.channel).sorted(), ["chat", "pager"])
                XCTAssertTrue(event.notifyDetail?.contains("in one message for 39 incidents") == true, event.notifyDetail ?? "")
            }
        }

        // A lone agent going silent later is sent alone once the window has passed.
        try await alive("loner", seq: 1, at: t0 + 40_000)
        try await tick(t0 + 55_000)
        try await tick(t0 + 65_000)
        let lone = try XCTUnwrap(try messages("pager").last)
        XCTAssertEqual(try messages("pager").count, 2)
        XCTAssertEqual(lone.subject, "agent:loner")
        XCTAssertNil(lone.incidents)

        // They come back together: the resolutions are one message too.
        for (i, agent) in agents.enumerated() { try await alive(agent, seq: 2, at: t0 + 70_000 + Millis(i)) }
        try await tick(t0 + 70_100)
        try await tick(t0 + 81_000)
        let resolved = try messages("chat").filter { $0.event == "resolved" }
        XCTAssertEqual(resolved.count, 1)
        XCTAssertEqual(resolved.first?.incidents?.count, 39, "the silenced one's opening was never sent, so neither is its end")
    }
}
