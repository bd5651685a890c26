/// Exponential backoff with full jitter (protocol README, "Agent retry rules"): before retry n
/// (n = 0, 1, ...) wait a uniformly random time in [0, min(cap, base × 2ⁿ)].
public struct Backoff: Sendable {
    public var baseMs: Int64
    public var capMs: Int64
    public private(set) var failures = 0

    public init(baseMs: Int64 = 1_000, capMs: Int64 = 300_000) {
        self.baseMs = baseMs
        self.capMs = capMs
    }

    /// The ceiling of the next delay.
    public var ceilingMs: Int64 { failures >= 40 ? capMs : min(capMs, baseMs << Int64(failures)) }

    /// The delay before the next attempt; counts one more failure.
    public mutating func next() -> Int64 {
        var rng = SystemRandomNumberGenerator()
        return next(using: &rng)
    }

    public mutating func next<R: RandomNumberGenerator>(using rng: inout R) -> Int64 {
        let ceiling = ceilingMs
        failures += 1
        return Int64.random(in: 0...max(0, ceiling), using: &rng)
    }

    public mutating func reset() { failures = 0 }
}
