import GapwatchProtocol

/// Small helpers shared by the completeness, stale-item and freshness rules.
enum CompletenessSupport {
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
