import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// Times bounded by the collector's clock (`clock_skew:`): what is refused one by one, what is
/// corrected for an agent's skew, and the clock_skew incident, with the receive time in the
/// test's hands.
final class ClockSkewTests: DetectionHarness {
    static let config = """
        liveness: {enabled: false}
        checks:
          - {name: hb, ping: hb, every: 1h}
        stuck_locks:
          - {name: locks, locks: '*', max_age: 1h}

        """

    func observation(_ seq: UInt64, at: Millis, _ body: ObservationBody) -> Observation {
        Observation(seq: seq, observedAt: at, body: body)
    }

    func send(_ observations: [Observation], sentAt: Millis, receivedAt: Millis, agent: String = "agent-1") async throws -> IngestResult {
        try await runtime.writer.ingest(
            Report(
                agent: AgentIdentity(id: agent, service: "svc", host: "h", version: "1"), bootID: "b", spoolID: "s-\(agent)", sentAt: sentAt,
                observations: observations), receivedAt: receivedAt)
    }

    func agent(_ id: String) throws -> AgentInfo { try XCTUnwrap(try runtime.database.agents().first { $0.id == id }) }

    /// Dated later than receive time + 5 min (observed_at, a lock's acquired_at, a job's last
    /// run): each refused on its own, named with its field, acknowledged, stored nowhere, applied
    /// to nothing. The bound itself is allowed.
    func testObservationsDatedBeyondTheToleranceAreRefusedOneByOneAndChangeNothing() async throws {
        try open(Self.config)
        let r = t0 + 1_000
        let tolerance: Millis = 300_000
        let result = try await send(
            [
                observation(1, at: r - 1_000, ping("hb")),
                observation(2, at: r + tolerance + 1, ping("hb")),
                observation(3, at: r, .lock(LockSighting(name: "lk", holder: "h", acquiredAt: r + 3_600_000))),
                observation(4, at: r, .job(JobSighting(name: "j", change: .added, enabled: true, lastAttemptAt: r + tolerance + 1))),
                observation(5, at: r, .job(JobSighting(name: "k", change: .added, enabled: true, lastSuccessAt: FieldLimits.latestTime - 1))),
                observation(6, at: r + tolerance, ping("hb", .fail, exit: 3)),
            ], sentAt: r, receivedAt: r)
        XCTAssertEqual(result.refused.map(\.seq), [2, 3, 4, 5])
        XCTAssertEqual(
            result.refused.map(\.field),
            ["observations[1].observed_at", "observations[2].acquired_at", "observations[3].last_attempt_at", "observations[4].last_success_at"])
        XCTAssertTrue(
            result.refused[0].reason.hasPrefix("dated \(TimeParsing.format(r + tolerance + 1)), 5m after the collector received it (tolerance 5m)"),
            result.refused[0].reason)
        XCTAssertEqual(result.ackedSeq, 6, "the ack covers the refused ones: the agent does not send them again")
        XCTAssertEqual(result.stored, 2)
        XCTAssertEqual(result.duplicates, 0)
        XCTAssertEqual(try runtime.database.observationCount(), 2)
        XCTAssertEqual(try runtime.locks(now: r).count, 0, "no lock from a refused sighting")
        XCTAssertEqual(try runtime.auditJobs(now: r).count, 0, "no job from a refused sighting")
        let hb = try check("hb", at: r + 1)
        XCTAssertEqual(hb.lastPingAt, r - 1_000, "the refused ping is not the newest ping")
        XCTAssertEqual(hb.lastFailAt, r + tolerance, "a time at the bound is allowed")
        XCTAssertEqual(try agent("agent-1").clockRefused, 4)
        XCTAssertEqual(try agent("agent-1").clockCorrected, 0)
        try await tick(r + 1)
        XCTAssertEqual(try check("hb", at: r + 1).state, "down", "the fail ping is the newest signal")
        XCTAssertTrue(try runtime.database.incidents(IncidentFilter()).allSatisfy { $0.rule != "clock_skew" }, "the clock itself is right")
    }

    /// A report of an agent ahead, sent again after a lost answer: each send moves its times back
    /// by that send's skew, which differs by the network's delay. The resend is a duplicate (not a
    /// reused seq that would make the agent rotate its spool), and a reused seq with other
    /// content is still told apart.
    func testAResendOfAnAgentAheadIsADuplicateThoughItsCorrectionDiffers() async throws {
        try open(Self.config)
        let r = t0 + 1_000
        let ahead: Millis = 2 * 3_600_000
        let sent = [observation(1, at: r + ahead - 500, ping("hb")), observation(2, at: r + ahead, ping("hb", .fail, exit: 3))]
        let first = try await send(sent, sentAt: r + ahead, receivedAt: r)
        XCTAssertEqual(first.stored, 2)
        let again = try await send(sent, sentAt: r + ahead + 10, receivedAt: r + 850)
        XCTAssertEqual(again.stored, 0)
        XCTAssertEqual(again.duplicates, 2)
        XCTAssertNil(again.conflictingSeq)
        XCTAssertEqual(try runtime.database.observationCount(), 2)
        let reused = [observation(2, at: r + ahead, ping("hb"))]
        let other = try await send(reused, sentAt: r + ahead + 20, receivedAt: r + 900)
        XCTAssertEqual(other.conflictingSeq, 2, "a status that differs is another observation under a reused seq")
    }

    /// An agent whose clock runs 2 h ahead: its times are moved back by its skew (a lock's
    /// acquired_at too, when only that fits) and stored; one still too far ahead even so is
    /// refused; its clock check goes down with one clock_skew incident, which resolves with its
    /// first report on time.
    func testAnAgentAheadIsCorrectedAndOpensAClockIncidentUntilItsClockIsRight() async throws {
        try open(Self.config)
        let r = t0 + 1_000
        let skew: Millis = 2 * 3_600_000
        let agentNow = r + skew
        let result = try await send(
            [
                observation(1, at: agentNow - 1_000, ping("hb")),
                observation(
                    2, at: agentNow, .lock(LockSighting(name: "lk", holder: "h", acquiredAt: agentNow - 10_000, expiresAt: agentNow + 60_000))),
                observation(3, at: agentNow + 600_000, ping("hb")),
            ], sentAt: agentNow, receivedAt: r)
        XCTAssertEqual(result.stored, 2)
        XCTAssertEqual(result.refused.map(\.field), ["observations[2].observed_at"])
        XCTAssertTrue(result.refused[0].reason.contains("even after moving it back by the agent's clock skew of 2h 0m"), result.refused[0].reason)
        let stored = try runtime.database.timeline(TimelineFilter()).observations.map(\.observation.observedAt).sorted()
        XCTAssertEqual(stored, [r - 1_000, r])
        XCTAssertEqual(try check("hb", at: r + 1).lastPingAt, r - 1_000)
        let lock = try XCTUnwrap(try runtime.locks(now: r).first)
        XCTAssertEqual(lock.acquiredAt, r - 10_000, "taken by the same clock: corrected too")
        XCTAssertEqual(try agent("agent-1").clockCorrected, 2)
        XCTAssertEqual(try agent("agent-1").clockRefused, 1)

        try await tick(r + 1)
        XCTAssertEqual(try check("clock:agent-1", at: r + 1).state, "down")
        let opened = try runtime.database.incidents(IncidentFilter()).filter { $0.rule == "clock_skew" }
        XCTAssertEqual(opened.map(\.subject), ["clock:agent-1"])
        XCTAssertTrue(opened[0].reason.hasPrefix("agent agent-1's clock is 2h 0m ahead of the collector's (tolerance 5m)"), opened[0].reason)
        // A second report as far off changes nothing: one incident, one opening.
        _ = try await send([observation(4, at: agentNow + 5_000, ping("hb"))], sentAt: agentNow + 5_000, receivedAt: r + 5_000)
        try await tick(r + 5_001)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).filter { $0.rule == "clock_skew" }.count, 1)

        // Fixed: the first report on time resolves it.
        _ = try await send([observation(5, at: r + 10_000, ping("hb"))], sentAt: r + 10_000, receivedAt: r + 10_050)
        try await tick(r + 10_051)
        let incident = try XCTUnwrap(try runtime.database.incident(id: opened[0].id))
        XCTAssertEqual(incident.state, "resolved")
        XCTAssertTrue(incident.reason.hasPrefix("the clock is right again"), incident.reason)
        XCTAssertEqual(try check("clock:agent-1", at: r + 10_051).state, "up")
        XCTAssertEqual(try notifications().map(\.event), ["opened", "resolved"])
    }

    /// A clock behind is not corrected (its data can only look late), but is an incident too.
    func testAnAgentBehindIsStoredAsDatedAndOpensAClockIncident() async throws {
        try open(Self.config)
        let r = t0 + 1_000
        let result = try await send([observation(1, at: r - 3_600_000, ping("hb"))], sentAt: r - 3_600_000, receivedAt: r)
        XCTAssertEqual(result.stored, 1)
        XCTAssertEqual(try runtime.database.timeline(TimelineFilter()).observations.first?.observation.observedAt, r - 3_600_000)
        try await tick(r + 1)
        let incident = try XCTUnwrap(try runtime.database.incidents(IncidentFilter()).first { $0.rule == "clock_skew" })
        XCTAssertTrue(incident.reason.contains("60m behind the collector's (tolerance 5m): its observations are stored as dated"), incident.reason)
    }

    func testTheToleranceIsConfiguredAndClockIncidentsCanBeTurnedOff() async throws {
        for bad in ["0s", "500ms", "2d"] {
            XCTAssertThrowsError(try CollectorConfig.parse(yaml: "clock_skew: {tolerance: \(bad)}\n"), bad) { error in
                XCTAssertTrue("\(error)".contains("clock_skew.tolerance"), "\(error)")
            }
        }
        try open(Self.config + "clock_skew: {tolerance: 1h}\n")
        var r = t0 + 1_000
        // 30 min ahead is within an hour's tolerance: stored as dated, no incident.
        let within = try await send([observation(1, at: r + 1_800_000, ping("hb"))], sentAt: r + 1_800_000, receivedAt: r)
        XCTAssertEqual(within.refused, [])
        XCTAssertEqual(try check("hb", at: r + 1).lastPingAt, r + 1_800_000)
        _ = try await send([observation(2, at: r + 7_200_000, ping("hb"))], sentAt: r + 7_200_000, receivedAt: r + 1)
        try await tick(r + 2)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).filter { $0.rule == "clock_skew" }.count, 1)

        // Turned off: the open incident resolves at the next start, and no clock check is made.
        runtime = nil
        var config = try CollectorConfig.parse(yaml: Self.config + "clock_skew: {incidents: false}\n")
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        runtime = try Collector.open(config: config, logger: Self.logger)
        r = WallClock.nowMillis()
        let incidents = try runtime.database.incidents(IncidentFilter()).filter { $0.rule == "clock_skew" }
        XCTAssertEqual(incidents.map(\.state), ["resolved"])
        _ = try await send([observation(1, at: r, ping("hb-of-agent-2"))], sentAt: r + 7_200_000, receivedAt: r, agent: "agent-2")
        try await tick(r + 1)
        XCTAssertFalse(try runtime.detector.checks(now: r + 1).contains { $0.name.hasPrefix("clock:") })
        XCTAssertEqual(try agent("agent-2").clockCorrected, 1, "times are bounded all the same")
    }
}
