import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess
import XCTest

@testable import GapwatchAgent

/// Issue 13: counts that vanish, times without an offset, runs that cannot be read.
final class ZoneRulesTests: XCTestCase {
    func at(_ text: String) -> Millis { TimeParsing.parseRFC3339(text)! }
    func local(_ text: String) -> Millis { TimeParsing.parseNaive(text)! }

    func testNewYorkAcrossBothClockChangesAndFarPastTheFilesTransitions() throws {
        let ny = try ZoneRules.load("America/New_York")
        XCTAssertEqual(ny.offset(at: at("2026-01-22T12:00:00Z") / 1000), -5 * 3600)
        XCTAssertEqual(ny.offset(at: at("2026-07-01T12:00:00Z") / 1000), -4 * 3600)
        // 2026-03-08 02:00 EST is skipped; 2026-11-01 01:00-02:00 happens twice.
        XCTAssertEqual(ny.instant(ofLocal: local("2026-03-08 01:59:00")), at("2026-03-08T06:59:00Z"))
        XCTAssertEqual(ny.instant(ofLocal: local("2026-03-08 03:00:00")), at("2026-03-08T07:00:00Z"))
        XCTAssertEqual(ny.instant(ofLocal: local("2026-03-08 02:30:00")), at("2026-03-08T07:30:00Z"), "a skipped time lands after the change")
        XCTAssertEqual(ny.instant(ofLocal: local("2026-11-01 01:30:00")), at("2026-11-01T05:30:00Z"), "a repeated time is its first occurrence")
        // Beyond 2037 the file's footer rule (EST5EDT,M3.2.0,M11.1.0) decides.
        XCTAssertEqual(ny.offset(at: at("2090-07-04T12:00:00Z") / 1000), -4 * 3600)
        XCTAssertEqual(ny.offset(at: at("2090-12-25T12:00:00Z") / 1000), -5 * 3600)
        XCTAssertEqual(ny.instant(ofLocal: local("2090-03-12 03:00:00")), at("2090-03-12T07:00:00Z"), "second Sunday of March 2090")
    }

    func testSouthernHemisphereHalfHourZonesAndUTC() throws {
        let sydney = try ZoneRules.load("Australia/Sydney")
        XCTAssertEqual(sydney.offset(at: at("2026-01-22T00:00:00Z") / 1000), 11 * 3600, "January is summer time")
        XCTAssertEqual(sydney.offset(at: at("2026-07-22T00:00:00Z") / 1000), 10 * 3600)
        XCTAssertEqual(sydney.offset(at: at("2095-01-22T00:00:00Z") / 1000), 11 * 3600, "footer rule, southern summer")
        let kolkata = try ZoneRules.load("Asia/Kolkata")
        XCTAssertEqual(kolkata.instant(ofLocal: local("2026-01-22 19:00:00")), at("2026-01-22T13:30:00Z"))
        XCTAssertEqual(ZoneRules.utc.instant(ofLocal: local("2026-01-22 19:00:00")), at("2026-01-22T19:00:00Z"))
        XCTAssertEqual(try ZoneRules.load("Etc/UTC"), .utc)
    }

    func testUnknownAndUnsafeZoneNamesAreRefusedWithTheReason() {
        for (name, part) in [
            ("Mars/Olympus", "unknown time zone 'Mars/Olympus'"), ("../etc/passwd", "not an IANA time zone name"), ("/etc/localtime", "not an IANA"),
        ] {
            XCTAssertThrowsError(try ZoneRules.load(name)) { error in
                XCTAssertTrue((error as? ZoneError)?.message.contains(part) == true, "\(error)")
            }
        }
    }

    func testProbeTimesWithAndWithoutAZone() throws {
        let none = ProbeTimeReader(zone: nil, setting: "timezone: on probe 'games'")
        XCTAssertEqual(try none.read("2026-01-22T19:00:00Z").get(), at("2026-01-22T19:00:00Z"))
        XCTAssertEqual(try none.read("2026-01-22 19:00:00 UTC").get(), at("2026-01-22T19:00:00Z"), "BigQuery's TIMESTAMP")
        guard case .failure(let error) = none.read("2026-01-22 19:00:00") else { return XCTFail("a naive time was guessed") }
        XCTAssertEqual(
            error.message,
            "'2026-01-22 19:00:00' has no UTC offset; set timezone: on probe 'games' to the IANA zone it is written in (e.g. UTC, America/New_York), or print RFC 3339 (2026-01-22T19:00:00Z)"
        )
        let berlin = ProbeTimeReader(zone: try ZoneRules.load("Europe/Berlin"), setting: "x")
        XCTAssertEqual(try berlin.read("2026-01-22 19:00:00").get(), at("2026-01-22T18:00:00Z"))
        XCTAssertEqual(try berlin.read("2026-01-22T19:00").get(), at("2026-01-22T18:00:00Z"))
        XCTAssertEqual(try berlin.read("2026-01-22").get(), at("2026-01-21T23:00:00Z"), "a date alone is its local midnight")
        XCTAssertEqual(try berlin.read("2026-01-22T19:00:00Z").get(), at("2026-01-22T19:00:00Z"), "an offset wins over the zone")
        XCTAssertThrowsError(try berlin.read("soon").get())
    }
}

final class CountProbeSnapshotTests: XCTestCase {
    /// A probe whose command prints the file `out` (so the test edits what the "query" returns).
    func probe(covers: CountCoverage, dir: String, zone: ZoneRules? = nil) -> CommandProbeObserver {
        CommandProbeObserver(
            config: AgentConfig.CommandProbe(
                name: "derived-counts", argv: ["cat", dir + "/out"], emit: .count, dataset: "analytics", covers: covers, timeZone: zone),
            logger: quietLogger, statePath: CommandProbeObserver.statePath(spoolDir: dir, probe: "derived-counts"))
    }

    func run(_ probe: CommandProbeObserver, _ output: String, dir: String, commit: Bool = true) -> (counts: [String: Int64], heartbeat: Heartbeat?) {
        writeFile(dir + "/out", Array(output.utf8))
        let bodies = probe.observe(cancel: Wakeup())
        if commit { probe.committed() }
        var counts: [String: Int64] = [:]
        var heartbeat: Heartbeat?
        for body in bodies {
            if case .count(let c) = body { counts[c.partition] = c.count }
            if case .heartbeat(let h) = body { heartbeat = h }
        }
        return (counts, heartbeat)
    }

    func testAPartitionWhoseRowsAllVanishReadsAsZeroRunAfterRun() throws {
        let dir = makeTempDir(self)
        let p = probe(covers: .all, dir: dir)
        XCTAssertEqual(run(p, "day|n\n2026-01-21|300\n2026-01-22|282\n", dir: dir).counts, ["2026-01-21": 300, "2026-01-22": 282])
        // Every derived row of the 22nd is deleted: GROUP BY prints no line for it.
        let second = run(p, "day|n\n2026-01-21|300\n", dir: dir)
        XCTAssertEqual(second.counts, ["2026-01-21": 300, "2026-01-22": 0])
        XCTAssertEqual(second.heartbeat?.status, .ok)
        XCTAssertEqual(second.heartbeat?.probe, true)
        XCTAssertEqual(second.heartbeat?.message, "1 row(s); 1 partition(s) no longer listed read as 0: 2026-01-22")
        XCTAssertEqual(run(p, "2026-01-21|300\n", dir: dir).counts, ["2026-01-21": 300, "2026-01-22": 0], "and again while covered")
        // After a restart the probe still knows (the state file).
        XCTAssertEqual(run(probe(covers: .all, dir: dir), "2026-01-21|300\n", dir: dir).counts, ["2026-01-21": 300, "2026-01-22": 0])
        // The rows come back.
        XCTAssertEqual(run(p, "2026-01-21|300\n2026-01-22|282\n", dir: dir).counts, ["2026-01-21": 300, "2026-01-22": 282])
    }

    func testAPartitionThatMerelyLeavesTheWindowIsNotZeroed() throws {
        let dir = makeTempDir(self)
        let p = probe(covers: .window(count: 3, .day), dir: dir)
        let today = String(TimeParsing.format(WallClock.nowMillis()).prefix(10))
        let yesterday = String(TimeParsing.format(WallClock.nowMillis() - 86_400_000).prefix(10))
        let longAgo = String(TimeParsing.format(WallClock.nowMillis() - 10 * 86_400_000).prefix(10))
        _ = run(p, "\(longAgo)|5\n\(yesterday)|7\n\(today)|9\n", dir: dir)
        let next = run(p, "\(today)|9\n", dir: dir)
        XCTAssertEqual(next.counts, [today: 9, yesterday: 0], "yesterday is inside 3d; ten days ago is outside: not zeroed")
    }

    func testCoversNoneNeverZeroesAndAFailedRunChangesNothing() throws {
        let dir = makeTempDir(self)
        let none = probe(covers: .none, dir: dir)
        _ = run(none, "2026-01-21|3\n2026-01-22|4\n", dir: dir)
        XCTAssertEqual(run(none, "2026-01-21|3\n", dir: dir).counts, ["2026-01-21": 3])

        let other = dir + "/x"
        try FileIO.makeDirectories(other)
        let all = probe(covers: .all, dir: other)
        _ = run(all, "2026-01-21|3\n2026-01-22|4\n", dir: other)
        // An unreadable line: the run fails, nothing is reported, and nothing is zeroed.
        let bad = run(all, "2026-01-21|3\n2026-01-22|four\n", dir: other)
        XCTAssertEqual(bad.counts, [:])
        XCTAssertEqual(bad.heartbeat?.status, .fail)
        XCTAssertEqual(bad.heartbeat?.message, "unreadable output, nothing reported: line 2: count 'four' is not a whole number")
        // The command fails: the same.
        let failed = CommandProbeObserver(
            config: AgentConfig.CommandProbe(
                name: "c", argv: ["sh", "-c", "echo '2026-01-21|3'; exit 3"], emit: .count, dataset: "analytics", covers: .all),
            logger: quietLogger)
        let bodies = failed.observe(cancel: Wakeup())
        XCTAssertEqual(bodies.count, 1)
        // The memory still holds the 22nd: the next good run that omits it zeroes it.
        XCTAssertEqual(run(all, "2026-01-21|3\n", dir: other).counts, ["2026-01-21": 3, "2026-01-22": 0])
    }

    func testAHeaderIsSkippedButADataLineThatDoesNotParseFailsTheRun() {
        XCTAssertEqual(ProbeOutput.counts("game_date|count\n2026-01-22|5\n", dataset: "d").badLines, [])
        // A first line that looks like data is data: a bad one is reported, not taken for a header.
        let parsed = ProbeOutput.itemStatuses("0022500612|In Progress|2026-01-22 19:00:00\n", itemKind: "game")
        XCTAssertEqual(parsed.bodies, [])
        XCTAssertEqual(parsed.problems.first?.line, 1)
        XCTAssertTrue(parsed.problems.first?.message.contains("has no UTC offset") == true, "\(parsed.problems)")
        XCTAssertEqual(
            ProbeOutput.counts("2026-13-45|5\n", dataset: "d").problems.first?.message, "partition: '2026-13-45' is not a real date (YYYY-MM-DD)")
    }

    func testNaiveReferenceTimesNeedTheProbesTimezone() throws {
        let dir = makeTempDir(self)
        let output = "id|status|start\n0022500612|In Progress|2026-01-22 19:00:00\n0022500613|Final|2026-01-22 21:30:00\n"
        writeFile(dir + "/out", Array(output.utf8))
        func items(_ zone: ZoneRules?) -> [ObservationBody] {
            CommandProbeObserver(
                config: AgentConfig.CommandProbe(name: "games", argv: ["cat", dir + "/out"], emit: .itemStatus, itemKind: "game", timeZone: zone),
                logger: quietLogger
            ).observe(cancel: Wakeup())
        }
        let refused = items(nil)
        XCTAssertEqual(refused.count, 1, "nothing but the heartbeat: \(refused)")
        guard case .heartbeat(let hb) = refused[0] else { return XCTFail() }
        XCTAssertEqual(hb.status, .fail)
        XCTAssertTrue(
            hb.message?.contains("line 2: reference time '2026-01-22 19:00:00' has no UTC offset; set timezone: on probe 'games'") == true,
            hb.message ?? "")
        XCTAssertTrue(hb.message?.contains("(and 1 more bad line(s))") == true, hb.message ?? "")

        let read = items(try ZoneRules.load("America/New_York"))
        XCTAssertEqual(
            read.first,
            .itemStatus(
                ItemStatus(itemKind: "game", itemID: "0022500612", status: "In Progress", referenceTime: TimeParsing.parse("2026-01-23T00:00:00Z"))))
        XCTAssertEqual(read.count, 3)
    }

    func testCoversIsRequiredWithEmitCountAndExplained() {
        assertConfigError(
            "probes:\n  commands:\n    - name: c\n      argv: [x]\n      emit: count\n      dataset: d\n",
            contains: ["line 3", "probes.commands[0].covers: required with emit: count", "3d", "all", "none"])
        assertConfigError(
            "probes:\n  commands:\n    - name: c\n      argv: [x]\n      emit: count\n      dataset: d\n      covers: 3w\n", contains: ["'3w' is not"]
        )
        assertConfigError("probes:\n  commands:\n    - name: c\n      argv: [x]\n      covers: 3d\n", contains: ["only used with emit: count"])
        assertConfigError(
            "probes:\n  commands:\n    - name: c\n      argv: [x]\n      emit: count\n      dataset: d\n      covers: all\n      timezone: Mars/Base\n",
            contains: ["timezone", "unknown time zone 'Mars/Base'"])
        assertConfigError("locks:\n  argv: [x]\n  timezone: Nowhere\n", contains: ["locks.timezone", "unknown time zone"])
    }
}

final class PushedCountBatchTests: XCTestCase {
    var spool: Spool!
    var server: LocalHTTPServer!
    var base: String { "http://127.0.0.1:\(server.port)" }
    let client = HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 5_000)

    override func setUpWithError() throws {
        spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        let api = PushAPI(spool: spool, logger: quietLogger) { fatalError("unused") }
        server = try LocalHTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger) { api.handle($0) }
        server.start()
    }

    override func tearDown() {
        server.stop()
        spool.close()
    }

    func post(_ path: String, _ json: String) throws -> HTTPResponse {
        try client.send(HTTPRequest(method: "POST", url: base + path, headers: [("Content-Type", "application/json")], body: Array(json.utf8)))
    }

    func spooledCounts() throws -> [String] {
        try spool.readBatch(maxRecords: 1000).compactMap { o in
            guard case .count(let c) = o.body else { return nil }
            return "\(c.partition)=\(c.count)"
        }
    }

    func testACompleteBatchZeroesWhatItNoLongerListsAndASingleZeroIsAccepted() throws {
        var r = try post(
            "/v1/counts", #"{"dataset":"d","covers":"all","counts":[{"partition":"2026-01-21","count":3},{"partition":"2026-01-22","count":4}]}"#)
        XCTAssertEqual(r.status, 200, r.bodyText)
        // A single push joins what the agent knows of the dataset.
        r = try post("/v1/observations", #"{"kind":"count","dataset":"d","partition":"2026-01-23","count":5}"#)
        XCTAssertEqual(r.status, 200, r.bodyText)
        r = try post(
            "/v1/counts", #"{"dataset":"d","covers":{"from":"2026-01-22","to":"2026-01-23"},"counts":[{"partition":"2026-01-22","count":4}]}"#)
        XCTAssertEqual(r.status, 200, r.bodyText)
        let answer = try ReportCodec.decode(CountBatchResponse.self, from: r.body)
        XCTAssertEqual(answer.zeroed, ["2026-01-23"], "the 21st is outside the range: not zeroed")
        XCTAssertEqual(answer.stored, 2)
        XCTAssertEqual(try spooledCounts(), ["2026-01-21=3", "2026-01-22=4", "2026-01-23=5", "2026-01-22=4", "2026-01-23=0"])
        r = try post("/v1/observations", #"{"kind":"count","dataset":"d","partition":"2026-01-24","count":0}"#)
        XCTAssertEqual(r.status, 200, "a count of 0 is a count: \(r.bodyText)")
    }

    /// The running agent decodes with CompactJSON: the same batches, the same answers.
    func testTheRunningAgentsJSONEngineReadsBatchesTheSameWay() throws {
        let before = ReportCodec.engine
        ReportCodec.engine = .compact
        defer { ReportCodec.engine = before }
        try testACompleteBatchZeroesWhatItNoLongerListsAndASingleZeroIsAccepted()
        try testBadBatchesAreRefusedWholeNamingTheField()
    }

    func testBadBatchesAreRefusedWholeNamingTheField() throws {
        let before = try spooledCounts().count
        for (json, field, part) in [
            (#"{"dataset":"d","counts":[]}"#, "covers", "required"),
            (#"{"dataset":"d","covers":"3w","counts":[]}"#, "covers", "'3w' is not"),
            (#"{"dataset":"d","covers":"all","counts":[{"partition":"2026-01-22","count":-1}]}"#, "counts[0].count", "-1 is negative"),
            (#"{"dataset":"d","covers":"all","counts":[{"partition":"2026-02-30","count":1}]}"#, "counts[0].partition", "not a real date"),
            (#"{"dataset":"my table","covers":"all","counts":[{"partition":"2026-01-22","count":1}]}"#, "dataset", "contains whitespace"),
            (
                #"{"dataset":"d","covers":"all","counts":[{"partition":"2026-01-22","count":1},{"partition":"2026-01-22","count":2}]}"#,
                "counts[1].partition", "listed twice"
            ),
            (#"{"dataset":"d","covers":{"from":"2026-01-23","to":"2026-01-21"},"counts":[]}"#, "covers", "reversed"),
            (#"{"dataset":"d","covers":"3d","timezone":"Mars/Base","counts":[]}"#, "timezone", "unknown time zone"),
        ] {
            let r = try post("/v1/counts", json)
            XCTAssertEqual(r.status, 400, json)
            let body = try ReportCodec.decode(ErrorBody.self, from: r.body)
            XCTAssertEqual(body.field, field, json)
            XCTAssertTrue(body.message.contains(part), "\(body.message) lacks \(part)")
        }
        XCTAssertEqual(try spooledCounts().count, before, "a refused batch records nothing")
    }
}

final class NameAndPartitionValidationTests: XCTestCase {
    func problem(_ body: ObservationBody) -> String? {
        do {
            try body.validate(path: "o")
            return nil
        } catch {
            return error.description
        }
    }

    func testNamesWithSpacesImpossibleDatesAndHoursAreRefused() {
        XCTAssertEqual(
            problem(.count(Count(dataset: "nba raw", partition: "2026-01-22", count: 1))),
            "o.dataset: 'nba raw' contains whitespace; names of datasets, item kinds, workflows and locks may not")
        XCTAssertEqual(
            problem(.count(Count(dataset: "d", partition: "2026-02-29", count: 1))), "o.partition: '2026-02-29' is not a real date (YYYY-MM-DD)")
        XCTAssertEqual(
            problem(.count(Count(dataset: "d", partition: "2026-01-22 24:00", count: 1))),
            "o.partition: '2026-01-22 24:00' is not a real hour (00-23)")
        XCTAssertEqual(
            problem(.count(Count(dataset: "d", partition: "2026-01-22 ", count: 1))), "o.partition: '2026-01-22 ' begins or ends with whitespace")
        XCTAssertEqual(problem(.count(Count(dataset: "d", partition: "2026-01-22", count: -3))), "o.count: -3 is negative; a count is 0 or more")
        XCTAssertNil(problem(.count(Count(dataset: "d", partition: "2026-01-22 13:00:00", count: 0))))
        XCTAssertNil(problem(.count(Count(dataset: "d", partition: "2028-02-29", count: 1))))
        XCTAssertNil(problem(.count(Count(dataset: "d", partition: "EU-west", count: 1))), "a partition need not be a date")
        XCTAssertNotNil(problem(.decision(WorkflowDecision(workflow: "post game", decision: .run))))
        XCTAssertNotNil(problem(.itemStatus(ItemStatus(itemKind: "nba game", itemID: "1", status: "Final"))))
        XCTAssertNil(problem(.itemStatus(ItemStatus(itemKind: "game", itemID: "1", status: "In Progress"))), "statuses keep their spaces")
        XCTAssertNotNil(problem(.lock(LockSighting(name: "workflow controller", holder: nil))))
    }
}
