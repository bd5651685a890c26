#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Wall and monotonic time, read straight from the OS.
public enum WallClock {
    /// Milliseconds since the Unix epoch (wall clock): what observations carry.
    public static func nowMillis() -> Millis {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Millis(ts.tv_sec) * 1000 + Millis(ts.tv_nsec) / 1_000_000
    }

    /// Nanoseconds on the monotonic clock: for timeouts and durations.
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func monotonicMillis() -> Int64 { Int64(monotonicNanos() / 1_000_000) }
}

/// Random identifiers in the UUID layout (8-4-4-4-12 hex), e.g. for spool and boot ids.
public enum RandomID {
    public static func make() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let hex = bytes.map { b -> String in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }
        let groups = [0..<4, 4..<6, 6..<8, 8..<10, 10..<16]
        return groups.map { hex[$0].joined() }.joined(separator: "-")
    }
}

/// Text for C error numbers.
public enum Errno {
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    public static var current: String { describe(errno) }
}

/// The host's name, for the default agent id and the identity sent to the collector.
public enum HostName {
    public static func current() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }

    /// The host name reduced to the characters an agent id may hold: the agent's default id, and
    /// the id the collector binds its generated agent token to, so the two meet with no setup.
    public static func agentID() -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
        let id = String(current().map { allowed.contains($0) ? $0 : "-" }.prefix(FieldLimits.id))
        return id.isEmpty ? "agent" : id
    }
}
