import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Numbers from reports cannot stop the collector: the real `gapwatch collector` gets the extreme
/// and edge values of every numeric field of every observation kind over HTTP (the largest and
/// smallest 64-bit integers, 0, -1, the documented limits and one past them, times at the bounds,
/// a derived count far above its source of 1, sums of counts past 2^63), with every rule the
/// values feed configured. Then every GET endpoint of protocol/openapi.yaml, every dashboard page
/// and every read command of the CLI answers without a 5xx and the process stays up, also after
/// a restart (which prunes the old rows into rollups).
final class HostileNumbersEndToEndTests: CollectorTestCase {
    let client = HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 30_000)
    var nextSeq: [String: Int64] = [:]

    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let earliest = FieldLimits.earliestTime
    static let latest = FieldLimits.latestTime - 1
    static let maxCount = FieldLimits.maxCount
    static let maxDuration = FieldLimits.maxDurationMs

    override func setUpWithError() throws {
        // Keep clear of a UTC day boundary: the partitions are today's and yesterday's.
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 120_000 { sleep(125) }
        collector.extraConfig = """
            storage: {retention: 30d}
            checks:
              - {name: hb, ping: hb, every: 5m}
              - {name: hb-cron, ping: hb, cron: '0 6 * * *'}
            expectations:
              - {name: wf, workflow: wf, window: {cron: '0 * * * *', duration: 30m}, grace: 0s, only_when: {dataset: ds.src}}
            actions:
              - {name: heal, kind: webhook, url: 'http://127.0.0.1:9/heal', mode: dry_run}
            completeness:
              - {name: daily, source: ds.src, derived: ds.der, due_after: 0s, settle: 0s, lookback: 3d, backfill: heal, scrape: heal, expected_from: ds.sched}
              - {name: hourly, source: ds.src, derived: ds.der, partition: hour, due_after: 0s, settle: 0s, lookback: 48h, backfill: heal}
            stale_items:
              - {name: games, item_kind: game, final: [Final], deadline: 4h, refresh: heal}
            freshness:
              - {name: fresh, dataset: ds.src, max_age: 1h, refresh: heal}
            scheduler_targets:
              failures: 1
              disable: heal
              reenable: heal
              no_success_periods: 1
              no_success_grace: 0s
            stuck_locks:
              - {name: locks, locks: '*', slack: 0s, max_age: 1h, release: heal}
            """
        try collector.start()
    }

    // MARK: - Reports as raw JSON (so that out-of-range numbers can be sent at all)

    /// POSTs a report whose observations are the JSON objects `fields` (each without seq and
    /// observed_at: `observedAt` gives those), numbered from the spool's next seq.
    func post(
        _ observations: [(fields: String, observedAt: Millis)], agent: String = "e2e-agent", spool: String = "s1", sentAt: Millis? = nil,
        seqs: [String]? = nil, token: String? = nil
    ) throws -> HTTPResponse {
        var items: [String] = []
        for (i, o) in observations.enumerated() {
            let seq: String
            if let seqs {
                seq = seqs[i]
            } else {
                let n = (nextSeq[spool] ?? 0) + 1
                nextSeq[spool] = n
                seq = "\(n)"
            }
            items.append(#"{"seq":\#(seq),"observed_at":\#(o.observedAt),\#(o.fields)}"#)
        }
        let body =
            #"{"protocol":1,"agent":{"id":"\#(agent)","service":"svc","host":"h","version":"t"},"boot_id":"b","spool_id":"\#(spool)","sent_at":\#(sentAt ?? WallClock.nowMillis()),"observations":[\#(items.joined(separator: ","))]}"#
        return try client.send(
            .init(
                method: "POST", url: collector.url + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(try token ?? collector.token("GAPWATCH_AGENT_TOKEN"))")],
                body: Array(body.utf8)))
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    /// Observations every one of which must be accepted (200), one report each.
    func acceptedObservations(now: Millis) -> [(String, Millis)] {
        let E = Self.earliest
        let L = Self.latest
        let maxCount = Self.maxCount
        let maxDuration = Self.maxDuration
        let today = day(0)
        let yesterday = day(1)
        let twoDaysAgo = day(2)
        let hour = String(TimeParsing.format(now - 3_600_000).prefix(13))
        let t = now - 1_000
        var list: [(String, Millis)] = [
            // heartbeats: durations 0 and the limit, every extreme exit code, each status
            (#""kind":"heartbeat","name":"hb","status":"start""#, E),
            (#""kind":"heartbeat","name":"hb","status":"ok","duration_ms":0,"exit_code":0"#, E),
            (#""kind":"heartbeat","name":"hb","status":"ok","duration_ms":\#(maxDuration)"#, t),
            (#""kind":"heartbeat","name":"hb","status":"fail","exit_code":2147483647"#, t),
            (#""kind":"heartbeat","name":"hb","status":"ok","exit_code":-2147483648,"duration_ms":\#(maxDuration)"#, t),
            (#""kind":"heartbeat","name":"hb","status":"ok","exit_code":-1"#, t),
            (#""kind":"heartbeat","name":"probe-x","status":"fail","exit_code":-2147483648,"probe":true"#, t),
            (#""kind":"heartbeat","name":"probe-x","status":"ok","duration_ms":\#(maxDuration),"probe":true"#, E),
            // target probes: status and latency at their bounds
            (#""kind":"probe","job":"job-a","target":"http://127.0.0.1:9/a","http_status":100,"latency_ms":0,"healthy":false"#, t),
            (#""kind":"probe","job":"job-a","target":"http://127.0.0.1:9/a","http_status":599,"latency_ms":\#(maxDuration),"healthy":false"#, t),
            (#""kind":"probe","job":"job-b","target":"http://127.0.0.1:9/b","error":"refused","latency_ms":\#(maxDuration),"healthy":true"#, E),
            (#""kind":"probe","target":"http://127.0.0.1:9/c","http_status":200,"latency_ms":\#(maxDuration),"healthy":true"#, t),
            // counts: a derived count far above a source of 1 (the completeness page's ratio), a
            // source at the limit with no derived rows, 0s, hours, the oldest time
            (#""kind":"count","dataset":"ds.src","partition":"\#(yesterday)","count":1"#, t),
            (#""kind":"count","dataset":"ds.der","partition":"\#(yesterday)","count":\#(maxCount)"#, t),
            (#""kind":"count","dataset":"ds.src","partition":"\#(twoDaysAgo)","count":\#(maxCount)"#, t),
            (#""kind":"count","dataset":"ds.der","partition":"\#(twoDaysAgo)","count":0"#, t),
            (#""kind":"count","dataset":"ds.src","partition":"\#(today)","count":0"#, t),
            (#""kind":"count","dataset":"ds.der","partition":"\#(today)","count":\#(maxCount)"#, t),
            (#""kind":"count","dataset":"ds.sched","partition":"\#(today)","count":\#(maxCount)"#, t),
            (#""kind":"count","dataset":"ds.src","partition":"\#(hour)","count":1"#, t),
            (#""kind":"count","dataset":"ds.der","partition":"\#(hour)","count":\#(maxCount)"#, t),
            (#""kind":"count","dataset":"ds.src","partition":"2000-01-01","count":\#(maxCount)"#, E),
            // items with reference times at both bounds
            (#""kind":"item_status","item_kind":"game","item_id":"g-old","status":"In Progress","reference_time":\#(E)"#, t),
            (#""kind":"item_status","item_kind":"game","item_id":"g-late","status":"In Progress","reference_time":\#(L)"#, t),
            (#""kind":"item_status","item_kind":"game","item_id":"g-e","status":"Final","reference_time":\#(E)"#, E),
            // decisions
            (#""kind":"decision","workflow":"wf","decision":"RUN""#, E),
            (#""kind":"decision","workflow":"wf","decision":"FAIL","reason":"x""#, t),
            // locks: taken at the earliest time, expiring at both bounds; seen free
            (#""kind":"lock","name":"lk-old","holder":"h","acquired_at":\#(E),"expires_at":\#(L)"#, t),
            (#""kind":"lock","name":"lk-exp","holder":"h","acquired_at":\#(E),"expires_at":\#(E)"#, t),
            (#""kind":"lock","name":"lk-free""#, E),
            // action results for an action nobody queued, exit codes at both ends
            (#""kind":"action_result","action_id":"act-x","outcome":"failed","exit_code":-2147483648"#, t),
            (#""kind":"action_result","action_id":"act-x","outcome":"ok","exit_code":2147483647"#, E),
            // drop counts at 0 and at the limit
            (#""kind":"dropped","overflow":0,"corrupt":0"#, E),
            (#""kind":"dropped","overflow":\#(maxCount),"corrupt":\#(maxCount)"#, t),
            // jobs with runs at the earliest time
            (
                #""kind":"job","name":"job-a","change":"added","enabled":true,"target":"http://127.0.0.1:9/a","schedule":"* * * * *","last_attempt_at":\#(E),"last_result":"failure","last_success_at":\#(E)"#,
                t
            ),
            (
                #""kind":"job","name":"job-b","change":"added","enabled":false,"target":"http://127.0.0.1:9/b","schedule":"0 0 29 2 *","last_attempt_at":\#(E)"#,
                E
            ),
        ]
        return list
    }

    /// (observation, the field the 400 must name).
    func refusedObservations(now: Millis) -> [(String, Millis, String)] {
        let E = Self.earliest
        let maxCount = Self.maxCount
        let maxDuration = Self.maxDuration
        let t = now - 1_000
        return [
            (#""kind":"heartbeat","name":"hb","status":"ok","duration_ms":\#(maxDuration + 1)"#, t, "duration_ms"),
            (#""kind":"heartbeat","name":"hb","status":"ok","duration_ms":9223372036854775807"#, t, "duration_ms"),
            (#""kind":"heartbeat","name":"hb","status":"ok","duration_ms":-1"#, t, "duration_ms"),
            (#""kind":"probe","target":"http://127.0.0.1:9/c","http_status":200,"latency_ms":\#(maxDuration + 1),"healthy":true"#, t, "latency_ms"),
            (#""kind":"probe","target":"http://127.0.0.1:9/c","http_status":200,"latency_ms":-1,"healthy":true"#, t, "latency_ms"),
            (#""kind":"heartbeat","name":"hb","status":"fail","exit_code":2147483648"#, t, "exit_code"),
            (#""kind":"heartbeat","name":"hb","status":"fail","exit_code":-9223372036854775808"#, t, "exit_code"),
            (#""kind":"action_result","action_id":"act-x","outcome":"ok","exit_code":9223372036854775807"#, t, "exit_code"),
            (#""kind":"probe","target":"http://127.0.0.1:9/c","http_status":99,"latency_ms":1,"healthy":true"#, t, "http_status"),
            (#""kind":"probe","target":"http://127.0.0.1:9/c","http_status":600,"latency_ms":1,"healthy":true"#, t, "http_status"),
            (#""kind":"count","dataset":"ds.der","partition":"\#(day(1))","count":\#(maxCount + 1)"#, t, "count"),
            (#""kind":"count","dataset":"ds.der","partition":"\#(day(1))","count":9223372036854775807"#, t, "count"),
            (#""kind":"count","dataset":"ds.der","partition":"\#(day(1))","count":-1"#, t, "count"),
            (#""kind":"dropped","overflow":\#(maxCount + 1),"corrupt":0"#, t, "overflow"),
            (#""kind":"dropped","overflow":0,"corrupt":9223372036854775807"#, t, "corrupt"),
            (#""kind":"item_status","item_kind":"game","item_id":"g","status":"x","reference_time":\#(FieldLimits.latestTime)"#, t, "reference_time"),
            (#""kind":"lock","name":"lk","holder":"h","acquired_at":-9223372036854775808"#, t, "acquired_at"),
            (#""kind":"job","name":"job-z","change":"added","enabled":true,"last_success_at":9223372036854775807"#, t, "last_success_at"),
            (#""kind":"heartbeat","name":"hb","status":"ok""#, E - 1, "observed_at"),
            (#""kind":"heartbeat","name":"hb","status":"ok""#, FieldLimits.latestTime, "observed_at"),
            (#""kind":"heartbeat","name":"hb","status":"ok""#, .min, "observed_at"),
            (#""kind":"heartbeat","name":"hb","status":"ok""#, .max, "observed_at"),
        ]
    }

    func testExtremeNumbersInEveryFieldCannotStopAnyPageEndpointOrCommand() throws {
        let now = WallClock.nowMillis()
        // Accepted: each in a report of its own, so one refusal cannot hide another.
        for (fields, at) in acceptedObservations(now: now) {
            let response = try post([(fields, at)])
            XCTAssertEqual(response.status, 200, "\(fields): \(response.bodyText)")
        }
        // The largest count 1100 times on one day: their sum passes 2^63 in that day's rollup.
        let big = (#""kind":"count","dataset":"ds.src","partition":"2000-01-02","count":\#(Self.maxCount)"#, Self.earliest + 86_400_000)
        for n in [1000, 100] { XCTAssertEqual(try post(Array(repeating: big, count: n)).status, 200) }
        // Over a limit: 400 naming the field, nothing stored.
        for (fields, at, field) in refusedObservations(now: now) {
            let response = try post([(fields, at)], spool: "s-refused")
            XCTAssertEqual(response.status, 400, "\(fields) at \(at): \(response.bodyText)")
            if response.status == 400 {
                // invalid_report names it in `field`; bad_json (out of the 64-bit or exit code range) in its message.
                let error = try ReportCodec.decode(ErrorBody.self, from: response.body)
                let path = "observations[0].\(field)"
                XCTAssertTrue(error.field == path || error.message.hasPrefix(path), "\(fields) at \(at): \(error)")
            }
        }
        // Seqs at and past their bounds; sent_at and the protocol version at theirs.
        XCTAssertEqual(try post([(#""kind":"heartbeat","name":"hb","status":"ok""#, now)], spool: "s-max", seqs: ["9223372036854775807"]).status, 200)
        XCTAssertEqual(
            try post([(#""kind":"heartbeat","name":"hb","status":"ok""#, now)], spool: "s-max", seqs: ["9223372036854775807"]).status, 200, "a repeat"
        )
        for seq in ["0", "9223372036854775808", "-1", "18446744073709551615"] {
            XCTAssertEqual(try post([(#""kind":"heartbeat","name":"hb","status":"ok""#, now)], spool: "s-bad", seqs: [seq]).status, 400, seq)
        }
        for sentAt in [Self.earliest, Self.latest] {
            let response = try post(
                [(#""kind":"heartbeat","name":"hb2","status":"ok""#, sentAt)], agent: "clock-\(sentAt)", sentAt: sentAt,
                token: try collector.token("GAPWATCH_ADMIN_TOKEN"))
            XCTAssertEqual(response.status, 200, response.bodyText)
        }
        for sentAt in [Self.earliest - 1, FieldLimits.latestTime, Millis.min, Millis.max] {
            XCTAssertEqual(try post([], sentAt: sentAt).status, 400, "sent_at \(sentAt)")
        }
        // Far-future times in an otherwise valid report: refused one by one, acknowledged.
        let future = try post([
            (#""kind":"heartbeat","name":"hb","status":"ok""#, Self.latest),
            (#""kind":"lock","name":"lk-future","holder":"h","acquired_at":\#(Self.latest)"#, now),
            (#""kind":"job","name":"job-f","change":"added","enabled":true,"last_success_at":\#(Self.latest)"#, now),
        ])
        XCTAssertEqual(future.status, 200, future.bodyText)
        let answer = try ReportCodec.decode(ReportResponse.self, from: future.body)
        XCTAssertEqual(
            answer.refused.map(\.field), ["observations[0].observed_at", "observations[1].acquired_at", "observations[2].last_success_at"])
        XCTAssertEqual(answer.stored, 0)
        // More spools than 2^63 / the largest drop count: their sum in GET /v1/agents passes 2^63.
        let dropped = #""kind":"dropped","overflow":\#(Self.maxCount),"corrupt":\#(Self.maxCount)"#
        for i in 0..<1030 {
            XCTAssertEqual(try post([(dropped, now - 1_000)], spool: "drop-\(i)").status, 200)
        }
        // Detection and the action loop have had their turn at all of it.
        sleep(3)
        try everythingAnswers("after ingest")
        // Again after a restart: the start-up passes and retention (rows older than 30 days go
        // into rollups, sums of the largest counts included) run over the same data.
        XCTAssertEqual(collector.child?.terminate(), 0, collector.child?.log.suffix(3000).description ?? "")
        try collector.start()
        sleep(3)
        try everythingAnswers("after a restart")
        let rollups = try collector.get("/v1/rollups?subject=dataset:ds.src&from=2000-01-01&to=2000-01-03")
        XCTAssertEqual(rollups.status, 200, rollups.bodyText)
        XCTAssertTrue(rollups.bodyText.contains("9223372036854775807"), "the day's sum is held at the largest integer: \(rollups.bodyText)")
    }

    // MARK: - Every reader

    /// The GET paths of protocol/openapi.yaml.
    func openAPIGetPaths() throws -> [String] {
        try GapwatchProcessHarness.openAPIGetPaths(file: Self.package.appendingPathComponent("protocol/openapi.yaml").path)
    }

    struct IDs: Decodable { var id: String }
    struct NumericIDs: Decodable { var id: Int64 }
    struct Incidents: Decodable { var incidents: [NumericIDs] }
    struct Actions: Decodable { var actions: [IDs] }

    static let subjects = [
        "dataset:ds.src", "dataset:ds.der", "ping:hb", "ping:probe-x", "job:job-a", "job:job-b", "lock:lk-old", "item:game/g-old",
        "workflow:wf", "action:act-x", "agent:e2e-agent", "target:http://127.0.0.1:9/c", "completeness:daily:backfill", "clock:e2e-agent",
    ]

    /// Every GET endpoint (each variant of its parameters that reaches the values), every
    /// dashboard page, every read command: none answers 5xx or fails, and the process lives.
    func everythingAnswers(_ when: String) throws {
        let child = try XCTUnwrap(collector.child)
        let incidents = try ["open", "resolved"].flatMap { state in
            try ReportCodec.decode(Incidents.self, from: try collector.get("/v1/incidents?state=\(state)&limit=1000").body).incidents.map(\.id)
        }
        let actions = try ReportCodec.decode(Actions.self, from: try collector.get("/v1/actions?limit=1000").body).actions.map(\.id)
        XCTAssertFalse(incidents.isEmpty, "the values opened incidents")
        var urls: [String] = []
        for path in try openAPIGetPaths() {
            switch path {
            case "/v1/incidents/{id}": urls += incidents.map { "/v1/incidents/\($0)" }
            case "/v1/actions/{id}": urls += actions.map { "/v1/actions/\($0)" } + ["/v1/actions/act-x"]
            case "/v1/story":
                urls += Self.subjects.map { "/v1/story?subject=\(DashboardHTML.percentEncode($0))&from=2000-01-01&to=2100-01-01&limit=1000" }
            case "/v1/rollups": urls += Self.subjects.map { "/v1/rollups?subject=\(DashboardHTML.percentEncode($0))&from=2000-01-01&to=2099-12-31" }
            case "/v1/timeline":
                urls += ["/v1/timeline?limit=1000", "/v1/timeline?from=0&to=4102444800000&limit=1000"]
                urls += Self.subjects.map { "/v1/timeline?subject=\(DashboardHTML.percentEncode($0))&limit=1000" }
            case "/v1/gaps": urls += ["/v1/gaps", "/v1/gaps?days=366", "/v1/gaps?days=1&check=hourly"]
            case "/v1/stale": urls += ["/v1/stale", "/v1/stale?days=366"]
            case "/v1/incidents": urls += ["/v1/incidents", "/v1/incidents?state=resolved&limit=1000", "/v1/incidents?since=0"]
            case "/v1/workflows/gaps": urls += ["/v1/workflows/gaps", "/v1/workflows/gaps?since=2000-01-01"]
            case "/v1/audit/jobs": urls += ["/v1/audit/jobs", "/v1/audit/jobs?flagged=true"]
            case "/v1/agents/{id}/streams": urls += ["/v1/agents/e2e-agent/streams", "/v1/agents/unknown-agent/streams"]
            default:
                XCTAssertFalse(path.contains("{"), "no way to fill \(path): add it here")
                urls.append(path)
            }
        }
        for url in urls {
            let response = try collector.get(url)
            XCTAssertLessThan(response.status, 500, "\(when): GET \(url): \(response.bodyText.prefix(500))")
            XCTAssertTrue(child.isRunning, "\(when): the collector died at GET \(url):\n\(child.log.suffix(3000))")
            if !child.isRunning { return }
        }
        // The dashboard, logged in.
        let login = try client.send(
            .init(
                method: "POST", url: collector.url + "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array(("token=" + DashboardHTML.percentEncode(try collector.token("GAPWATCH_ADMIN_TOKEN"))).utf8)))
        let cookie = try XCTUnwrap(login.headers["set-cookie"]).prefix { $0 != ";" }
        var pages = [
            "/", "/checks", "/workflows", "/workflows?hours=168", "/completeness", "/completeness?days=31", "/jobs", "/locks", "/incidents",
            "/incidents?state=open", "/actions",
        ]
        pages += incidents.map { "/incidents/\($0)" }
        pages += Self.subjects.map { "/story?subject=\(DashboardHTML.percentEncode($0))" }
        pages += ["/story?subject=dataset:ds.der&subject=dataset:ds.src&partition=\(day(1))", "/story?subject=dataset:ds.src&partition=2000-01-01"]
        for page in pages {
            let response = try client.send(.init(url: collector.url + page, headers: [("Cookie", String(cookie))]))
            XCTAssertEqual(response.status, 200, "\(when): page \(page): \(response.bodyText.prefix(500))")
            XCTAssertTrue(child.isRunning, "\(when): the collector died at page \(page):\n\(child.log.suffix(3000))")
            if !child.isRunning { return }
        }
        // The CLI prints the same data.
        let env = ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN_FILE": collector.tokenFile]
        var commands: [[String]] = [
            ["status"], ["agents"], ["checks"], ["incidents", "--since", "2000-01-01", "--limit", "1000"], ["gaps", "--days", "366"],
            ["stale", "--days", "366"], ["timeline", "--from", "2000-01-01", "--limit", "5000"], ["actions", "--limit", "1000"], ["audit", "jobs"],
            ["audit", "report"], ["locks"], ["workflows", "gaps", "--since", "30d"], ["decisions", "--since", "2000-01-01"],
        ]
        commands += Self.subjects.map { ["timeline", $0, "--from", "2000-01-01"] }
        commands += incidents.prefix(20).map { ["incidents", "show", "\($0)"] }
        commands += actions.prefix(20).map { ["actions", "show", $0] }
        for command in commands {
            let (status, output) = try runCommand(Binaries.gapwatch, command, environment: env, timeout: 60)
            XCTAssertEqual(status, 0, "\(when): gapwatch \(command.joined(separator: " ")):\n\(output.suffix(2000))")
        }
        XCTAssertTrue(child.isRunning, "\(when): the collector died:\n\(child.log.suffix(3000))")
    }
}
