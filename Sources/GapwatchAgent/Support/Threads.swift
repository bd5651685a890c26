import GapwatchProtocol
import GapwatchSubprocess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        let rc = pthread_create(
            &tid, &attr,
            { raw in
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
