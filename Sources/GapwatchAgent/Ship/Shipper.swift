import GapwatchHTTPClient
import GapwatchProtocol
import Logging
import Synchronization

/// How the shipper is set up; built from `AgentConfig` by `Agent`.
public struct ShipperOptions: Sendable {
    public var reportsURL: String
    public var token: String?
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
}

/// Ships the spool to the collector, oldest first, on its own thread.
///
/// Success (200) acks what the collector acknowledged and goes on at once while a backlog remains.
/// Transport errors, 5xx, 401/403 and other refusals back off exponentially with full jitter
/// (1 s to 5 min); 429/503 obey `Retry-After`. A 413, or a 400 naming an observation, shrinks the
/// batch; a single observation refused that way is logged, skipped and counted as `rejected`.
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
    private var thread: AgentThread?

    public init(spool: Spool, options: ShipperOptions, logger: Logger) {
        self.spool = spool
        self.options = options
        self.logger = logger
        self.client = HTTPClient(connectTimeoutMs: Int(options.connectTimeoutMs), timeoutMs: Int(options.timeoutMs))
        self.backoff = Backoff(baseMs: options.backoffBaseMs, capMs: options.backoffCapMs)
        self.batchLimit = max(1, min(options.batchMax, ReportLimits.default.maxObservations))
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
                let now = Clock.monotonicNanos()
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
            case .idle: wakeup.wait(ms: options.shipIntervalMs)
            case .sent, .shrunk, .rejected: continue
            case .retry(let ms): wakeup.sleep(ms: ms)
            }
        }
    }

    /// Sends one batch and handles the answer. Called by the shipper thread (or a test), never
    /// from two threads at once.
    public func shipOnce() -> Outcome {
        let batch: [Observation]
        do {
            batch = try spool.readBatch(maxRecords: batchLimit, maxBytes: options.maxBatchBytes)
        } catch {
            return fail("cannot read the spool: \(error)", delay: backoff.next())
        }
        guard let first = batch.first, let last = batch.last else { return .idle }
        let now = Clock.nowMillis()
        statusBox.withLock { $0.lastAttemptAt = now }
        let report = Report(agent: options.identity, bootID: options.bootID, spoolID: spool.spoolID, sentAt: now, observations: batch)
        let body = Gzip.compress(ReportCodec.encode(report))
        if body.count > ReportLimits.default.maxBodyBytes && batch.count > 1 {
            batchLimit = max(1, batch.count / 2)
            return .shrunk(to: batchLimit)
        }
        var headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
        if let token = options.token { headers.append(("Authorization", "Bearer \(token)")) }
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
            if answer.ackedSeq < first.seq {
                return fail("the collector acknowledged seq \(answer.ackedSeq), below the batch \(first.seq)...\(last.seq)", delay: backoff.next())
            }
            do {
                try spool.ack(upTo: answer.ackedSeq)
            } catch {
                return fail("cannot record the ack: \(error)", delay: backoff.next())
            }
            if backoff.failures > 0 { logger.info("shipping to the collector works again", metadata: meta) }
            backoff.reset()
            batchLimit = min(max(1, min(options.batchMax, ReportLimits.default.maxObservations)), batchLimit * 2)
            statusBox.withLock {
                $0.lastOKAt = now
                $0.lastError = nil
            }
            logger.debug(
                "report stored", metadata: meta.merging(["acked_seq": "\(answer.ackedSeq)", "stored": "\(answer.stored)", "duplicates": "\(answer.duplicates)"]) { $1 })
            for command in answer.commands {
                logger.debug("collector sent a command; commands are not run yet", metadata: ["action.id": "\(command.actionID)", "command.name": "\(command.name)"])
            }
            return .sent(ackedSeq: answer.ackedSeq)
        case 429, 503:
            let delay = retryAfterMs(response) ?? backoff.next()
            return fail("the collector is busy (HTTP \(response.status)); retrying in \(Units.formatDuration(delay))", delay: delay, metadata: meta)
        case 401, 403:
            return fail(
                "the collector refused the agent's credentials (HTTP \(response.status)); check collector.token",
                delay: backoff.next(), level: .error, metadata: meta)
        case 400, 413:
            return refused(batch: batch, response: response, metadata: meta)
        default:
            let detail = errorText(response)
            return fail("the collector answered HTTP \(response.status)\(detail)", delay: backoff.next(), metadata: meta)
        }
    }

    /// 400/413: shrink the batch toward the refused observation, then skip it alone.
    private func refused(batch: [Observation], response: HTTPResponse, metadata: Logger.Metadata) -> Outcome {
        let error = try? ReportCodec.decode(ErrorBody.self, from: response.body)
        let pointer = error?.field ?? error?.message ?? ""
        let index = Self.observationIndex(pointer)
        let aboutReport = error?.field.map { !$0.hasPrefix("observations") } ?? false
        if aboutReport && response.status == 400 {
            // Not one observation's fault (identity, version...): shrinking would not help.
            return fail("the collector refused the report (HTTP 400)\(errorText(response))", delay: backoff.next(), level: .error, metadata: metadata)
        }
        if batch.count > 1 {
            if let index, index > 0, index < batch.count {
                batchLimit = index  // the observations before the refused one are fine
            } else if index == 0 {
                batchLimit = 1
            } else {
                batchLimit = max(1, batch.count / 2)
            }
            logger.warning("the collector refused a batch; sending fewer observations", metadata: metadata.merging(["batch.limit": "\(batchLimit)"]) { $1 })
            return .shrunk(to: batchLimit)
        }
        let seq = batch[0].seq
        logger.error(
            "the collector refused an observation; skipping it",
            metadata: metadata.merging([
                "seq": "\(seq)", "kind": "\(batch[0].body.kind.rawValue)",
                "error.body": "\(String(decoding: response.body.prefix(2048), as: UTF8.self))",
            ]) { $1 })
        do {
            try spool.ack(upTo: seq)
        } catch {
            return fail("cannot skip a refused observation: \(error)", delay: backoff.next())
        }
        statusBox.withLock { $0.rejected += 1 }
        return .rejected(seq: seq)
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
        logger.log(level: level, "shipping failed; will retry", metadata: metadata.merging(["error": "\(message)", "retry_in": "\(Units.formatDuration(delay))"]) { $1 })
        return .retry(afterMs: delay)
    }
}
