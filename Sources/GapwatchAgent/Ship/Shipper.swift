import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import Synchronization

/// How the shipper is set up; built from `AgentConfig` by `Agent`.
public struct ShipperOptions: Sendable {
    public var reportsURL: String
    public var token: String?
    /// A token file to (re)read when `token` is nil or refused; see `TokenSource`.
    public var tokenFile: String?
    public var identity: AgentIdentity
    public var bootID: String
    public var connectTimeoutMs: Int64 = 5_000
    public var timeoutMs: Int64 = 30_000
    public var batchMax = 500
    public var shipIntervalMs: Int64 = 1_000
    /// Largest uncompressed JSON of the observations in one report.
    public var maxBatchBytes = 4 << 20
    public var backoffBaseMs: Int64 = 1_000
    public var backoffCapMs: Int64 = 300_000
    /// The longest `Retry-After` obeyed.
    public var retryAfterCapMs: Int64 = 3_600_000

    public init(reportsURL: String, token: String?, identity: AgentIdentity, bootID: String) {
        self.reportsURL = reportsURL
        self.token = token
        self.identity = identity
        self.bootID = bootID
    }
}

/// What the shipper has been doing, for `/v1/status`.
public struct ShipperStatus: Sendable, Equatable {
    public var lastAttemptAt: Millis?
    public var lastOKAt: Millis?
    /// The last failure, cleared by the next success. Never contains the token.
    public var lastError: String?
    /// Observations the collector refused one by one with 400/413 and that were skipped.
    public var rejected: Int64 = 0
    /// Observations the collector acknowledged but refused to store, named in a 200's `refused`
    /// (e.g. dated beyond its clock tolerance): skipped, not sent again.
    public var refused: Int64 = 0
}

/// Ships the spool to the collector, oldest first, on its own thread.
///
/// Follows the protocol README's "Agent retry rules":
/// - 200 acks what the collector acknowledged and goes on at once while a backlog remains;
/// - transport errors, 408, 429, 5xx back off exponentially with full jitter (up to 5 min), waiting
///   at least `Retry-After` when given;
/// - 413 halves the batch; 400 `invalid_report` naming `observations[i]` sends the records before it,
///   then skips that one record (logged, counted in `dropped.corrupt`) so it cannot block the spool;
/// - other 400s, 401, 403, 404, 415 keep everything and retry every 5 min until an operator fixes it;
///   after a 401/403, or while the token file gives no token, a change of the token file ends the
///   wait at once (it is looked at every `tokenFilePollMs`).
public final class Shipper: @unchecked Sendable {
    /// What one `shipOnce` did.
    public enum Outcome: Equatable, Sendable {
        /// Nothing to send.
        case idle
        /// A report was stored; `ackedSeq` is the collector's ack.
        case sent(ackedSeq: UInt64)
        /// Sending failed; try again after this many milliseconds.
        case retry(afterMs: Int64)
        /// The batch was too big or held a refused observation; try again at once with fewer.
        case shrunk(to: Int)
        /// A single refused observation was skipped.
        case rejected(seq: UInt64)
        /// The collector holds seqs of this spool with other content, or seqs it never wrote (it
        /// was restored from a copy): the spool took a new id and sends again from `fromSeq`.
        case rotated(fromSeq: UInt64)
    }

    public let options: ShipperOptions
    /// Signal it when records are appended; stop it to end the loop.
    public let wakeup = Wakeup()
    private let spool: Spool
    private let logger: Logger
    private let client: HTTPClient
    private var backoff: Backoff
    private var batchLimit: Int
    private let statusBox = Mutex(ShipperStatus())
    private let tokens: TokenSource
    private var thread: AgentThread?
    private let commandHandler: (@Sendable ([AgentCommand]) -> Void)?
    /// The last `shipOnce` failed for want of an accepted token (401/403, or none in the file).
    private var waitingForToken = false
    /// How often a wait for a token looks at the token file.
    static let tokenFilePollMs: Int64 = 250

    /// `commandHandler` gets the `commands` of every 200 answer (the agent's `ActionRunner`); it
    /// must return quickly. Without one, commands are only logged.
    public init(spool: Spool, options: ShipperOptions, logger: Logger, commandHandler: (@Sendable ([AgentCommand]) -> Void)? = nil) {
        self.spool = spool
        self.options = options
        self.logger = logger
        self.commandHandler = commandHandler
        self.client = HTTPClient(connectTimeoutMs: Int(options.connectTimeoutMs), timeoutMs: Int(options.timeoutMs))
        self.backoff = Backoff(baseMs: options.backoffBaseMs, capMs: options.backoffCapMs)
        self.batchLimit = max(1, min(options.batchMax, ReportLimits.default.maxObservations))
        self.tokens = TokenSource(token: options.token, file: options.tokenFile)
    }

    public var status: ShipperStatus { statusBox.withLock { $0 } }

    public func start() {
        let wakeup = self.wakeup
        spool.addAppendListener { wakeup.signal() }
        thread = AgentThread(name: "gw-shipper") { [self] in run() }
    }

    /// Stops the loop; waits up to `timeoutMs` for a request in flight.
    public func stop(timeoutMs: Int64) {
        wakeup.stop()
        thread?.join(timeoutMs: timeoutMs)
    }

    private func run() {
        var partialSince: UInt64? = nil
        while !wakeup.isStopped {
            let backlog = spool.stats.backlogRecords
            if backlog == 0 {
                partialSince = nil
                wakeup.wait(ms: max(options.shipIntervalMs, 1_000))
                continue
            }
            // A partial batch may wait up to ship_interval for company.
            if backlog < batchLimit && options.shipIntervalMs > 0 {
                let now = WallClock.monotonicNanos()
                let since = partialSince ?? now
                partialSince = since
                let waitedMs = Int64((now - since) / 1_000_000)
                if waitedMs < options.shipIntervalMs {
                    wakeup.wait(ms: options.shipIntervalMs - waitedMs)
                    continue
                }
            }
            partialSince = nil
            switch shipOnce() {
            case .idle: wakeup.wait(ms: max(options.shipIntervalMs, 1_000))
            case .sent, .shrunk, .rejected, .rotated: continue
            case .retry(let ms):
                if waitingForToken && tokens.watchesFile { sleepWatchingTokenFile(ms: ms) } else { wakeup.sleep(ms: ms) }
            }
        }
    }

    /// Sleeps up to `ms` unless stopped, ending early when the token file changes: an operator
    /// who fixes the token should not wait out a backoff of minutes.
    private func sleepWatchingTokenFile(ms: Int64) {
        let deadline = WallClock.monotonicNanos() + UInt64(max(0, ms)) * 1_000_000
        while true {
            let now = WallClock.monotonicNanos()
            guard now < deadline else { return }
            if wakeup.sleep(ms: min(Int64((deadline - now) / 1_000_000) + 1, Self.tokenFilePollMs)) { return }
            if tokens.fileChangedSinceRead() {
                logger.notice("the collector token file changed; retrying now")
                return
            }
        }
    }

    /// Sends one batch and handles the answer. Called by the shipper thread (or a test), never
    /// from two threads at once.
    public func shipOnce() -> Outcome {
        waitingForToken = false
        let batch: [Observation]
        do {
            batch = try spool.readBatch(maxRecords: batchLimit, maxBytes: options.maxBatchBytes)
        } catch {
            return fail("cannot read the spool: \(error)", delay: backoff.next())
        }
        guard let first = batch.first, let last = batch.last else { return .idle }
        let now = WallClock.nowMillis()
        statusBox.withLock { $0.lastAttemptAt = now }
        let report = Report(
            agent: options.identity, bootID: options.bootID, spoolID: spool.spoolID, sentAt: now, observations: batch,
            previousSpoolID: spool.previousSpoolID)
        let body = Gzip.compress(ReportCodec.encode(report))
        if body.count > ReportLimits.default.maxBodyBytes && batch.count > 1 {
            batchLimit = max(1, batch.count / 2)
            return .shrunk(to: batchLimit)
        }
        // The agent id beside the token: a refused token is still told apart at the collector.
        var headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip"), ("Gapwatch-Agent-Id", options.identity.id)]
        switch tokens.current() {
        case .none: break
        case .token(let token): headers.append(("Authorization", "Bearer \(token)"))
        case .unavailable(let why):
            waitingForToken = true
            return fail("no collector token yet: \(why)", delay: backoff.next())
        }
        let response: HTTPResponse
        do {
            response = try client.send(HTTPRequest(method: "POST", url: options.reportsURL, headers: headers, body: body))
        } catch {
            return fail("cannot reach the collector: \(error.message)", delay: backoff.next())
        }
        let meta: Logger.Metadata = ["http.status": "\(response.status)", "batch.first_seq": "\(first.seq)", "batch.count": "\(batch.count)"]
        switch response.status {
        case 200:
            let answer: ReportResponse
            do {
                answer = try ReportCodec.decode(ReportResponse.self, from: response.body)
            } catch {
                return fail("the collector's 200 answer is not a report response: \(error)", delay: backoff.next())
            }
            // Commands first: they do not depend on the ack being sane.
            if !answer.commands.isEmpty {
                if let commandHandler {
                    commandHandler(answer.commands)
                } else {
                    for command in answer.commands {
                        logger.debug(
                            "collector sent a command; no command handler",
                            metadata: ["action.id": "\(command.actionID)", "command.name": "\(command.name)"])
                    }
                }
            }
            if let conflict = answer.conflictingSeq {
                return rotate(keepingBelow: conflict, why: "the collector holds seq \(conflict) of this spool with other content", metadata: meta)
            }
            if answer.ackedSeq > spool.lastWrittenSeq {
                // Seqs this spool never wrote: the next ones it writes would be taken for repeats.
                return rotate(
                    keepingBelow: last.seq + 1,
                    why: "the collector acknowledged seq \(answer.ackedSeq), above the highest this spool wrote (\(spool.lastWrittenSeq))",
                    metadata: meta)
            }
            if answer.ackedSeq < first.seq {
                return fail("the collector acknowledged seq \(answer.ackedSeq), below the batch \(first.seq)...\(last.seq)", delay: backoff.next())
            }
            do {
                try spool.ack(upTo: answer.ackedSeq)
            } catch {
                return fail("cannot record the ack: \(error)", delay: backoff.next())
            }
            noteRefused(answer.refused, batch: batch, metadata: meta)
            if backoff.failures > 0 { logger.info("shipping to the collector works again", metadata: meta) }
            backoff.reset()
            batchLimit = min(max(1, min(options.batchMax, ReportLimits.default.maxObservations)), batchLimit * 2)
            statusBox.withLock {
                $0.lastOKAt = now
                $0.lastError = nil
            }
            logger.debug(
                "report stored",
                metadata: meta.merging(["acked_seq": "\(answer.ackedSeq)", "stored": "\(answer.stored)", "duplicates": "\(answer.duplicates)"]) { $1 }
            )
            return .sent(ackedSeq: answer.ackedSeq)
        case 408, 429, 500, 502, 503, 504:
            // Retry-After: wait at least that long, then go on with the backoff.
            var delay = backoff.next()
            if let after = retryAfterMs(response) { delay = max(delay, after) }
            return fail("the collector is unavailable (HTTP \(response.status))\(errorText(response))", delay: delay, metadata: meta)
        case 413:
            if batch.count > 1 {
                batchLimit = max(1, batch.count / 2)
                logger.warning(
                    "the collector found the report too large; halving the batch", metadata: meta.merging(["batch.limit": "\(batchLimit)"]) { $1 })
                return .shrunk(to: batchLimit)
            }
            return reject(batch[0], response: response, metadata: meta)
        case 400:
            let error = try? ReportCodec.decode(ErrorBody.self, from: response.body)
            if error?.error == "invalid_report", let field = error?.field, let index = Self.observationIndex(field), index < batch.count {
                if index > 0 {
                    batchLimit = index  // the observations before the refused one are fine: store them first
                    return .shrunk(to: index)
                }
                return reject(batch[0], response: response, metadata: meta)
            }
            fallthrough
        default:
            // 400, 401, 403, 404, 415...: an operator must fix the token, config or collector. Keep
            // everything and retry at the slowest pace.
            let hint: String
            switch response.status {
            case 401, 403:
                tokens.refresh()  // a rotated token file is picked up on the next attempt
                waitingForToken = true
                hint = "; check the collector token and agent.id"
            case 404: hint = "; check collector.url"
            default: hint = ""
            }
            return fail(
                "the collector refused the report (HTTP \(response.status))\(errorText(response))\(hint)",
                delay: options.backoffCapMs, level: .error, metadata: meta)
        }
    }

    /// A spool restored from a copy (a VM or disk snapshot) reuses seqs the collector already
    /// holds: acks what the collector stored (everything below `keepingBelow`) and gives the spool
    /// a new id, so the rest is sent again as new records rather than dropped as duplicates.
    private func rotate(keepingBelow seq: UInt64, why: String, metadata: Logger.Metadata) -> Outcome {
        do {
            if seq > 1 { try spool.ack(upTo: seq - 1) }
            let ids = try spool.rotate()
            logger.warning(
                "the spool was restored from a copy (\(why)); rotated to a new spool id, the records from seq \(seq) on are sent again under it",
                metadata: metadata.merging(["spool.previous_id": "\(ids.old)", "spool.id": "\(ids.new)", "from_seq": "\(seq)"]) { $1 })
        } catch {
            return fail("cannot rotate the restored spool: \(error)", delay: backoff.next())
        }
        backoff.reset()
        return .rotated(fromSeq: seq)
    }

    /// Skips one observation the collector refuses on its own (400 `invalid_report` naming it, or 413
    /// alone), counting it as corrupt so the loss reaches the collector in a `dropped` observation.
    private func reject(_ observation: Observation, response: HTTPResponse, metadata: Logger.Metadata) -> Outcome {
        logger.error(
            "the collector refused an observation; skipping it and counting it as corrupt",
            metadata: metadata.merging([
                "seq": "\(observation.seq)", "kind": "\(observation.body.kind.rawValue)",
                "error.body": "\(String(decoding: response.body.prefix(2048), as: UTF8.self))",
            ]) { $1 })
        do {
            try spool.skipRefused(seq: observation.seq)
        } catch {
            return fail("cannot skip a refused observation: \(error)", delay: backoff.next())
        }
        statusBox.withLock { $0.rejected += 1 }
        return .rejected(seq: observation.seq)
    }

    /// The observations a 200 named as refused one by one: acknowledged (the ack covers them, so
    /// they leave the spool and are not sent again), counted in `refused` and logged, one line each
    /// for the first few of a report.
    private func noteRefused(_ refused: [RefusedObservation], batch: [Observation], metadata: Logger.Metadata) {
        guard !refused.isEmpty else { return }
        let sent = Set(batch.map(\.seq))
        let ours = refused.filter { sent.contains($0.seq) }
        statusBox.withLock { $0.refused += Int64(ours.count) }
        for refusal in ours.prefix(5) {
            logger.warning(
                "the collector refused an observation and will not store it; skipping it",
                metadata: metadata.merging(["seq": "\(refusal.seq)", "field": "\(refusal.field)", "reason": "\(refusal.reason)"]) { $1 })
        }
        if ours.count > 5 {
            logger.warning("the collector refused more observations of this report", metadata: metadata.merging(["refused": "\(ours.count)"]) { $1 })
        }
    }

    /// `3` from `observations[3].seq`.
    static func observationIndex(_ text: String) -> Int? {
        guard let open = text.firstRange(of: "observations[") else { return nil }
        let digits = text[open.upperBound...].prefix { $0.isASCII && $0.isNumber }
        return Int(digits)
    }

    private func retryAfterMs(_ response: HTTPResponse) -> Int64? {
        guard let text = response.headers["retry-after"], let seconds = Int64(text.trimmed), seconds >= 0 else { return nil }
        // A floor keeps "Retry-After: 0" from becoming a busy loop.
        return max(100, min(options.retryAfterCapMs, seconds * 1000))
    }

    private func errorText(_ response: HTTPResponse) -> String {
        if let body = try? ReportCodec.decode(ErrorBody.self, from: response.body) {
            return ": \(body.error): \(body.message)"
        }
        return ""
    }

    private func fail(_ message: String, delay: Int64, level: Logger.Level = .warning, metadata: Logger.Metadata = [:]) -> Outcome {
        statusBox.withLock { $0.lastError = message }
        logger.log(
            level: level, "shipping failed; will retry",
            metadata: metadata.merging(["error": "\(message)", "retry_in": "\(Units.formatDuration(delay))"]) { $1 })
        return .retry(afterMs: delay)
    }
}
