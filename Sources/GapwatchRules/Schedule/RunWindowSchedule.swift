import GapwatchProtocol

/// A run window: opens at each cron slot and lasts `duration`.
///
/// Windows open at the slots of `opens`, with its DST rules: a slot in a spring-forward gap opens
/// its window at the transition instant, a slot in a repeated (fall-back) hour opens only at the
/// first occurrence, and slots that collapse onto the same instant give one window. A window
/// always lasts `durationMs` of real time, so a window spanning a transition ends at a different
/// wall-clock time than usual. Windows may overlap if the duration exceeds the slot spacing.
public struct RunWindowSchedule: Sendable, Equatable {
    public let opens: CronSchedule
    /// Length of each window in milliseconds; negative values are treated as 0.
    public let durationMs: Millis

    public init(opens: CronSchedule, durationMs: Millis) {
        self.opens = opens
        self.durationMs = Swift.max(0, durationMs)
    }

    /// Windows whose end lies in (after, through], oldest first, at most `limit` of them.
    public func windowsClosing(after: Millis, through: Millis, limit: Int = 1000) -> [RunWindow] {
        guard limit > 0, through > after else { return [] }
        var windows: [RunWindow] = []
        // end > after  <=>  start > after - duration
        var start = opens.next(after: after.subtractingSaturated(durationMs))
        while let s = start, windows.count < limit {
            let (end, overflow) = s.addingReportingOverflow(durationMs)
            guard !overflow, end <= through else { break }
            windows.append(RunWindow(start: s, end: end, partition: opens.localDate(of: s)))
            start = opens.next(after: s)
        }
        return windows
    }

    /// The end of the first window that closes strictly after `after`.
    public func nextClose(after: Millis) -> Millis? {
        guard let start = opens.next(after: after.subtractingSaturated(durationMs)) else { return nil }
        let (end, overflow) = start.addingReportingOverflow(durationMs)
        return overflow ? nil : end
    }
}

/// One occurrence of a run window: [start, end) in milliseconds since 1970 UTC.
public struct RunWindow: Sendable, Equatable, Codable {
    public var start: Millis
    public var end: Millis
    /// local date of `start` in the schedule's zone
    public var partition: String
}

extension Millis {
    fileprivate func subtractingSaturated(_ other: Millis) -> Millis {
        let (r, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : r
    }
}
