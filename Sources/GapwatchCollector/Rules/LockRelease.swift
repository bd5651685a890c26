import GapwatchProtocol
import GapwatchRules

/// The release action of a lock, as the stuck_locks kind queues it and as a person's force-release
/// (`CollectorApp.releaseLock`, the dashboard's Locks page) queues it: one key per lock, so the two
/// never release the same lock twice at once, and the holder it was released from, which tells
/// whether the lock changed since.
extension Detector {
    static func releaseKey(_ lock: String) -> String { "lock:release:\(lock)" }

    func releaseParameters(_ lock: LockState) -> [String: String] {
        var p = ["lock": lock.name, "holder": lock.holder ?? ""]
        if let acquired = lock.acquiredAt { p["acquired_at"] = String(acquired) }
        return p
    }
}
