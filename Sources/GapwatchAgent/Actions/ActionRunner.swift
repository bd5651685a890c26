import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Runs the commands the collector hands the agent (protocol README, "Commands"), within the
/// config's `actions:` allow-list, and spools an `action_result` observation for each.
///
/// - A command whose `name` is not in the allow-list, or whose parameters are missing, unknown or
///   invalid for their type, is not run: its result is `rejected`, with the reasons in
///   `output_tail`.
/// - An allowed command runs from its fixed argv template, each parameter value substituted as
///   data into its one argv element (`CommandRunner`: `posix_spawn`, never a shell), on a
///   background thread, at most `maxConcurrent` at a time; the rest wait in a queue. Its timeout is
///   the action's `timeout`, shortened by the command's `timeout_seconds`. The result is `ok`
///   (exit 0), `failed` (non-zero exit, killed, or could not start) or `timeout`, with the exit
///   code and the last `max_output` bytes of stdout and stderr.
/// - Each `action_id` is handled at most once: ids are remembered in the spool folder
///   (`ActionLedger`, fsynced before the command starts; the most recent 10,000), so a command
///   delivered again, even after an agent restart, is ignored (debug log only). An agent killed
///   while a command runs remembers the id and reports nothing more for it.
/// - `stop` sends SIGTERM to running commands (then SIGKILL after the grace) and spools their
///   result as `failed` ("agent stopping"); commands still queued are spooled as `failed` too,
///   never started.
public final class ActionRunner: @unchecked Sendable {
    /// How the runner is set up. The defaults are the agent's.
    public struct Options: Sendable {
        /// Commands running at the same time; the rest wait in the queue.
        public var maxConcurrent = 2
        /// Commands waiting at most; one more gets `failed` ("not run: ... queue is full").
        public var maxQueued = 256
        /// How many handled action ids are remembered across restarts (at least this many).
        public var rememberedIDs = 10_000
        /// Between SIGTERM and SIGKILL when a command times out or the agent stops.
        public var killGraceMs: Int64 = 2_000

        public init() {}
    }

    public let options: Options
    /// The allow-list, by name.
    public let actions: [String: AgentConfig.Action]
    private let spool: Spool
    private let logger: Logger
    private let afterRun: @Sendable () -> Void
    private let lock = ConditionLock()
    private let ledger: ActionLedger
    private var queue: [Job] = []
    private var running: [String: Wakeup] = [:]
    private var workers = 0
    private var stopping = false

    struct Job {
        var command: AgentCommand
        var action: AgentConfig.Action
        var argv: [String]
        var timeoutMs: Int64
    }

    /// Opens the handled-ids file in the spool's folder. `afterRun` is called after each command
    /// that ran (whatever its outcome) once its result is spooled: the agent re-reads its
    /// scheduler inventory and locks then, so the collector can verify a change quickly.
    public init(
        actions: [AgentConfig.Action], spool: Spool, logger: Logger, options: Options = Options(), afterRun: @escaping @Sendable () -> Void = {}
    ) throws(AgentError) {
        self.options = options
        self.afterRun = afterRun
        self.actions = Dictionary(actions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.spool = spool
        self.logger = logger
        do {
            ledger = try ActionLedger(dir: spool.dir, capacity: options.rememberedIDs)
        } catch {
            throw AgentError("cannot open the handled action ids in \(spool.dir): \(error)")
        }
    }

    /// Commands queued and running now.
    public var pending: (queued: Int, running: Int) { lock.withLock { (queue.count, running.count) } }

    /// Whether `actionID` was handled already (run, queued, running or rejected).
    public func isHandled(_ actionID: String) -> Bool { lock.withLock { ledger.contains(actionID) } }

    /// Takes the commands of one collector response. Returns quickly: checks them, remembers the
    /// accepted ids durably and queues them; the commands run on background threads.
    public func handle(_ commands: [AgentCommand]) {
        for command in commands { accept(command) }
    }

    private func accept(_ command: AgentCommand) {
        let id = command.actionID
        let name = command.name.truncatedUTF8(128)
        guard ActionParameterType.isIdentifier(id) else {
            logger.warning(
                "the collector sent a command with an invalid action_id; ignored, no result can be reported for it",
                metadata: ["action.id": "\(id.truncatedUTF8(160))", "action.name": "\(name)"])
            return
        }
        let meta: Logger.Metadata = ["action.id": "\(id)", "action.name": "\(name)"]
        lock.lock()
        defer { lock.unlock() }
        if stopping {
            logger.info("the agent is stopping; command not accepted (not remembered: a later delivery runs it)", metadata: meta)
            return
        }
        if ledger.contains(id) {
            logger.debug("command already handled; ignored", metadata: meta)
            return
        }
        guard let action = actions[command.name] else {
            reject(command, ["command '\(AgentConfig.Action.shown(command.name))' is not allowed by this agent's config"], meta: meta)
            return
        }
        var problems = action.problems(with: command.parameters)
        var timeoutMs = action.timeoutMs
        if let seconds = command.timeoutSeconds {
            if seconds <= 0 {
                problems.append("timeout_seconds \(seconds) is not a positive number of seconds")
            } else {
                let (ms, overflow) = Int64(seconds).multipliedReportingOverflow(by: 1000)
                if !overflow { timeoutMs = min(timeoutMs, ms) }
            }
        }
        if !problems.isEmpty {
            reject(command, problems, meta: meta)
            return
        }
        if queue.count >= options.maxQueued {
            do {
                try ledger.remember(id)
            } catch {
                logger.error("cannot record a handled action id", metadata: meta.merging(["error": "\(error)"]) { $1 })
            }
            let why = "not run: \(options.maxQueued) commands are already waiting (this agent runs \(options.maxConcurrent) at a time)"
            logger.warning("action not run: the queue is full", metadata: meta)
            record(ActionResult(actionID: id, outcome: .failed, outputTail: why), meta: meta)
            return
        }
        do {
            try ledger.remember(id)
        } catch {
            logger.error("cannot record the action id durably; not running the command", metadata: meta.merging(["error": "\(error)"]) { $1 })
            record(
                ActionResult(
                    actionID: id, outcome: .failed,
                    outputTail: "not run: the agent cannot record the action id durably: \(error)".truncatedUTF8(FieldLimits.outputTail)),
                meta: meta)
            return
        }
        queue.append(Job(command: command, action: action, argv: action.filledArgv(command.parameters), timeoutMs: timeoutMs))
        logger.info("action accepted", metadata: meta.merging(["timeout": "\(Units.formatDuration(timeoutMs))", "queued": "\(queue.count)"]) { $1 })
        logger.debug(
            "action parameters",
            metadata: meta.merging([
                "parameters": "\(command.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            ]) { $1 })
        if workers < options.maxConcurrent {
            workers += 1
            AgentThread.detached(name: "gw-action") { [self] in work() }
        }
    }

    /// Spools a `rejected` result, then remembers the id (a lost result is worse than a second
    /// `rejected` for a command delivered again).
    private func reject(_ command: AgentCommand, _ problems: [String], meta: Logger.Metadata) {
        let why = problems.joined(separator: "; ").truncatedUTF8(FieldLimits.outputTail)
        logger.warning("action rejected", metadata: meta.merging(["reason": "\(why)"]) { $1 })
        guard record(ActionResult(actionID: command.actionID, outcome: .rejected, outputTail: why), meta: meta) else { return }
        do {
            try ledger.remember(command.actionID)
        } catch {
            logger.error("cannot record a handled action id", metadata: meta.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// Appends a result to the spool. Returns false (and logs) when it could not.
    @discardableResult
    private func record(_ result: ActionResult, meta: Logger.Metadata) -> Bool {
        var result = result
        let body = ObservationBody.actionResult(result)
        do {
            try body.validate(path: "action_result")
        } catch {
            logger.error("an action result is invalid; reporting it without output", metadata: meta.merging(["error": "\(error)"]) { $1 })
            result.outputTail = nil
        }
        do {
            try spool.append(.actionResult(result))
            return true
        } catch {
            logger.error(
                "cannot spool an action result", metadata: meta.merging(["error": "\(error)", "outcome": "\(result.outcome.rawValue)"]) { $1 })
            return false
        }
    }

    // MARK: - Running

    private func work() {
        while true {
            let cancel = Wakeup()
            let next: Job? = lock.withLock {
                if stopping || queue.isEmpty {
                    workers -= 1
                    lock.broadcast()
                    return nil
                }
                let job = queue.removeFirst()
                running[job.command.actionID] = cancel
                return job
            }
            guard let job = next else { return }
            run(job, cancel: cancel)
            lock.withLock {
                running[job.command.actionID] = nil
                lock.broadcast()
            }
        }
    }

    private func run(_ job: Job, cancel: Wakeup) {
        let id = job.command.actionID
        let meta: Logger.Metadata = ["action.id": "\(id)", "action.name": "\(job.action.name)"]
        logger.info("action started", metadata: meta.merging(["timeout": "\(Units.formatDuration(job.timeoutMs))"]) { $1 })
        var runner = CommandRunner(timeoutMs: job.timeoutMs)
        runner.killGraceMs = options.killGraceMs
        runner.maxStderrBytes = job.action.maxOutputBytes
        let result: ActionResult
        var kept = ""
        var durationMs: Int64 = 0
        do {
            let r = try runner.run(job.argv, cancel: cancel)
            durationMs = r.durationMs
            kept = Self.outputTail(
                stdout: r.stdout, stdoutTruncated: r.stdoutTruncated, maxStdout: runner.maxStdoutBytes, stderr: r.stderr,
                maxBytes: job.action.maxOutputBytes)
            let outcome: ActionResult.Outcome
            var note: String? = nil
            if r.timedOut {
                outcome = .timeout
                note = "[timed out after \(Units.formatDuration(job.timeoutMs)); killed]"
            } else if r.exitStatus == 0 {
                outcome = .ok
            } else if cancel.isStopped {
                outcome = .failed
                note = "[agent stopping: the command was sent SIGTERM]"
            } else {
                outcome = .failed
                if let signal = r.signal { note = "[killed by signal \(signal)]" }
            }
            result = ActionResult(actionID: id, outcome: outcome, exitCode: r.exitCode, outputTail: Self.reportTail(kept, note: note))
        } catch {
            result = ActionResult(
                actionID: id, outcome: .failed, outputTail: "cannot start the command: \(error.message)".truncatedUTF8(FieldLimits.outputTail))
        }
        var info = meta.merging(["outcome": "\(result.outcome.rawValue)", "duration": "\(Units.formatDuration(durationMs))"]) { $1 }
        if let code = result.exitCode { info["exit_code"] = "\(code)" }
        if kept.utf8.count > (result.outputTail?.utf8.count ?? 0) {
            // More output was kept (max_output) than a report may carry: the log has all of it.
            info["output_tail"] = "\(kept)"
        }
        logger.log(level: result.outcome == .ok ? .info : .warning, "action finished", metadata: info)
        logger.debug("action output", metadata: meta.merging(["output_tail": "\(result.outputTail ?? "")"]) { $1 })
        record(result, meta: meta)
        afterRun()
    }

    /// The last `maxBytes` bytes of stdout followed by stderr, as observation text.
    static func outputTail(stdout: [UInt8], stdoutTruncated: Bool, maxStdout: Int, stderr: [UInt8], maxBytes: Int) -> String {
        guard maxBytes > 0 else { return "" }
        var bytes = stdout
        if stdoutTruncated { bytes += Array("\n[stdout beyond \(Units.formatSize(Int64(maxStdout))) not kept]\n".utf8) }
        if !stderr.isEmpty && !bytes.isEmpty && bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        bytes += stderr
        return bytes.utf8Tail(maxBytes)
    }

    /// What goes into `output_tail`: the end of `kept` and the note, within the protocol's limit.
    static func reportTail(_ kept: String, note: String?) -> String? {
        var suffix = ""
        if let note { suffix = kept.isEmpty || kept.hasSuffix("\n") ? note : "\n" + note }
        let text = kept.tailUTF8(max(0, FieldLimits.outputTail - suffix.utf8.count)) + suffix
        return text.isEmpty ? nil : text
    }

    // MARK: - Stopping

    /// Stops running commands (SIGTERM, SIGKILL after the grace) and spools a `failed` result for
    /// them and for the queued ones; waits up to `timeoutMs` for that. Commands delivered later are
    /// not accepted.
    public func stop(timeoutMs: Int64) {
        let (queued, cancels) = lock.withLock { () -> ([Job], [Wakeup]) in
            stopping = true
            let q = queue
            queue = []
            return (q, Array(running.values))
        }
        for cancel in cancels { cancel.stop() }
        for job in queued {
            let meta: Logger.Metadata = ["action.id": "\(job.command.actionID)", "action.name": "\(job.action.name)"]
            logger.warning("action not started: the agent is stopping", metadata: meta)
            record(ActionResult(actionID: job.command.actionID, outcome: .failed, outputTail: "agent stopping: not started"), meta: meta)
        }
        let done = waitUntilIdle(timeoutMs: timeoutMs)
        if !done {
            logger.warning("actions still running at stop; their results may be lost", metadata: ["running": "\(pending.running)"])
        }
    }

    /// Waits until nothing is queued or running. Returns false on timeout.
    @discardableResult
    public func waitUntilIdle(timeoutMs: Int64) -> Bool {
        let deadline = WallClock.monotonicNanos() + UInt64(max(0, timeoutMs)) * 1_000_000
        return lock.withLock {
            while workers > 0 || !queue.isEmpty {
                if !lock.wait(until: deadline) { return workers == 0 && queue.isEmpty }
            }
            return true
        }
    }
}
