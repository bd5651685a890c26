import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Issue 14, items 5, 6, 8 and 9 with our binaries as processes on 127.0.0.1: an impostor with the
/// fleet token gets none of an agent's commands, a forged result moves no action, 2,000 invented
/// agent ids are bounded and their liveness burst is one message per channel, and a spool folder
/// restored from a copy loses nothing.
final class StreamTrustEndToEndTests: XCTestCase {
    var workspace: Workspace!
    var collector: CollectorProcess!
    var agents: [AgentProcess] = []
    var receivers: [NotifyReceiver] = []

    override func setUp() async throws {
        try Binaries.check()
        workspace = try Workspace(name)
        collector = CollectorProcess(workspace: workspace, agentID: "worker-1")
        receivers = [try await NotifyReceiver.start(), try await NotifyReceiver.start()]
    }

    override func tearDown() {
        for agent in agents { agent.child?.terminate() }
        collector.child?.terminate()
        for receiver in receivers { receiver.stop() }
        workspace.finish(self)
    }

    static let backfillAction = """
        actions:
          - {name: backfill, kind: agent, agent: worker-1, command: backfill, parameters: {start: "{start}", end: "{end}"}, cooldown: 0s, max_attempts: 3}
        """

    func call(_ method: String, _ path: String, token: String? = nil, body: [UInt8]? = nil) throws -> HTTPResponse {
        var headers = [("Authorization", "Bearer \(try token ?? collector.token("GAPWATCH_ADMIN_TOKEN"))")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        return try HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 30_000).send(
            .init(method: method, url: collector.url + path, headers: headers, body: body))
    }

    /// A new token of `kind` (for `agentID`), written to a 0600 file an agent can read; its secret.
    func issue(_ kind: String, agentID: String? = nil) throws -> (secret: String, file: String) {
        let ask = agentID.map { #"{"kind":"\#(kind)","agent_id":"\#($0)","name":"t"}"# } ?? #"{"kind":"\#(kind)","name":"t"}"#
        let response = try call("POST", "/v1/tokens", body: Array(ask.utf8))
        guard response.status == 201 else { throw HarnessError("POST /v1/tokens answered \(response.status): \(response.bodyText)") }
        struct Issued: Decodable { var token: String }
        let secret = try ReportCodec.decode(Issued.self, from: response.body).token
        let file = workspace.file("\(kind)-\(agentID ?? "any").token")
        _ = FileManager.default.createFile(atPath: file, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return (secret, file)
    }

    /// A worker-1 agent in a folder of its own whose `backfill` command appends to `marker`.
    func worker(_ folder: String, tokenFile: String, marker: String, commandSeconds: Int = 0) throws -> AgentProcess {
        let agent = AgentProcess(
            workspace: try Workspace(inside: workspace, folder), collectorURL: collector.url, tokenFile: tokenFile, agentID: "worker-1")
        agent.extraConfig = """
            actions:
              - name: backfill
                argv: ["/bin/sh", "-c", "sleep \(commandSeconds); echo \\"$1..$2\\" >> \(marker); echo backfilled $1..$2", "sh", "{start}", "{end}"]
                parameters: {start: date, end: date}
                timeout: 30s
            """
        agents.append(agent)
        return agent
    }

    func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func action(_ id: String) throws -> ActionInfo {
        try ReportCodec.decode(ActionInfo.self, from: try collector.get("/v1/actions/\(id)").body)
    }

    func streams(_ agent: String) throws -> [AgentStreamInfo] {
        struct List: Decodable { var streams: [AgentStreamInfo] }
        let response = try collector.get("/v1/agents/\(agent)/streams")
        guard response.status == 200 else { return [] }
        return try ReportCodec.decode(List.self, from: response.body).streams
    }

    func backfill(_ date: String) throws -> String {
        let r = try call("POST", "/v1/backfills", body: Array(#"{"action":"backfill","start":"\#(date)","end":"\#(date)"}"#.utf8))
        guard r.status == 202 else { throw HarnessError("POST /v1/backfills answered \(r.status): \(r.bodyText)") }
        return try ReportCodec.decode(ActionInfo.self, from: r.body).id
    }

    /// What the agent's `GET /v1/status` says of its spool.
    struct SpoolStatus: Decodable {
        var spoolID: String
        var ackedSeq: UInt64
        var pending: Int
        enum CodingKeys: String, CodingKey {
            case pending
            case spoolID = "spool_id"
            case ackedSeq = "acked_seq"
        }
    }

    func status(_ agent: AgentProcess) throws -> SpoolStatus {
        try ReportCodec.decode(SpoolStatus.self, from: try HTTPClient().send(.init(url: agent.localURL + "/v1/status")).body)
    }

    // MARK: - Item 5

    func testAnImpostorWithTheFleetTokenGetsNoneOfAnAgentsCommandsAndTheAgentGetsThem() throws {
        collector.extraConfig = Self.backfillAction
        try collector.start()
        let fleet = try issue("fleet")
        let realRuns = workspace.file("real-runs.txt")
        let impostorRuns = workspace.file("impostor-runs.txt")
        let real = try worker("real", tokenFile: fleet.file, marker: realRuns)
        let impostor = try worker("impostor", tokenFile: fleet.file, marker: impostorRuns)
        // The impostor reports every second: it would be the first to ask for any command.
        impostor.heartbeatInterval = "1s"
        let client = HTTPClient()
        try real.start()
        _ = try real.push(.count(Count(dataset: "d", partition: "2026-01-01", count: 1)), client: client)
        try waitFor("worker-1 to register", timeout: 30) { try status(real).ackedSeq >= 1 }
        try impostor.start()
        try waitFor("the impostor's first report", timeout: 30) { try status(impostor).ackedSeq >= 1 }

        let id = try backfill("2026-01-20")
        try waitFor("the backfill to start", timeout: 30) { try action(id).state == "running" }
        sleep(3)  // the impostor asks three times meanwhile
        XCTAssertEqual(lines(impostorRuns), [], "the impostor was handed nothing")
        // The real agent reports: the command comes back in the answer, at once.
        _ = try real.push(.count(Count(dataset: "d", partition: "2026-01-02", count: 1)), client: client)
        try waitFor("the real agent to run its backfill", timeout: 20) { lines(realRuns).count == 1 }
        try waitFor("its result to reach the collector", timeout: 30) { try action(id).state != "running" }
        XCTAssertEqual(try action(id).attempts, 1)
        XCTAssertEqual(lines(impostorRuns), [])
        let bound = try XCTUnwrap(try streams("worker-1").first { $0.bound })
        XCTAssertTrue(try status(real).spoolID.hasPrefix(bound.spoolPrefix), "the commands stay with the stream that registered")
    }

    // MARK: - Item 6

    func testAForgedActionResultDoesNotMoveTheAction() throws {
        collector.extraConfig = Self.backfillAction
        try collector.start()
        let runs = workspace.file("runs.txt")
        // The real worker-1 with its own agent token; its command takes 4 s.
        let real = try worker("real", tokenFile: collector.tokenFile, marker: runs, commandSeconds: 4)
        try real.start()
        let client = HTTPClient()
        _ = try real.push(.count(Count(dataset: "d", partition: "2026-01-01", count: 1)), client: client)
        try waitFor("worker-1 to register", timeout: 30) { try status(real).ackedSeq >= 1 }
        let other = try issue("agent", agentID: "agent-2")
        let fleet = try issue("fleet")

        let id = try backfill("2026-01-21")
        try waitFor("the backfill to start", timeout: 30) { try action(id).state == "running" }
        _ = try real.push(.count(Count(dataset: "d", partition: "2026-01-02", count: 1)), client: client)
        let database = try AppDatabase(StorageOptions(path: collector.database))
        try waitFor("the command to be handed to worker-1", timeout: 20) {
            try database.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM agent_commands WHERE action_id = ? AND handed_at IS NOT NULL", arguments: [id])
            } == 1
        }
        // While it runs: a failure claimed by another agent with its own token, and by a stream
        // claiming worker-1 with the fleet token.
        let forged = ObservationBody.actionResult(ActionResult(actionID: id, outcome: .failed, exitCode: 1, outputTail: "forged"))
        for (agent, spool, token) in [("agent-2", "spool-agent-2", other.secret), ("worker-1", "spool-impostor", fleet.secret)] {
            let report = Report(
                agent: AgentIdentity(id: agent, service: "x", host: "x", version: "1"), bootID: "b", spoolID: spool,
                sentAt: WallClock.nowMillis(), observations: [Observation(seq: 1, observedAt: WallClock.nowMillis(), body: forged)])
            let r = try call("POST", "/v1/reports", token: token, body: ReportCodec.encode(report))
            XCTAssertEqual(r.status, 200, r.bodyText)
        }
        sleep(2)  // several action passes
        XCTAssertEqual(try action(id).state, "running", "a forged result does not move the action on")
        XCTAssertEqual(try action(id).attempts, 1)
        try waitFor("the real result", timeout: 30) { try action(id).state != "running" }
        let done = try action(id)
        XCTAssertEqual(done.attempts, 1)
        XCTAssertTrue(done.detail.contains("backfilled 2026-01-21..2026-01-21"), done.detail)
        XCTAssertEqual(lines(runs).count, 1)
        let metrics = try call("GET", "/metrics").bodyText
        XCTAssertTrue(metrics.contains(#"gapwatch_ingest_observations_refused_total{reason="action_result"} 2"#), metrics)
    }

    // MARK: - Item 8

    func testTwoThousandInventedAgentIdsAreBoundedAndTheirLivenessIsOneMessagePerChannel() throws {
        let pager = receivers[0]
        let chat = receivers[1]
        collector.extraConfig = """
            fleet: {new_agents_per_hour: 50}
            liveness: {every: 2s, grace: 2s, agent_backoff_max: 0s}
            notify:
              channels:
                - {name: pager, kind: webhook, url: "\(pager.base)/ok"}
                - {name: chat, kind: webhook, url: "\(chat.base)/ok"}
            """
        try collector.start()
        let fleet = try issue("fleet")
        let client = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)
        var answers: [Int: Int] = [:]
        for i in 0..<2_000 {
            let now = WallClock.nowMillis()
            let report = Report(
                agent: AgentIdentity(id: "invented-\(i)", service: "x", host: "x", version: "1"), bootID: "b", spoolID: "s", sentAt: now,
                observations: [Observation(seq: 1, observedAt: now, body: .heartbeat(Heartbeat(name: "alive", status: .ok)))])
            let r = try client.send(
                .init(
                    method: "POST", url: collector.url + "/v1/reports",
                    headers: [("Authorization", "Bearer \(fleet.secret)"), ("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                    body: Gzip.compress(ReportCodec.encode(report))))
            answers[r.status, default: 0] += 1
        }
        XCTAssertEqual(answers, [200: 50, 429: 1_950])
        struct Agents: Decodable {
            var agents: [AgentInfo]
            var rejected: [RejectedAgentInfo]
        }
        try waitFor("the refusals to be recorded", timeout: 10) {
            try ReportCodec.decode(Agents.self, from: try collector.get("/v1/agents").body).rejected.contains { $0.reason == .newAgentRate }
        }
        XCTAssertEqual(try ReportCodec.decode(Agents.self, from: try collector.get("/v1/agents").body).agents.count, 50)
        XCTAssertTrue(try call("GET", "/metrics").bodyText.contains(#"gapwatch_ingest_rejected_total{reason="new_agent_rate"} 1950"#))

        // The 50 it let in go silent at once: 50 incidents, one message per channel.
        struct Incidents: Decodable { var incidents: [IncidentInfo] }
        try waitFor("50 liveness incidents", timeout: 30) {
            try ReportCodec.decode(Incidents.self, from: try collector.get("/v1/incidents?state=open").body).incidents.filter {
                $0.rule == "liveness"
            }.count == 50
        }
        try waitFor("the notification", timeout: 40) { !pager.requests.isEmpty && !chat.requests.isEmpty }
        sleep(3)  // anything more would have arrived by now
        for receiver in [pager, chat] {
            XCTAssertEqual(receiver.requests.count, 1)
            let message = try ReportCodec.decode(NotificationMessage.self, from: try XCTUnwrap(receiver.requests.first).body)
            XCTAssertEqual(message.incidents?.count, 50)
            XCTAssertEqual(Set(message.incidents?.map(\.subject) ?? []).count, 50)
        }
    }

    // MARK: - Item 9

    func testASpoolRestoredFromACopyLosesNothingAndBothLogsSayItRotated() throws {
        try collector.start()
        let agent = AgentProcess(workspace: workspace, collectorURL: collector.url, tokenFile: collector.tokenFile, agentID: "worker-1")
        agents.append(agent)
        let client = HTTPClient()
        func push(_ partitions: ClosedRange<Int>) throws {
            for p in partitions {
                _ = try agent.push(
                    .count(Count(dataset: "restore", partition: "2026-02-\(String(format: "%02d", p))", count: Int64(p))), client: client)
            }
        }
        func acked(_ seq: UInt64) throws {
            try waitFor("the agent's records up to \(seq) to be acked", timeout: 30) { try status(agent).ackedSeq >= seq }
        }
        try agent.start()
        try push(1...3)
        try acked(3)
        XCTAssertEqual(agent.child?.terminate(), 0)
        let copy = workspace.file("spool-copy")
        try FileManager.default.copyItem(atPath: agent.spoolDir, toPath: copy)  // the snapshot
        try agent.start()
        let original = try status(agent).spoolID
        try push(4...6)
        try acked(6)
        XCTAssertEqual(agent.child?.terminate(), 0)
        // The VM comes back from the snapshot: the spool reuses seqs 4-6 for new records.
        try FileManager.default.removeItem(atPath: agent.spoolDir)
        try FileManager.default.copyItem(atPath: copy, toPath: agent.spoolDir)
        try agent.start()
        try push(7...9)

        try waitFor("all nine partitions at the collector", timeout: 30) {
            Set(
                try collector.timeline("subject=dataset:restore").compactMap { entry -> Int64? in
                    if case .count(let c) = entry.observation.body { return c.count } else { return nil }
                }) == Set(1...9)
        }
        let rotated = try status(agent)
        XCTAssertNotEqual(rotated.spoolID, original)
        XCTAssertEqual(rotated.pending, 0)
        let agentLog = try String(contentsOfFile: workspace.file("agent.log"), encoding: .utf8)
        XCTAssertTrue(agentLog.contains("the spool was restored from a copy") && agentLog.contains("rotated to a new spool id"), agentLog)
        let collectorLog = try String(contentsOfFile: workspace.file("collector.log"), encoding: .utf8)
        XCTAssertTrue(collectorLog.contains("restored from a copy"), collectorLog)
        // The commands follow the rotated spool at once (it named the bound one as its previous).
        let bound = try XCTUnwrap(try streams("worker-1").first { $0.bound })
        XCTAssertTrue(rotated.spoolID.hasPrefix(bound.spoolPrefix))
        XCTAssertTrue(original.hasPrefix(bound.previousSpoolPrefix ?? "-"))

        // `gapwatch agents --streams` shows both; an admin moves the commands with `--rebind`.
        let env = ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN_FILE": collector.tokenFile]
        let listed = try runCommand(Binaries.gapwatch, ["agents", "--streams", "worker-1"], environment: env)
        XCTAssertEqual(listed.status, 0, listed.output)
        XCTAssertTrue(listed.output.contains(String(rotated.spoolID.prefix(8))) && listed.output.contains(String(original.prefix(8))), listed.output)
        XCTAssertFalse(listed.output.contains(rotated.spoolID), "never the whole spool id: it is the stream's credential")
        let old = try XCTUnwrap(try streams("worker-1").first { !$0.bound }).stream
        let moved = try runCommand(Binaries.gapwatch, ["agents", "--rebind", "worker-1", "--stream", "\(old)"], environment: env)
        XCTAssertEqual(moved.status, 0, moved.output)
        XCTAssertEqual(try streams("worker-1").first { $0.bound }?.stream, old)
        let unknown = try runCommand(Binaries.gapwatch, ["agents", "--rebind", "worker-1", "--stream", "99999"], environment: env)
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.output.contains("has no stream 99999"), unknown.output)
        let misused = try runCommand(Binaries.gapwatch, ["agents", "--stream", "3"], environment: env)
        XCTAssertNotEqual(misused.status, 0)
        XCTAssertTrue(misused.output.contains("--stream goes with --rebind"), misused.output)
        // A read token may list, not move.
        let read = try issue("read").secret
        let refused = try call("POST", "/v1/agents/worker-1/rebind", token: read, body: Array("{}".utf8))
        XCTAssertEqual(refused.status, 403)
    }
}
