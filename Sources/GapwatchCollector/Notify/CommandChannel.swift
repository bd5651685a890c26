import GapwatchProtocol
import GapwatchSubprocess

/// `kind: command`: runs argv (never a shell) with the message as JSON on standard input and its
/// main fields in `GAPWATCH_*` environment variables; exit 0 is delivered.
struct CommandChannel: NotificationChannel {
    /// Bytes of a command's standard error quoted in a failure detail (its end: the last words).
    static let stderrTailBytes = 300

    let config: ChannelConfig

    func deliver(_ message: NotificationMessage, cancel: Wakeup) -> DeliveryOutcome {
        var runner = CommandRunner(timeoutMs: max(1, config.timeoutMs))
        runner.maxStdoutBytes = 4 << 10  // read and dropped: only the exit status and stderr matter
        runner.maxStderrBytes = 4 << 10
        runner.stdin = ReportCodec.encode(message) + [UInt8(ascii: "\n")]
        runner.extraEnvironment = [
            "GAPWATCH_EVENT": message.event,
            "GAPWATCH_EVENT_ID": String(message.eventID),
            "GAPWATCH_RULE": message.rule,
            "GAPWATCH_SUBJECT": message.subject,
            "GAPWATCH_INCIDENT_ID": String(message.incidentID),
            "GAPWATCH_REASON": message.reason,
        ]
        let result: CommandResult
        do {
            result = try runner.run(config.argv, cancel: cancel)
        } catch {
            return .failed(detail: error.message, retryable: false, retryAfterMs: nil)
        }
        if result.succeeded { return .delivered(detail: "exit 0") }
        var detail: String
        if result.timedOut {
            detail = "timed out after \(Units.formatDuration(runner.timeoutMs)) (exit \(result.exitCode))"
        } else if cancel.isStopped {
            detail = "cancelled (exit \(result.exitCode))"
        } else if let signal = result.signal {
            detail = "killed by signal \(signal) (exit \(result.exitCode))"
        } else {
            detail = "exit \(result.exitCode)"
        }
        let tail = Self.stderrTail(result.stderr)
        if !tail.isEmpty { detail += "; stderr: \(tail)" }
        return .failed(detail: detail, retryable: true, retryAfterMs: nil)
    }

    /// The last `stderrTailBytes` bytes of standard error, cut at a character boundary, on one line.
    static func stderrTail(_ bytes: [UInt8]) -> String {
        var tail = bytes.suffix(stderrTailBytes)
        while let first = tail.first, first & 0xC0 == 0x80 { tail = tail.dropFirst() }  // mid-character
        return DeliveryText.oneLine(String(decoding: tail, as: UTF8.self))
    }
}
