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
}

/// Runs an `Observer` on its own thread at a fixed rate and spools what it sees.
final class ObserverLoop: @unchecked Sendable {
    let observer: any Observer
    let spool: Spool
    let logger: Logger
    let wakeup = Wakeup()
    private var thread: AgentThread?

    init(observer: any Observer, spool: Spool, logger: Logger) {
        self.observer = observer
        self.spool = spool
        self.logger = logger
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
            for body in bodies {
                do {
                    try body.validate(path: "observation")
                } catch {
                    logger.error("an observer produced an invalid observation; skipped", metadata: ["observer": "\(observer.name)", "error": "\(error)"])
                    continue
                }
                do {
                    try spool.append(body)
                } catch {
                    logger.error("cannot spool an observation", metadata: ["observer": "\(observer.name)", "error": "\(error)"])
                    break
                }
            }
            // Fixed rate; after an overrun, start again from now rather than bursting to catch up.
            next += observer.intervalMs
            let now = WallClock.monotonicMillis()
            if next < now { next = now + observer.intervalMs }
            if wakeup.sleep(ms: next - now) { break }
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
        let clean = String(String.UnicodeScalarView(unicodeScalars.map { $0.value < 0x20 && $0 != "\t" && $0 != "\n" || $0.value == 0x7F ? " " : $0 }))
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
}
