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
}
