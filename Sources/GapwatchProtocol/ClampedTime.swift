/// Arithmetic on times and durations that came from reports or configs: clamped to the range of
/// `Millis` instead of trapping, so no reported value can stop a rule, a page or a loop.
public enum ClampedTime {
    /// `a + b`, clamped.
    public static func add(_ a: Millis, _ b: Millis) -> Millis {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : r
    }

    /// `a - b`, clamped.
    public static func subtract(_ a: Millis, _ b: Millis) -> Millis {
        let (r, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? (b > 0 ? .min : .max) : r
    }
}
