import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import Hummingbird
import Logging
import XCTest

typealias HTTPResponse = GapwatchHTTPClient.HTTPResponse

/// A real collector (Hummingbird on 127.0.0.1, SQLite file in a temp folder) running in the test
/// process, with helpers to call it over real HTTP.
final class TestCollector: @unchecked Sendable {
    let dir: String
    let runtime: CollectorRuntime
    let port: Int
    let adminToken: String
    let agentToken: String
    private let task: Task<Void, any Error>

    var base: String { "http://127.0.0.1:\(port)" }
    var database: AppDatabase { runtime.database }

    static func start(configure: (inout CollectorConfig) -> Void = { _ in }) async throws -> TestCollector {
        let dir = NSTemporaryDirectory() + "gapwatch-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = CollectorConfig()
        config.listenPort = 0
        config.databasePath = dir + "/gapwatch.db"
        config.bootstrapAgentID = "agent-1"
        configure(&config)
        var logger = Logger(label: "test")
        logger.logLevel = .critical  // a cancelled server logs its shutdown as an error
        let runtime = try Collector.open(config: config, logger: logger)
        let ports = AsyncStream<Int>.makeStream()
        let app = Collector.buildApplication(runtime, logger: logger, onServerRunning: { port in ports.continuation.yield(port) })
        let task = Task { try await app.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw XCTSkip("server did not start") }
        let tokenText = try String(contentsOfFile: config.effectiveTokenFile, encoding: .utf8)
        func value(_ key: String) -> String {
            tokenText.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } ?? ""
        }
        return TestCollector(
            dir: dir, runtime: runtime, port: port, adminToken: value("GAPWATCH_ADMIN_TOKEN"),
            agentToken: value("GAPWATCH_AGENT_TOKEN"), task: task)
    }

    private init(dir: String, runtime: CollectorRuntime, port: Int, adminToken: String, agentToken: String, task: Task<Void, any Error>) {
        self.dir = dir
        self.runtime = runtime
        self.port = port
        self.adminToken = adminToken
        self.agentToken = agentToken
        self.task = task
    }

    func stop() {
        task.cancel()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Sends on a dedicated thread: libcurl blocks, and the server shares the cooperative pool.
    func send(
        _ method: String, _ path: String, token: String?, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPResponse {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        let request = GapwatchHTTPClient.HTTPRequest(method: method, url: base + path, headers: all, body: body)
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    continuation.resume(returning: try HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 60_000).send(request))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// POSTs a report gzip-compressed, as an agent does.
    func post(_ report: Report, token: String? = nil) async throws -> HTTPResponse {
        try await postRaw(Gzip.compress(ReportCodec.encode(report)), token: token ?? agentToken)
    }

    func postRaw(
        _ body: [UInt8], token: String?, contentType: String = "application/json", encoding: String? = "gzip"
    ) async throws -> HTTPResponse {
        var headers = [("Content-Type", contentType)]
        if let encoding { headers.append(("Content-Encoding", encoding)) }
        return try await send("POST", "/v1/reports", token: token, headers: headers, body: body)
    }

    func storedCount() throws -> Int { try database.observationCount() }
}

/// A report from `agent` with observations `seqs` (counts of a dataset, one per seq).
func makeTestReport(
    agent: String = "agent-1", spool: String = "spool-a", seqs: ClosedRange<UInt64>, at base: Millis = 1_769_100_000_000
) -> Report {
    Report(
        agent: AgentIdentity(id: agent, service: "nba-scrapers", host: "host-a", version: "test", labels: ["env": "test"]),
        bootID: "boot-1", spoolID: spool, sentAt: base + 60_000,
        observations: seqs.map { seq in
            Observation(
                seq: seq, observedAt: base + Int64(seq) * 1000,
                body: .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: "2026-01-22", count: Int64(seq))))
        })
}

func decodeError(_ response: HTTPResponse) throws -> ErrorBody {
    try ReportCodec.decode(ErrorBody.self, from: response.body)
}
