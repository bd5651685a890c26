import GapwatchProtocol
import GapwatchRules
import Logging
import Synchronization

/// Every background loop of a collector, in one place. The order is the dependency order: the
/// service group starts them in this order and, on graceful shutdown, stops them in reverse, after
/// the HTTP server (added last by the application). So the WAL checkpoint outlives every writer, the
/// refused-report flush runs after the last request, actions stop before detection, and the
/// notifier delivers what detection and actions wrote until they have stopped.
enum CollectorServices {
    static func all(_ runtime: CollectorRuntime, logger: Logger) -> [PeriodicService] {
        var services: [PeriodicService] = [
            // Keeps the WAL from growing without bound under steady reads.
            PeriodicService(
                name: "wal-checkpoint", intervalMs: runtime.config.checkpointIntervalMs, firstPass: .afterFirstWait, failureLevel: .warning,
                failureMessage: "WAL checkpoint failed", logger: logger
            ) { try runtime.database.checkpoint() },
            // The refused reports noted in memory, written at most every 2 s (the rate limit on their
            // writes), and once more on shutdown.
            PeriodicService(
                name: "rejected-agents", intervalMs: 2_000, firstPass: .afterFirstWait, failureLevel: .warning,
                failureMessage: "cannot record refused reports; will retry", passOnStop: true, logger: logger
            ) { _ = try runtime.rejections.flush() },
            detection(runtime.detector, clock: { WallClock.nowMillis() }, logger: logger),
            actions(runtime, logger: logger),
        ]
        if let horizon = runtime.config.retentionMs {
            services.append(
                retention(Retention(database: runtime.database, horizonMs: horizon, batch: runtime.config.retentionBatch), logger: logger))
        }
        services.append(
            PeriodicService(
                name: "notifier", intervalMs: runtime.config.detection.evaluateIntervalMs, failureMessage: "notification pass failed", logger: logger
            ) { _ = try await runtime.notifier.runPass(now: WallClock.nowMillis()) })
        if let schedule = runtime.config.remediation.schedulerTargets?.auditReport {
            services.append(auditReport(runtime, schedule: schedule, logger: logger))
        }
        return services
    }

    /// The evaluation loop: wakes at the earliest check deadline (at most `evaluateIntervalMs`
    /// apart, so new signals are seen quickly) and evaluates what is due. A pass costs work in
    /// proportion to the due checks, found through the `checks_due` index.
    static func detection(_ detector: Detector, clock: @escaping @Sendable () -> Millis, logger: Logger) -> PeriodicService {
        PeriodicService.waking(
            name: "detection", intervalMs: detector.config.evaluateIntervalMs, failureMessage: "check evaluation failed", logger: logger
        ) { try await detector.step(clock: clock).sleepMs }
    }

    /// The action loop (every 250 ms): first settles webhook calls the last stop interrupted, and
    /// runs the scheduled catch-up (e.g. every morning: every rule over its whole lookback) before
    /// the pass it falls due in.
    static func actions(_ runtime: CollectorRuntime, logger: Logger) -> PeriodicService {
        let runner = runtime.actions
        let catchUp = ScheduledCatchUp(schedule: runner.config.catchUp)
        return PeriodicService(
            name: "actions", intervalMs: 250, failureMessage: "action pass failed",
            beforeFirstPass: {
                do {
                    _ = try runner.settleInterruptedCalls(now: WallClock.nowMillis())
                } catch {
                    logger.error("cannot settle webhook actions interrupted by the last stop", metadata: ["error": "\(error)"])
                }
                catchUp.scheduleNext(after: WallClock.nowMillis())
            },
            logger: logger
        ) {
            let now = WallClock.nowMillis()
            if catchUp.isDue(now: now) {
                let checks = try await runtime.detector.scheduleCatchUp(now: now)
                logger.notice("catch-up: re-evaluating every completeness and stale-item rule", metadata: ["checks": "\(checks)"])
                catchUp.scheduleNext(after: now)
            }
            _ = try await runner.runPass(now: now)
        }
    }

    /// Prunes every 10 minutes, a bounded number of batches per pass.
    static func retention(_ retention: Retention, logger: Logger) -> PeriodicService {
        PeriodicService(name: "retention", intervalMs: 600_000, failureMessage: "retention pass failed", logger: logger) {
            let started = WallClock.monotonicNanos()
            let removed = try await retention.prune(now: WallClock.nowMillis(), maxBatches: 500)
            if removed > 0 {
                logger.notice(
                    "retention pruned old observations",
                    metadata: ["observations": "\(removed)", "ms": "\((WallClock.monotonicNanos() - started) / 1_000_000)"])
            }
        }
    }

    /// Sends the scheduler audit report on its schedule (`scheduler_targets.audit_report`).
    static func auditReport(_ runtime: CollectorRuntime, schedule: CronSchedule, logger: Logger) -> PeriodicService {
        PeriodicService(name: "audit-report", schedule: { schedule.next(after: $0) }, failureMessage: "audit report failed", logger: logger) {
            for (channel, outcome) in try await runtime.sendAuditReport(now: WallClock.nowMillis()) {
                switch outcome {
                case .delivered(let detail): logger.notice("audit report sent", metadata: ["channel": "\(channel)", "detail": "\(detail)"])
                case .failed(let detail, _, _): logger.error("audit report not sent", metadata: ["channel": "\(channel)", "detail": "\(detail)"])
                }
            }
        }
    }
}

/// When the action loop's scheduled catch-up is next due. A catch-up that fails stays due, so the
/// next pass retries it.
final class ScheduledCatchUp: Sendable {
    private let schedule: CronSchedule?
    private let nextDue = Mutex<Millis?>(nil)

    init(schedule: CronSchedule?) { self.schedule = schedule }

    /// At start, and after each catch-up that ran.
    func scheduleNext(after now: Millis) { nextDue.withLock { $0 = schedule?.next(after: now) } }

    func isDue(now: Millis) -> Bool { nextDue.withLock { due in due.map { now >= $0 } ?? false } }
}
