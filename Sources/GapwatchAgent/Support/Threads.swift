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

/// A dedicated OS thread for one blocking loop (shipper, server, a probe).
///
/// Blocking I/O stays off Swift's cooperative pool, which must never block.
public final class AgentThread: @unchecked Sendable {
    public let name: String
    private let state = ConditionLock()
    private var finished = false
    private var joined = false
    #if os(Linux)
    private var tid = pthread_t()
    #else
    private var tid: pthread_t?
    #endif

    private final class Box {
        let body: @Sendable () -> Void
        let thread: AgentThread
        init(body: @escaping @Sendable () -> Void, thread: AgentThread) {
            self.body = body
            self.thread = thread
        }
    }

    /// Starts `body` on a new thread at once.
    public init(name: String, stackBytes: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        let box = Unmanaged.passRetained(Box(body: body, thread: self))
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, stackBytes)
        defer { pthread_attr_destroy(&attr) }
        let rc = pthread_create(&tid, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            box.thread.state.withLock {
                box.thread.finished = true
                box.thread.state.broadcast()
            }
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            fatalError("pthread_create failed: \(Errno.describe(rc))")
        }
    }

    /// Waits up to `timeoutMs` for the thread to finish. Returns false if it is still running,
    /// in which case it is detached and left to end with the process.
    @discardableResult
    public func join(timeoutMs: Int64) -> Bool {
        let deadline = WallClock.monotonicNanos() + UInt64(max(0, timeoutMs)) * 1_000_000
        let (done, first) = state.withLock { () -> (Bool, Bool) in
            while !finished {
                if !state.wait(until: deadline) { break }
            }
            let first = !joined
            joined = true
            return (finished, first)
        }
        guard first else { return done }
        #if os(Linux)
        if done { pthread_join(tid, nil) } else { pthread_detach(tid) }
        #else
        if let tid { if done { pthread_join(tid, nil) } else { pthread_detach(tid) } }
        #endif
        return done
    }

    /// Starts a thread that nobody joins.
    public static func detached(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = AgentThread(name: name, body)
        thread.detach()
    }

    private func detach() {
        let shouldDetach = state.withLock { () -> Bool in
            if joined { return false }
            joined = true
            return true
        }
        guard shouldDetach else { return }
        #if os(Linux)
        pthread_detach(tid)
        #else
        if let tid { pthread_detach(tid) }
        #endif
    }
}
