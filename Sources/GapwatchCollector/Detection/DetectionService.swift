import GapwatchProtocol
import Logging
import ServiceLifecycle

/// The evaluation loop: wakes at the earliest check deadline (at most `evaluateIntervalMs`
/// apart, so new signals are seen quickly) and evaluates what is due. A pass costs work in
/// proportion to the due checks, found through the `checks_due` index.
struct DetectionService: Service {
    let detector: Detector
    let clock: @Sendable () -> Millis
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var sleepMs = detector.config.evaluateIntervalMs
                do {
                    // Drain everything due now; a large backlog takes several bounded passes.
                    while true {
                        let pass = try detector.evaluateDue(now: clock())
                        if pass.evaluated < 2000 { break }
                        await Task.yield()
                    }
                    if let earliest = try detector.earliestDue() {
                        sleepMs = max(1, min(sleepMs, earliest - clock()))
                    }
                } catch {
                    logger.error("check evaluation failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(sleepMs))
            }
        }
    }
}
