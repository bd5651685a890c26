import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchTestSupport
import Logging
import XCTest

/// A collector against a real SQLite file and a real HTTP "scheduler API" on 127.0.0.1 (the test
/// receiver), with the clock in the test's hands: what the scheduler-targets and stuck-locks
/// tests share. No tests of its own.
class SchedulerTestCase: XCTestCase {
    var dir: String!
    var runtime: CollectorRuntime!
    var service: NotifyReceiver!
    var t0: Millis = 0
    var seq: UInt64 = 0

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "gapwatch-sched-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        service = try await NotifyReceiver.start()
    }

    override func tearDown() {
        service.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func open(_ yaml: String) throws {
        var config = try CollectorConfig.parse(yaml: "liveness: {enabled: false}\n" + yaml.replacingOccurrences(of: "SERVICE", with: service.base))
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        runtime = try Collector.open(config: config, logger: logger)
        t0 = WallClock.nowMillis()
    }

    func report(_ bodies: [ObservationBody], at: Millis) async throws {
        let observations = bodies.map { body -> Observation in
            seq += 1
            return Observation(seq: seq, observedAt: at, body: body)
        }
        let report = Report(
            agent: AgentIdentity(id: "agent-1", service: "scheduler", host: "h", version: "1", labels: [:]), bootID: "b", spoolID: "s",
            sentAt: at, observations: observations)
        _ = try await runtime.writer.ingest(report, receivedAt: at)
    }

    func tick(_ now: Millis) async throws {
        _ = try runtime.detector.evaluateDue(now: now)
        for i in 0..<4 {  // enough passes for every start allowed by max_concurrent
            try await runtime.actions.runPass(now: now + Millis(i))
            await runtime.actions.waitForCalls()
        }
        _ = try runtime.detector.evaluateDue(now: now + 5)
    }
}
