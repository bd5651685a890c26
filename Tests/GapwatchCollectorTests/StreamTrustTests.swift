import Foundation
import GRDB
import GapwatchProtocol
import Logging
import XCTest

@testable import GapwatchCollector

/// Issue 14, items 5-7 and 9 at the collector: an agent's commands go to the stream (spool) its id
/// is bound to, a result counts only from where its command went, a repeated seq changes nothing,
/// and a repeated seq with other content is a restored spool's (told, not dropped). Real SQLite
/// file, the real ingest writer and action runner, the clock in the test's hands.
final class StreamTrustTests: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var t0: Millis = 0
    var day = 0

    let fleet = TokenIdentity(tokenID: "tok_fleet", kind: .fleet, agentID: nil)
    let workerToken = TokenIdentity(tokenID: "tok_worker", kind: .agent, agentID: "worker-1")
    let otherToken = TokenIdentity(tokenID: "tok_other", kind: .agent, agentID: "agent-2")

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "gapwatch-streams-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func open(_ yaml: String = "") throws {
        var config = try CollectorConfig.parse(
            yaml: """
                liveness: {enabled: false}
                actions:
                  - {name: backfill, kind: agent, agent: worker-1, command: backfill, parameters: {start: "{start}", end: "{end}"}, cooldown: 0s}
                \(yaml)
                """)
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "worker-1"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        t0 = WallClock.nowMillis()
    }

    func report(_ agent: String = "worker-1", spool: String, seq: UInt64, at: Millis, _ body: ObservationBody? = nil, previous: String? = nil)
        -> Report
    {
        Report(
            agent: AgentIdentity(id: agent, service: "svc", host: "h", version: "1"), bootID: "b", spoolID: spool, sentAt: at,
            observations: [Observation(seq: seq, observedAt: at, body: body ?? .heartbeat(Heartbeat(name: "alive", status: .ok)))],
            previousSpoolID: previous)
    }

    @discardableResult
    func ingest(_ report: Report, at: Millis, token: TokenIdentity?) async throws -> IngestResult {
        try await runtime.writer.ingest(report, receivedAt: at, token: token)
    }

    /// A manual backfill of worker-1's, started by the runner: its command waits to be handed out.
    func startBackfill(at now: Millis) async throws -> String {
        day += 1
        let action = try XCTUnwrap(runtime.config.remediation.actions["backfill"])
        let date = "2026-01-\(String(format: "%02d", day))"
        let queued = try await runtime.database.write { tx in
            try ActionQueue(tx: tx).enqueue(
                action, key: "manual:backfill:\(date)", heals: nil, incidentID: nil, origin: "manual", parameters: ["start": date, "end": date],
                now: now)
        }
        let id = try XCTUnwrap(queued.id, queued.reason)
        try await runtime.actions.runPass(now: now)
        XCTAssertEqual(try runtime.database.action(id: id)?.state, "running")
        return id
    }

    func boundSpool(_ agent: String = "worker-1") throws -> String? {
        try runtime.database.pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT s.spool_id FROM agents a JOIN streams s ON s.id = a.bound_stream_id WHERE a.id = ?", arguments: [agent])
        }
    }

    // MARK: - Item 5: commands go to the bound stream

    func testANewStreamClaimingAnAgentIdWithAFleetTokenGetsNoneOfItsCommands() async throws {
        try open()
        try await ingest(report(spool: "real", seq: 1, at: t0), at: t0, token: fleet)
        let id = try await startBackfill(at: t0 + 1_000)
        // The impostor reports as worker-1 with the same fleet token, from a spool of its own, over and over.
        for i in 0..<5 {
            let evil = try await ingest(
                report(spool: "impostor", seq: UInt64(i + 1), at: t0 + 2_000 + Millis(i)), at: t0 + 2_000 + Millis(i), token: fleet)
            XCTAssertEqual(evil.commands, [], "a new stream claiming the id with a shared token gets nothing")
            XCTAssertEqual(evil.stored, 1, "its observations are still stored: only commands are withheld")
        }
        let real = try await ingest(report(spool: "real", seq: 2, at: t0 + 3_000), at: t0 + 3_000, token: fleet)
        XCTAssertEqual(real.commands.map(\.actionID), [id], "the agent that registered gets its command")
        XCTAssertEqual(try boundSpool(), "real")
    }

    func testTheAgentsOwnTokenOrARotationFromTheBoundSpoolMovesItsCommandsAtOnce() async throws {
        try open()
        try await ingest(report(spool: "a", seq: 1, at: t0), at: t0, token: fleet)
        // The spool rotated (restored from a copy): it names the bound spool as its previous one.
        try await ingest(report(spool: "b", seq: 2, at: t0 + 1_000, previous: "a"), at: t0 + 1_000, token: fleet)
        XCTAssertEqual(try boundSpool(), "b")
        // Naming a spool that is not the bound one proves nothing.
        try await ingest(report(spool: "c", seq: 1, at: t0 + 2_000, previous: "a"), at: t0 + 2_000, token: fleet)
        XCTAssertEqual(try boundSpool(), "b")
        // A recreated spool folder reporting with the agent's own token: its token says who it is.
        try await ingest(report(spool: "d", seq: 1, at: t0 + 3_000), at: t0 + 3_000, token: workerToken)
        XCTAssertEqual(try boundSpool(), "d")
        let id = try await startBackfill(at: t0 + 4_000)
        let stale = try await ingest(report(spool: "b", seq: 3, at: t0 + 5_000), at: t0 + 5_000, token: fleet)
        XCTAssertEqual(stale.commands, [])
        let current = try await ingest(report(spool: "d", seq: 2, at: t0 + 5_000), at: t0 + 5_000, token: workerToken)
        XCTAssertEqual(current.commands.map(\.actionID), [id])
    }

    func testAFleetStreamTakesTheCommandsOnlyOnceTheBoundOneWasSilentForRebindAfter() async throws {
        try open("fleet: {rebind_after: 10m}")
        try await ingest(report(spool: "old", seq: 1, at: t0), at: t0, token: fleet)
        _ = try await startBackfill(at: t0 + 1_000)
        // A new folder (its old state lost): withheld while the old stream might still be alive...
        let early = try await ingest(report(spool: "new", seq: 1, at: t0 + 599_999), at: t0 + 599_999, token: fleet)
        XCTAssertEqual(early.commands, [])
        // ...and handed over once the bound stream has sent nothing for 10 minutes.
        let late = try await ingest(report(spool: "new", seq: 2, at: t0 + 600_000), at: t0 + 600_000, token: fleet)
        XCTAssertEqual(late.commands.count, 1)
        XCTAssertEqual(try boundSpool(), "new")
    }

    func testAnAdminRebindsAnAgentsCommandsToAStreamAndTheyAreHandedThereAtOnce() async throws {
        try open()
        try await ingest(report(spool: "stale", seq: 1, at: t0), at: t0, token: fleet)
        let id = try await startBackfill(at: t0 + 1_000)
        let handed = try await ingest(report(spool: "stale", seq: 2, at: t0 + 2_000), at: t0 + 2_000, token: fleet)
        XCTAssertEqual(handed.commands.count, 1)
        try await ingest(report(spool: "fresh", seq: 1, at: t0 + 3_000), at: t0 + 3_000, token: fleet)
        let streams = try XCTUnwrap(try runtime.database.agentStreams(agentID: "worker-1"))
        XCTAssertEqual(streams.map(\.spoolPrefix), ["fresh", "stale"])
        XCTAssertEqual(streams.map(\.bound), [false, true])
        XCTAssertNil(try runtime.database.rebindAgent("worker-1", stream: 999, by: "tok_admin", now: t0 + 4_000), "not one of its streams")
        XCTAssertNil(try runtime.database.rebindAgent("nobody", stream: nil, by: "tok_admin", now: t0 + 4_000))
        // No stream given: the most recently seen one.
        XCTAssertEqual(try runtime.database.rebindAgent("worker-1", stream: nil, by: "tok_admin", now: t0 + 4_000), streams[0].stream)
        let fresh = try await ingest(report(spool: "fresh", seq: 2, at: t0 + 5_000), at: t0 + 5_000, token: fleet)
        XCTAssertEqual(fresh.commands.map(\.actionID), [id], "handed again at once, not a minute after the last hand-off")
    }

    // MARK: - Item 6: results only from where the command went

    func testAnActionResultCountsOnlyFromTheAgentAndStreamItsCommandWentTo() async throws {
        try open()
        try await ingest(report(spool: "real", seq: 1, at: t0), at: t0, token: workerToken)
        try await ingest(report("agent-2", spool: "other", seq: 1, at: t0), at: t0, token: otherToken)
        let id = try await startBackfill(at: t0 + 1_000)
        let handed = try await ingest(report(spool: "real", seq: 2, at: t0 + 2_000), at: t0 + 2_000, token: workerToken)
        XCTAssertEqual(handed.commands.count, 1)

        let forged = ObservationBody.actionResult(ActionResult(actionID: id, outcome: .failed, exitCode: 1, outputTail: "forged"))
        // Another agent, with its own valid token.
        let byOther = try await ingest(report("agent-2", spool: "other", seq: 2, at: t0 + 3_000, forged), at: t0 + 3_000, token: otherToken)
        XCTAssertEqual(byOther.refusedResults, 1)
        // A stream claiming worker-1 with a fleet token.
        let byImpostor = try await ingest(report(spool: "impostor", seq: 1, at: t0 + 3_000, forged), at: t0 + 3_000, token: fleet)
        XCTAssertEqual(byImpostor.refusedResults, 1)
        XCTAssertEqual(byImpostor.stored, 1, "the claim stays on the timeline, as its sender's")
        try await runtime.actions.runPass(now: t0 + 4_000)
        var action = try XCTUnwrap(try runtime.database.action(id: id))
        XCTAssertEqual(action.state, "running", "a forged result does not move the action")
        XCTAssertEqual(action.attempts, 1)

        let real = ObservationBody.actionResult(ActionResult(actionID: id, outcome: .ok, exitCode: 0, outputTail: "done"))
        let fromAgent = try await ingest(report(spool: "real", seq: 3, at: t0 + 5_000, real), at: t0 + 5_000, token: workerToken)
        XCTAssertEqual(fromAgent.refusedResults, 0)
        try await runtime.actions.runPass(now: t0 + 6_000)
        action = try XCTUnwrap(try runtime.database.action(id: id))
        XCTAssertNotEqual(action.state, "running")
        XCTAssertTrue(action.detail.contains("done"), action.detail)
        let scraped = String(decoding: try await runtime.metrics.scrape(database: runtime.database), as: UTF8.self)
        XCTAssertTrue(scraped.contains(#"gapwatch_ingest_observations_refused_total{reason="action_result"} 2"#), scraped)
    }

    // MARK: - Item 7: a repeat changes nothing

    func testARepeatedObservationChangesNothing() async throws {
        try open("checks:\n  - {name: nightly, ping: nightly, every: 1h}")
        let at = t0
        let probeFail = ObservationBody.heartbeat(Heartbeat(name: "inventory", status: .fail, exitCode: 2, message: "boom", probe: true))
        let job = ObservationBody.job(JobSighting(name: "j1", change: .added, enabled: true, target: "http://svc.invalid/run"))
        let targetProbe = ObservationBody.probe(
            TargetProbe(job: "j1", target: "http://svc.invalid/run", httpStatus: 404, latencyMs: 5, healthy: false))
        let lock = ObservationBody.lock(LockSighting(name: "L", holder: "h1", acquiredAt: at - 1_000, expiresAt: at + 3_600_000))
        let ping = ObservationBody.heartbeat(Heartbeat(name: "nightly", status: .ok))
        let bodies = [probeFail, job, targetProbe, lock, ping]
        for (i, body) in bodies.enumerated() {
            try await ingest(report(spool: "s", seq: UInt64(i + 1), at: at + Millis(i), body), at: at + 100, token: workerToken)
        }
        let id = try await startBackfill(at: at + 1_000)
        _ = try await ingest(report(spool: "s", seq: 6, at: at + 1_500), at: at + 1_500, token: workerToken)  // handed out

        func state() throws -> [String] {
            try runtime.database.pool.read { db in
                [
                    "\(try Row.fetchOne(db, sql: "SELECT fail_streak, last_fail_at FROM checks WHERE name = 'probe:worker-1/inventory'")!)",
                    "\(try Row.fetchOne(db, sql: "SELECT enabled, probe_failures, last_probe_at, updated_at FROM jobs WHERE name = 'j1'")!)",
                    "\(try Row.fetchOne(db, sql: "SELECT holder, expires_at, seen_at FROM locks WHERE name = 'L'")!)",
                    "\(try Row.fetchOne(db, sql: "SELECT last_ping_at, last_fail_at, next_due FROM checks WHERE name = 'nightly'")!)",
                    "\(try Row.fetchOne(db, sql: "SELECT state, result_outcome FROM actions WHERE id = ?", arguments: [id])!)",
                ]
            }
        }
        let before = try state()
        let count = try runtime.database.observationCount()
        // The same observations again (an answer was lost): duplicates, nothing applied twice.
        for (i, body) in bodies.enumerated() {
            let again = try await ingest(report(spool: "s", seq: UInt64(i + 1), at: at + Millis(i), body), at: at + 2_000, token: workerToken)
            XCTAssertEqual(again.duplicates, 1)
            XCTAssertNil(again.conflictingSeq)
        }
        XCTAssertEqual(try state(), before, "a repeat moved nothing: no second failure counted")
        // Used seqs with other content: a lock set free, a job disabled, a fail ping, an action
        // result. Not stored, and not applied either.
        let forged: [(UInt64, ObservationBody)] = [
            (4, .lock(LockSighting(name: "L", holder: nil))),
            (2, .job(JobSighting(name: "j1", change: .changed, enabled: false, target: "http://svc.invalid/run"))),
            (5, .heartbeat(Heartbeat(name: "nightly", status: .fail, exitCode: 1))),
            (3, .actionResult(ActionResult(actionID: id, outcome: .failed, exitCode: 1))),
        ]
        for (seq, body) in forged {
            let answer = try await ingest(report(spool: "s", seq: seq, at: at + 3_000, body), at: at + 3_000, token: workerToken)
            XCTAssertEqual(answer.stored, 0)
            XCTAssertEqual(answer.conflictingSeq, seq)
        }
        XCTAssertEqual(try state(), before, "no effect of an observation that was not stored")
        XCTAssertEqual(try runtime.database.observationCount(), count)
    }

    // MARK: - Item 9: a reused seq with other content

    func testARepeatedSeqWithOtherContentIsReportedAndNothingFromItOnIsStored() async throws {
        try open()
        let first = try await ingest(makeTestReport(agent: "worker-1", spool: "restored", seqs: 1...10, at: t0), at: t0, token: workerToken)
        XCTAssertEqual(first.ackedSeq, 10)
        // The spool came back from a copy taken at seq 6: 7 and 8 are sent again as they were,
        // then 9-12 are new observations under reused seqs 9 and 10.
        var again = makeTestReport(agent: "worker-1", spool: "restored", seqs: 7...12, at: t0)
        for i in 2..<again.observations.count { again.observations[i].observedAt += 500_000 }
        let answer = try await ingest(again, at: t0 + 600_000, token: workerToken)
        XCTAssertEqual(answer.conflictingSeq, 9)
        XCTAssertEqual(answer.ackedSeq, 8, "the ack stays below the conflict, so the agent keeps those records")
        XCTAssertEqual(answer.stored, 0)
        XCTAssertEqual(answer.duplicates, 2)
        XCTAssertEqual(try runtime.database.observationCount(), 10, "nothing from the conflict on, not even 11 and 12")
        XCTAssertEqual(answer.notices.first?.level, .warning)
        XCTAssertTrue(answer.notices.first?.message.contains("restored from a copy") == true)
        // The agent rotates and sends them again under a new spool id: all four are stored.
        var rotated = Report(
            agent: again.agent, bootID: "b", spoolID: "rotated", sentAt: t0 + 600_000, observations: Array(again.observations[2...]),
            previousSpoolID: "restored")
        rotated.sentAt += 1
        let stored = try await ingest(rotated, at: t0 + 600_001, token: workerToken)
        XCTAssertEqual(stored.stored, 4)
        XCTAssertEqual(stored.ackedSeq, 12)
        XCTAssertEqual(try runtime.database.observationCount(), 14)
    }

    func testARepeatedWarningIsLoggedOnceAMinutePerAgentAndRebindsAlways() async throws {
        try open()
        let lines = CollectedLog()
        let writer = IngestWriter(database: runtime.database, logger: Logger(label: "ingest") { _ in CollectingLogHandler(lines) })
        _ = try await writer.ingest(makeTestReport(agent: "worker-1", spool: "s", seqs: 1...3, at: t0), receivedAt: t0, token: workerToken)
        // A restored spool sends reused seqs over and over (say it never rotates): one line, not twenty.
        for i in 0..<20 {
            var reused = makeTestReport(agent: "worker-1", spool: "s", seqs: 2...3, at: t0)
            reused.observations[0].observedAt += Millis(i + 1)
            let answer = try await writer.ingest(reused, receivedAt: t0 + 1_000, token: workerToken)
            XCTAssertEqual(answer.conflictingSeq, 2)
        }
        XCTAssertEqual(lines.messages.filter { $0.contains("restored from a copy") }.count, 1)
        // Another agent's own trouble gets its own line.
        // (a dataset of its own: worker-1 reported the other first, so owns it)
        var first = makeTestReport(agent: "agent-2", spool: "t", seqs: 1...1, at: t0)
        first.observations[0].body = .count(Count(dataset: "ds.agent-2", partition: "2026-01-22", count: 1))
        _ = try await writer.ingest(first, receivedAt: t0, token: otherToken)
        var other = first
        other.observations[0].observedAt += 1
        _ = try await writer.ingest(other, receivedAt: t0 + 1_000, token: otherToken)
        XCTAssertEqual(lines.messages.filter { $0.contains("restored from a copy") }.count, 2)
        // Commands moving to another stream is a change: every one is logged.
        for spool in ["a", "b", "c"] {
            _ = try await writer.ingest(report(spool: spool, seq: 1, at: t0 + 2_000), receivedAt: t0 + 2_000, token: workerToken)
        }
        XCTAssertEqual(lines.messages.filter { $0.contains("commands now go to another stream") }.count, 3)
    }

    /// Path parameters are percent-decoded, as clients send them (schemathesis found `%3A` refused
    /// as a character an agent id may not hold); a broken escape is a 400 naming the parameter.
    func testPathParametersArePercentDecoded() async throws {
        let collector = try await TestCollector.start()
        defer { collector.stop() }
        var report = makeTestReport(agent: "edge:1", seqs: 1...1)
        report.observations[0].body = .count(Count(dataset: "ds.edge", partition: "2026-01-22", count: 1))
        let stored = try await collector.post(report, token: collector.adminToken)
        XCTAssertEqual(stored.status, 200, stored.bodyText)
        let streams = try await collector.send("GET", "/v1/agents/edge%3A1/streams", token: collector.adminToken)
        XCTAssertEqual(streams.status, 200, streams.bodyText)
        XCTAssertTrue(streams.bodyText.contains(#""agent_id":"edge:1""#), streams.bodyText)
        let broken = try await collector.send("GET", "/v1/agents/edge%ZZ/streams", token: collector.adminToken)
        XCTAssertEqual(broken.status, 400, broken.bodyText)
        XCTAssertEqual(try decodeError(broken).field, "id")
    }

    func testTheResponseCarriesTheConflictingSeqOverHTTP() async throws {
        let collector = try await TestCollector.start()
        defer { collector.stop() }
        _ = try await collector.post(makeTestReport(agent: "agent-1", seqs: 1...3))
        var reused = makeTestReport(agent: "agent-1", seqs: 3...4)
        reused.observations[0].observedAt += 1
        let response = try await collector.post(reused)
        XCTAssertEqual(response.status, 200, response.bodyText)
        XCTAssertTrue(response.bodyText.contains(#""conflicting_seq":3"#), response.bodyText)
        XCTAssertEqual(
            try ReportCodec.decode(ReportResponse.self, from: response.body),
            ReportResponse(ackedSeq: 2, stored: 0, duplicates: 0, commands: [], conflictingSeq: 3))
        let plain = try await collector.post(makeTestReport(agent: "agent-1", seqs: 1...3))
        XCTAssertFalse(plain.bodyText.contains("conflicting_seq"), "absent when there is no conflict")
    }
}

/// Log lines written through `CollectingLogHandler`, for tests of what the collector logs.
final class CollectedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var messages: [String] { lock.withLock { lines } }
}

struct CollectingLogHandler: LogHandler {
    let log: CollectedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(_ log: CollectedLog) { self.log = log }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        log.append("\(message)")
    }
}
