import GapwatchProtocol

extension Detector {
    /// One turn of the evaluation loop: evaluates everything due (a large backlog in several
    /// bounded passes), then says how long to sleep: until the earliest deadline, at most the
    /// evaluation interval (so signals marked due by ingest are seen quickly).
    public func step(clock: @Sendable () -> Millis) async throws -> (passes: [PassResult], sleepMs: Millis) {
        var passes: [PassResult] = []
        while true {
            let pass = try evaluateDue(now: clock(), limit: Self.passLimit)
            passes.append(pass)
            if pass.evaluated < Self.passLimit { break }
            await Task.yield()
        }
        var sleepMs = config.evaluateIntervalMs
        if let earliest = try earliestDue() { sleepMs = max(1, min(sleepMs, earliest - clock())) }
        return (passes, sleepMs)
    }

    /// Checks per transaction: bounds how long one pass holds the write lock.
    public static let passLimit = 2000
}
