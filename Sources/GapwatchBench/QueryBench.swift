import ArgumentParser
import Foundation
import GRDB
import GapwatchAPI
import GapwatchCollector
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol
import Logging

/// Query speed on a large store: fills a store through the real ingest path with a year of
/// mixed observations, then times the questions people ask (one subject's timeline over 7 days,
/// `gaps --days 7`, the overview) and reports bytes on disk per observation.
struct QueryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Timeline, gaps and overview latency on a store of N observations; bytes per observation (issue 6 targets).",
        discussion: """
            Targets: one subject's timeline over 7 days p99 < 20 ms and `gaps --days 7` < 100 ms on 10 million observations; < 60 bytes per observation on disk.

            Examples:
              gapwatch-bench query                                   # 10 million observations (a few minutes to fill)
              gapwatch-bench query --observations 1000000
              gapwatch-bench query --keep /tmp/big.db                # keep the store; later runs with --reuse skip the fill
              gapwatch-bench query --reuse /tmp/big.db
            """)
    @Option(help: "Observations to store.") var observations = 10_000_000
    @Option(help: "Distinct subjects they are spread over.") var subjects = 2_000
    @Option(help: "Days of history they are spread over.") var days = 365
    @Option(help: "Timed queries per question.") var queries = 300
    @Option(help: "Keep the store at this path (it must not exist).") var keep: String?
    @Option(help: "Time the queries on a store made earlier with --keep.") var reuse: String?

    static let yaml = """
        completeness:
          - {name: bench, source: bench.raw, derived: bench.derived, lookback: 3d, settle: 0s}
        """

    func run() async throws {
        let scratch = try ScratchFolder("query")
        defer { scratch.remove() }
        let path = reuse ?? keep ?? scratch.database
        if reuse == nil, FileManager.default.fileExists(atPath: path) { throw ValidationError("\(path) exists; give a new path to --keep") }
        var config = try CollectorConfig.parse(yaml: Self.yaml)
        config.databasePath = path
        config.tokenFile = scratch.path + "/bench.tokens"
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let runtime = try Collector.open(config: config, logger: logger)
        let now = WallClock.nowMillis()
        if reuse == nil { try await fill(runtime, now: now) }
        let stored = try runtime.database.observationCount()
        try runtime.database.checkpoint()
        let bytes = try [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0)
        }
        print(
            String(
                format: "store: %d observations, %.1f MB on disk, %.1f bytes per observation (target < 60)", stored, Double(bytes) / 1e6,
                Double(bytes) / Double(max(1, stored))))

        // Timeline pages over the last 7 days, as GET /v1/timeline?...&from=&to= asks them.
        func timeTimeline(_ what: String, runs: Int, target: String, _ filterFor: (Int) -> TimelineFilter) throws {
            var timings: [Double] = []
            var rows = 0
            for i in 0..<runs {
                var filter = filterFor(i)
                filter.from = now - 7 * 86_400_000
                filter.to = now
                let t = WallClock.monotonicNanos()
                rows += try runtime.database.timeline(filter).observations.count
                timings.append(Double(WallClock.monotonicNanos() - t) / 1e6)
            }
            print(Self.line(what, timings, target: target) + String(format: ", %.0f rows per query", Double(rows) / Double(runs)))
        }
        var rng = SystemRandomNumberGenerator()
        try timeTimeline("timeline of one subject over 7 days", runs: queries, target: "p99 < 20 ms") { _ in
            var filter = TimelineFilter()
            filter.subject = Self.subject(Int.random(in: 0..<subjects, using: &rng))
            filter.limit = 1000
            return filter
        }
        // No index leads with the agent: this seeks each subject's 7 days (see bench/README.md).
        try timeTimeline("timeline of one agent over 7 days, first 100", runs: max(10, queries / 10), target: "-") { i in
            var filter = TimelineFilter()
            filter.agentID = "bench-\(i % 8)"
            filter.limit = 100
            return filter
        }

        var timings: [Double] = []
        for _ in 0..<max(10, queries / 10) {
            let t = WallClock.monotonicNanos()
            _ = try runtime.gaps(days: 7, now: now)
            timings.append(Double(WallClock.monotonicNanos() - t) / 1e6)
        }
        print(Self.line("gaps --days 7", timings, target: "< 100 ms"))

        timings = []
        for _ in 0..<max(10, queries / 10) {
            let t = WallClock.monotonicNanos()
            _ = try runtime.overview(now: now)
            timings.append(Double(WallClock.monotonicNanos() - t) / 1e6)
        }
        print(Self.line("overview (gapwatch status)", timings, target: "-"))
        try await timeDashboard(runtime)
    }

    /// Every dashboard page over real HTTP, logged in through the form like a person: the time
    /// from request to the last byte of the page (issue 6: under 200 ms on a year's data).
    func timeDashboard(_ runtime: CollectorRuntime) async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let admin = try runtime.tokens.issue(kind: .admin, agentID: nil, name: "bench", now: WallClock.nowMillis()).token
        let portBox = PortBox()
        let app = Collector.buildApplication(runtime, logger: logger, onServerRunning: { port in portBox.set(port) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            let base = "http://127.0.0.1:\(await portBox.wait())"
            let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 30_000)
            let login = try client.send(
                GapwatchHTTPClient.HTTPRequest(
                    method: "POST", url: base + "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: Array("token=\(admin)".utf8)))
            guard login.status == 303, let cookie = login.headers["set-cookie"]?.prefix(while: { $0 != ";" }) else {
                throw CLIError("dashboard login failed: HTTP \(login.status)")
            }
            for page in [
                "/", "/workflows", "/completeness", "/completeness?days=31", "/story?subject=\(Self.subject(0))", "/jobs", "/locks", "/incidents",
                "/actions",
            ] {
                var timings: [Double] = []
                for _ in 0..<10 {
                    let t = WallClock.monotonicNanos()
                    let response = try client.send(GapwatchHTTPClient.HTTPRequest(url: base + page, headers: [("Cookie", String(cookie))]))
                    guard response.status == 200 else { throw CLIError("dashboard \(page): HTTP \(response.status)") }
                    timings.append(Double(WallClock.monotonicNanos() - t) / 1e6)
                }
                print(Self.line("dashboard \(page)", timings, target: "< 200 ms"))
            }
            group.cancelAll()
        }
    }

    static func subject(_ i: Int) -> String {
        switch i % 4 {
        case 0: "ping:job-\(i)"
        case 1: "workflow:workflow-\(i)"
        case 2: "item:game/\(i)"
        default: "target:https://service-\(i).example/health"
        }
    }

    static func line(_ what: String, _ ms: [Double], target: String) -> String {
        let sorted = ms.sorted()
        func p(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return String(
            format: "%@: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d queries; target %@)", what, p(0.5), p(0.99), sorted.last ?? 0, sorted.count, target
        )
    }

    /// A year of observations through the real ingest path: 8 agents, 1,000 per report, times
    /// spread evenly, subjects round-robin, plus hourly counts of the two benchmark datasets.
    func fill(_ runtime: CollectorRuntime, now: Millis) async throws {
        let start = WallClock.monotonicNanos()
        let agents = 8
        let perReport = 1_000
        let reports = max(1, observations / perReport)
        let span = Millis(days) * 86_400_000
        let subjects = self.subjects
        try await withThrowingTaskGroup(of: Void.self) { group in
            for agent in 0..<agents {
                group.addTask {
                    var seq: UInt64 = 0
                    for r in stride(from: agent, to: reports, by: agents) {
                        var list: [Observation] = []
                        list.reserveCapacity(perReport)
                        for k in 0..<perReport {
                            let n = r * perReport + k
                            seq += 1
                            let at = now - span + Millis(Double(n) / Double(reports * perReport) * Double(span))
                            let s = n % subjects
                            let body: ObservationBody =
                                switch s % 4 {
                                case 0: .heartbeat(Heartbeat(name: "job-\(s)", status: .ok, durationMs: Int64(n % 900)))
                                case 1:
                                    .decision(WorkflowDecision(workflow: "workflow-\(s)", decision: n % 3 == 0 ? .skip : .run, reason: "evaluated"))
                                case 2: .itemStatus(ItemStatus(itemKind: "game", itemID: String(s), status: "Final", referenceTime: at - 10_800_000))
                                default:
                                    .probe(
                                        TargetProbe(
                                            target: "https://service-\(s).example/health", httpStatus: 200, latencyMs: Int64(n % 300), healthy: true))
                                }
                            list.append(Observation(seq: seq, observedAt: at, body: body))
                        }
                        let report = Report(
                            agent: AgentIdentity(id: "bench-\(agent)", service: "bench", host: "h", version: "1", labels: [:]), bootID: "b",
                            spoolID: "s",
                            sentAt: now, observations: list)
                        _ = try await runtime.writer.ingest(report, receivedAt: now)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Hourly counts of a source and a derived dataset over the last 30 days, partition = date.
        var seq: UInt64 = 0
        var list: [Observation] = []
        for hour in 0..<(30 * 24) {
            let at = now - Millis(30 * 24 - hour) * 3_600_000
            let date = String(TimeParsing.format(at).prefix(10))
            for (dataset, count) in [("bench.raw", Int64(300 + hour % 24)), ("bench.derived", Int64(hour % 48 == 0 ? 200 : 300 + hour % 24))] {
                seq += 1
                list.append(Observation(seq: seq, observedAt: at, body: .count(Count(dataset: dataset, partition: date, count: count))))
            }
        }
        _ = try await runtime.writer.ingest(
            Report(
                agent: AgentIdentity(id: "bench-counts", service: "bench", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s",
                sentAt: now,
                observations: list), receivedAt: now)
        let seconds = Double(WallClock.monotonicNanos() - start) / 1e9
        print(
            String(format: "filled in %.0f s (%.0f observations/s through IngestWriter)", seconds, Double(reports * perReport + list.count) / seconds)
        )
    }
}
