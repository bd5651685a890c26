import ArgumentParser
import Foundation
import GRDB
import GapwatchAPI
import GapwatchCollector
import GapwatchProtocol
import Logging

/// How late checks go down: N liveness checks whose deadlines are spread over a span of seconds,
/// evaluated by the collector's real Detector on the real clock, like the evaluation loop does.
struct ChecksBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checks",
        abstract: "Lateness of down transitions with many checks (issue 3 target: within 1 s of the deadline).")
    @Option(help: "Checks.") var checks: Int = 100_000
    @Option(help: "Seconds over which their deadlines are spread.") var spread: Int = 20
    @Option(help: "Longest sleep between passes, in ms (the collector's default is 250).") var interval: Int64 = 250

    func run() async throws {
        let scratch = try ScratchFolder("checks")
        defer { scratch.remove() }
        let database = try AppDatabase(StorageOptions(path: scratch.database))
        var config = DetectionConfig()
        config.liveness.everyMs = 10_000
        config.liveness.graceMs = 5_000
        config.evaluateIntervalMs = interval
        let now = WallClock.nowMillis()
        let first = now + 2_000
        // Liveness checks as the ingest path creates them; last pings placed so each deadline
        // (last ping + every + grace) falls somewhere in [first, first + spread).
        let insertStart = WallClock.monotonicNanos()
        let count = checks
        let spreadMs = Int64(spread) * 1000
        try await database.pool.write { db in
            let insert = try db.makeStatement(
                sql: """
                    INSERT INTO checks (name, kind, state, created_at, changed_at, reason, last_ping_at, next_due)
                    VALUES (?, 'liveness', 'up', ?, ?, 'bench', ?, ?)
                    """)
            for i in 0..<count {
                let deadline = first + Int64(i) * spreadMs / Int64(count)
                try insert.execute(arguments: ["agent:bench-\(i)", now - 3_600_000, now, deadline - 15_000, deadline])
            }
        }
        print(
            String(
                format: "%d checks inserted in %.1f s; deadlines spread over %d s", count, Double(WallClock.monotonicNanos() - insertStart) / 1e9,
                spread))
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let detector = Detector(database: database, config: config, startedAt: now - 3_600_000, logger: logger)

        // A pass with nothing due costs the same with 100,000 checks as with 10: the index finds none.
        let idleStart = WallClock.monotonicNanos()
        for _ in 0..<100 { _ = try detector.evaluateDue(now: now) }
        let idleMicros = Double(WallClock.monotonicNanos() - idleStart) / 1e3 / 100

        var lateness: [Millis] = []
        var passes = 0
        var busyNanos: UInt64 = 0
        var evaluated = 0
        let stopAt = first + spreadMs + 3_000
        // The collector's own loop step: evaluate what is due, sleep until the next deadline.
        while WallClock.nowMillis() < stopAt {
            let t = WallClock.monotonicNanos()
            let step = try await detector.step(clock: { WallClock.nowMillis() })
            busyNanos += WallClock.monotonicNanos() - t
            for pass in step.passes {
                passes += 1
                evaluated += pass.evaluated
                lateness += pass.latenessMs
            }
            try await Task.sleep(for: .milliseconds(step.sleepMs))
        }
        lateness.sort()
        func pct(_ p: Double) -> Millis { lateness.isEmpty ? -1 : lateness[min(lateness.count - 1, Int(Double(lateness.count) * p))] }
        print("went down: \(lateness.count) of \(count) checks in \(passes) passes")
        print("lateness after the deadline: p50 \(pct(0.5)) ms, p99 \(pct(0.99)) ms, max \(lateness.last ?? -1) ms (target: < 1000 ms)")
        print(
            String(
                format: "evaluation cost: %.1f µs per due check (each down opens an incident); an idle pass: %.0f µs",
                Double(busyNanos) / 1e3 / Double(max(1, evaluated)), idleMicros))
        let open = try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM incidents WHERE state = 'open'") ?? 0 }
        print("open incidents: \(open)")
    }
}
