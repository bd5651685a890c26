import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import XCTest

final class CommandRunnerTests: XCTestCase {
    func testArgvIsNotAShell() throws {
        let result = try CommandRunner(timeoutMs: 5_000).run(["printf", "%s|", "a; echo x", "$HOME", "*"])
        XCTAssertTrue(result.succeeded)
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "a; echo x|$HOME|*|", "each argument reaches the program unchanged")
    }

    func testExitCodeAndStderrAreCaptured() throws {
        let result = try CommandRunner(timeoutMs: 5_000).run(["sh", "-c", "echo out; echo oops >&2; exit 3"])
        XCTAssertFalse(result.succeeded)
        XCTAssertEqual(result.exitCode, 3)
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self), "out\n")
        XCTAssertEqual(String(decoding: result.stderr, as: UTF8.self), "oops\n")
    }

    func testTimeoutKillsTheCommandAndItsChildren() throws {
        var runner = CommandRunner(timeoutMs: 300)
        runner.killGraceMs = 300
        let started = WallClock.monotonicMillis()
        // The shell ignores SIGTERM, so SIGKILL must end it; its child sleep must die with it.
        let result = try runner.run(["sh", "-c", "trap '' TERM; sleep 30 & sleep 30; wait"])
        let elapsed = WallClock.monotonicMillis() - started
        XCTAssertTrue(result.timedOut)
        XCTAssertFalse(result.succeeded)
        XCTAssertEqual(result.signal, SIGKILL)
        XCTAssertLessThan(elapsed, 5_000, "the runner did not wait for the command")
    }

    func testOutputIsCapped() throws {
        var runner = CommandRunner(timeoutMs: 10_000)
        runner.maxStdoutBytes = 1000
        let result = try runner.run(["head", "-c", "200000", "/dev/zero"])
        XCTAssertTrue(result.succeeded)
        XCTAssertEqual(result.stdout.count, 1000)
        XCTAssertTrue(result.stdoutTruncated)
    }

    func testMissingProgramIsAnError() {
        XCTAssertThrowsError(try CommandRunner(timeoutMs: 1_000).run(["/nonexistent/program-xyz"])) { error in
            XCTAssertTrue("\(error)".contains("cannot run"), "\(error)")
        }
    }

    func testTokenIsNotPassedToCommands() throws {
        setenv("GAPWATCH_AGENT_TOKEN", "tok_secret_for_test", 1)
        defer { unsetenv("GAPWATCH_AGENT_TOKEN") }
        let result = try CommandRunner(timeoutMs: 5_000).run(["env"])
        XCTAssertTrue(result.succeeded)
        XCTAssertFalse(String(decoding: result.stdout, as: UTF8.self).contains("tok_secret_for_test"))
        XCTAssertTrue(String(decoding: result.stdout, as: UTF8.self).contains("PATH="), "the rest of the environment is passed")
    }
}

final class ProbeOutputTests: XCTestCase {
    func testCountLinesWithEverySeparator() {
        let text = "date,count\n2026-01-20\t100\n2026-01-21|200\n\n2026-01-22,282\n2026-01-23   7\n\"2026-01-24\",\"9\"\n"
        let parsed = ProbeOutput.counts(text, dataset: "nba_raw.boxscores")
        XCTAssertEqual(
            parsed.bodies,
            [
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-20", count: 100)),
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-21", count: 200)),
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-22", count: 282)),
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-23", count: 7)),
                .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-24", count: 9)),
            ])
        XCTAssertEqual(parsed.badLines, [], "the header line is skipped silently")
    }

    func testBadCountLinesAreReported() {
        let parsed = ProbeOutput.counts("2026-01-20|100\n2026-01-21|many\n2026-01-22|-4\n2026-01-23|1|2\n", dataset: "d")
        XCTAssertEqual(parsed.bodies.count, 1)
        XCTAssertEqual(parsed.badLines, [2, 3, 4])
    }

    func testItemStatusLines() {
        let text =
            "id|status|start\n0022500634|Final|2026-01-22T19:00:00Z\n0022500635|In Progress|1769108400000\n0022500636|Scheduled|\n0022500637|Final|2026-01-22 14:00:00-05\n"
        let parsed = ProbeOutput.itemStatuses(text, itemKind: "game")
        XCTAssertEqual(
            parsed.bodies,
            [
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500634", status: "Final", referenceTime: 1_769_108_400_000)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500635", status: "In Progress", referenceTime: 1_769_108_400_000)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500636", status: "Scheduled", referenceTime: nil)),
                .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500637", status: "Final", referenceTime: 1_769_108_400_000)),
            ])
        XCTAssertEqual(parsed.badLines, [])
        let spaced = ProbeOutput.itemStatuses("42 In Progress 2026-01-22T19:00:00Z\n43 Final\n", itemKind: "game")
        XCTAssertEqual(
            spaced.bodies.first, .itemStatus(ItemStatus(itemKind: "game", itemID: "42", status: "In Progress", referenceTime: 1_769_108_400_000)))
        XCTAssertEqual(spaced.bodies.last, .itemStatus(ItemStatus(itemKind: "game", itemID: "43", status: "Final")))
        XCTAssertEqual(ProbeOutput.itemStatuses("a|b\nx|y|not-a-time\n", itemKind: "game").badLines, [2])
    }

    func testTimeParsing() {
        XCTAssertEqual(TimeParsing.parse("2026-01-22T19:00:00Z"), 1_769_108_400_000)
        XCTAssertEqual(TimeParsing.parse("2026-01-22T14:00:00.250-05:00"), 1_769_108_400_250)
        XCTAssertEqual(TimeParsing.parse("2026-01-22 19:00:00+00"), 1_769_108_400_000)
        XCTAssertEqual(TimeParsing.parse("1769108400000"), 1_769_108_400_000)
        XCTAssertEqual(TimeParsing.parse("2026-01-22T19:00Z"), 1_769_108_400_000)
        XCTAssertNil(TimeParsing.parse("2026-01-22T19:00:0Z"))
        XCTAssertEqual(TimeParsing.parse("2024-02-29T00:00:00Z"), 1_709_164_800_000)
        XCTAssertNil(TimeParsing.parse("2026-01-22T19:00:00"), "no offset: ambiguous")
        XCTAssertNil(TimeParsing.parse("2026-02-30T00:00:00Z"))
        XCTAssertNil(TimeParsing.parse("yesterday"))
        XCTAssertEqual(TimeParsing.format(1_769_108_400_250), "2026-01-22T19:00:00.250Z")
    }

    func testCommandProbeSpoolsRowsAndAHeartbeat() {
        let probe = CommandProbeObserver(
            config: AgentConfig.CommandProbe(
                name: "counts", argv: ["printf", "d\\tn\\n2026-01-22\\t282\\n"], emit: .count, dataset: "nba_raw.boxscores"),
            logger: quietLogger)
        let bodies = probe.observe(cancel: Wakeup())
        XCTAssertEqual(bodies.first, .count(Count(dataset: "nba_raw.boxscores", partition: "2026-01-22", count: 282)))
        guard case .heartbeat(let hb) = bodies.last else { return XCTFail("no heartbeat: \(bodies)") }
        XCTAssertEqual(hb.name, "counts")
        XCTAssertEqual(hb.status, .ok)
        XCTAssertEqual(hb.exitCode, 0)
        XCTAssertNotNil(hb.durationMs)
    }

    func testFailingCommandProbeReportsFailAndNoRows() {
        let probe = CommandProbeObserver(
            config: AgentConfig.CommandProbe(
                name: "counts", argv: ["sh", "-c", "echo '2026-01-22|5'; echo 'relation does not exist' >&2; exit 2"], emit: .count, dataset: "d"),
            logger: quietLogger)
        let bodies = probe.observe(cancel: Wakeup())
        XCTAssertEqual(bodies.count, 1, "output of a failed run is not trusted")
        guard case .heartbeat(let hb) = bodies.last else { return XCTFail("no heartbeat") }
        XCTAssertEqual(hb.status, .fail)
        XCTAssertEqual(hb.exitCode, 2)
        XCTAssertTrue(hb.message?.contains("relation does not exist") == true, "\(hb.message ?? "nil")")
    }
}

final class HTTPProbeTests: XCTestCase {
    func testProbeReportsStatusHealthAndLatency() throws {
        let target = TinyHTTPResponder { request in .init(status: request.path == "/health" ? 200 : 404) }
        defer { target.stop() }
        let healthy = HTTPProbeObserver(config: .init(name: "p1", url: target.url + "/health", job: "execute-workflows"))
        guard case .probe(let ok) = healthy.observe(cancel: Wakeup()).first else { return XCTFail("no probe") }
        XCTAssertEqual(ok.httpStatus, 200)
        XCTAssertTrue(ok.healthy)
        XCTAssertEqual(ok.job, "execute-workflows")
        XCTAssertEqual(ok.target, target.url + "/health")
        XCTAssertNil(ok.error)

        // A deleted service: 404 is a response, and unhealthy.
        let gone = HTTPProbeObserver(config: .init(name: "p2", url: target.url + "/deleted"))
        guard case .probe(let notFound) = gone.observe(cancel: Wakeup()).first else { return XCTFail("no probe") }
        XCTAssertEqual(notFound.httpStatus, 404)
        XCTAssertFalse(notFound.healthy)
        XCTAssertNoThrow(try ObservationBody.probe(notFound).validate(path: "p"))
    }

    func testUnreachableTargetReportsAnErrorAndRedactsCredentials() throws {
        let closed = TinyHTTPResponder { _ in .init(status: 200) }
        let port = closed.port
        closed.stop()
        let probe = HTTPProbeObserver(config: .init(name: "p", url: "http://user:secret@127.0.0.1:\(port)/health", timeoutMs: 1_000))
        guard case .probe(let result) = probe.observe(cancel: Wakeup()).first else { return XCTFail("no probe") }
        XCTAssertNil(result.httpStatus)
        XCTAssertNotNil(result.error)
        XCTAssertFalse(result.healthy)
        XCTAssertEqual(result.target, "http://127.0.0.1:\(port)/health")
        XCTAssertNoThrow(try ObservationBody.probe(result).validate(path: "p"))
    }
}
