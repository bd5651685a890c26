import GapwatchProtocol
import Logging
import ServiceLifecycle
import Synchronization
import XCTest

@testable import GapwatchCollector

/// The one loop type every collector background service uses, run under a real ServiceGroup.
final class PeriodicServiceTests: XCTestCase {
    /// When each pass started (monotonic), and what the service logged.
    final class Recorder: Sendable {
        let passes = Mutex<[UInt64]>([])
        /// A second counter for what a test counts besides passes.
        let other = Mutex(0)
        let lines = Mutex<[(Logger.Level, String)]>([])

        func pass() -> Int {
            passes.withLock {
                $0.append(WallClock.monotonicNanos())
                return $0.count
            }
        }
        var count: Int { passes.withLock { $0.count } }

        var logger: Logger {
            Logger(label: "periodic-service-test") { _ in RecordingLogHandler(recorder: self) }
        }

        /// Polls (every 10 ms, at most `seconds`) until `condition` holds.
        func waitUntil(seconds: Double = 10, _ condition: () -> Bool) async throws -> Bool {
            let deadline = WallClock.monotonicNanos() + UInt64(seconds * 1e9)
            while WallClock.monotonicNanos() < deadline {
                if condition() { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return condition()
        }
    }

    struct RecordingLogHandler: LogHandler {
        let recorder: Recorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt
        ) {
            recorder.lines.withLock { $0.append((level, "\(message) error=\(metadata?["error"].map { "\($0)" } ?? "-")")) }
        }
    }

    struct PassFailed: Error, CustomStringConvertible {
        let number: Int
        var description: String { "pass \(number) failed" }
    }

    /// Runs `service` in a ServiceGroup until `body` returns, then shuts the group down gracefully
    /// and says how long the shutdown took, in ms.
    func runInGroup(_ service: PeriodicService, _ body: () async throws -> Void) async throws -> UInt64 {
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "group")))
        let running = Task { try await group.run() }
        try await body()
        let started = WallClock.monotonicNanos()
        await group.triggerGracefulShutdown()
        try await running.value
        return (WallClock.monotonicNanos() - started) / 1_000_000
    }

    func testRunsItsPassAtTheIntervalAndStopsOnGracefulShutdown() async throws {
        let recorder = Recorder()
        let service = PeriodicService(name: "test", intervalMs: 50, failureMessage: "test pass failed", logger: recorder.logger) {
            _ = recorder.pass()
        }
        let shutdownMs = try await runInGroup(service) {
            let fourPasses = try await recorder.waitUntil { recorder.count >= 4 }
            XCTAssertTrue(fourPasses, "passes so far: \(recorder.count)")
        }
        XCTAssertLessThan(shutdownMs, 2_000, "graceful shutdown interrupts the wait")
        let passes = recorder.passes.withLock { $0 }
        // The first pass runs at start; each later one at least the interval after the one before.
        for (earlier, later) in zip(passes, passes.dropFirst()) {
            XCTAssertGreaterThanOrEqual(later - earlier, 50_000_000, "passes: \(passes)")
        }
        let afterStop = recorder.count
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(recorder.count, afterStop, "no pass after shutdown")
    }

    func testSurvivesAThrowingPassAndLogsItsFailure() async throws {
        let recorder = Recorder()
        let service = PeriodicService(
            name: "test", intervalMs: 20, failureLevel: .warning, failureMessage: "test pass failed", logger: recorder.logger
        ) {
            let number = recorder.pass()
            if number % 2 == 1 { throw PassFailed(number: number) }
        }
        _ = try await runInGroup(service) {
            let fivePasses = try await recorder.waitUntil { recorder.count >= 5 }
            XCTAssertTrue(fivePasses, "passes so far: \(recorder.count)")
        }
        let lines = recorder.lines.withLock { $0 }
        XCTAssertEqual(lines.first?.0, .warning)
        XCTAssertEqual(lines.first?.1, "test pass failed error=pass 1 failed")
        XCTAssertEqual(lines.dropFirst().first?.1, "test pass failed error=pass 3 failed")
    }

    func testAPassCanAskForAnotherWait() async throws {
        let recorder = Recorder()
        // The interval alone would allow one pass in this test; the pass asks for 20 ms instead
        // (as the detection loop asks to wake at its earliest deadline).
        let service = PeriodicService.waking(name: "test", intervalMs: 600_000, failureMessage: "test pass failed", logger: recorder.logger) {
            _ = recorder.pass()
            return 20
        }
        _ = try await runInGroup(service) {
            let threePasses = try await recorder.waitUntil { recorder.count >= 3 }
            XCTAssertTrue(threePasses, "passes so far: \(recorder.count)")
        }
    }

    func testWaitFirstAndPassOnStop() async throws {
        let recorder = Recorder()
        let service = PeriodicService(
            name: "test", intervalMs: 600_000, firstPass: .afterFirstWait, failureMessage: "test pass failed",
            beforeFirstPass: { recorder.other.withLock { $0 += 1 } }, passOnStop: true, logger: recorder.logger
        ) { _ = recorder.pass() }
        let shutdownMs = try await runInGroup(service) {
            let isPrepared = try await recorder.waitUntil { recorder.other.withLock { $0 } == 1 }
            XCTAssertTrue(isPrepared)
            try await Task.sleep(for: .milliseconds(200))
            XCTAssertEqual(recorder.count, 0, "the first pass waits an interval")
        }
        XCTAssertLessThan(shutdownMs, 2_000)
        XCTAssertEqual(recorder.count, 1, "one pass on stop (the rejected-agents flush)")
        XCTAssertEqual(recorder.other.withLock { $0 }, 1, "prepared once")
    }

    func testScheduledLoopRunsAtEachTimeAndEndsWhenTheScheduleHasNone() async throws {
        let recorder = Recorder()
        // Two times, 50 ms apart from the asking; then none.
        let service = PeriodicService(
            name: "test",
            schedule: { now in
                recorder.other.withLock {
                    $0 += 1
                    return $0 <= 2 ? now + 50 : nil
                }
            },
            failureMessage: "test pass failed", logger: recorder.logger
        ) { _ = recorder.pass() }
        let started = WallClock.monotonicNanos()
        let run = Task { try await service.run() }
        let ended = try await recorder.waitUntil { recorder.other.withLock { $0 } == 3 }
        XCTAssertTrue(ended)
        try await run.value  // returns by itself: no shutdown
        XCTAssertEqual(recorder.count, 2)
        let first = try XCTUnwrap(recorder.passes.withLock { $0.first })
        XCTAssertGreaterThanOrEqual(first - started, 50_000_000, "the first pass waits for the first time")
    }
}
