import GapwatchProtocol

extension Detector {
    /// Marks every completeness and stale-item check due now; returns how many.
    public func scheduleCatchUp(now: Millis) async throws -> Int {
        try await database.write { tx in
            try tx.checks.markDue(kinds: ["completeness", "stale_items"], now: now)
        }
    }
}
