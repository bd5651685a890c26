import GapwatchProtocol
import Synchronization

/// At most one log line per interval for a kind of event that a client can cause at will (a
/// malformed body, a failed login, a timed-out connection): the first occurrence is logged at once,
/// later ones are counted and reported with the next line, so a flood cannot fill the log.
final class LogThrottle: Sendable {
    let intervalMs: Millis
    private let state = Mutex<(lastLineAt: Millis?, suppressed: Int)>((nil, 0))

    init(intervalMs: Millis = 60_000) {
        self.intervalMs = intervalMs
    }

    /// Whether a line may be written now; when it may, also how many events since the last line
    /// were not logged.
    func admit(now: Millis) -> (log: Bool, suppressed: Int) {
        state.withLock { state in
            if let last = state.lastLineAt, now >= last, now - last < intervalMs {
                state.suppressed += 1
                return (false, 0)
            }
            let suppressed = state.suppressed
            state = (now, 0)
            return (true, suppressed)
        }
    }
}
