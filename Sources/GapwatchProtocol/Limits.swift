/// The bounds every collector enforces and every agent respects. protocol/README.md lists them.
public struct ReportLimits: Sendable, Equatable {
    /// Largest request body as sent (compressed when gzip), in bytes.
    public var maxBodyBytes: Int = 1 << 20
    /// Largest body after inflating; enforced while inflating, so a gzip bomb never fills memory.
    public var maxInflatedBytes: Int = 8 << 20
    public var maxObservations: Int = 1000
    public var maxLabels: Int = 32

    public init() {}

    public static let `default` = ReportLimits()
}

/// Longest allowed UTF-8 length of each string field, in bytes.
public enum FieldLimits {
    public static let id = 128
    public static let name = 256
    public static let label = 256
    public static let url = 2048
    public static let text = 1024
    public static let outputTail = 4096
    /// Times outside [2000-01-01, 2100-01-01) are rejected as certainly wrong clocks or units.
    public static let earliestTime: Millis = 946_684_800_000
    public static let latestTime: Millis = 4_102_444_800_000
    /// Largest count (`count`, `dropped.overflow`, `dropped.corrupt`): 2^53 - 1, the largest
    /// integer every JSON parser holds exactly. Sums, differences and ratios of counts then stay
    /// far inside 64 bits, so no reported count can overflow a rule, a page or the CLI.
    public static let maxCount: Int64 = 9_007_199_254_740_991
    /// Longest duration (`duration_ms`, `latency_ms`): 366 days. A run or a probe that took
    /// longer is a wrong unit or clock, not a measurement.
    public static let maxDurationMs: Int64 = 31_622_400_000
    /// Exit codes (`exit_code`): a 32-bit signed integer, which every system's exit statuses fit.
    public static let exitCodes: ClosedRange<Int64> = Int64(Int32.min)...Int64(Int32.max)
}
