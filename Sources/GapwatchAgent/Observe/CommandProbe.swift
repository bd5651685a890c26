import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Runs a command (argv, no shell) and turns its output into `count` or `item_status`
/// observations, plus a heartbeat named after the probe (ok/fail, exit code, duration).
public struct CommandProbeObserver: Observer {
    public let config: AgentConfig.CommandProbe
    public var name: String { config.name }
    public var intervalMs: Int64 { config.intervalMs }
    let logger: Logger
    /// A run yielding more rows than this keeps the first ones and says so.
    public var maxRows = 10_000

    public init(config: AgentConfig.CommandProbe, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let runner = CommandRunner(timeoutMs: config.timeoutMs)
        let result: CommandResult
        do {
            result = try runner.run(config.argv, cancel: cancel)
        } catch {
            logger.warning("command probe could not start", metadata: ["probe": "\(name)", "error": "\(error)"])
            return [.heartbeat(Heartbeat(name: name, status: .fail, durationMs: 0, message: error.message.truncatedUTF8(FieldLimits.text)))]
        }
        return Self.observations(for: result, config: config, maxRows: maxRows, logger: logger)
    }

    /// The observations for one finished run. Output is parsed only when the command succeeded.
    static func observations(for result: CommandResult, config: AgentConfig.CommandProbe, maxRows: Int, logger: Logger) -> [ObservationBody] {
        var bodies: [ObservationBody] = []
        var notes: [String] = []
        if result.succeeded {
            let text = String(decoding: result.stdout, as: UTF8.self)
            var parsed = ProbeOutput.Parsed()
            switch config.emit {
            case .count: parsed = ProbeOutput.counts(text, dataset: config.dataset ?? config.name)
            case .itemStatus: parsed = ProbeOutput.itemStatuses(text, itemKind: config.itemKind ?? config.name)
            case .none: break
            }
            if parsed.bodies.count > maxRows {
                notes.append("kept the first \(maxRows) of \(parsed.bodies.count) rows")
                parsed.bodies.removeSubrange(maxRows...)
            }
            bodies = parsed.bodies
            if !parsed.badLines.isEmpty {
                notes.append("skipped \(parsed.badLines.count) unparseable line(s), first at line \(parsed.badLines[0])")
                logger.warning(
                    "command probe printed lines that do not parse",
                    metadata: ["probe": "\(config.name)", "lines": "\(parsed.badLines.prefix(10).map(String.init).joined(separator: ","))"])
            }
            if result.stdoutTruncated { notes.append("output truncated") }
            if config.emit != .none && parsed.bodies.isEmpty { notes.append("no rows") }
        } else {
            notes = result.failureNotes(timeoutMs: config.timeoutMs)
            logger.warning("command probe failed", metadata: ["probe": "\(config.name)", "detail": "\(notes.joined(separator: ": "))"])
        }
        let message = notes.isEmpty ? nil : notes.joined(separator: ": ").truncatedUTF8(FieldLimits.text)
        bodies.append(
            .heartbeat(
                Heartbeat(
                    name: config.name, status: result.succeeded ? .ok : .fail, durationMs: result.durationMs,
                    exitCode: result.exitCode, message: message)))
        return bodies
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
