/// Exponential backoff with full jitter: the n-th consecutive failure waits a random time between
/// `baseMs` and `min(capMs, baseMs * 2^n)`.
public struct Backoff: Sendable {
    public var baseMs: Int64
    public var capMs: Int64
    public private(set) var failures = 0

    public init(baseMs: Int64 = 1_000, capMs: Int64 = 300_000) {
        self.baseMs = baseMs
        self.capMs = capMs
    }

    /// The delay before the next attempt; counts one more failure.
    public mutating func next() -> Int64 {
        var rng = SystemRandomNumberGenerator()
        return next(using: &rng)
    }

    public mutating func next<R: RandomNumberGenerator>(using rng: inout R) -> Int64 {
        let ceiling = failures >= 40 ? capMs : min(capMs, baseMs << Int64(failures))
        failures += 1
        return ceiling <= baseMs ? baseMs : Int64.random(in: baseMs...ceiling, using: &rng)
    }

    public mutating func reset() { failures = 0 }
}
