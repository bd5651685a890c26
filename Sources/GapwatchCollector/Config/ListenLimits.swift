import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// How long a client may take and how many connections it may hold (`listen_limits:` in the
/// collector config). Without them, sockets that never finish a request hold a file descriptor
/// each for ever, until the collector cannot accept its agents or open its database.
public struct ListenLimits: Sendable, Equatable {
    /// From accepting a connection to the end of its first request's head.
    public var headerTimeoutMs: Millis = 10_000
    /// From the end of a request's head to the end of its body.
    public var bodyTimeoutMs: Millis = 30_000
    /// From the end of a response to the head of the next request on a kept-alive connection.
    /// Longer than an agent's usual heartbeat (30 s), so its kept-alive connection is not closed
    /// just as it sends the next report.
    public var idleTimeoutMs: Millis = 60_000
    /// Connections open at once; past it new ones wait in the kernel's accept queue.
    public var maxConnections = 1024
    /// Connections open at once from one source address; past it new ones are closed at once.
    public var maxConnectionsPerSource = 128

    /// File descriptors kept for the database, the log, webhooks and commands, below the
    /// process's open-file limit: the connection cap never eats into them.
    static let reservedDescriptors = 64

    public init() {}

    /// `maxConnections`, lowered to fit under the open-file limit `fileLimit` less the reserve.
    public func effectiveMaxConnections(fileLimit: Int?) -> Int {
        guard let fileLimit else { return maxConnections }
        return max(1, min(maxConnections, fileLimit - Self.reservedDescriptors))
    }

    /// This process's soft limit on open files; nil when there is none.
    public static func openFileLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int.max) else { return nil }
        return Int(limit.rlim_cur)
    }

    mutating func parse(_ reader: inout MapReader) throws(ConfigError) {
        guard var m = try reader.map("listen_limits") else { return }
        headerTimeoutMs = try m.duration("header_timeout") ?? headerTimeoutMs
        bodyTimeoutMs = try m.duration("body_timeout") ?? bodyTimeoutMs
        idleTimeoutMs = try m.duration("idle_timeout") ?? idleTimeoutMs
        maxConnections = try m.int("max_connections") ?? maxConnections
        maxConnectionsPerSource = try m.int("max_connections_per_source") ?? maxConnectionsPerSource
        try m.finish()
        if maxConnectionsPerSource > maxConnections {
            throw ConfigError(
                "listen_limits.max_connections_per_source: \(maxConnectionsPerSource) is above max_connections (\(maxConnections))")
        }
    }
}
