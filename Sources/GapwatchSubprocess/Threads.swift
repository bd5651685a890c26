import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pthread mutex with one condition variable, for state that threads wait on.
///
/// Waits use the monotonic clock, so a wall-clock jump neither stalls nor hurries a loop.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1)
        cond.initialize(to: pthread_cond_t())
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        #if os(Linux)
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a broadcast, at most until `deadline` (monotonic nanoseconds; nil waits forever).
    /// Call with the lock held. Returns false when the deadline passed.
    @discardableResult
    public func wait(until deadline: UInt64?) -> Bool {
        guard let deadline else {
            pthread_cond_wait(cond, mutex)
            return true
        }
        let now = WallClock.monotonicNanos()
        if deadline <= now { return false }
        #if os(Linux)
            var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT
        #else
            let delta = deadline - now
            var ts = timespec(tv_sec: Int(delta / 1_000_000_000), tv_nsec: Int(delta % 1_000_000_000))
            return pthread_cond_timedwait_relative_np(cond, mutex, &ts) != ETIMEDOUT
        #endif
    }

    public func broadcast() { pthread_cond_broadcast(cond) }
}

/// Wakes a loop thread early: for new work (`signal`) or for good (`stop`).
public final class Wakeup: @unchecked Sendable {
    private let lock = ConditionLock()
    private var pending = false
    private var stopped = false

    public init() {}

    public var isStopped: Bool { lock.withLock { stopped } }

    /// Ends the current or next `wait` early.
    public func signal() {
        lock.withLock {
            pending = true
            lock.broadcast()
        }
    }

    /// Ends every current and future `wait` at once.
    public func stop() {
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    /// Sleeps up to `ms` milliseconds or until signalled or stopped. Returns true once stopped.
    @discardableResult
    public func wait(ms: Int64) -> Bool {
        let deadline = WallClock.monotonicNanos() + UInt64(max(0, ms)) * 1_000_000
        return lock.withLock {
            while !pending && !stopped {
                if !lock.wait(until: deadline) { break }
            }
            pending = false
            return stopped
        }
    }

    /// Sleeps up to `ms` milliseconds unless stopped; ignores `signal`. Returns true once stopped.
    @discardableResult
    public func sleep(ms: Int64) -> Bool {
        let deadline = WallClock.monotonicNanos() + UInt64(max(0, ms)) * 1_000_000
        return lock.withLock {
            while !stopped {
                if !lock.wait(until: deadline) { break }
            }
            return stopped
        }
    }
}
