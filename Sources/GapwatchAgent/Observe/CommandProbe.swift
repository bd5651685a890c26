import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Runs a command (argv, no shell) and turns its output into `count` or `item_status`
/// observations, plus a heartbeat named after the probe (ok/fail, exit code, duration), marked as
/// a probe's so the collector opens an incident when it fails run after run.
///
/// - A run is **failed** when the command fails (non-zero exit, killed, timed out) or when a line of
///   its output cannot be read (a count that is not a number, a time without an offset and no
///   `timezone:`). A failed run reports only its `fail` heartbeat, whose message names the first bad
///   line and what is wrong with it: it changes nothing the collector knows.
/// - A successful run of an `emit: count` probe is a **snapshot** of the partitions it `covers`: a
///   partition an earlier run listed and this one omits reads as 0 from this run on (a `count` of 0
///   is sent for it, run after run, while it stays covered). What the last successful run listed is
///   kept in the spool folder (`statePath`) once its observations are spooled, so a restart does not
///   forget it.
public final class CommandProbeObserver: Observer, @unchecked Sendable {
    public let config: AgentConfig.CommandProbe
    public var name: String { config.name }
    public var intervalMs: Int64 { config.intervalMs }
    let logger: Logger
    /// A run yielding more rows than this fails: a snapshot cut short would zero the rest.
    public var maxRows = 10_000
    /// What the last successful run listed (`emit: count`).
    let snapshot: CountSnapshot

    public init(config: AgentConfig.CommandProbe, logger: Logger, statePath: String? = nil) {
        self.config = config
        self.logger = logger
        snapshot = CountSnapshot(statePath: statePath, logger: logger)
    }

    /// The state file of a probe: `probe-<name>.json` in the spool folder, the name reduced to
    /// characters safe in a file name.
    public static func statePath(spoolDir: String, probe: String) -> String {
        spoolDir + "/probe-" + CountSnapshot.safeName(probe) + ".json"
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let runner = CommandRunner(timeoutMs: config.timeoutMs)
        let result: CommandResult
        do {
            result = try runner.run(config.argv, cancel: cancel)
        } catch {
            logger.warning("command probe could not start", metadata: ["probe": "\(name)", "error": "\(error)"])
            return [heartbeat(.fail, durationMs: 0, exitCode: nil, message: error.message)]
        }
        return observations(for: result, now: WallClock.nowMillis())
    }

    public func committed() { snapshot.commit() }

    /// The observations for one finished run at `now` (the wall clock: it places the `covers` window).
    func observations(for result: CommandResult, now: Millis) -> [ObservationBody] {
        guard result.succeeded else {
            let notes = result.failureNotes(timeoutMs: config.timeoutMs)
            logger.warning("command probe failed", metadata: ["probe": "\(config.name)", "detail": "\(notes.joined(separator: ": "))"])
            return [heartbeat(.fail, durationMs: result.durationMs, exitCode: result.exitCode, message: notes.joined(separator: ": "))]
        }
        let text = String(decoding: result.stdout, as: UTF8.self)
        let setting = "timezone: on probe '\(config.name)'"
        let parsed: ProbeOutput.Parsed
        switch config.emit {
        case .count: parsed = ProbeOutput.counts(text, dataset: config.dataset ?? config.name)
        case .itemStatus:
            parsed = ProbeOutput.itemStatuses(
                text, itemKind: config.itemKind ?? config.name, times: ProbeTimeReader(zone: config.timeZone, setting: setting))
        case .none: parsed = ProbeOutput.Parsed()
        }
        var problem: String?
        if let first = parsed.problems.first {
            let more = parsed.problems.count > 1 ? " (and \(parsed.problems.count - 1) more bad line(s))" : ""
            problem = "unreadable output, nothing reported: \(first)\(more)"
            logger.warning(
                "command probe printed lines that do not parse; the run counts as failed",
                metadata: ["probe": "\(config.name)", "problems": "\(parsed.problems.prefix(5).map(\.description).joined(separator: " | "))"])
        } else if parsed.bodies.count > maxRows {
            problem = "printed \(parsed.bodies.count) rows, more than \(maxRows); nothing reported"
        } else if result.stdoutTruncated {
            problem = "output larger than the probe reads; nothing reported"
        }
        if config.emit == .count, problem == nil, let duplicate = Self.firstDuplicatePartition(parsed.bodies) {
            problem = "unreadable output, nothing reported: partition '\(duplicate)' is listed twice"
        }
        if let problem {
            return [heartbeat(.fail, durationMs: result.durationMs, exitCode: result.exitCode, message: problem)]
        }
        var bodies = parsed.bodies
        var notes: [String] = []
        if config.emit != .none { notes.append("\(parsed.bodies.count) row(s)") }
        if config.emit == .count {
            var counts: [String: Int64] = [:]
            for case .count(let c) in parsed.bodies { counts[c.partition] = c.count }
            let zeroed = snapshot.record(counts, coverage: config.covers, now: now, zone: config.timeZone ?? .utc)
            if !zeroed.isEmpty {
                bodies += zeroed.map { .count(Count(dataset: config.dataset ?? config.name, partition: $0, count: 0)) }
                let listed = zeroed.prefix(5).joined(separator: ", ") + (zeroed.count > 5 ? " and \(zeroed.count - 5) more" : "")
                notes.append("\(zeroed.count) partition(s) no longer listed read as 0: \(listed)")
            }
        }
        return bodies + [
            heartbeat(.ok, durationMs: result.durationMs, exitCode: result.exitCode, message: notes.isEmpty ? nil : notes.joined(separator: "; "))
        ]
    }

    private func heartbeat(_ status: Heartbeat.Status, durationMs: Int64, exitCode: Int?, message: String?) -> ObservationBody {
        .heartbeat(
            Heartbeat(
                name: config.name, status: status, durationMs: durationMs, exitCode: exitCode, message: message?.truncatedUTF8(FieldLimits.text),
                probe: true))
    }

    static func firstDuplicatePartition(_ bodies: [ObservationBody]) -> String? {
        var seen: Set<String> = []
        for case .count(let c) in bodies where !seen.insert(c.partition).inserted { return c.partition }
        return nil
    }
}

extension CommandResult {
    /// Why a run failed, for a heartbeat message: how it ended (timeout, signal or exit code),
    /// then the last line of its stderr, if any.
    func failureNotes(timeoutMs: Int64) -> [String] {
        var notes: [String] = []
        if timedOut {
            notes.append("timed out after \(Units.formatDuration(timeoutMs))")
        } else if let signal {
            notes.append("killed by signal \(signal)")
        } else {
            notes.append("exit code \(exitCode)")
        }
        let text = String(decoding: stderr, as: UTF8.self).trimmed
        if let lastLine = text.split(separator: "\n").last { notes.append(lastLine.trimmed) }
        return notes
    }
}
