import GapwatchProtocol
import Logging
import ServiceLifecycle

/// One background loop of the collector: runs `pass` on its cadence until graceful shutdown (or
/// cancellation). A pass that throws is logged with the loop's own message and level, and the loop
/// goes on at its usual cadence: no loop stops on an error.
struct PeriodicService: Service, CustomStringConvertible {
    /// When the next pass runs.
    enum Cadence: Sendable {
        /// `intervalMs` after the previous pass ends, unless that pass asked for another wait.
        case every(intervalMs: Millis)
        /// At the wall-clock times `next(after: now)` gives (a cron schedule); the loop ends when
        /// it gives none. Waits in steps of at most a minute, so a wall-clock change is noticed.
        case schedule(next: @Sendable (Millis) -> Millis?)
    }

    /// Whether the first pass runs at start or after the first wait.
    enum FirstPass: Sendable {
        case atStart
        case afterFirstWait
    }

    /// Named for the service group's start and stop lines.
    let name: String
    let cadence: Cadence
    let firstPass: FirstPass
    /// What a failed pass logs (`error` metadata holds the error).
    let failureLevel: Logger.Level
    let failureMessage: String
    /// Runs once before the first pass (the action loop settles calls a previous stop interrupted).
    let beforeFirstPass: (@Sendable () async -> Void)?
    /// Runs the pass once more after the loop stops (the rejected-agents flush keeps what the last
    /// interval noted).
    let passOnStop: Bool
    let logger: Logger
    /// One turn. Returns the wait before the next turn when it wants a different one than the
    /// cadence's (the detection loop sleeps until its earliest deadline), or nil.
    let pass: @Sendable () async throws -> Millis?

    var description: String { name }

    private init(
        name: String, cadence: Cadence, firstPass: FirstPass, failureLevel: Logger.Level, failureMessage: String,
        beforeFirstPass: (@Sendable () async -> Void)?, passOnStop: Bool, logger: Logger, pass: @escaping @Sendable () async throws -> Millis?
    ) {
        self.name = name
        self.cadence = cadence
        self.firstPass = firstPass
        self.failureLevel = failureLevel
        self.failureMessage = failureMessage
        self.beforeFirstPass = beforeFirstPass
        self.passOnStop = passOnStop
        self.logger = logger
        self.pass = pass
    }

    /// A loop that runs every `intervalMs`.
    init(
        name: String, intervalMs: Millis, firstPass: FirstPass = .atStart, failureLevel: Logger.Level = .error, failureMessage: String,
        beforeFirstPass: (@Sendable () async -> Void)? = nil, passOnStop: Bool = false, logger: Logger,
        pass: @escaping @Sendable () async throws -> Void
    ) {
        self.init(
            name: name, cadence: .every(intervalMs: intervalMs), firstPass: firstPass, failureLevel: failureLevel, failureMessage: failureMessage,
            beforeFirstPass: beforeFirstPass, passOnStop: passOnStop, logger: logger, pass: Self.askingNoWait(pass))
    }

    /// A loop that runs at the times `next(after:)` gives, first at the first of them.
    init(
        name: String, schedule next: @escaping @Sendable (Millis) -> Millis?, failureLevel: Logger.Level = .error, failureMessage: String,
        logger: Logger, pass: @escaping @Sendable () async throws -> Void
    ) {
        self.init(
            name: name, cadence: .schedule(next: next), firstPass: .afterFirstWait, failureLevel: failureLevel, failureMessage: failureMessage,
            beforeFirstPass: nil, passOnStop: false, logger: logger, pass: Self.askingNoWait(pass))
    }

    /// A loop whose pass returns the wait before the next pass (the detection loop sleeps until its
    /// earliest deadline); after a failed pass it waits `intervalMs`.
    static func waking(
        name: String, intervalMs: Millis, failureLevel: Logger.Level = .error, failureMessage: String, logger: Logger,
        pass: @escaping @Sendable () async throws -> Millis
    ) -> PeriodicService {
        PeriodicService(
            name: name, cadence: .every(intervalMs: intervalMs), firstPass: .atStart, failureLevel: failureLevel, failureMessage: failureMessage,
            beforeFirstPass: nil, passOnStop: false, logger: logger, pass: { try await pass() })
    }

    private static func askingNoWait(_ pass: @escaping @Sendable () async throws -> Void) -> @Sendable () async throws -> Millis? {
        {
            try await pass()
            return nil
        }
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await beforeFirstPass?()
            var requestedWaitMs: Millis? = nil
            var waitFirst = firstPass == .afterFirstWait
            while !Task.isCancelled {
                if waitFirst {
                    guard try await waitForTurn(requestedWaitMs: requestedWaitMs) else { return }
                }
                waitFirst = true
                requestedWaitMs = await runPass()
            }
        }
        if passOnStop { _ = await runPass() }
    }

    /// One pass; a failure is logged and counts as asking for no particular wait.
    private func runPass() async -> Millis? {
        do {
            return try await pass()
        } catch {
            logger.log(level: failureLevel, "\(failureMessage)", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Sleeps until the next turn; false when there is none (the schedule has no next time).
    /// Throws when cancelled.
    private func waitForTurn(requestedWaitMs: Millis?) async throws -> Bool {
        switch cadence {
        case .every(let intervalMs):
            try await Task.sleep(for: .milliseconds(max(0, requestedWaitMs ?? intervalMs)))
            return true
        case .schedule(let next):
            guard let due = next(WallClock.nowMillis()) else { return false }
            var now = WallClock.nowMillis()
            while now < due {
                try await Task.sleep(for: .milliseconds(min(60_000, max(1, due - now))))
                now = WallClock.nowMillis()
            }
            return true
        }
    }
}
