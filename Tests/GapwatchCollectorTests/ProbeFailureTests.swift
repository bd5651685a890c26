import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// Issue 13 §3: a probe that fails run after run (its command fails, or its output cannot be read)
/// is an incident naming the probe and what was wrong; its next good run resolves it.
final class ProbeFailureTests: DetectionHarness {
    func probeRun(_ name: String, _ status: Heartbeat.Status, message: String? = nil) -> ObservationBody {
        .heartbeat(Heartbeat(name: name, status: status, durationMs: 12, exitCode: status == .ok ? 0 : nil, message: message, probe: true))
    }

    func testThreeFailedRunsInARowOpenOneIncidentNamingTheProbeAndTheLine() async throws {
        try open("liveness: {enabled: false}\n")
        let problem =
            "unreadable output, nothing reported: line 2: reference time '2026-01-22 19:00:00' has no UTC offset; set timezone: on probe 'games'"
        var seq: UInt64 = 1
        func run(_ status: Heartbeat.Status, at: Millis, message: String? = nil, probe: String = "games", agent: String = "orchestrator-1")
            async throws
        {
            try await ingest(report(agent: agent, firstSeq: seq, at: at, [probeRun(probe, status, message: message)]), receivedAt: at)
            seq += 1
            try await tick(at + 1)
        }
        try await run(.ok, at: t0 + 1_000)
        try await run(.fail, at: t0 + 2_000, message: problem)
        try await run(.fail, at: t0 + 3_000, message: problem)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).count, 0, "two failed runs: not yet")
        XCTAssertEqual(try check("probe:orchestrator-1/games", at: t0 + 3_001).reason, "2 failed run(s) in a row (an incident at 3)")
        try await run(.fail, at: t0 + 4_000, message: problem)
        try await run(.fail, at: t0 + 5_000, message: problem)
        let incidents = try runtime.database.incidents(IncidentFilter())
        XCTAssertEqual(incidents.count, 1, "one incident, however many runs fail")
        let incident = try XCTUnwrap(incidents.first)
        XCTAssertEqual(incident.rule, "probe_failing")
        XCTAssertEqual(incident.subject, "probe:orchestrator-1/games")
        XCTAssertEqual(incident.labels["probe"], "games")
        XCTAssertEqual(incident.labels["agent"], "orchestrator-1")
        XCTAssertTrue(
            incident.reason.hasPrefix("probe 'games' on agent orchestrator-1 failed 3+ runs in a row; last: unreadable output"), incident.reason)
        XCTAssertEqual(try runtime.database.incident(id: incident.id)?.events?.map(\.event), ["opened"], "a longer streak is no news")
        XCTAssertTrue(incident.reason.contains("line 2: reference time '2026-01-22 19:00:00' has no UTC offset"), incident.reason)
        XCTAssertEqual(try notifications().filter { $0.event == "opened" }.count, 1)
        // Another agent's probe of the same name is its own check.
        try await run(.fail, at: t0 + 6_000, message: "exit code 2", agent: "orchestrator-2")
        XCTAssertEqual(try check("probe:orchestrator-2/games", at: t0 + 6_001).state, "new")

        // The timezone is set: the next run is good and the incident resolves.
        try await run(.ok, at: t0 + 7_000)
        let resolved = try XCTUnwrap(try runtime.database.incident(id: incident.id))
        XCTAssertEqual(resolved.state, "resolved")
        XCTAssertEqual(resolved.reason, "probe 'games' ran successfully again")
        XCTAssertEqual(try check("probe:orchestrator-1/games", at: t0 + 7_001).state, "up")
    }

    func testPingsThatAreNotAProbesNeverOpenAProbeIncidentAndTheRuleCanBeTurnedOff() async throws {
        try open("liveness: {enabled: false}\nprobe_failures: {after: 0}\n")
        for i in 0..<5 {
            try await ingest(
                report(firstSeq: UInt64(i * 2 + 1), at: t0 + Millis(i) * 1_000, [probeRun("games", .fail), ping("nightly", .fail)]),
                receivedAt: t0 + Millis(i) * 1_000)
            try await tick(t0 + Millis(i) * 1_000 + 1)
        }
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter()).count, 0)
        XCTAssertFalse(
            try runtime.detector.checks(now: t0 + 6_000).contains { $0.name.hasPrefix("probe:") }, "probe_failures.after: 0 makes no probe checks")
    }

    func testAProbeSilentForForgetAfterIsForgottenAndItsIncidentResolved() async throws {
        try open("liveness: {enabled: false}\nprobe_failures: {after: 1, forget_after: 1h}\n")
        try await ingest(
            report(firstSeq: 1, at: t0 + 1_000, [probeRun("lock-listing", .fail, message: "stdout is not JSON")]), receivedAt: t0 + 1_000)
        try await tick(t0 + 1_001)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter(state: "open")).count, 1)
        try await tick(t0 + 1_000 + 3_600_000)
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter(state: "open")).count, 0)
        XCTAssertFalse(try runtime.detector.checks(now: t0 + 3_700_000).contains { $0.name == "probe:agent-1/lock-listing" })
        // It reports again: its check is made again (the ingest writer's cached id is stale).
        let back = t0 + 3_800_000
        try await ingest(report(firstSeq: 2, at: back, [probeRun("lock-listing", .fail, message: "stdout is not JSON")]), receivedAt: back)
        try await tick(back + 1)
        XCTAssertEqual(try check("probe:agent-1/lock-listing", at: back + 2).state, "down")
        XCTAssertEqual(try runtime.database.incidents(IncidentFilter(state: "open")).count, 1)
    }
}
