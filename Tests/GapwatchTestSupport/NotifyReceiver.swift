import Foundation
import Hummingbird
import Logging
import NIOCore

/// A webhook receiver for tests: a real Hummingbird server on 127.0.0.1 (port 0) that records
/// every request. Paths: /ok 200, /fail 500 + Retry-After 7, /throttle 429, /gone 404,
/// /hang answers after 3 s, /echo/** 400 quoting the Authorization header and URL.
/// A real HTTP receiver (Hummingbird on 127.0.0.1, port 0) that records every request. Paths
/// choose the answer: /ok 200, /fail 500 + Retry-After: 7, /throttle 429, /gone 404, /hang waits
/// 3s then 200, /echo/... 400 echoing the Authorization header and the request URI, /hold-first
/// holds its first request (answering 200 after `releaseHeld()`, at most 120 s) and answers the
/// later ones 200 at once.
public final class NotifyReceiver: @unchecked Sendable {
    public struct Recorded: Sendable {
        public var method: String
        public var path: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        /// Every value sent under `name` (lowercase), in order.
        public func header(_ name: String) -> [String] { headers.filter { $0.name == name }.map(\.value) }
    }

    private final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [Recorded] = []
        func append(_ entry: Recorded) { lock.withLock { entries.append(entry) } }
        var all: [Recorded] { lock.withLock { entries } }
    }

    /// Whether /hold-first has had its first request, and whether that one may answer.
    private final class Gate: @unchecked Sendable {
        private let lock = NSLock()
        private var taken = false
        private var released = false
        /// true for the first caller only.
        func take() -> Bool {
            lock.withLock {
                defer { taken = true }
                return !taken
            }
        }
        func release() { lock.withLock { released = true } }
        var isReleased: Bool { lock.withLock { released } }
    }

    private let log: Log
    private let gate: Gate
    private let task: Task<Void, any Error>
    public let port: Int
    public var base: String { "http://127.0.0.1:\(port)" }
    public var requests: [Recorded] { log.all }

    private init(log: Log, gate: Gate, task: Task<Void, any Error>, port: Int) {
        self.log = log
        self.gate = gate
        self.task = task
        self.port = port
    }

    public static func start() async throws -> NotifyReceiver {
        let log = Log()
        let gate = Gate()
        let router = Router()
        @Sendable func record(_ request: Request) async throws -> Recorded {
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let entry = Recorded(
                method: request.method.rawValue, path: request.uri.path,
                headers: request.headers.map { (name: $0.name.canonicalName, value: $0.value) },
                body: Array(body.readableBytesView))
            log.append(entry)
            return entry
        }
        @Sendable func text(_ s: String) -> ResponseBody { ResponseBody(byteBuffer: ByteBuffer(string: s)) }
        router.post("ok") { request, _ -> Response in
            _ = try await record(request)
            return Response(status: .ok, body: text("ok"))
        }
        router.post("fail") { request, _ -> Response in
            _ = try await record(request)
            return Response(status: .internalServerError, headers: [.retryAfter: "7"], body: text("upstream exploded"))
        }
        router.post("throttle") { request, _ -> Response in
            _ = try await record(request)
            return Response(status: .tooManyRequests, body: text("slow down"))
        }
        router.post("gone") { request, _ -> Response in
            _ = try await record(request)
            return Response(status: .notFound, body: text("no such hook"))
        }
        router.post("hang") { request, _ -> Response in
            _ = try await record(request)
            try await Task.sleep(for: .seconds(3))
            return Response(status: .ok, body: text("too late"))
        }
        router.post("hold-first") { request, _ -> Response in
            _ = try await record(request)
            if gate.take() {
                let deadline = ContinuousClock.now + .seconds(120)
                while !gate.isReleased && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            }
            return Response(status: .ok, body: text("done"))
        }
        router.post("echo/**") { request, _ -> Response in
            let entry = try await record(request)
            let auth = entry.header("authorization").joined(separator: ",")
            return Response(status: .badRequest, body: text("bad auth \(auth) for \(request.uri.description)"))
        }
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        let ports = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw ReceiverDidNotStart() }
        return NotifyReceiver(log: log, gate: gate, task: task, port: port)
    }

    /// Lets the request /hold-first holds answer.
    public func releaseHeld() { gate.release() }

    public func stop() {
        gate.release()
        task.cancel()
    }
}

public struct ReceiverDidNotStart: Error {}
