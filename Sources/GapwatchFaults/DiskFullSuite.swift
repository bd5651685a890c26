import ArgumentParser
import Foundation
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol

/// The collector's database filesystem fills up under load, then space returns.
///
/// `tmpfs`: the database lives on a small tmpfs mounted for the suite and a filler file takes every
/// free byte (needs root or CAP_SYS_ADMIN). `fsize`: where mounting is not allowed, the collector's
/// file-size limit is lowered to 1 byte with prlimit (every write past it fails with EFBIG, as with
/// a full disk) and lifted again. `auto` tries tmpfs first.
struct DiskFull: ParsableCommand {
    enum Method: String, ExpressibleByArgument, CaseIterable { case auto, tmpfs, fsize }

    static let configuration = CommandConfiguration(
        commandName: "disk-full",
        abstract: "Fill the collector's disk: ingest answers 503 + Retry-After, nothing acknowledged is lost, ingest recovers without a restart.")

    @Option(help: "Seconds the disk stays full.") var full = 8.0
    @Option(help: "Size of the tmpfs holding the database (MiB).") var sizeMiB = 16
    @Option(help: "How to fill the disk: auto (tmpfs, else fsize), tmpfs or fsize.") var method = Method.auto
    @OptionGroup var common: CommonOptions

    func run() throws {
        runSuite("disk-full", common: common) { report, workspace in
            let mountPoint = workspace.file("dbfs")
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            var mounted = false
            if method != .fsize {
                let mount = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeMiB)m,mode=0700", "tmpfs", mountPoint], timeout: 10)
                mounted = mount.status == 0
                if !mounted {
                    let why = mount.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    if method == .tmpfs { throw HarnessError("cannot mount a tmpfs for the database (needs root or CAP_SYS_ADMIN): \(why)") }
                    report.say("cannot mount a tmpfs (\(why)): limiting the collector's file size with prlimit instead")
                }
            }
            let unmount: @Sendable () -> Void = { _ = try? runCommand("/bin/umount", ["-l", mountPoint], timeout: 10) }
            if mounted { stopActions.write { $0.append(unmount) } }
            defer { if mounted { unmount() } }
            report.figure("method", mounted ? "tmpfs of \(sizeMiB) MiB filled by a file" : "prlimit --fsize=1 on the collector")

            let fleet = Fleet(workspace, database: mountPoint + "/gapwatch.db")
            defer { fleet.stopAll() }
            try fleet.startCollector()
            let collectorPID = fleet.collector.child?.pid
            guard let pid = collectorPID else { throw HarnessError("the collector has no process id") }
            let agent = try fleet.addAgent(0)
            try agent.start()
            let pusher = Pusher(agentID: agent.agentID, url: agent.localURL, perSecond: 50)
            pusher.start(threads: 1)
            let reporter = DirectReporter(url: fleet.collector.url, tokenFile: fleet.fleetTokenFile)
            reporter.start()
            sleep(2)

            // Fill the filesystem, and keep it full: SQLite may free some (a truncated WAL).
            let filler = mountPoint + "/filler"
            let fullSince = Date()
            var fillerBytes = 0
            if mounted { fillerBytes = fill(filler) } else { try limitFileSize(pid: pid, to: "1") }
            var first503: Date?
            while Date().timeIntervalSince(fullSince) < 30 && first503 == nil {
                if mounted { fillerBytes += fill(filler) }
                first503 = reporter.answers.first { $0.at >= fullSince && $0.status == 503 }?.at
                usleep(100_000)
            }
            let holdUntil = Date().addingTimeInterval(full)
            var healthDuringFull: Int?
            while Date() < holdUntil {
                if mounted { fillerBytes += fill(filler) }
                if healthDuringFull == nil {
                    healthDuringFull = try? HTTPClient(connectTimeoutMs: 500, timeoutMs: 3_000).send(.init(url: fleet.collector.url + "/healthz"))
                        .status
                }
                usleep(200_000)
            }
            // Space returns.
            if mounted { try FileManager.default.removeItem(atPath: filler) } else { try limitFileSize(pid: pid, to: "unlimited") }
            let spaceBack = Date()
            try waitFor("ingest to answer 200 again", timeout: 60) {
                reporter.answers.contains { $0.at > spaceBack && $0.status == 200 }
            }
            let recovery = (reporter.answers.first { $0.at > spaceBack && $0.status == 200 }?.at ?? spaceBack).timeIntervalSince(spaceBack)
            sleep(1)
            pusher.stop()
            reporter.stop()
            let acks = pusher.acknowledged
            let drain = try waitForDrain([agent], acks: acks, timeout: 90)
            let sameProcess = fleet.collector.child?.isRunning == true && fleet.collector.child?.pid == collectorPID
            fleet.stopAll()
            let integrity = (try? fleet.collector.integrityCheck()) ?? "cannot open the database"

            let duringFull = reporter.answers.filter { $0.at >= fullSince && $0.at < spaceBack }
            let refused = duringFull.filter { $0.status != 200 }
            let not503 = refused.filter { $0.status != 503 || $0.retryAfter == nil }
            if mounted { report.figure("filler_bytes", fillerBytes) }
            report.figure("first_503_after_disk_full_s", first503.map { seconds($0.timeIntervalSince(fullSince)) } ?? "never")
            report.figure("reports_during_full", duringFull.count)
            report.figure("answered_503_with_retry_after", refused.count - not503.count)
            let others = Dictionary(grouping: not503, by: { $0.status == 0 ? "no answer" : "\($0.status)" }).mapValues(\.count)
            report.figure(
                "other_answers_during_full", others.isEmpty ? "none" : others.map { "\($0.key) ×\($0.value)" }.sorted().joined(separator: ", "))
            report.figure("answered_200_during_full", duringFull.count - refused.count)
            report.figure("healthz_during_full", healthDuringFull.map(String.init) ?? "no answer")
            report.figure("recovery_after_space_returned_s", seconds(recovery))
            report.figure("agent_drain_s", seconds(drain))
            report.check(first503 != nil, "ingest answers 503 once the disk is full")
            report.check(
                not503.isEmpty, "every refused report got 503 with Retry-After",
                not503.prefix(3).map { "\($0.status) retry-after \($0.retryAfter ?? "none")" }.joined(separator: "; "))
            report.check(recovery < 15, "ingest recovers within 15 s once space returns", seconds(recovery))
            report.check(sameProcess, "the collector kept running throughout (no restart needed)")
            report.check(integrity == "ok", "PRAGMA integrity_check is ok afterwards", integrity)
            report.say("-- the agent's pushes:")
            try Reconciliation.run(database: fleet.collector.database, acks: acks).report(to: report)
            report.say("-- the reports sent directly (acknowledged by the collector's 200):")
            try Reconciliation.run(database: fleet.collector.database, acks: reporter.acknowledged, dataset: DirectReporter.dataset).report(
                to: report)
            try Reconciliation.reportStreams(database: fleet.collector.database, to: report)
        }
    }

    /// Sets the soft RLIMIT_FSIZE of process `pid` (the collector ignores SIGXFSZ, so writes past it
    /// fail with EFBIG).
    func limitFileSize(pid: Int32, to value: String) throws {
        let result = try runCommand("/usr/bin/env", ["prlimit", "--pid", "\(pid)", "--fsize=\(value):"], timeout: 10)
        guard result.status == 0 else { throw HarnessError("prlimit --fsize=\(value) failed: \(result.output)") }
    }

    /// Appends to `path` until the filesystem refuses (ENOSPC); returns the bytes written.
    func fill(_ path: String) -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var written = 0
        var chunk = 1 << 20
        let buffer = [UInt8](repeating: 0x5a, count: 1 << 20)
        while chunk >= 512 {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress, chunk) }
            if n > 0 { written += n } else { chunk /= 2 }
        }
        return written
    }
}

/// Sends small reports straight to the collector every 100 ms, as an agent would (the same batch
/// again until a 200), and records every answer: the exact view of what ingest said when.
final class DirectReporter: @unchecked Sendable {
    static let dataset = "faults.direct"
    struct Answer: Sendable {
        var at: Date
        var status: Int
        var retryAfter: String?
    }

    let url: String
    let tokenFile: String
    let spoolID = "faults-direct-" + UUID().uuidString.prefix(8).lowercased()
    private let answersBox = Locked<[Answer]>([])
    private let acks = Locked<[PushAck]>([])
    private let stopFlag = Locked(false)
    private let done = DispatchSemaphore(value: 0)

    init(url: String, tokenFile: String) {
        self.url = url
        self.tokenFile = tokenFile
    }

    var answers: [Answer] { answersBox.read { $0 } }
    var acknowledged: [PushAck] { acks.read { $0 } }

    func start() {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            let token = ((try? String(contentsOfFile: tokenFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            let identity = AgentIdentity(id: "faults-direct", service: "fault suite", host: "localhost", version: "0")
            let client = HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 10_000)
            var nextSeq: UInt64 = 1
            var batch: [Observation] = []
            while !stopFlag.read({ $0 }) {
                // The same records again until they are acked, as an agent's spool resends them: a
                // seq sent again with other content is a restored spool's, and is not stored.
                if batch.first?.seq != nextSeq {
                    let observedAt = WallClock.nowMillis()
                    batch = (0..<10).map { i in
                        Observation(
                            seq: nextSeq + UInt64(i), observedAt: observedAt,
                            body: .count(Count(dataset: Self.dataset, partition: "d-\(nextSeq + UInt64(i))", count: 1)))
                    }
                }
                let report = Report(agent: identity, bootID: "faults", spoolID: spoolID, sentAt: WallClock.nowMillis(), observations: batch)
                let answer: Answer
                do {
                    let response = try client.send(
                        .init(
                            method: "POST", url: url + "/v1/reports",
                            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                            body: ReportCodec.encode(report)))
                    answer = Answer(at: Date(), status: response.status, retryAfter: response.headers["retry-after"])
                    if response.status == 200, let ok = try? ReportCodec.decode(ReportResponse.self, from: response.body) {
                        let acked = batch.filter { $0.seq <= ok.ackedSeq }
                        acks.write { $0 += acked.map { PushAck(agentID: identity.id, partition: "d-\($0.seq)", spoolID: spoolID, seq: $0.seq) } }
                        nextSeq = ok.ackedSeq + 1
                    }
                } catch {
                    answer = Answer(at: Date(), status: 0, retryAfter: nil)
                }
                answersBox.write { $0.append(answer) }
                usleep(100_000)
            }
        }
    }

    func stop() {
        stopFlag.write { $0 = true }
        done.wait()
    }
}
