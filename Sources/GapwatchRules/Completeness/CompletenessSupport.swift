import GapwatchProtocol

/// Small helpers shared by the completeness, stale-item and freshness rules.
enum CompletenessSupport {
    /// The day number (days since 1970-01-01) of a partition written exactly `YYYY-MM-DD`;
    /// nil for anything else (other formats, impossible dates such as `2026-02-30`).
    static func day(ofPartition partition: String) -> Int64? {
        let c = Array(partition.utf8)
        guard c.count == 10, c[4] == 0x2D, c[7] == 0x2D else { return nil }
        for i in [0, 1, 2, 3, 5, 6, 8, 9] where !(c[i] >= 0x30 && c[i] <= 0x39) { return nil }
        guard let midnight = TimeParsing.parse(partition) else { return nil }
        return CivilCalendar.floorDiv(midnight, CivilCalendar.secondsPerDay * 1000)
    }

    /// `a + b`, clamped to the range of `Millis` instead of trapping.
    static func add(_ a: Millis, _ b: Millis) -> Millis {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : r
    }

    /// `a - b`, clamped to the range of `Millis` instead of trapping.
    static func subtract(_ a: Millis, _ b: Millis) -> Millis {
        let (r, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? (b > 0 ? .min : .max) : r
    }
}
