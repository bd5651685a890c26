import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Something the agent looks at on a schedule: its own liveness, a URL, a command's output.
public protocol Observer: Sendable {
    /// For thread names and logs.
    var name: String { get }
    var intervalMs: Int64 { get }
    /// Looks once and returns what to spool. `cancel` is stopped when the agent shuts down.
    func observe(cancel: Wakeup) -> [ObservationBody]
    /// Called once everything the last `observe` returned is in the spool (not when spooling
    /// failed): an observer that remembers what it reported commits that memory here.
    func committed()
}

extension Observer {
    public func committed() {}
}

/// Runs an `Observer` on its own thread at a fixed rate and spools what it sees.
final class ObserverLoop: @unchecked Sendable {
    let observer: any Observer
    let spool: Spool
    let logger: Logger
    let wakeup = Wakeup()
    /// Whether `wakeup.signal()` starts the next look at once (else only `stop` ends a wait).
    let earlyWakeups: Bool
    private var thread: AgentThread?

    init(observer: any Observer, spool: Spool, logger: Logger, earlyWakeups: Bool = false) {
        self.observer = observer
        self.spool = spool
        self.logger = logger
        self.earlyWakeups = earlyWakeups
    }

    func start() {
        thread = AgentThread(name: "gw-" + observer.name) { [self] in run() }
    }

    func stop(timeoutMs: Int64) {
        wakeup.stop()
        thread?.join(timeoutMs: timeoutMs)
    }

    private func run() {
        var next = WallClock.monotonicMillis()
        while !wakeup.isStopped {
            let bodies = observer.observe(cancel: wakeup)
            if wakeup.isStopped { break }
            var spooled = true
            for body in bodies {
                do {
                    try body.validate(path: "observation")
                } catch {
                    logger.error(
                        "an observer produced an invalid observation; skipped", metadata: ["observer": "\(observer.name)", "error": "\(error)"])
                    continue
                }
                do {
                    try spool.append(body)
                } catch {
                    logger.error("cannot spool an observation", metadata: ["observer": "\(observer.name)", "error": "\(error)"])
                    spooled = false
                    break
                }
            }
            if spooled { observer.committed() }
            // Fixed rate; after an overrun, start again from now rather than bursting to catch up.
            next += observer.intervalMs
            let now = WallClock.monotonicMillis()
            if next < now { next = now + observer.intervalMs }
            if earlyWakeups {
                if wakeup.wait(ms: next - now) { break }
                // Woken early: the rate starts again from this look.
                next = min(next, WallClock.monotonicMillis())
            } else if wakeup.sleep(ms: next - now) {
                break
            }
        }
    }
}

/// The agent's own liveness: a `heartbeat` with status ok every interval.
public struct HeartbeatObserver: Observer {
    public var name: String
    public var intervalMs: Int64

    public init(name: String, intervalMs: Int64) {
        self.name = name
        self.intervalMs = intervalMs
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        [.heartbeat(Heartbeat(name: name, status: .ok))]
    }
}

extension String {
    /// Control characters replaced by spaces, and at most `bytes` UTF-8 bytes, cut at a character
    /// boundary: safe for an observation's free-text field.
    func truncatedUTF8(_ bytes: Int) -> String {
        let clean = sanitizedText
        if clean.utf8.count <= bytes { return clean }
        var out = ""
        var used = 0
        for c in clean {
            let n = String(c).utf8.count
            if used + n > bytes - 3 { break }
            out.append(c)
            used += n
        }
        return out + "..."
    }

    /// Control characters (other than tab and line feed) replaced by spaces and bidirectional
    /// controls by U+FFFD, as every observation text field requires (protocol `check(text:)`).
    var sanitizedText: String {
        String(
            String.UnicodeScalarView(
                unicodeScalars.map { scalar in
                    if DisplayUnsafe.isHidden(scalar) { return "\u{FFFD}" }
                    return DisplayUnsafe.isControl(scalar) && scalar != "\t" && scalar != "\n" ? " " : scalar
                }))
    }

    /// Like `truncatedUTF8` but keeps the end: control characters replaced by spaces, then at
    /// most the last `bytes` UTF-8 bytes, cut at a character boundary.
    func tailUTF8(_ bytes: Int) -> String {
        let clean = sanitizedText
        if clean.utf8.count <= bytes { return clean }
        var kept = 0
        var start = clean.unicodeScalars.endIndex
        while start > clean.unicodeScalars.startIndex {
            let before = clean.unicodeScalars.index(before: start)
            let n = UTF8.width(clean.unicodeScalars[before])
            if kept + n > bytes { break }
            kept += n
            start = before
        }
        return String(clean.unicodeScalars[start...])
    }
}

extension Array where Element == UInt8 {
    /// The last `bytes` bytes as text: starts at a UTF-8 character boundary, invalid sequences
    /// become U+FFFD, control characters spaces; at most `bytes` UTF-8 bytes.
    func utf8Tail(_ bytes: Int) -> String {
        guard bytes > 0 else { return "" }
        var start = Swift.max(0, count - bytes)
        // Skip continuation bytes (10xxxxxx) of a character cut at the start.
        var skipped = 0
        while start < count && self[start] & 0xC0 == 0x80 && skipped < 3 {
            start += 1
            skipped += 1
        }
        return String(decoding: self[start...], as: UTF8.self).tailUTF8(bytes)
    }
}
