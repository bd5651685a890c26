import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol
import Hummingbird
import Logging

/// The benchmark programs, a binary of their own so the shipping `gapwatch` carries none of them.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gapwatch-bench", abstract: "Benchmark programs that print figures (see bench/README.md).",
        version: GapwatchVersion.description,
        subcommands: [IngestBench.self, DecodeBench.self, StoreBench.self, ChecksBench.self, QueryBench.self])
}

/// Drives `POST /v1/reports` over loopback and, in the same run against the same server, a trivial
/// POST endpoint, so the ratio of the two says what ingest itself costs.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest throughput and latency vs. a trivial POST on the same server.",
        discussion: "Starts a collector in this process on a temporary database; clients are threads using libcurl.")

    @Option(help: "Seconds per phase.") var seconds: Double = 10
    @Option(help: "Concurrent client connections.") var clients: Int = 4
    @Option(help: "Observations per report.") var observations: Int = 20
    @Option(help: "storage.synchronous: normal or full.") var synchronous: String = "normal"

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let scratch = try ScratchFolder("bench")
        defer { scratch.remove() }
        var config = CollectorConfig()
        config.listenPort = 0
        config.databasePath = scratch.database
        config.synchronous = SynchronousMode(rawValue: synchronous) ?? .normal
        let logger = Logger(label: "bench")
        let runtime = try Collector.open(config: config, logger: logger)
        let token = try runtime.tokens.issue(kind: .fleet, agentID: nil, name: "bench", now: WallClock.nowMillis()).token
        let portBox = PortBox()
        let app = Collector.buildApplication(
            runtime, logger: logger,
            extraRoutes: { router in
                // The trivial endpoint: read the body, answer a small JSON. Same server, same stack.
                router.post("bench/noop") { request, _ -> Response in
                    _ = try await collect(request.body, limit: 1 << 20)
                    return Response(
                        status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"ok\":true}")))
                }
            },
            onServerRunning: { port in portBox.set(port) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            let port = await portBox.wait()
            let base = "http://127.0.0.1:\(port)"
            let sample = makeReport(agent: 0, firstSeq: 1, count: observations)
            let sampleJSON = ReportCodec.encode(sample)
            let sampleGzip = Gzip.compress(sampleJSON)
            print("report: \(observations) observations, \(sampleJSON.count) bytes JSON, \(sampleGzip.count) bytes gzip")
            let noop = runPhase(seconds: seconds, clients: clients) { client, _, _ in
                let r = try client.send(
                    GapwatchHTTPClient.HTTPRequest(
                        method: "POST", url: base + "/bench/noop",
                        headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], body: sampleGzip))
                return r.status == 200
            }
            // Bodies are made before the clock starts, so the clients' own encoding does not compete
            // with the server for the two cores. Each has fresh seqs: every one is stored.
            let perClient = Int(seconds * 4000 / Double(clients)) + 100
            let bodies = (0..<clients).map { worker in
                (0..<perClient).map { i in
                    Gzip.compress(ReportCodec.encode(makeReport(agent: worker, firstSeq: UInt64(i * observations + 1), count: observations)))
                }
            }
            let ingest = runPhase(seconds: seconds, clients: clients) { client, worker, i in
                guard i < bodies[worker].count else { return false }
                let body = bodies[worker][i]
                let r = try client.send(
                    GapwatchHTTPClient.HTTPRequest(
                        method: "POST", url: base + "/v1/reports",
                        headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip"), ("Authorization", "Bearer \(token)")],
                        body: body))
                return r.status == 200
            }
            let stored = try runtime.database.observationCount()
            print(noop.line(name: "trivial POST"))
            print(ingest.line(name: "POST /v1/reports"))
            print(String(format: "observations/s stored: %.0f (%d stored in total)", ingest.rate * Double(observations), stored))
            print(String(format: "ratio stored reports/s : trivial POST/s = %.2f", ingest.rate / max(noop.rate, 1)))
            let expected = ingest.ok * observations
            print(
                stored == expected
                    ? "check: every acknowledged observation is stored (\(stored))" : "CHECK FAILED: \(stored) stored, \(expected) acknowledged")
            group.cancelAll()
        }
    }
}

/// Decode cost of one realistic report, split into gunzip and JSON decode + validation.
struct DecodeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "decode", abstract: "Time gunzip vs. JSON decode of one report.")
    @Option(help: "Iterations.") var iterations: Int = 20_000
    @Option(help: "Observations per report.") var observations: Int = 20
    @Flag(help: "Only the ingest decode path (for profiling).") var onlyIngestPath = false

    func run() throws {
        if onlyIngestPath {
            let json = ReportCodec.encode(makeReport(agent: 1, firstSeq: 1, count: observations))
            for _ in 0..<iterations { _ = try ReportCodec.decodeReport(body: json, gzip: false) }
            return
        }
        let json = ReportCodec.encode(makeReport(agent: 1, firstSeq: 1, count: observations))
        let gz = Gzip.compress(json)
        let t0 = WallClock.monotonicNanos()
        for _ in 0..<iterations { _ = try Gzip.decompress(gz, limit: 8 << 20) }
        let t1 = WallClock.monotonicNanos()
        for _ in 0..<iterations { _ = try ReportCodec.decodeReport(body: json, gzip: false) }
        let t2 = WallClock.monotonicNanos()
        for _ in 0..<iterations { _ = try JSONDecoder().decode(Report.self, from: Data(json)) }
        let t3 = WallClock.monotonicNanos()
        let report = try JSONDecoder().decode(Report.self, from: Data(json))
        for _ in 0..<iterations { try report.validate() }
        let t4 = WallClock.monotonicNanos()
        print("report: \(json.count) bytes JSON, \(gz.count) bytes gzip, \(observations) observations")
        print(String(format: "gunzip: %.1f µs/report", Double(t1 - t0) / Double(iterations) / 1000))
        print(String(format: "decode+validate (ingest path): %.1f µs/report", Double(t2 - t1) / Double(iterations) / 1000))
        print(
            String(
                format: "for comparison, Foundation JSONDecoder: %.1f µs/report; validate alone: %.1f µs",
                Double(t3 - t2) / Double(iterations) / 1000, Double(t4 - t3) / Double(iterations) / 1000))
    }
}

struct PhaseResult {
    var ok: Int
    var failed: Int
    var seconds: Double
    var latenciesNs: [UInt64]
    var rate: Double { Double(ok) / seconds }

    func percentile(_ p: Double) -> Double {
        guard !latenciesNs.isEmpty else { return 0 }
        let sorted = latenciesNs.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1_000_000
    }

    func line(name: String) -> String {
        String(format: "%@: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d ok, %d failed", name, rate, percentile(0.5), percentile(0.99), ok, failed)
    }
}

/// Runs `send` from `clients` threads for `seconds`; bounded in time, each thread owns one connection.
func runPhase(seconds: Double, clients: Int, send: @escaping @Sendable (HTTPClient, Int, Int) throws -> Bool) -> PhaseResult {
    let results = LockedBox<[(Int, Int, [UInt64])]>([])
    let group = DispatchGroup()
    let start = WallClock.monotonicNanos()
    let deadline = start + UInt64(seconds * 1e9)
    for worker in 0..<clients {
        group.enter()
        let thread = Thread {
            let client = HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 10_000)
            var ok = 0
            var failed = 0
            var latencies: [UInt64] = []
            var i = 0
            while WallClock.monotonicNanos() < deadline {
                let t = WallClock.monotonicNanos()
                if (try? send(client, worker, i)) == true { ok += 1 } else { failed += 1 }
                latencies.append(WallClock.monotonicNanos() - t)
                i += 1
            }
            results.withLock { $0.append((ok, failed, latencies)) }
            group.leave()
        }
        thread.start()
    }
    group.wait()
    let elapsed = Double(WallClock.monotonicNanos() - start) / 1e9
    let all = results.withLock { $0 }
    return PhaseResult(
        ok: all.reduce(0) { $0 + $1.0 }, failed: all.reduce(0) { $0 + $1.1 }, seconds: elapsed,
        latenciesNs: all.flatMap(\.2))
}

/// A realistic report: a heartbeat, counts per date, game statuses, decisions, a probe. Each agent
/// counts a dataset of its own: a dataset has one owner, and another agent's counts would be refused.
func makeReport(agent: Int, firstSeq: UInt64, count: Int) -> Report {
    let now = WallClock.nowMillis()
    var observations: [Observation] = []
    for i in 0..<count {
        let seq = firstSeq + UInt64(i)
        let body: ObservationBody
        switch i % 5 {
        case 0:
            body = .heartbeat(
                Heartbeat(name: "post_game_window_\(i % 3 + 1)", status: .ok, durationMs: 1234, exitCode: 0, message: "processed 282 player records"))
        case 1: body = .count(Count(dataset: "nba_raw.bdl_player_boxscores.\(agent)", partition: "2026-01-\(10 + i % 20)", count: Int64(200 + i)))
        case 2: body = .itemStatus(ItemStatus(itemKind: "game", itemID: "00225006\(10 + i)", status: "In Progress", referenceTime: now - 14_400_000))
        case 3:
            body = .decision(
                WorkflowDecision(workflow: "post_game_window_2", decision: .skip, reason: "games not finished: 3 games still In Progress"))
        default:
            body = .probe(
                TargetProbe(
                    job: "execute-workflows-\(i)", target: "https://nba-scrapers.example.run.app/execute", httpStatus: 200, latencyMs: 87,
                    healthy: true))
        }
        observations.append(Observation(seq: seq, observedAt: now - Int64(count - i) * 1000, body: body))
    }
    return Report(
        agent: AgentIdentity(id: "bench-agent-\(agent)", service: "nba-scrapers", host: "bench-host", version: "0.1.0", labels: ["env": "bench"]),
        bootID: "boot-\(agent)", spoolID: "spool-\(agent)", sentAt: now, observations: observations)
}

/// Hands the bound port from the server's start callback to the waiting code.
actor PortBox {
    private var port: Int?
    private var waiters: [CheckedContinuation<Int, Never>] = []
    nonisolated func set(_ port: Int) { Task { await self.store(port) } }
    private func store(_ port: Int) {
        self.port = port
        for w in waiters { w.resume(returning: port) }
        waiters = []
    }
    func wait() async -> Int {
        if let port { return port }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

/// The storage path alone: concurrent callers into the group-commit writer, no HTTP.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Reports/s through IngestWriter alone (no HTTP, no decode).")
    @Option(help: "Reports.") var reports: Int = 5000
    @Option(help: "Concurrent callers.") var callers: Int = 4
    @Option(help: "Observations per report.") var observations: Int = 20

    func run() async throws {
        let scratch = try ScratchFolder("store")
        defer { scratch.remove() }
        let database = try AppDatabase(StorageOptions(path: scratch.database))
        let writer = IngestWriter(database: database, logger: Logger(label: "bench"))
        let perCaller = reports / callers
        let prepared = (0..<callers).map { c in
            (0..<perCaller).map { i in makeReport(agent: c, firstSeq: UInt64(i * observations + 1), count: observations) }
        }
        let start = WallClock.monotonicNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<callers {
                group.addTask {
                    for report in prepared[c] { _ = try await writer.ingest(report, receivedAt: WallClock.nowMillis()) }
                }
            }
            try await group.waitForAll()
        }
        let seconds = Double(WallClock.monotonicNanos() - start) / 1e9
        print(
            String(
                format: "store: %.0f reports/s, %.0f observations/s (%d reports, %d callers)",
                Double(perCaller * callers) / seconds, Double(perCaller * callers * observations) / seconds, perCaller * callers, callers))
        print(String(format: "reports per transaction: %.2f", Double(await writer.committedReports) / Double(max(1, await writer.transactions))))
        let size = (try? FileManager.default.attributesOfItem(atPath: scratch.database)[.size] as? Int) ?? 0
        try database.checkpoint()
        let after = (try? FileManager.default.attributesOfItem(atPath: scratch.database)[.size] as? Int) ?? size
        print(String(format: "bytes on disk per observation: %.1f", Double(after) / Double(try database.observationCount())))
    }
}

/// A fresh folder for one bench run's files (`gapwatch-NAME-PID` in the temporary folder).
struct ScratchFolder {
    let path: String
    /// The run's SQLite store in it.
    var database: String { path + "/bench.db" }

    init(_ name: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("gapwatch-\(name)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
