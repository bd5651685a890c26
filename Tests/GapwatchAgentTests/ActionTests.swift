import Foundation
import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The agent running the collector's commands (`actions:`), with real spools, real child
/// processes and, for the shipper path, a real HTTP collector stand-in on 127.0.0.1.
final class ActionTests: XCTestCase {
    // MARK: - Helpers

    func action(_ name: String, _ argv: [String], _ parameters: [String: ActionParameterType] = [:], timeoutMs: Int64 = 30_000, maxOutput: Int = 4096)
        throws -> AgentConfig.Action
    {
        try AgentConfig.Action(name: name, argv: argv, parameters: parameters, timeoutMs: timeoutMs, maxOutputBytes: maxOutput)
    }

    /// A runner with the agent's defaults (2 at a time, 2 s kill grace) unless told otherwise.
    func runner(_ actions: [AgentConfig.Action], spool: Spool, maxConcurrent: Int? = nil, killGraceMs: Int64? = nil) throws -> ActionRunner {
        var options = ActionRunner.Options()
        if let maxConcurrent { options.maxConcurrent = maxConcurrent }
        if let killGraceMs { options.killGraceMs = killGraceMs }
        return try ActionRunner(actions: actions, spool: spool, logger: quietLogger, options: options)
    }

    /// Every `action_result` in the spool (nothing is acked in these tests), in seq order.
    func results(_ spool: Spool) throws -> [ActionResult] {
        try spool.readBatch(maxRecords: 1000).compactMap {
            if case .actionResult(let a) = $0.body { a } else { nil }
        }
    }

    func lines(_ path: String) -> [String] {
        guard let bytes = try? FileIO.read(path) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// An action that appends "run <x>" to `<dir>/runs` and prints "ran <x>".
    func appender(_ dir: String) throws -> AgentConfig.Action {
        try action("append", ["/bin/sh", "-c", "echo \"run $1\" >> \"\(dir)/runs\"; echo \"ran $1\"", "sh", "{x}"], ["x": .identifier])
    }

    // MARK: - Running

    func testAllowedCommandRunsAndReportsOKWithTheOutputTail() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let greet = try action("greet", ["/bin/sh", "-c", "echo \"hello $1\"; echo warn >&2", "sh", "{who}"], ["who": .identifier])
        let fail = try action("fail", ["/bin/sh", "-c", "echo partial; exit 3"])
        let actions = try runner([greet, fail], spool: spool)
        actions.handle([
            AgentCommand(actionID: "act-1", name: "greet", parameters: ["who": "world"]),
            AgentCommand(actionID: "act-2", name: "fail"),
        ])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let got = try results(spool).sorted { $0.actionID < $1.actionID }
        XCTAssertEqual(
            got,
            [
                ActionResult(actionID: "act-1", outcome: .ok, exitCode: 0, outputTail: "hello world\nwarn\n"),
                ActionResult(actionID: "act-2", outcome: .failed, exitCode: 3, outputTail: "partial\n"),
            ])
        // The results are ordinary observations: a report of them is valid.
        let batch = try spool.readBatch(maxRecords: 100)
        XCTAssertNoThrow(
            try Report(
                agent: AgentIdentity(id: "a", service: "", host: "h", version: "t"), bootID: "b", spoolID: spool.spoolID,
                sentAt: WallClock.nowMillis(), observations: batch
            )
            .validate())
    }

    func testParameterValuesStayOneArgvElementEachWithoutAShell() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        // The script prints how many arguments it got, then each one on its own line.
        let echo = try action(
            "echo-args", ["/bin/sh", "-c", "printf '%s\\n' \"$#\" \"$@\" > \"\(dir)/args\"", "sh", "{x}", "--tag={y}", "{{literal}}"],
            ["x": .text, "y": .identifier])
        let actions = try runner([echo], spool: spool)
        let hostile = "a b \"c\" 'd'; touch \(dir)/pwned $(touch \(dir)/pwned2) `touch \(dir)/pwned3` * | cat &"
        actions.handle([AgentCommand(actionID: "act-args", name: "echo-args", parameters: ["x": hostile, "y": "v1.2:x"])])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        XCTAssertEqual(try results(spool).map(\.outcome), [.ok])
        XCTAssertEqual(lines(dir + "/args"), ["3", hostile, "--tag=v1.2:x", "{literal}"])
        for name in ["pwned", "pwned2", "pwned3"] {
            XCTAssertFalse(FileIO.exists("\(dir)/\(name)"), "\(name): a value reached a shell")
        }
    }

    func testUnknownCommandIsRejectedAndNotRun() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let actions = try runner([try appender(dir)], spool: spool)
        actions.handle([AgentCommand(actionID: "act-drop", name: "drop-tables", parameters: ["x": "a"])])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 5_000))
        XCTAssertEqual(
            try results(spool),
            [
                ActionResult(actionID: "act-drop", outcome: .rejected, outputTail: "command 'drop-tables' is not allowed by this agent's config")
            ])
        XCTAssertEqual(lines(dir + "/runs"), [])
        XCTAssertTrue(actions.isHandled("act-drop"), "a rejected id is not handled again")

        // No actions configured at all: everything is rejected.
        let none = try runner([], spool: spool)
        none.handle([AgentCommand(actionID: "act-any", name: "append", parameters: ["x": "a"])])
        XCTAssertEqual(try results(spool).last?.outcome, .rejected)
        XCTAssertEqual(lines(dir + "/runs"), [])
    }

    func testInvalidMissingOrUnknownParametersAreRejectedWithTheReason() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let backfill = try action(
            "backfill", ["/bin/sh", "-c", "echo \"$*\" >> \"\(dir)/runs\"", "sh", "{processor}", "--start={start}", "--end={end}"],
            ["processor": .identifier, "start": .date, "end": .date])
        let actions = try runner([backfill], spool: spool)
        let good = ["processor": "bdl", "start": "2026-01-01", "end": "2026-01-02"]
        func with(_ changes: [String: String?]) -> [String: String] {
            var p = good
            for (k, v) in changes { p[k] = v }
            return p
        }
        actions.handle([
            AgentCommand(actionID: "bad-date", name: "backfill", parameters: with(["start": "2026-13-01"])),
            AgentCommand(actionID: "no-leap", name: "backfill", parameters: with(["end": "2026-02-29"])),
            AgentCommand(actionID: "unknown", name: "backfill", parameters: with(["extra": "1"])),
            AgentCommand(actionID: "missing", name: "backfill", parameters: with(["end": nil])),
            AgentCommand(actionID: "bad-id", name: "backfill", parameters: with(["processor": "a b"])),
            AgentCommand(actionID: "bad-timeout", name: "backfill", parameters: good, timeoutSeconds: 0),
            AgentCommand(actionID: "good", name: "backfill", parameters: good),
        ])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let byID = Dictionary(uniqueKeysWithValues: try results(spool).map { ($0.actionID, $0) })
        XCTAssertEqual(byID["bad-date"]?.outputTail, "parameter start: '2026-13-01' is not a date (YYYY-MM-DD)")
        XCTAssertEqual(byID["no-leap"]?.outputTail, "parameter end: '2026-02-29' is not a date (YYYY-MM-DD)")
        XCTAssertEqual(byID["unknown"]?.outputTail, "parameter extra is unknown (command 'backfill' takes: end, processor, start)")
        XCTAssertEqual(byID["missing"]?.outputTail, "parameter end is missing")
        XCTAssertEqual(byID["bad-id"]?.outputTail, "parameter processor: 'a b' is not an identifier (1-128 of A-Z a-z 0-9 . _ : -)")
        XCTAssertEqual(byID["bad-timeout"]?.outputTail, "timeout_seconds 0 is not a positive number of seconds")
        for id in ["bad-date", "no-leap", "unknown", "missing", "bad-id", "bad-timeout"] {
            XCTAssertEqual(byID[id]?.outcome, .rejected, id)
            XCTAssertNil(byID[id]?.exitCode, id)
        }
        XCTAssertEqual(byID["good"]?.outcome, .ok)
        XCTAssertEqual(lines(dir + "/runs"), ["bdl --start=2026-01-01 --end=2026-01-02"], "only the valid command ran")
    }

    func testParameterTypes() {
        let cases: [(ActionParameterType, String, Bool)] = [
            (.date, "2026-01-22", true), (.date, "2024-02-29", true), (.date, "2000-02-29", true),
            (.date, "2023-02-29", false), (.date, "1900-02-29", false), (.date, "2026-04-31", false), (.date, "2026-1-01", false),
            (.date, "2026-01-22T00:00", false), (.date, "0000-01-01", false), (.date, "２０２６-01-01", false), (.date, "", false),
            (.int, "0", true), (.int, "+5", true), (.int, "-9223372036854775808", true), (.int, "9223372036854775807", true),
            (.int, "9223372036854775808", false), (.int, "1.5", false), (.int, "", false), (.int, "-", false), (.int, " 1", false),
            (.int, "1e3", false), (.int, "٣", false),
            (.identifier, "a:b.c-d_E9", true), (.identifier, String(repeating: "x", count: 128), true),
            (.identifier, String(repeating: "x", count: 129), false), (.identifier, "a b", false), (.identifier, "a/b", false),
            (.identifier, "", false), (.identifier, "é", false),
            (.text, "hello; rm -rf / $(x) 'q' \"q\"", true), (.text, "é", true), (.text, String(repeating: "é", count: 128), true),
            (.text, String(repeating: "é", count: 128) + "x", false), (.text, "", false), (.text, "a\tb", false),
            (.text, "a\nb", false), (.text, "a\u{7F}b", false), (.text, "a\u{85}b", false),
        ]
        for (type, value, valid) in cases {
            XCTAssertEqual(type.accepts(value), valid, "\(type) '\(value)'")
        }
    }

    func testOutputTailKeepsTheLastBytesAtACharacterBoundaryWithinTheProtocolLimit() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        // 3000 two-byte characters after a line with control characters.
        let long = try action(
            "long", ["/bin/sh", "-c", "printf 'a\\001b\\rc\\n'; i=0; while [ $i -lt 3000 ]; do printf 'é'; i=$((i+1)); done"], maxOutput: 101)
        let controls = try action("controls", ["/bin/sh", "-c", "printf 'a\\001b\\rc\\n'; printf 'err\\033[0m' >&2"])
        let big = try action("big", ["/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' 'x'; echo; echo last-line"], maxOutput: 8192)
        let actions = try runner([long, controls, big], spool: spool)
        actions.handle([
            AgentCommand(actionID: "long", name: "long"), AgentCommand(actionID: "controls", name: "controls"),
            AgentCommand(actionID: "big", name: "big"),
        ])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let byID = Dictionary(uniqueKeysWithValues: try results(spool).map { ($0.actionID, $0) })
        XCTAssertEqual(byID["long"]?.outputTail, String(repeating: "é", count: 50), "101 bytes would cut a character: 100 are kept")
        XCTAssertEqual(byID["controls"]?.outputTail, "a b c\nerr [0m", "control characters become spaces; stderr follows stdout")
        let bigTail = try XCTUnwrap(byID["big"]?.outputTail)
        XCTAssertEqual(bigTail.utf8.count, FieldLimits.outputTail, "max_output above 4KiB is cut to the protocol's limit in the report")
        XCTAssertTrue(bigTail.hasSuffix("xxx\nlast-line\n"))
        for result in byID.values {
            XCTAssertNoThrow(try ObservationBody.actionResult(result).validate(path: "o"))
        }
    }

    func testTimeoutKillsTheCommandAndReportsTimeout() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let short = try action("short", ["/bin/sh", "-c", "echo begun; sleep 30"], timeoutMs: 300)
        let long = try action("long", ["sleep", "30"], timeoutMs: 600_000)
        let actions = try runner([short, long], spool: spool, killGraceMs: 500)
        let started = WallClock.monotonicMillis()
        actions.handle([
            // The collector may only shorten the config's timeout...
            AgentCommand(actionID: "shortened", name: "long", timeoutSeconds: 1),
            // ...never lengthen it.
            AgentCommand(actionID: "not-lengthened", name: "short", timeoutSeconds: 3600),
        ])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let elapsed = WallClock.monotonicMillis() - started
        XCTAssertLessThan(elapsed, 5_000, "the timeouts ended the 30 s sleeps")
        XCTAssertGreaterThanOrEqual(elapsed, 950, "timeout_seconds 1 let the command run about a second")
        let byID = Dictionary(uniqueKeysWithValues: try results(spool).map { ($0.actionID, $0) })
        XCTAssertEqual(byID["shortened"]?.outcome, .timeout)
        XCTAssertEqual(byID["shortened"]?.outputTail, "[timed out after 1s; killed]")
        XCTAssertEqual(byID["not-lengthened"]?.outcome, .timeout)
        XCTAssertEqual(byID["not-lengthened"]?.outputTail, "begun\n[timed out after 300ms; killed]")
        XCTAssertEqual(byID["not-lengthened"]?.exitCode, 128 + Int(SIGTERM))
    }

    func testAtMostTwoRunAtOnceAndTheRestWait() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        try FileIO.makeDirectories(dir + "/running")
        // Each run notes how many runs are in progress as it starts.
        let busy = try action(
            "busy",
            [
                "/bin/sh", "-c",
                "touch \"\(dir)/running/$1\"; ls \"\(dir)/running\" | wc -l >> \"\(dir)/counts\"; sleep 0.4; rm \"\(dir)/running/$1\"", "sh", "{n}",
            ],
            ["n": .int])
        let actions = try runner([busy], spool: spool)
        let started = WallClock.monotonicMillis()
        actions.handle((1...5).map { AgentCommand(actionID: "busy-\($0)", name: "busy", parameters: ["n": "\($0)"]) })
        let handledIn = WallClock.monotonicMillis() - started
        XCTAssertLessThan(handledIn, 300, "handle returns at once; the commands run in the background")
        XCTAssertEqual(actions.pending.queued + actions.pending.running, 5)
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        let counts = lines(dir + "/counts").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        XCTAssertEqual(counts.count, 5)
        XCTAssertEqual(counts.max(), 2, "two at a time, never more, and not one by one")
        XCTAssertEqual(try results(spool).map(\.outcome), Array(repeating: .ok, count: 5))
    }

    // MARK: - At most once

    func testTheSameActionIDRunsOnceAlsoAcrossARestart() throws {
        let dir = makeTempDir(self)
        var spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        var actions = try runner([try appender(dir)], spool: spool)
        let command = AgentCommand(actionID: "act-once", name: "append", parameters: ["x": "one"])
        actions.handle([command, command])  // twice in one response
        actions.handle([command])  // and again in the next
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        actions.handle([command])  // and after it finished
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        XCTAssertEqual(lines(dir + "/runs"), ["run one"])
        XCTAssertEqual(try results(spool), [ActionResult(actionID: "act-once", outcome: .ok, exitCode: 0, outputTail: "ran one\n")])

        // Restart: a new spool and runner on the same folder.
        actions.stop(timeoutMs: 5_000)
        spool.close()
        spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        actions = try runner([try appender(dir)], spool: spool)
        XCTAssertTrue(actions.isHandled("act-once"))
        actions.handle([command, AgentCommand(actionID: "act-new", name: "append", parameters: ["x": "two"])])
        XCTAssertTrue(actions.waitUntilIdle(timeoutMs: 10_000))
        XCTAssertEqual(lines(dir + "/runs"), ["run one", "run two"], "the remembered id did not run again; a new one did")
        XCTAssertEqual(try results(spool).map(\.actionID), ["act-once", "act-new"], "no second result for the duplicate")
    }

    func testAnIDWhoseCommandWasRunningWhenTheAgentDiedIsNotRunAgain() throws {
        let dir = makeTempDir(self)
        let spool1 = try Spool(dir: dir + "/spool", logger: quietLogger)
        let slow = try action("slow", ["/bin/sh", "-c", "echo started >> \"\(dir)/runs\"; exec sleep 30"])
        let actions1 = try runner([slow], spool: spool1, killGraceMs: 200)
        actions1.handle([AgentCommand(actionID: "act-crash", name: "slow")])
        XCTAssertTrue(waitFor { self.lines(dir + "/runs").count == 1 }, "the command started")

        // The agent "dies": its spool is abandoned without stopping the runner, and a new agent
        // opens the folder while the first command still runs.
        spool1.close()
        let spool2 = try Spool(dir: dir + "/spool", logger: quietLogger)
        let actions2 = try runner([slow], spool: spool2)
        XCTAssertTrue(actions2.isHandled("act-crash"), "the id was on disk before the command started")
        actions2.handle([AgentCommand(actionID: "act-crash", name: "slow")])
        XCTAssertEqual(actions2.pending.queued + actions2.pending.running, 0)
        usleep(300_000)
        XCTAssertEqual(lines(dir + "/runs"), ["started"], "not run again")
        XCTAssertEqual(try results(spool2), [], "nothing more is reported for it")
        actions1.stop(timeoutMs: 3_000)  // clean up the orphan (its result cannot be spooled: closed)
        XCTAssertEqual(try results(spool2), [])
    }

    func testHandledIDsFileKeepsTheMostRecentIDsAndSurvivesATornLine() throws {
        let dir = makeTempDir(self)
        var spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        var options = ActionRunner.Options()
        options.rememberedIDs = 5
        var actions = try ActionRunner(actions: [], spool: spool, logger: quietLogger, options: options)
        actions.handle((1...12).map { AgentCommand(actionID: "id-\($0)", name: "nope") })
        XCTAssertEqual(try results(spool).count, 12)
        actions.stop(timeoutMs: 1_000)
        spool.close()
        // A crash while writing an id leaves a torn last line; its command never started.
        appendFile(dir + "/spool/actions-handled", Array("id-torn".utf8))

        spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        actions = try ActionRunner(actions: [], spool: spool, logger: quietLogger, options: options)
        for i in 8...12 { XCTAssertTrue(actions.isHandled("id-\(i)"), "id-\(i) is among the 5 most recent") }
        for i in 1...7 { XCTAssertFalse(actions.isHandled("id-\(i)"), "id-\(i) is older than the 5 most recent") }
        XCTAssertFalse(actions.isHandled("id-torn"))
        XCTAssertEqual(lines(dir + "/spool/actions-handled"), (8...12).map { "id-\($0)" }, "compacted, torn line dropped")
        actions.handle([AgentCommand(actionID: "id-13", name: "nope")])
        XCTAssertEqual(lines(dir + "/spool/actions-handled").last, "id-13", "appends start on a fresh line")
    }

    // MARK: - Stopping

    func testStopSendsSIGTERMAndSpoolsFailedAgentStopping() throws {
        let dir = makeTempDir(self)
        let spool = try Spool(dir: dir + "/spool", logger: quietLogger)
        let slow = try action("slow", ["/bin/sh", "-c", "echo up >> \"\(dir)/up\"; exec sleep 30"])
        let actions = try runner([slow], spool: spool, maxConcurrent: 1, killGraceMs: 2_000)
        actions.handle([AgentCommand(actionID: "act-running", name: "slow"), AgentCommand(actionID: "act-queued", name: "slow")])
        XCTAssertTrue(waitFor { self.lines(dir + "/up").count == 1 })
        XCTAssertEqual(actions.pending.queued, 1)

        let started = WallClock.monotonicMillis()
        actions.stop(timeoutMs: 5_000)
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 1_500, "SIGTERM ended it; no need for SIGKILL")
        XCTAssertEqual(
            try results(spool).sorted { $0.actionID < $1.actionID },
            [
                ActionResult(actionID: "act-queued", outcome: .failed, outputTail: "agent stopping: not started"),
                ActionResult(
                    actionID: "act-running", outcome: .failed, exitCode: 128 + Int(SIGTERM),
                    outputTail: "[agent stopping: the command was sent SIGTERM]"),
            ])
        XCTAssertEqual(lines(dir + "/up").count, 1, "the queued command never started")

        // After stop, new commands are neither run nor remembered (a later delivery may run them).
        actions.handle([AgentCommand(actionID: "act-late", name: "slow")])
        XCTAssertFalse(actions.isHandled("act-late"))
        XCTAssertEqual(try results(spool).count, 2)
    }

    // MARK: - Through the shipper and the agent

    func testAgentRunsCommandsFromTheCollectorOnceWhileShippingGoesOn() throws {
        let dir = makeTempDir(self)
        // The collector hands out the same two commands in every answer, as a collector that
        // retries (or lost the agent's earlier answer) would.
        let commands = [
            AgentCommand(actionID: "act-7", name: "wait-and-append", parameters: ["x": "seven"], timeoutSeconds: 30),
            AgentCommand(actionID: "act-8", name: "drop-tables"),
        ]
        let collector = TinyHTTPResponder { request in
            guard let report = ShipperTests.report(request) else { return .init(status: 400, body: #"{"error":"bad_gzip","message":"x"}"#) }
            let answer = ReportResponse(
                ackedSeq: report.observations.last?.seq ?? 0, stored: report.observations.count, duplicates: 0, commands: commands)
            return .init(status: 200, body: String(decoding: ReportCodec.encode(answer), as: UTF8.self))
        }
        defer { collector.stop() }
        let yaml = """
            agent: {id: actions-agent}
            collector: {url: "\(collector.url)", ship_interval: 50ms}
            heartbeat: {interval: 100ms}
            spool: {dir: "\(dir)/spool"}
            listen: 127.0.0.1:0
            actions:
              - name: wait-and-append
                argv: [/bin/sh, -c, 'while [ ! -f "\(dir)/go" ]; do sleep 0.05; done; echo "$1" >> "\(dir)/runs"; echo done', sh, "{x}"]
                parameters: {x: identifier}
                timeout: 1m
            """
        let config = try AgentConfig.parse(yaml: yaml)
        func actionResults() -> [ActionResult] {
            collector.received.compactMap(ShipperTests.report).flatMap(\.observations).compactMap {
                if case .actionResult(let a) = $0.body { a } else { nil }
            }
        }
        var agent = try Agent(config: config, logger: quietLogger)
        agent.start()
        XCTAssertTrue(waitFor { agent.actions.pending.running == 1 }, "the command is running")
        XCTAssertTrue(waitFor { actionResults().contains { $0.actionID == "act-8" } }, "the rejection was shipped")
        // While the command waits for the go file, heartbeats keep being shipped.
        let reportsBefore = collector.received.count
        XCTAssertTrue(waitFor { collector.received.count >= reportsBefore + 3 }, "shipping goes on while the command runs")
        XCTAssertFalse(actionResults().contains { $0.actionID == "act-7" })
        writeFile(dir + "/go", [])
        XCTAssertTrue(waitFor { actionResults().contains { $0.actionID == "act-7" } })
        XCTAssertEqual(
            actionResults().first { $0.actionID == "act-7" }, ActionResult(actionID: "act-7", outcome: .ok, exitCode: 0, outputTail: "done\n"))
        XCTAssertEqual(
            actionResults().first { $0.actionID == "act-8" },
            ActionResult(actionID: "act-8", outcome: .rejected, outputTail: "command 'drop-tables' is not allowed by this agent's config"))
        let reportsAfterResult = collector.received.count
        XCTAssertTrue(waitFor { collector.received.count >= reportsAfterResult + 3 }, "more answers, with the same commands, arrived")
        XCTAssertEqual(lines(dir + "/runs"), ["seven"], "handed out in every answer, run once")
        agent.stop()

        // Restart on the same spool folder: the collector still hands out both commands.
        agent = try Agent(config: config, logger: quietLogger)
        agent.start()
        defer { agent.stop() }
        let reportsAtRestart = collector.received.count
        XCTAssertTrue(waitFor { collector.received.count >= reportsAtRestart + 5 })
        XCTAssertEqual(agent.actions.pending.queued + agent.actions.pending.running, 0)
        XCTAssertEqual(lines(dir + "/runs"), ["seven"], "not run again after the restart")
        XCTAssertEqual(actionResults().filter { $0.actionID == "act-7" }.count, 1)
        XCTAssertEqual(actionResults().filter { $0.actionID == "act-8" }.count, 1, "no second rejection either")
    }

    // MARK: - Config

    func testActionsConfigWithDefaultsAndRendering() throws {
        let yaml = """
            actions:
              - name: backfill
                argv: [/usr/local/bin/run-backfill, --processor, "{processor}", "--start={start}", --end, "{end}", "{{x}}"]
                parameters:
                  processor: identifier
                  start: date
                  end: date
                timeout: 30m
                max_output: 8KiB
              - name: restart
                argv: [systemctl, restart, scrapers]
            """
        let config = try AgentConfig.parse(yaml: yaml)
        XCTAssertEqual(config.actions.count, 2)
        let backfill = config.actions[0]
        XCTAssertEqual(backfill.name, "backfill")
        XCTAssertEqual(backfill.parameters, ["processor": .identifier, "start": .date, "end": .date])
        XCTAssertEqual(backfill.timeoutMs, 30 * 60_000)
        XCTAssertEqual(backfill.maxOutputBytes, 8192)
        XCTAssertEqual(
            backfill.filledArgv(["processor": "bdl", "start": "2026-01-01", "end": "2026-01-31"]),
            ["/usr/local/bin/run-backfill", "--processor", "bdl", "--start=2026-01-01", "--end", "2026-01-31", "{x}"])
        let restart = config.actions[1]
        XCTAssertEqual(restart.parameters, [:])
        XCTAssertEqual(restart.timeoutMs, 600_000, "default timeout 10m")
        XCTAssertEqual(restart.maxOutputBytes, 4096, "default max_output 4KiB")
        XCTAssertEqual(restart.problems(with: ["x": "1"]), ["parameter x is unknown (command 'restart' takes: none)"])

        // check-config's output is itself a config with the same actions.
        let rendered = config.render()
        XCTAssertTrue(rendered.contains("max_output: 8KiB"), rendered)
        XCTAssertEqual(try AgentConfig.parse(yaml: rendered).actions, config.actions)
        XCTAssertTrue(try AgentConfig.parse(yaml: "").render().contains("actions: []"))
    }

    func testTheExampleConfigDocumentsActions() throws {
        let path = exampleConfigPath
        let config = try AgentConfig.load(path: path, environment: [:])
        let backfill = try XCTUnwrap(config.actions.first { $0.name == "backfill" })
        XCTAssertEqual(backfill.parameters, ["processor": .identifier, "start": .date, "end": .date])
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        for key in ["name:", "argv:", "parameters:", "timeout:", "max_output:"] {
            XCTAssertTrue(text.contains("    \(key)"), "the example documents actions[].\(key)")
        }
    }

    func testActionConfigErrorsNameTheKey() {
        func assertError(_ body: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
            do {
                _ = try AgentConfig.parse(yaml: "actions:\n" + body)
                XCTFail("expected a config error for:\n\(body)", file: file, line: line)
            } catch {
                for part in parts {
                    XCTAssertTrue(error.message.contains(part), "'\(error.message)' lacks '\(part)'", file: file, line: line)
                }
            }
        }
        assertError(
            "  - name: a\n    argv: [/bin/x, \"{day}\"]\n",
            ["line 3", "actions[0].argv: placeholder {day} (in argv[1]) is not declared in parameters"])
        assertError(
            "  - name: a\n    argv: [/bin/x, \"{start}\"]\n    parameters:\n      start: date\n      end: date\n",
            ["line 6", "actions[0].parameters.end", "no {end} placeholder"])
        assertError(
            "  - name: a\n    argv: [/bin/x, \"{start}\"]\n    parameters: {start: datetime}\n",
            ["actions[0].parameters.start", "'datetime' is not a parameter type"])
        assertError("  - name: a\n    argv: [\"{prog}\", x]\n    parameters: {prog: text}\n", ["actions[0].argv[0]", "fixed text"])
        assertError(
            "  - name: a\n    argv:\n      - /bin/x\n      - \"--start={start\"\n", ["line 5", "actions[0].argv[1]", "'{' without a closing '}'"])
        assertError("  - name: a\n    argv: [/bin/x, \"a}b\"]\n", ["actions[0].argv[1]", "'}' without an opening '{'"])
        assertError("  - name: a\n    argv: [/bin/x, \"{a b}\"]\n", ["actions[0].argv[1]", "is not a placeholder"])
        assertError(
            "  - name: a\n    argv: [/bin/x]\n  - name: a\n    argv: [/bin/y]\n", ["line 4", "actions[1].name", "already used by actions[0]"])
        assertError("  - name: drop tables\n    argv: [/bin/x]\n", ["actions[0].name"])
        assertError("  - name: a\n", ["actions[0].argv", "needs an argv list"])
        assertError("  - name: a\n    argv: []\n", ["actions[0].argv", "non-empty"])
        assertError("  - argv: [/bin/x]\n", ["actions[0]", "needs a name"])
        assertError("  - name: a\n    argv: [/bin/x]\n    timeout: 0\n", ["line 4", "actions[0].timeout", "more than 0"])
        assertError("  - name: a\n    argv: [/bin/x]\n    timeout: 8d\n", ["actions[0].timeout", "at most 7d"])
        assertError("  - name: a\n    argv: [/bin/x]\n    max_output: 65KiB\n", ["line 4", "actions[0].max_output", "64KiB"])
        assertError(
            "  - name: a\n    argv: [/bin/x]\n    timout: 5m\n", ["line 4", "unknown key 'actions[0].timout'", "did you mean 'actions[0].timeout'"])
        assertError("  name: a\n", ["actions", "expected a list"])
    }
}
