import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import Hummingbird
import HummingbirdTesting
import Logging
import XCTest

/// An answer as the tests read it, whichever way the request went. Header names lowercased; the
/// last value wins (as GapwatchHTTPClient's answer, which the socket transport converts).
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A real collector (its router, background services and SQLite file in a temp folder) running in
/// the test process, with helpers to call its HTTP API.
///
/// By default requests go straight into the application's router (HummingbirdTesting's
/// `app.test(.router)`): the same middleware, controllers and services, without a socket. A test
/// that needs what only a socket shows (the peer's address, the server's HTTP layer, libcurl as the
/// agent uses it) starts with `transport: .socket`: Hummingbird on 127.0.0.1, requests over libcurl.
final class TestCollector: @unchecked Sendable {
    enum Transport: Sendable {
        /// Requests handed to the router in-process: no port, no connection, no remote address.
        case router
        /// A live server on 127.0.0.1:<free port>, called with libcurl.
        case socket
    }

    let dir: String
    let runtime: CollectorRuntime
    let adminToken: String
    let agentToken: String
    private let route: Route
    private let task: Task<Void, any Error>

    /// Where a request goes: the live server's port, or the queue the router task serves.
    private enum Route {
        case socket(port: Int)
        case router(AsyncStream<RouterCall>.Continuation)
    }

    var database: AppDatabase { runtime.database }

    static func start(transport: Transport = .router, configure: (inout CollectorConfig) -> Void = { _ in }) async throws -> TestCollector {
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
        let route: Route
        let task: Task<Void, any Error>
        switch transport {
        case .socket:
            let ports = AsyncStream<Int>.makeStream()
            let app = Collector.buildApplication(runtime, logger: logger, onServerRunning: { port in ports.continuation.yield(port) })
            task = Task { try await app.run() }
            var iterator = ports.stream.makeAsyncIterator()
            guard let port = await iterator.next() else { throw XCTSkip("server did not start") }
            route = .socket(port: port)
        case .router:
            let app = Collector.buildApplication(runtime, logger: logger)
            let (calls, queue) = AsyncStream<RouterCall>.makeStream()
            let (ready, readiness) = AsyncStream<Void>.makeStream()
            task = Task { try await RouterCall.serve(app, calls: calls, queue: queue, ready: readiness) }
            guard await ready.first(where: { _ in true }) != nil else {
                try await task.value  // the reason it did not start
                throw XCTSkip("router test framework did not start")
            }
            route = .router(queue)
        }
        let tokenText = try String(contentsOfFile: config.effectiveTokenFile, encoding: .utf8)
        func value(_ key: String) -> String {
            tokenText.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } ?? ""
        }
        return TestCollector(
            dir: dir, runtime: runtime, adminToken: value("GAPWATCH_ADMIN_TOKEN"),
            agentToken: value("GAPWATCH_AGENT_TOKEN"), route: route, task: task)
    }

    private init(
        dir: String, runtime: CollectorRuntime, adminToken: String, agentToken: String, route: Route,
        task: Task<Void, any Error>
    ) {
        self.dir = dir
        self.runtime = runtime
        self.adminToken = adminToken
        self.agentToken = agentToken
        self.route = route
        self.task = task
    }

    /// Stops the server (socket) or ends the router's test closure, which shuts its services down.
    func stop() {
        switch route {
        case .socket: task.cancel()
        case .router(let queue): queue.finish()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func send(
        _ method: String, _ path: String, token: String?, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPResponse {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        switch route {
        case .socket(let port):
            return try await Self.sendOverSocket(
                GapwatchHTTPClient.HTTPRequest(method: method, url: "http://127.0.0.1:\(port)" + path, headers: all, body: body))
        case .router(let queue):
            return try await RouterCall.send(
                to: queue, method: HTTPRequest.Method(method), uri: path, headers: try HTTPFields(test: all), body: body.map { ByteBuffer(bytes: $0) }
            )
        }
    }

    /// Sends on a dedicated thread: libcurl blocks, and the server shares the cooperative pool.
    private static func sendOverSocket(_ request: GapwatchHTTPClient.HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let answer = try HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 60_000).send(request)
                    continuation.resume(returning: HTTPResponse(status: answer.status, headers: answer.headers, body: answer.body))
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

/// One request for the router transport, answered through `reply`.
///
/// `app.test(.router)` hands its client only to a closure, while a TestCollector lives from
/// `start()` to `stop()`: a task keeps that closure open and serves the requests queued to it,
/// each in a child task (tests send concurrently), until the queue is finished.
private struct RouterCall: Sendable {
    /// A request the router transport cannot send, or one sent after `stop()`.
    struct Unsent: Error, CustomStringConvertible {
        var description: String
    }

    var method: HTTPRequest.Method?
    var uri: String
    var headers: HTTPFields
    var body: ByteBuffer?
    var reply: CheckedContinuation<HTTPResponse, any Error>

    static func send(
        to queue: AsyncStream<RouterCall>.Continuation, method: HTTPRequest.Method?, uri: String, headers: HTTPFields, body: ByteBuffer?
    ) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { reply in
            let call = RouterCall(method: method, uri: uri, headers: headers, body: body, reply: reply)
            if case .terminated = queue.yield(call) { reply.resume(throwing: Unsent(description: "the test collector was stopped")) }
        }
    }

    static func serve(
        _ app: some ApplicationProtocol, calls: AsyncStream<RouterCall>, queue: AsyncStream<RouterCall>.Continuation,
        ready: AsyncStream<Void>.Continuation
    ) async throws {
        defer { ready.finish() }
        do {
            try await app.test(.router) { client in
                ready.yield()
                await withDiscardingTaskGroup { group in
                    for await call in calls {
                        group.addTask { await call.answer(with: client) }
                    }
                }
            }
        } catch {
            // The framework failed (a service threw, or it never started): what is queued still gets an answer.
            queue.finish()
            for await call in calls { call.reply.resume(throwing: error) }
            throw error
        }
    }

    func answer(with client: any TestClientProtocol) async {
        guard let method else { return reply.resume(throwing: Unsent(description: "not an HTTP method")) }
        do {
            let answer = try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
            var headers: [String: String] = [:]
            for field in answer.headers { headers[field.name.canonicalName] = field.value }
            reply.resume(returning: HTTPResponse(status: answer.status.code, headers: headers, body: Array(answer.body.readableBytesView)))
        } catch {
            reply.resume(throwing: error)
        }
    }
}

extension HTTPFields {
    /// Request headers as the tests write them, as (name, value) pairs.
    fileprivate init(test pairs: [(String, String)]) throws {
        self.init()
        for (name, value) in pairs {
            guard let fieldName = HTTPFields.Element.Name(name) else { throw RouterCall.Unsent(description: "'\(name)' is not a header name") }
            append(HTTPFields.Element(name: fieldName, value: value))
        }
    }
}

extension XCTestCase {
    /// `.socket` when the running test is one of `socketTests` (the live-socket tests of a class
    /// whose setUp starts the collector for every test), `.router` for the others.
    func transport(socketFor socketTests: String...) -> TestCollector.Transport {
        // XCTest names a test "Class.testName" on Linux, "-[Class testName]" on Darwin.
        let running = name.split(whereSeparator: { " .[]".contains($0) }).last.map(String.init) ?? name
        return socketTests.contains(running) ? .socket : .router
    }
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
