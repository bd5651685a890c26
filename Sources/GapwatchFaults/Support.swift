import Foundation
import GRDB
import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol

/// Figures and pass/fail checks of one suite. Prints each as it comes; `finish` prints the closing
/// `N passed, N failed` line (the last line, read by faults/run.sh and CI) and exits.
final class SuiteReport {
    let suite: String
    private(set) var passed = 0
    private(set) var failed = 0
    private let started = Date()

    init(_ suite: String) {
        self.suite = suite
        say("== fault suite \(suite)")
    }

    func say(_ line: String) {
        // Unbuffered, so a suite that hangs or dies has shown everything up to that point.
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func figure(_ name: String, _ value: CustomStringConvertible) { say("figure \(name): \(value)") }

    func check(_ ok: Bool, _ what: String, _ detail: @autoclosure () -> String = "") {
        if ok {
            passed += 1
            say("PASS \(what)")
        } else {
            failed += 1
            let d = detail()
            say("FAIL \(what)\(d.isEmpty ? "" : ": \(d)")")
        }
    }

    /// A step that could not be carried out at all (a timeout, a process that died): one failure.
    func broken(_ what: String, _ error: Error) {
        failed += 1
        say("FAIL \(what): \(error)")
    }

    func finish(workspace: Workspace?, keep: Bool) -> Never {
        figure("suite_seconds", String(format: "%.1f", Date().timeIntervalSince(started)))
        if let workspace {
            if failed == 0 && !keep { workspace.remove() } else { say("logs and databases kept in \(workspace.path)") }
        }
        say("\(passed) passed, \(failed) failed")
        exit(failed == 0 ? 0 : 1)
    }
}

/// A value shared between threads behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read<T>(_ body: (Value) -> T) -> T { lock.withLock { body(value) } }
    func write<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}

/// A push the agent's local endpoint acknowledged (200 after fdatasync): the partition names it.
struct PushAck: Sendable {
    var agentID: String
    var partition: String
    var spoolID: String
    var seq: UInt64
}

/// Threads pushing `count` observations to one agent's local endpoint at a steady pace, each with
/// a partition no other push uses, recording what the endpoint acknowledged. A push that gets no
/// 200 (agent down, killed mid-request) is not acknowledged; the next push uses a new partition.
final class Pusher: @unchecked Sendable {
    static let dataset = "faults.pushes"
    let agentID: String
    let url: String
    let pauseMicros: UInt32
    let acks = Locked<[PushAck]>([])
    let failures = Locked(0)
    private let stopFlag = Locked(false)
    private let group = DispatchGroup()

    init(agentID: String, url: String, perSecond: Int) {
        self.agentID = agentID
        self.url = url
        self.pauseMicros = UInt32(1_000_000 / max(1, perSecond))
    }

    func start(threads: Int) {
        for t in 0..<threads {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                var n = 0
                while !stopFlag.read({ $0 }) {
                    let partition = "\(agentID)-t\(t)-\(n)"
                    n += 1
                    // A new connection per push: libcurl may re-send a POST on a reused connection that
                    // died, which would push the same partition twice behind our back.
                    let client = HTTPClient(connectTimeoutMs: 500, timeoutMs: 5_000)
                    do {
                        let ack = try AgentProcess.push(
                            .count(Count(dataset: Self.dataset, partition: partition, count: Int64(n))), to: url, client: client)
                        acks.write { $0.append(PushAck(agentID: agentID, partition: partition, spoolID: ack.spoolID, seq: ack.seq)) }
                    } catch {
                        failures.write { $0 += 1 }
                        usleep(20_000)
                    }
                    usleep(pauseMicros * UInt32(threads))
                }
            }
        }
    }

    func stop() {
        stopFlag.write { $0 = true }
        group.wait()
    }

    var acknowledged: [PushAck] { acks.read { $0 } }
}

/// The agent's `GET /v1/status`.
func agentStatus(_ agent: AgentProcess) throws -> AgentStatus {
    let response = try HTTPClient(connectTimeoutMs: 500, timeoutMs: 3_000).send(.init(url: agent.localURL + "/v1/status"))
    guard response.status == 200 else { throw HarnessError("the agent's /v1/status answered \(response.status)") }
    return try ReportCodec.decode(AgentStatus.self, from: response.body)
}

/// Waits until each agent's collector ack covers every push it acknowledged (its spool drained up to
/// there). Returns the seconds it took.
func waitForDrain(_ agents: [AgentProcess], acks: [PushAck], timeout: TimeInterval) throws -> Double {
    let began = Date()
    var target: [String: (spool: String, seq: UInt64)] = [:]
    for ack in acks where ack.seq > (target[ack.agentID]?.seq ?? 0) { target[ack.agentID] = (ack.spoolID, ack.seq) }
    try waitFor("the agents' spools to drain", timeout: timeout) {
        try agents.allSatisfy { agent in
            guard let want = target[agent.agentID] else { return true }
            let status = try agentStatus(agent)
            return status.spoolID == want.spool && status.ackedSeq >= want.seq
        }
    }
    return Date().timeIntervalSince(began)
}

/// What the collector's database holds for the pushes, compared with what the agents acknowledged.
struct Reconciliation {
    var acknowledged = 0
    var storedRows = 0
    /// Acknowledged pushes missing from the database (or stored with another partition).
    var lost: [String] = []
    /// Extra copies of one push (the same partition stored under more than one seq or spool).
    var duplicated = 0
    /// Stored pushes whose 200 never reached the pusher (killed mid-answer): allowed.
    var storedUnacknowledged = 0

    static func run(database: String, acks: [PushAck], dataset: String = Pusher.dataset) throws -> Reconciliation {
        let queue = try DatabaseQueue(path: database)
        let rows = try queue.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.agent_id, s.spool_id, o.seq, o.part FROM observations o
                    JOIN streams s ON s.id = o.stream_id JOIN subjects j ON j.id = o.subject_id
                    WHERE j.name = ?
                    """, arguments: ["dataset:" + dataset])
        }
        var r = Reconciliation()
        r.acknowledged = acks.count
        r.storedRows = rows.count
        var byKey: [String: String] = [:]
        var copies: [String: Int] = [:]
        for row in rows {
            let part: String = row["part"]
            byKey["\(row["agent_id"] as String)/\(row["spool_id"] as String)/\(row["seq"] as Int64)"] = part
            copies[part, default: 0] += 1
        }
        var ackedPartitions = Set<String>()
        for ack in acks {
            ackedPartitions.insert(ack.partition)
            if byKey["\(ack.agentID)/\(ack.spoolID)/\(ack.seq)"] != ack.partition {
                r.lost.append("\(ack.partition) (spool \(ack.spoolID) seq \(ack.seq))")
            }
        }
        r.duplicated = copies.values.reduce(0) { $0 + max(0, $1 - 1) }
        r.storedUnacknowledged = copies.keys.filter { !ackedPartitions.contains($0) }.count
        return r
    }

    /// Streams (agent, spool) whose stored seqs are not exactly 1…last: every kind counts here,
    /// heartbeats and `dropped` included, not only the pushes.
    static func streamGaps(database: String) throws -> (streams: Int, gaps: [String]) {
        let rows = try DatabaseQueue(path: database).read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.agent_id, s.spool_id, s.last_seq, COUNT(o.seq) AS n, MIN(o.seq) AS lo, MAX(o.seq) AS hi
                    FROM streams s LEFT JOIN observations o ON o.stream_id = s.id GROUP BY s.id
                    HAVING n > 0 OR s.last_seq > 0
                    """)
        }
        // (The collector's own stream, `@collector`, holds no rows and is left out.)
        let gaps = rows.compactMap { row -> String? in
            let n: Int64 = row["n"]
            let lo: Int64? = row["lo"]
            let hi: Int64? = row["hi"]
            let last: Int64 = row["last_seq"]
            return lo == 1 && hi == n && hi == last ? nil : "\(row["agent_id"] as String): \(n) rows, seqs \(lo ?? 0)…\(hi ?? 0), acked \(last)"
        }
        return (rows.count, gaps)
    }

    static func reportStreams(database: String, to report: SuiteReport) throws {
        let (streams, gaps) = try streamGaps(database: database)
        report.figure("streams_checked_for_gaps", streams)
        report.check(
            streams > 0 && gaps.isEmpty, "each spool's seqs are stored without a gap, 1…acked (every kind)", gaps.prefix(4).joined(separator: "; "))
    }

    func report(to report: SuiteReport) {
        report.figure("observations_acknowledged", acknowledged)
        report.figure("observations_stored", storedRows)
        report.figure("observations_lost", lost.count)
        report.figure("observations_duplicated", duplicated)
        report.figure("stored_without_ack_reaching_the_client", storedUnacknowledged)
        report.check(acknowledged > 0, "some observations were acknowledged (the suite exercised something)")
        report.check(lost.isEmpty, "every acknowledged observation is stored", "\(lost.count) lost, e.g. \(lost.prefix(5))")
        report.check(duplicated == 0, "no observation is stored twice", "\(duplicated) extra copies")
    }
}

/// `stream.dropped_corrupt` for an agent's spool, as the collector recorded it.
func storedCorruptCount(database: String, agentID: String, spoolID: String) throws -> Int64 {
    try DatabaseQueue(path: database).read { db in
        try Int64.fetchOne(db, sql: "SELECT dropped_corrupt FROM streams WHERE agent_id = ? AND spool_id = ?", arguments: [agentID, spoolID]) ?? -1
    }
}

/// A collector with a fleet token, and agents reporting to it (or to `collectorURL` when a stand-in
/// sits in front), each in its own folder.
final class Fleet {
    let workspace: Workspace
    let collector: CollectorProcess
    var agents: [AgentProcess] = []
    var fleetTokenFile: String { workspace.file("fleet.token") }

    init(_ workspace: Workspace, collectorExtraConfig: String = "", database: String? = nil) {
        self.workspace = workspace
        collector = CollectorProcess(workspace: workspace, agentID: "faults-bootstrap")
        // Every agent of the fleet pushes to the same datasets: the fleet token's label makes them
        // all owners (otherwise the first agent to report a dataset would own it alone).
        collector.extraConfig = "owners:\n  - {facts: ['dataset:faults.*'], labels: {fleet: faults}}\n" + collectorExtraConfig
        collector.appendLogs = true
        if let database { collector.database = database }
    }

    /// Starts the collector and issues a fleet token (one token for every agent id) into a file.
    func startCollector() throws {
        try collector.start()
        let response = try HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000).send(
            .init(
                method: "POST", url: collector.url + "/v1/tokens",
                headers: [("Authorization", "Bearer \(try collector.token("GAPWATCH_ADMIN_TOKEN"))"), ("Content-Type", "application/json")],
                body: Array(#"{"kind":"fleet","name":"fault suite","labels":{"fleet":"faults"}}"#.utf8)))
        guard response.status == 201 else { throw HarnessError("POST /v1/tokens answered \(response.status): \(response.bodyText)") }
        struct Issued: Decodable { var token: String }
        let token = try ReportCodec.decode(Issued.self, from: response.body).token
        _ = FileManager.default.createFile(atPath: fleetTokenFile, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
    }

    @discardableResult
    func addAgent(_ index: Int, collectorURL: String? = nil) throws -> AgentProcess {
        let agent = AgentProcess(
            workspace: try Workspace(inside: workspace, "agent-\(index)"), collectorURL: collectorURL ?? collector.url,
            tokenFile: fleetTokenFile, agentID: "faults-agent-\(index)")
        agent.appendLogs = true
        agents.append(agent)
        return agent
    }

    func stopAll() {
        for agent in agents { agent.child?.terminate() }
        collector.child?.terminate()
    }
}

/// Failed attempts to ship so far, from the agent's log (the shipper logs each one, with its wait).
func shipFailures(_ agent: AgentProcess) -> Int {
    (agent.child?.log ?? "").split(separator: "\n").filter { $0.contains("shipping failed") }.count
}

/// A delay in [lower, upper] seconds, as microseconds.
func randomMicros(_ lower: Double, _ upper: Double) -> UInt32 {
    UInt32(Double.random(in: lower...upper) * 1_000_000)
}

func seconds(_ value: Double) -> String { String(format: "%.2f", value) }
