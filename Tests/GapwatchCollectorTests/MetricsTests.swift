import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchSubprocess
import XCTest

/// `GET /metrics` over real HTTP: the text parses with a real Prometheus parser (promtool), the
/// counters match what was sent, scrape-time gauges read the database, and two collectors in one
/// process keep separate counts.
final class MetricsTests: XCTestCase {
    var collectors: [TestCollector] = []

    override func tearDown() {
        for collector in collectors { collector.stop() }
        collectors = []
    }

    func start(
        transport: TestCollector.Transport = .router, configure: (inout CollectorConfig) -> Void = { _ in }
    ) async throws -> TestCollector {
        let collector = try await TestCollector.start(transport: transport, configure: configure)
        collectors.append(collector)
        return collector
    }

    func testMetricsCountIngestOutcomesAndPassPromtool() async throws {
        let collector = try await start(transport: .socket) { config in  // /metrics' live test
            config.detection = try! CollectorConfig.parse(
                yaml: """
                    checks:
                      - {name: nightly, ping: nightly, every: 1h, grace: 5m}
                    notify:
                      max_attempts: 1
                      channels:
                        - {name: ops, kind: command, argv: ["/bin/sh", "-c", "/bin/cat > /dev/null"]}
                        - {name: broken, kind: command, argv: ["/bin/sh", "-c", "/bin/cat > /dev/null; exit 3"]}
                    """
            ).detection
        }
        let readToken = try collector.runtime.tokens.issue(kind: .read, agentID: nil, name: "prometheus", now: 0).token

        // Before anything arrives: every outcome is there, at 0.
        var metrics = try await scrape(collector, token: readToken)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="ok"}"#], 0)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="unauthorized"}"#], 0)

        // Two good reports (one fresh, one two hours late as from a drained spool, with three
        // repeats), one bad body (400), one unknown token (401), one missing token (401).
        let now = WallClock.nowMillis()
        var r = try await collector.post(report(seqs: 1...4, observedAt: now - 1_000))
        XCTAssertEqual(r.status, 200, r.bodyText)
        var late = report(seqs: 2...6, observedAt: now - 2 * 3_600_000)
        for i in 0..<3 { late.observations[i].observedAt = now - 1_000 }  // the repeats are the observations sent before
        r = try await collector.post(late)
        XCTAssertEqual(r.status, 200, r.bodyText)
        r = try await collector.postRaw(Array("{not json".utf8), token: collector.agentToken, encoding: nil)
        XCTAssertEqual(r.status, 400, r.bodyText)
        r = try await collector.post(report(seqs: 7...7, observedAt: now), token: "gw_agent_not-a-real-token")
        XCTAssertEqual(r.status, 401)
        r = try await collector.postRaw(Gzip.compress(ReportCodec.encode(report(seqs: 7...7, observedAt: now))), token: nil)
        XCTAssertEqual(r.status, 401)

        metrics = try await scrape(collector, token: readToken)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="ok"}"#], 2)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="bad_request"}"#], 1)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="unauthorized"}"#], 2)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="too_large"}"#], 0)
        XCTAssertEqual(metrics["gapwatch_ingest_observations_stored_total"], 6)
        XCTAssertEqual(metrics["gapwatch_ingest_duplicates_total"], 3)
        XCTAssertEqual(metrics["gapwatch_ingest_duration_seconds_count"], 2, "only the committed reports are timed")
        // Lag: four observations a second late, two (seqs 5 and 6) two hours late.
        XCTAssertEqual(metrics["gapwatch_ingest_lag_seconds_count"], 6)
        XCTAssertEqual(metrics[#"gapwatch_ingest_lag_seconds_bucket{le="5.0"}"#], 4)
        XCTAssertEqual(metrics[#"gapwatch_ingest_lag_seconds_bucket{le="3600.0"}"#], 4)
        XCTAssertEqual(metrics[#"gapwatch_ingest_lag_seconds_bucket{le="21600.0"}"#], 6)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["gapwatch_database_size_bytes"]), 0)
        XCTAssertNotNil(metrics["gapwatch_database_wal_size_bytes"], "the WAL gauge is always there (0 without a WAL file)")
        XCTAssertEqual(metrics[#"gapwatch_incidents_open{rule="heartbeat"}"#], 0)
        XCTAssertEqual(metrics[#"gapwatch_actions{state="pending"}"#], 0)

        // A fail ping takes the check down: the background evaluation opens an incident and the
        // notifier sends it (ops) or gives up at once (broken, max_attempts 1).
        r = try await collector.post(
            Report(
                agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "spool-b",
                sentAt: now, observations: [Observation(seq: 1, observedAt: now, body: .heartbeat(Heartbeat(name: "nightly", status: .fail)))]))
        XCTAssertEqual(r.status, 200, r.bodyText)
        metrics = try await scrapeUntil(collector, token: readToken) {
            $0[#"gapwatch_incidents_open{rule="heartbeat"}"#] == 1
                && $0[#"gapwatch_notification_failures_total{channel="broken"}"#] == 1
                && $0[#"gapwatch_notification_deliveries_total{channel="ops",outcome="sent"}"#] == 1
        }
        XCTAssertEqual(metrics[#"gapwatch_notification_deliveries_total{channel="broken",outcome="failed"}"#], 1)
        XCTAssertEqual(metrics[#"gapwatch_notification_deliveries_total{channel="broken",outcome="sent"}"#], 0)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["gapwatch_checks_evaluated_total"]), 0)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["gapwatch_rule_evaluation_duration_seconds_count"]), 0)
        XCTAssertEqual(metrics[#"gapwatch_ingest_requests_total{outcome="ok"}"#], 3)

        // The whole text passes a real Prometheus parser and linter.
        let text = try await collector.send("GET", "/metrics", token: collector.adminToken)
        XCTAssertEqual(text.status, 200)
        XCTAssertEqual(text.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        try assertPromtoolAccepts(text.body)
    }

    func testMetricsNeedAReadOrAdminToken() async throws {
        let collector = try await start()
        var r = try await collector.send("GET", "/metrics", token: nil)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(try decodeError(r).error, "unauthorized")
        r = try await collector.send("GET", "/metrics", token: "gw_read_not-a-real-token")
        XCTAssertEqual(r.status, 401)
        r = try await collector.send("GET", "/metrics", token: collector.agentToken)
        XCTAssertEqual(r.status, 403, "an agent token may not read")
        r = try await collector.send("GET", "/metrics", token: collector.adminToken)
        XCTAssertEqual(r.status, 200)
        r = try await collector.send("GET", "/v1/metrics", token: collector.adminToken)
        XCTAssertEqual(r.status, 404, "top level only")
        // Scrapes are not reports: they count nothing.
        let metrics = try await scrape(collector, token: collector.adminToken)
        XCTAssertEqual(metrics.filter { $0.key.hasPrefix("gapwatch_ingest_requests_total") }.values.reduce(0, +), 0)
    }

    func testTwoCollectorsInOneProcessKeepSeparateCounts() async throws {
        let a = try await start()
        let b = try await start()
        let now = WallClock.nowMillis()
        var r = try await a.post(report(seqs: 1...3, observedAt: now))
        XCTAssertEqual(r.status, 200, r.bodyText)
        r = try await b.post(report(seqs: 1...5, observedAt: now))
        XCTAssertEqual(r.status, 200, r.bodyText)
        r = try await b.post(report(seqs: 6...6, observedAt: now))
        XCTAssertEqual(r.status, 200, r.bodyText)
        r = try await b.postRaw(Array("[]".utf8), token: b.agentToken, encoding: nil)
        XCTAssertEqual(r.status, 400)

        let ma = try await scrape(a, token: a.adminToken)
        let mb = try await scrape(b, token: b.adminToken)
        XCTAssertEqual(ma["gapwatch_ingest_observations_stored_total"], 3)
        XCTAssertEqual(mb["gapwatch_ingest_observations_stored_total"], 6)
        XCTAssertEqual(ma[#"gapwatch_ingest_requests_total{outcome="ok"}"#], 1)
        XCTAssertEqual(mb[#"gapwatch_ingest_requests_total{outcome="ok"}"#], 2)
        XCTAssertEqual(ma[#"gapwatch_ingest_requests_total{outcome="bad_request"}"#], 0)
        XCTAssertEqual(mb[#"gapwatch_ingest_requests_total{outcome="bad_request"}"#], 1)
        XCTAssertFalse(a.runtime.metrics === b.runtime.metrics)
    }

    // MARK: - Helpers

    func report(seqs: ClosedRange<UInt64>, observedAt: Millis) -> Report {
        Report(
            agent: AgentIdentity(id: "agent-1", service: "svc", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "spool-a",
            sentAt: WallClock.nowMillis(),
            observations: seqs.map { seq in
                Observation(
                    seq: seq, observedAt: observedAt,
                    body: .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: "2026-01-22", count: Int64(seq))))
            })
    }

    func scrape(_ collector: TestCollector, token: String) async throws -> [String: Double] {
        let r = try await collector.send("GET", "/metrics", token: token)
        XCTAssertEqual(r.status, 200, r.bodyText)
        return try parse(r.body)
    }

    /// Scrapes until `done` holds, for at most 15 s (the evaluation and notifier loops run every 250 ms).
    func scrapeUntil(_ collector: TestCollector, token: String, _ done: ([String: Double]) -> Bool) async throws -> [String: Double] {
        let deadline = WallClock.monotonicMillis() + 15_000
        var metrics = try await scrape(collector, token: token)
        while !done(metrics) {
            guard WallClock.monotonicMillis() < deadline else {
                XCTFail(
                    "metrics did not reach the expected values in 15 s: \(metrics.filter { $0.key.contains("incident") || $0.key.contains("notification") })"
                )
                return metrics
            }
            try await Task.sleep(for: .milliseconds(100))
            metrics = try await scrape(collector, token: token)
        }
        return metrics
    }

    /// Sample lines (`name{labels} value`) by series; comments skipped. The real check of the
    /// format is promtool's; this only reads values back.
    func parse(_ body: [UInt8]) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let space = try XCTUnwrap(line.lastIndex(of: " "), "sample line without a value: \(line)")
            samples[String(line[..<space])] = try XCTUnwrap(Double(line[line.index(after: space)...]), "bad value: \(line)")
        }
        return samples
    }

    /// Runs `promtool check metrics` (Debian's `prometheus` package) on `text`: it parses the
    /// exposition format and lints it (HELP on every metric, `_total` on counters, base units).
    func assertPromtoolAccepts(_ text: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/promtool" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool = path else {
            XCTFail(
                "promtool not found on PATH: install it with `apt-get install -y prometheus` (Debian's package ships promtool; "
                    + ".ci/run does this), then rerun", file: file, line: line)
            return
        }
        var runner = CommandRunner(timeoutMs: 30_000)
        runner.stdin = text
        let result = try runner.run([promtool, "check", "metrics"])
        let output = String(decoding: result.stdout + result.stderr, as: UTF8.self)
        XCTAssertTrue(
            result.succeeded, "promtool check metrics failed (exit \(result.exitCode)): \(output)\n---\n\(String(decoding: text, as: UTF8.self))",
            file: file, line: line)
    }
}
