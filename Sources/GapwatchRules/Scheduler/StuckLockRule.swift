import GapwatchProtocol

/// A lock as last seen: what an agent reported of it (`holder == nil`: seen free).
public typealias LockState = LockSighting

/// A held lock is stuck when it is held past its expiry plus `slackMs` (its holder died without
/// releasing it, or stopped renewing), or, with `maxAgeMs`, when it was acquired longer ago than
/// that. A free lock, or one inside both limits, is never stuck.
public struct StuckLockRule: Sendable {
    public var slackMs: Millis
    public var maxAgeMs: Millis?

    public static let defaultSlackMs: Millis = 300_000

    public init(slackMs: Millis = StuckLockRule.defaultSlackMs, maxAgeMs: Millis? = nil) {
        self.slackMs = max(0, slackMs)
        self.maxAgeMs = maxAgeMs
    }

    /// Why `lock` is stuck at `now`, or nil if it is not. The text does not change while the lock
    /// stays as it is (no running age), so re-evaluations do not keep updating the incident.
    public func stuckReason(_ lock: LockState, now: Millis) -> String? {
        guard let holder = lock.holder else { return nil }
        if let expires = lock.expiresAt, now >= expires + slackMs {
            return "held by \(holder) past its expiry at \(TimeParsing.format(expires)) (slack \(Units.formatDuration(slackMs)))"
        }
        if let maxAge = maxAgeMs, let acquired = lock.acquiredAt, now >= acquired + maxAge {
            return "held by \(holder) since \(TimeParsing.format(acquired)), longer than max_age \(Units.formatDuration(maxAge))"
        }
        return nil
    }

    /// When a held lock that is not stuck yet would become stuck, if it stays as it is.
    public func stuckAt(_ lock: LockState) -> Millis? {
        guard lock.holder != nil else { return nil }
        let byExpiry = lock.expiresAt.map { $0 + slackMs }
        let byAge = maxAgeMs.flatMap { maxAge in lock.acquiredAt.map { $0 + maxAge } }
        return [byExpiry, byAge].compactMap { $0 }.min()
    }
}
