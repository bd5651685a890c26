import GapwatchProtocol
import Logging

/// What storing one report did.
public struct IngestResult: Sendable, Equatable {
    /// Highest seq of the report's spool now durably stored.
    public var ackedSeq: UInt64
    public var stored: Int
    public var duplicates: Int
    /// Commands waiting for this agent, handed to it in the response (same transaction). Only a
    /// report from the stream the agent id is bound to gets them.
    public var commands: [AgentCommand] = []
    /// The report's lowest seq that the collector already holds with other content (a spool
    /// restored from a copy); nothing from it on was stored, and `ackedSeq` stays below it.
    public var conflictingSeq: UInt64?
    /// received_at - observed_at of each stored observation (ms), for the ingest lag histogram.
    var storedLagsMs: [Millis] = []
    /// Action results stored but not applied: their command was not handed to this agent and stream.
    var refusedResults = 0
    /// Lines for the collector's log, written once the transaction committed.
    var notices: [IngestNotice] = []
    /// Observations acknowledged but not stored, one by one: dated beyond the clock tolerance, or
    /// facts another agent owns.
    public internal(set) var refused: [RefusedObservation] = []
}

/// A line the ingest writer logs after a commit (a stream rebound, a restored spool found).
struct IngestNotice: Sendable, Equatable {
    var level: Logger.Level
    var message: String
    var metadata: [String: String]
}

/// A fleet token brought `fleet.new_agents_per_hour` new agent ids in the last hour already; the
/// report was refused before anything of it was written (429: the agent keeps it and retries).
public struct NewAgentRefused: Error, Sendable, Equatable {
    public var agentID: String
    public var tokenID: String
    public var limit: Int
    public var retryAfterMs: Millis

    public var message: String {
        limit == 0
            ? "agent id '\(agentID)' is new, and fleet token \(tokenID) may not bring new agent ids (fleet.new_agents_per_hour: 0); use an agent token for it"
            : "agent id '\(agentID)' is new, and fleet token \(tokenID) brought \(limit) new agent ids in the last hour (fleet.new_agents_per_hour); retry in \(Units.formatDuration(retryAfterMs))"
    }
}

/// The collector's single writer. Reports that arrive while a transaction is being written wait
/// and are committed together in the next one (group commit), so one fsync serves many requests.
/// A caller's `ingest` returns only after its report's transaction committed.
public actor IngestWriter {
    private let database: AppDatabase
    private let logger: Logger
    private var pending: [Pending] = []
    private var flushing = false
    /// What is known to be committed. Only replaced after a commit, so a rolled-back row never lingers.
    private var cache = WriterCache()
    /// Committed transactions and the reports in them (for benchmarks and metrics).
    public private(set) var transactions = 0
    public private(set) var committedReports = 0
    /// Which checks observations feed; set by the detector once the config is synced.
    private var routing = CheckRouting()
    /// Who may report which facts, and what the config vouches for about agents.
    private let ownership: OwnershipConfig
    private let metrics: CollectorMetrics?
    /// What a fleet token may do (new agent ids per hour, when commands follow a new stream).
    private let fleet: FleetConfig

    func setRouting(_ routing: CheckRouting) { self.routing = routing }

    private struct Pending {
        var report: Report
        var receivedAt: Millis
        /// The token the report came with; nil: in-process (trusted like the agent's own token).
        var token: TokenIdentity?
        var continuation: CheckedContinuation<IngestResult, any Error>
    }

    public init(database: AppDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
        self.metrics = nil
        self.fleet = FleetConfig()
        self.ownership = OwnershipConfig()
    }

    init(
        database: AppDatabase, logger: Logger, routing: CheckRouting, ownership: OwnershipConfig = OwnershipConfig(),
        metrics: CollectorMetrics? = nil, fleet: FleetConfig = FleetConfig()
    ) {
        self.database = database
        self.logger = logger
        self.routing = routing
        self.ownership = ownership
        self.metrics = metrics
        self.fleet = fleet
    }

    /// Stores `report` (deduplicating by agent, spool and seq) and returns once it is committed.
    /// `token` is the one the report came with (nil: in-process, trusted as the agent's own); its
    /// bound service and labels are what the agent is judged by.
    /// Throws `NewAgentRefused` for a new agent id a fleet token may not bring now.
    public func ingest(_ report: Report, receivedAt: Millis, token: TokenIdentity? = nil) async throws -> IngestResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(report: report, receivedAt: receivedAt, token: token, continuation: continuation))
            if !flushing {
                flushing = true
                Task { await self.flushPending() }
            }
        }
    }

    private func flushPending() async {
        while !pending.isEmpty {
            let group = pending
            pending = []
            let items = group.map { ($0.report, $0.receivedAt, $0.token) }
            let known = cache
            let routing = self.routing
            let fleet = self.fleet
            let ownership = self.ownership
            do {
                let outcome = try await database.write { tx in
                    var batch = BatchWriter(tx: tx, cache: known, routing: routing, fleet: fleet, ownership: ownership)
                    var results: [Result<IngestResult, NewAgentRefused>] = []
                    results.reserveCapacity(items.count)
                    for (report, receivedAt, token) in items {
                        do {
                            results.append(.success(try batch.store(report, receivedAt: receivedAt, token: token)))
                        } catch let refused as NewAgentRefused {
                            // Refused before the report wrote anything: the rest of the group commits.
                            results.append(.failure(refused))
                        }
                    }
                    return (results, batch.cache)
                }
                cache = outcome.1
                transactions += 1
                committedReports += group.count
                for (item, result) in zip(group, outcome.0) {
                    switch result {
                    case .success(let stored):
                        metrics?.ingestCommitted(
                            stored: stored.stored, duplicates: stored.duplicates, refusedResults: stored.refusedResults,
                            storedLagsMs: stored.storedLagsMs)
                        metrics?.refused(stored.refused, of: item.report)
                        log(stored.notices)
                        item.continuation.resume(returning: stored)
                    case .failure(let refused):
                        item.continuation.resume(throwing: refused)
                    }
                }
            } catch {
                logger.error("ingest transaction failed", metadata: ["error": "\(error)", "reports": "\(group.count)"])
                for item in group { item.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }

    /// When each (message, agent) was last logged: an agent that repeats what makes a notice (a
    /// restored spool resending, forged results) gets one line a minute, not one per report.
    private var lastLogged: [String: UInt64] = [:]
    static let noticeIntervalNanos: UInt64 = 60_000_000_000

    private func log(_ notices: [IngestNotice]) {
        let now = WallClock.monotonicNanos()
        for notice in notices {
            // Warnings are what a caller can repeat at will; a rebind is a rare change, always logged.
            if notice.level >= .warning {
                let key = notice.message + "\u{0}" + (notice.metadata["agent.id"] ?? "")
                if let last = lastLogged[key], now - last < Self.noticeIntervalNanos { continue }
                if lastLogged.count >= 10_000 { lastLogged.removeAll() }  // bounded: claimed agent ids are the caller's word
                lastLogged[key] = now
            }
            logger.log(level: notice.level, "\(notice.message)", metadata: notice.metadata.mapValues { .string($0) })
        }
    }
}

/// Ids and agent identities already in the database, so the hot path skips lookups and rewrites.
struct WriterCache: Sendable {
    var subjectIDs: [String: Int64] = [:]
    var streamIDs: [StreamKey: Int64] = [:]
    /// The identity and boot id last written for each agent.
    var agents: [String: AgentSnapshot] = [:]
    /// `agent:ID` and `probe:AGENT/NAME` → the id of that liveness or probe check.
    var automaticCheckIDs: [String: Int64] = [:]
    /// Stream id → its last seq run (the one ending at the highest stored seq); nil: none yet.
    var lastRuns: [Int64: SeqRun?] = [:]
    /// Agent id → whether its clock was off by more than the tolerance in its last report.
    var clockOff: [String: Bool] = [:]
}

/// Seqs `from...to` of one stream are all stored (see `stream_seq_runs`).
struct SeqRun: Equatable, Sendable {
    var from: Int64
    var to: Int64
}

struct AgentSnapshot: Equatable, Sendable {
    var identity: AgentIdentity
    var bootID: String
    var binding: AgentBinding
}

struct StreamKey: Hashable, Sendable {
    var agentID: String
    var spoolID: String
}

/// Writes reports inside one open transaction.
private struct BatchWriter {
    let tx: StoreTransaction
    var cache: WriterCache
    let routing: CheckRouting
    let fleet: FleetConfig
    let ownership: OwnershipConfig
    /// Fact → owner (nil: none), looked up once per transaction: a reassignment commits between
    /// transactions, so this never outlives what it read.
    var owners: [String: String?] = [:]

    init(tx: StoreTransaction, cache: WriterCache, routing: CheckRouting, fleet: FleetConfig, ownership: OwnershipConfig) {
        self.tx = tx
        self.cache = cache
        self.routing = routing
        self.fleet = fleet
        self.ownership = ownership
    }

    mutating func store(_ report: Report, receivedAt: Millis, token: TokenIdentity?) throws -> IngestResult {
        let agent = report.agent
        // Before anything is written: a refusal must leave the rest of the group intact.
        let newAgent = try isNewAgent(agent.id)
        if newAgent { try admitNewAgent(agent.id, token: token, now: receivedAt) }
        let binding = ownership.binding(agentID: agent.id, token: token)
        let snapshot = AgentSnapshot(identity: agent, bootID: report.bootID, binding: binding)
        if cache.agents[agent.id] == snapshot {
            // Same identity as last time: only the liveness columns change (no label JSON to encode).
            try tx.agents.touch(agent.id, seenAt: receivedAt, clockSkewMs: ClampedTime.subtract(receivedAt, report.sentAt))
        } else {
            try upsertAgent(report, binding: binding, receivedAt: receivedAt)
            cache.agents[agent.id] = snapshot
        }
        if newAgent { try recordBringer(agent.id, token: token) }
        let streamID = try stream(StreamKey(agentID: agent.id, spoolID: report.spoolID), at: receivedAt, previousSpoolID: report.previousSpoolID)
        var notices: [IngestNotice] = []
        let holdsCommands = try bindCommands(report, streamID: streamID, token: token, now: receivedAt, notices: &notices)

        let observations = try tx.observationWriter()
        // Seqs above the last run are new (the usual case: the next records of the spool) and
        // extend it in memory; one at or below it is new only if it falls in no stored run.
        var run = try lastRun(streamID)
        var runChanged = false
        var stored = 0
        var processed = 0
        var maxSeq: UInt64 = 0
        var maxStoredAt: Millis?
        var dropped: DroppedRecords?
        var lags: [Millis] = []
        var conflict: UInt64?
        var refusedResults = 0
        let clock = ClockBound(receivedAt: receivedAt, sentAt: report.sentAt, toleranceMs: routing.clockToleranceMs)
        var refused: [RefusedObservation] = []
        var ownerRefused = 0
        var corrected = 0
        for (index, sent) in report.observations.enumerated() {
            guard let (observation, moved) = bounded(sent, index: index, by: clock, refused: &refused) else {
                maxSeq = max(maxSeq, sent.seq)  // a refused observation is acknowledged too
                continue
            }
            let body = observation.body
            let seq = Int64(observation.seq)
            if let refusal = try ownershipRefusal(observation, in: report, binding: binding, now: receivedAt) {
                // Not stored and no effect; its seq is taken, so the ack covers it and a resend is a duplicate.
                maxSeq = max(maxSeq, observation.seq)
                processed += 1
                guard try !isRepeat(seq, streamID: streamID, run: run) else { continue }
                try takeSeq(seq, streamID: streamID, run: &run, runChanged: &runChanged)
                try tallyRefusal(refusal, agentID: agent.id, now: receivedAt)
                refused.append(refusal.observation)
                ownerRefused += 1
                continue
            }
            if try isRepeat(seq, streamID: streamID, run: run) {
                // A repeat: stored before, so it changes nothing now. One whose stored copy differs
                // is a reused seq (a spool restored from a copy): it and everything after it wait
                // for the agent to send them again under a new spool id.
                guard try storedCopyMatches(observation, agentID: agent.id, streamID: streamID, corrected: moved, in: observations) else {
                    conflict = observation.seq
                    break
                }
                processed += 1
                maxSeq = max(maxSeq, observation.seq)
                continue
            }
            try takeSeq(seq, streamID: streamID, run: &run, runChanged: &runChanged)
            processed += 1
            maxSeq = max(maxSeq, observation.seq)
            let subjectID = try subject(body.subject(agentID: agent.id), in: observations)
            guard
                try observations.insert(
                    streamID: streamID, seq: seq, observedAt: observation.observedAt,
                    receivedLagMs: ClampedTime.subtract(receivedAt, observation.observedAt), kind: body.kind.storageCode, subjectID: subjectID,
                    columns: body.columns)
            else { continue }
            stored += 1
            if moved { corrected += 1 }
            lags.append(ClampedTime.subtract(receivedAt, observation.observedAt))
            maxStoredAt = max(maxStoredAt ?? observation.observedAt, observation.observedAt)
            if case .dropped(let d) = body { dropped = d }
            // Effects only for what was stored: a repeat must not move a lock, a job or an action.
            if try !applyEffects(observation, agentID: agent.id, binding: binding, streamID: streamID, holdsCommands: holdsCommands, now: receivedAt)
            {
                refusedResults += 1
            }
        }
        if let run, runChanged {
            try saveRun(streamID, run)
        }
        cache.lastRuns[streamID] = .some(run)
        if routing.livenessEnabled, let maxStoredAt {
            try recordLiveness(agentID: agent.id, observedAt: maxStoredAt, now: receivedAt)
        }
        try recordClock(agentID: agent.id, clock: clock, corrected: corrected, refused: refused.count, now: receivedAt)
        let acked = try tx.streams.advance(streamID, toSeq: Int64(maxSeq), seenAt: receivedAt)
        if ownerRefused > 0 {
            try tx.agents.addRefused(agent.id, ownerRefused)
        }
        if let dropped {
            try tx.streams.recordDropped(streamID, overflow: dropped.overflow, corrupt: dropped.corrupt)
        }
        var ackedSeq = UInt64(max(0, acked))
        if let conflict {
            ackedSeq = min(ackedSeq, conflict - 1)
            notices.append(
                IngestNotice(
                    level: .warning,
                    message:
                        "a repeated seq holds other content than the stored one: the agent's spool was restored from a copy (a VM or disk snapshot) and reuses seqs; nothing from this seq on was stored, and the agent is told to rotate to a new spool id and send it again",
                    metadata: ["agent.id": agent.id, "stream": "\(streamID)", "seq": "\(conflict)"]))
        }
        if refusedResults > 0 {
            notices.append(
                IngestNotice(
                    level: .warning,
                    message: "refused action results: their command was not handed to this agent and stream (kept on the timeline, not applied)",
                    metadata: ["agent.id": agent.id, "stream": "\(streamID)", "results": "\(refusedResults)"]))
        }
        return IngestResult(
            ackedSeq: ackedSeq, stored: stored, duplicates: processed - stored - ownerRefused,
            commands: holdsCommands ? try waitingCommands(agentID: agent.id, streamID: streamID, now: receivedAt) : [],
            conflictingSeq: conflict, storedLagsMs: lags, refusedResults: refusedResults, notices: notices, refused: refused)
    }

    /// `sent` as stored, its times judged by the collector's clock (see `ClockBound`), and whether
    /// its observed_at was corrected for the agent's clock; nil when it is refused (added to `refused`).
    private func bounded(_ sent: Observation, index: Int, by clock: ClockBound, refused: inout [RefusedObservation]) -> (Observation, Bool)? {
        switch clock.judge(sent, index: index) {
        case .accept(let observation, let corrected): return (observation, corrected)
        case .refuse(let refusal):
            refused.append(refusal)
            return nil
        }
    }

    /// Counts an agent's corrected and refused observations, and keeps its clock check
    /// (`clock:ID`, judged by the detector) in step: made when its clock is first off by more than
    /// the tolerance, and due whenever that changes.
    private mutating func recordClock(agentID: String, clock: ClockBound, corrected: Int, refused: Int, now: Millis) throws {
        if corrected > 0 || refused > 0 {
            try tx.agents.addClockCounts(agentID, corrected: corrected, refused: refused)
        }
        guard routing.clockChecks, cache.clockOff[agentID] != clock.clockOff else { return }
        cache.clockOff[agentID] = clock.clockOff
        let name = "clock:\(agentID)"
        let checkID: Int64?
        if clock.clockOff {
            checkID = try automaticCheck(name, kind: ClockSkewKind.kind, reason: "the agent's clock is off", now: now)
        } else {
            checkID = try tx.checks.id(named: name)
        }
        try markDue(checkID.map { [$0] }, now: now)
    }

    /// What a stored observation changes besides the timeline: the checks, jobs, locks and actions
    /// it feeds. Returns false for an action result that was refused (not applied).
    private mutating func applyEffects(
        _ observation: Observation, agentID: String, binding: AgentBinding, streamID: Int64, holdsCommands: Bool, now receivedAt: Millis
    ) throws -> Bool {
        switch observation.body {
        case .heartbeat(let ping):
            if let targets = routing.pings[ping.name] {
                for target in targets where target.accepts(binding) {
                    try recordPing(ping, observedAt: observation.observedAt, checkID: target.checkID, agentID: agentID, now: receivedAt)
                }
            }
            if ping.probe == true && routing.probeFailuresAfter > 0 {
                try recordProbeRun(ping, observedAt: observation.observedAt, agentID: agentID, now: receivedAt)
            }
        case .decision(let decision) where decision.decision == .run:
            try markDue(routing.checks(for: .run(workflow: decision.workflow)), now: receivedAt)
        case .count(let count):
            try markDue(routing.checks(for: .count(dataset: count.dataset)), now: receivedAt)
        case .itemStatus(let item):
            try markDue(routing.checks(for: .itemStatus(itemKind: item.itemKind)), now: receivedAt)
        case .job(let job):
            try tx.schedulerFacts.record(job, agentID: agentID, observedAt: observation.observedAt)
            try markDue(routing.checks(for: .jobs), now: receivedAt)
        case .probe(let probe) where probe.job != nil:
            // Re-judge only when a target's health crosses a threshold, not on every probe.
            if let counts = try tx.schedulerFacts.record(probe, observedAt: observation.observedAt),
                routing.crossesTargetThreshold(failures: counts.failures, successes: counts.successes)
            {
                try markDue(routing.checks(for: .jobs), now: receivedAt)
            }
        case .lock(let lock):
            try tx.schedulerFacts.record(lock, agentID: agentID, observedAt: observation.observedAt)
            try markDue(routing.checks(for: .lock), now: receivedAt)
        case .actionResult(let result):
            return try recordActionResult(result, agentID: agentID, streamID: streamID, holdsCommands: holdsCommands)
        default: break
        }
        return true
    }

    /// Whether `seq` of the stream is stored already (a resend): at or below the last run and in
    /// no gap below it.
    private func isRepeat(_ seq: Int64, streamID: Int64, run: SeqRun?) throws -> Bool {
        guard let current = run, seq <= current.to else { return false }
        return try !isGapBelow(streamID, seq: seq, lastRun: current)
    }

    /// Marks a new `seq` of the stream as taken: seqs above the last run are new (the usual case:
    /// the next records of the spool) and extend it in memory; one in a gap below it gets a run of
    /// its own.
    private func takeSeq(_ seq: Int64, streamID: Int64, run: inout SeqRun?, runChanged: inout Bool) throws {
        if let current = run, seq <= current.to {
            try saveRun(streamID, SeqRun(from: seq, to: seq))
        } else if let current = run, seq == current.to + 1 {
            run = SeqRun(from: current.from, to: seq)
            runChanged = true
        } else {
            if let current = run, runChanged { try saveRun(streamID, current) }
            run = SeqRun(from: seq, to: seq)
            runChanged = true
        }
    }

    /// The outcome of a command this collector handed out; the action runner takes it from here.
    /// Taken only from the agent the command is for, over the stream it was handed to or the
    /// agent's bound stream: anyone else's result (another agent's, a stream claiming the id with
    /// a shared token) is refused, so it cannot move the action on.
    private func recordActionResult(_ result: ActionResult, agentID: String, streamID: Int64, holdsCommands: Bool) throws -> Bool {
        guard let command = try tx.actions.commandRecipient(of: result.actionID),
            command.agentID == agentID, holdsCommands || command.handedStreamID == streamID
        else { return false }
        try ActionQueue(tx: tx).recordAgentResult(
            result.actionID, outcome: result.outcome.rawValue,
            detail: [result.exitCode.map { "exit code \($0)" }, result.outputTail].compactMap { $0 }.joined(separator: ": "))
        return true
    }

    /// How far a resent observation's corrected time may be from the stored copy's.
    static let correctedSlackMs: Millis = 5_000

    /// Whether the stored observation with this seq is `observation` itself (sent again after a
    /// lost answer) rather than another under a reused seq (a spool restored from a copy). Looked
    /// up by the table's full key, so a repeat costs one index probe. When the agent's clock runs
    /// ahead its times are moved back by this send's skew (see `ClockBound`), which differs from
    /// the first send's by the network's jitter: then a copy within `correctedSlackMs` counts. A
    /// copy pruned by retention, or one moved by a very different skew, counts as different: the
    /// agent then sends it again under a new spool id, which loses nothing.
    private mutating func storedCopyMatches(
        _ observation: Observation, agentID: String, streamID: Int64, corrected: Bool, in observations: ObservationWriter
    ) throws -> Bool {
        let body = observation.body
        let name = body.subject(agentID: agentID)
        let subjectID: Int64?
        if let known = cache.subjectIDs[name] {
            subjectID = known
        } else {
            subjectID = try observations.subjectID(named: name)
        }
        guard let subjectID,
            let stored = try observations.storedCopy(
                subjectID: subjectID, observedFrom: ClampedTime.subtract(observation.observedAt, corrected ? Self.correctedSlackMs : 0),
                through: ClampedTime.add(observation.observedAt, corrected ? Self.correctedSlackMs : 0), streamID: streamID,
                seq: Int64(observation.seq))
        else { return false }
        return stored.kind == Int64(body.kind.storageCode) && stored.columns == body.columns
    }

    // MARK: - Fact owners (see FactOwners)

    /// A refused observation and the fact it stated.
    struct Refusal {
        var observation: RefusedObservation
        var fact: String
        var entitled: String
    }

    /// nil when `agentID` may report this observation's fact (recording it as the owner when
    /// nobody owned it), else why not. The config's owners decide first; where it is silent the
    /// fact's first reporter owns it.
    private mutating func ownershipRefusal(_ observation: Observation, in report: Report, binding: AgentBinding, now: Millis) throws -> Refusal? {
        guard let stated = observation.body.statedFact(routing: routing) else { return nil }
        let agentID = report.agent.id
        switch try ownership.judge(stated, agentID: agentID, binding: binding, owner: { try owner(of: stated.fact) }) {
        case .accept:
            return nil
        case .claim:
            try tx.factOwners.claim(stated.fact, by: agentID, at: now)
            owners[stated.fact] = .some(agentID)
            return nil
        case .refuse(let entitled):
            let reason = "\(stated.fact): agent \(agentID) may not report it; only \(entitled) may"
            let field = "observations[\(Self.index(ofSeq: observation.seq, in: report.observations))].\(stated.field)"
            return Refusal(observation: RefusedObservation(seq: observation.seq, field: field, reason: reason), fact: stated.fact, entitled: entitled)
        }
    }

    /// The position of `seq` in a report's observations (seqs strictly increase: validated).
    static func index(ofSeq seq: UInt64, in observations: [Observation]) -> Int {
        var low = 0
        var high = observations.count
        while low < high {
            let middle = (low + high) / 2
            if observations[middle].seq < seq { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private mutating func owner(of fact: String) throws -> String? {
        if let known = owners[fact] { return known }
        let owner = try tx.factOwners.owner(of: fact)
        owners[fact] = .some(owner)
        return owner
    }

    /// Counts a refusal under its agent and fact: the first `maxRefusedFactsPerAgent` facts an agent
    /// was refused keep a row each (a flood of invented names cannot grow the table); the agent's
    /// `refused` column counts them all.
    private func tallyRefusal(_ refusal: Refusal, agentID: String, now: Millis) throws {
        try tx.factOwners.tallyRefusal(
            agentID: agentID, fact: refusal.fact, entitled: refusal.entitled, seq: Int64(refusal.observation.seq), at: now,
            maxFactsPerAgent: FactOwners.maxRefusedFactsPerAgent)
    }

    /// Commands for the agent: never handed, or handed a minute ago with no result yet (a lost
    /// response). The agent runs each action id at most once, so a repeat is harmless.
    private func waitingCommands(agentID: String, streamID: Int64, now: Millis) throws -> [AgentCommand] {
        let table = tx.actions
        var commands: [AgentCommand] = []
        for row in try table.commandsToHand(agentID: agentID, handedBefore: now - 60_000) {
            guard let command = try? ReportCodec.decode(AgentCommand.self, from: Array(row.command.utf8)) else { continue }
            commands.append(command)
            try table.markHanded(row.actionID, at: now, toStream: streamID)
        }
        return commands
    }

    private func markDue(_ checkIDs: [Int64]?, now: Millis) throws {
        let checks = tx.checks
        for checkID in checkIDs ?? [] { try checks.markDue(id: checkID, now: now) }
    }

    /// Any observation proves the agent was alive when it observed it (judged by observed time,
    /// so spool data arriving late still counts for the moment it was taken).
    private mutating func recordLiveness(agentID: String, observedAt: Millis, now: Millis) throws {
        let name = "agent:\(agentID)"
        guard let checkID = try automaticCheck(name, kind: LivenessKind.kind, reason: "first report from the agent", now: now) else { return }
        // An up check needs no evaluation now: its deadline pass will see the newer ping.
        try tx.checks.recordLiveness(id: checkID, observedAt: observedAt, feederAgent: agentID, now: now)
    }

    /// The id of a check the collector makes itself (an agent's liveness, a probe's runs), made
    /// on first sight; remembered, so the hot path looks it up once.
    private mutating func automaticCheck(_ name: String, kind: String, reason: String, now: Millis) throws -> Int64? {
        if let id = cache.automaticCheckIDs[name] { return id }
        guard let id = try tx.checks.createAutomatic(name: name, kind: kind, reason: reason, now: now) else { return nil }
        cache.automaticCheckIDs[name] = id
        return id
    }

    /// A run of one of the agent's probes: a failed run lengthens its check's streak of failures,
    /// a good one ends it. The check (`probe:AGENT/NAME`) is judged when the streak reaches the
    /// threshold, and when a good run follows a down state.
    private mutating func recordProbeRun(_ ping: Heartbeat, observedAt: Millis, agentID: String, now: Millis) throws {
        let name = "probe:\(agentID)/\(ping.name)"
        let failed = ping.status == .fail || (ping.exitCode ?? 0) != 0
        guard failed || ping.status == .ok else { return }
        for _ in 0..<2 {
            guard let checkID = try automaticCheck(name, kind: ProbeFailuresKind.kind, reason: "first run of the probe", now: now) else { return }
            let checks = tx.checks
            let exists: Bool
            if failed {
                let reason = ping.message.flatMap { $0.isEmpty ? nil : $0 } ?? ping.exitCode.map { "exit code \($0)" } ?? "failed"
                exists = try checks.recordProbeFailure(id: checkID, reason: reason, observedAt: observedAt, feederAgent: agentID, now: now)
            } else {
                exists = try checks.recordProbeSuccess(id: checkID, observedAt: observedAt, feederAgent: agentID, now: now)
            }
            if exists { return }
            // Forgotten (silent for forget_after) since its id was cached: make it again.
            cache.automaticCheckIDs[name] = nil
        }
    }

    /// A ping for a heartbeat check: ok moves last_ping_at (and measures the run from its start),
    /// start marks a run's beginning, fail or a non-zero exit code is down at the next pass.
    private func recordPing(_ ping: Heartbeat, observedAt: Millis, checkID: Int64, agentID: String, now: Millis) throws {
        let failed = ping.status == .fail || (ping.status == .ok && (ping.exitCode ?? 0) != 0)
        let checks = tx.checks
        if failed {
            var reason = ping.exitCode.map { "exit code \($0)" } ?? "fail ping"
            if let message = ping.message, !message.isEmpty { reason += ": \(message)" }
            try checks.recordFailPing(id: checkID, reason: reason, observedAt: observedAt, feederAgent: agentID, now: now)
        } else if ping.status == .start {
            try checks.recordStartPing(id: checkID, observedAt: observedAt, feederAgent: agentID)
        } else {
            try checks.recordPing(id: checkID, observedAt: observedAt, durationMs: ping.durationMs, feederAgent: agentID, now: now)
        }
    }

    private func upsertAgent(_ report: Report, binding: AgentBinding, receivedAt: Millis) throws {
        let agent = report.agent
        let labels = String(decoding: ReportCodec.encode(agent.labels), as: UTF8.self)
        let boundLabels = binding.labels.isEmpty ? nil : String(decoding: ReportCodec.encode(binding.labels), as: UTF8.self)
        try tx.agents.upsert(
            agent, labels: labels, bootID: report.bootID, seenAt: receivedAt, clockSkewMs: ClampedTime.subtract(receivedAt, report.sentAt),
            boundService: binding.service, boundLabels: boundLabels)
    }

    private mutating func stream(_ key: StreamKey, at now: Millis, previousSpoolID: String?) throws -> Int64 {
        if let id = cache.streamIDs[key] { return id }
        if let id = try tx.streams.id(agentID: key.agentID, spoolID: key.spoolID) {
            cache.streamIDs[key] = id
            return id
        }
        let id = try tx.streams.insert(agentID: key.agentID, spoolID: key.spoolID, previousSpoolID: previousSpoolID, at: now)
        cache.streamIDs[key] = id
        return id
    }

    private mutating func lastRun(_ streamID: Int64) throws -> SeqRun? {
        if let known = cache.lastRuns[streamID] { return known }
        let run = try tx.streams.lastRun(streamID).map { SeqRun(from: $0.from, to: $0.to) }
        cache.lastRuns[streamID] = .some(run)
        return run
    }

    /// Whether `seq` (at or below the last run's end) was never stored: it lies between runs.
    /// An agent that ships in order never sends one; this keeps such a record rather than
    /// dropping it as a duplicate.
    private func isGapBelow(_ streamID: Int64, seq: Int64, lastRun: SeqRun) throws -> Bool {
        if seq >= lastRun.from { return false }
        let end = try tx.streams.runEnd(streamID, startingAtOrBelow: seq)
        return end.map { $0 < seq } ?? true
    }

    private func saveRun(_ streamID: Int64, _ run: SeqRun) throws {
        try tx.streams.saveRun(streamID, from: run.from, to: run.to)
    }

    private mutating func subject(_ name: String, in observations: ObservationWriter) throws -> Int64 {
        if let id = cache.subjectIDs[name] { return id }
        if let id = try observations.subjectID(named: name) {
            cache.subjectIDs[name] = id
            return id
        }
        let id = try observations.addSubject(named: name)
        cache.subjectIDs[name] = id
        return id
    }
}

// MARK: - Streams and shared tokens (issue 14: who gets an agent's commands, who may add agents)

extension BatchWriter {
    /// Whether no agent with this id has reported before.
    fileprivate func isNewAgent(_ agentID: String) throws -> Bool {
        if cache.agents[agentID] != nil { return false }
        return try !tx.agents.isKnown(agentID)
    }

    /// A fleet token may bring at most `fleet.new_agents_per_hour` new agent ids in any hour, so a
    /// leaked one cannot invent thousands of agents (and their liveness pages). Other tokens name
    /// one agent (agent) or may do anything (admin). Throws before anything is written.
    fileprivate func admitNewAgent(_ agentID: String, token: TokenIdentity?, now: Millis) throws {
        guard let token, token.kind == .fleet else { return }
        let hourAgo = now - 3_600_000
        let brought = try tx.agents.broughtCount(byToken: token.tokenID, after: hourAgo)
        let limit = fleet.newAgentsPerHour
        guard brought >= limit else { return }
        var retryAfterMs: Millis = 3_600_000
        if limit > 0, let leaving = try tx.agents.broughtFirstSeen(byToken: token.tokenID, after: hourAgo, offset: brought - limit) {
            // When enough of them have left the hour for one more.
            retryAfterMs = min(3_600_000, max(1_000, leaving - hourAgo + 1))
        }
        throw NewAgentRefused(agentID: agentID, tokenID: token.tokenID, limit: limit, retryAfterMs: retryAfterMs)
    }

    /// Notes the fleet token that brought a new agent id (what `admitNewAgent` counts).
    fileprivate func recordBringer(_ agentID: String, token: TokenIdentity?) throws {
        guard let token, token.kind == .fleet else { return }
        try tx.agents.recordBringer(agentID, tokenID: token.tokenID)
    }

    /// Whether this report's stream is the one its agent's commands go to, binding it when it may
    /// be: the agent's first stream; any stream of a report sent with the agent's own token (or an
    /// admin token, or in-process); a stream whose `previous_spool_id` names the bound spool (the
    /// agent rotated it); or, with a fleet token, once the bound stream has sent nothing for
    /// `fleet.rebind_after`. So a new stream that claims an agent id with a shared token never
    /// gets that agent's commands while the agent still reports.
    fileprivate func bindCommands(_ report: Report, streamID: Int64, token: TokenIdentity?, now: Millis, notices: inout [IngestNotice]) throws -> Bool
    {
        let agentID = report.agent.id
        let bound = try tx.agents.boundStream(of: agentID)
        let boundID = bound?.id
        if boundID == streamID { return true }
        let boundSpool = bound?.spoolID
        let boundLastSeen = bound?.lastSeen
        let why: String
        if boundID == nil || boundLastSeen == nil {
            why = "its first stream"
        } else if token?.kind != .fleet {
            why = "a report with the agent's own token"
        } else if let previous = report.previousSpoolID, previous == boundSpool {
            why = "the agent rotated its spool from the bound one"
        } else if let boundLastSeen, now - boundLastSeen >= fleet.rebindAfterMs {
            why = "the bound stream sent nothing for \(Units.formatDuration(now - boundLastSeen)) (fleet.rebind_after)"
        } else {
            return false
        }
        try tx.agents.bindCommands(agentID, to: streamID)
        if let boundID {
            notices.append(
                IngestNotice(
                    level: .notice, message: "the agent's commands now go to another stream",
                    metadata: ["agent.id": agentID, "stream": "\(streamID)", "previous_stream": "\(boundID)", "why": why]))
        }
        return true
    }
}
