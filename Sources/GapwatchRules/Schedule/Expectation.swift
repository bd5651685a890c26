import GapwatchProtocol

/// How often a heartbeat check expects a ping: a fixed period, or cron slots in a time zone.
public enum Expectation: Sendable, Equatable {
    /// A ping at most this many milliseconds after the previous one. Must be positive
    /// (validate at configuration time); a period <= 0 never comes due.
    case every(Millis)
    case cron(CronSchedule)

    /// The deadline of the slot following `lastPing` (every: lastPing + period; cron: next slot
    /// after lastPing), before grace. nil if there is none: a non-positive period, an overflow,
    /// or a cron schedule with no slot within 8 years.
    public func nextDue(after instant: Millis) -> Millis? {
        switch self {
        case .every(let period):
            guard period > 0 else { return nil }
            let (due, overflow) = instant.addingReportingOverflow(period)
            return overflow ? nil : due
        case .cron(let schedule):
            return schedule.next(after: instant)
        }
    }
}
