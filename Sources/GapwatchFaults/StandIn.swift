import Foundation
import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProtocol
import Logging

/// A loopback HTTP stand-in in front of the collector, one port per agent so every request is
/// known by agent. It either forwards to the collector or answers 503 with `Retry-After` (as a load
/// balancer does while the collector behind it is down), and records each request it saw.
final class StandIn: @unchecked Sendable {
    enum Mode: Sendable {
        case forward
        case unavailable(retryAfterSeconds: Int)
    }

    struct Hit: Sendable {
        var agent: Int
        var at: Date
        var status: Int
        var retryAfterSeconds: Int?
    }

    let ports: [Int]
    let collectorURL: String
    private let mode = Locked<Mode>(.forward)
    private let hitsBox = Locked<[Hit]>([])
    private var servers: [LocalHTTPServer] = []
    private let logger = Logger(label: "gapwatch-faults.stand-in")

    init(ports: [Int], collectorURL: String) {
        self.ports = ports
        self.collectorURL = collectorURL
    }

    func url(_ agent: Int) -> String { "http://127.0.0.1:\(ports[agent])" }
    var hits: [Hit] { hitsBox.read { $0 } }
    func setMode(_ new: Mode) { mode.write { $0 = new } }

    /// Starts listening on every port (after a `stop`, the ports refused connections meanwhile).
    func start() throws {
        for (agent, port) in ports.enumerated() {
            let server = try LocalHTTPServer(host: "127.0.0.1", port: UInt16(port), logger: logger) { [self] request in
                handle(request, agent: agent)
            }
            server.maxBodyBytes = 2 << 20
            server.idleTimeoutMs = 300  // so that a stop closes kept-alive connections promptly
            server.start()
            servers.append(server)
        }
    }

    /// Stops listening: the agents' connections are refused, as with a collector that is down.
    func stop() {
        for server in servers { server.stop(timeoutMs: 2_000) }
        servers = []
    }

    private func handle(_ request: ServerRequest, agent: Int) -> ServerResponse {
        let response: ServerResponse
        var retryAfter: Int?
        switch mode.read({ $0 }) {
        case .unavailable(let seconds):
            retryAfter = seconds
            response = ServerResponse(
                status: 503, body: Array(#"{"error":"unavailable","message":"the collector is not available"}"#.utf8),
                headers: [("Retry-After", "\(seconds)")])
        case .forward:
            response = forward(request)
        }
        hitsBox.write { $0.append(Hit(agent: agent, at: Date(), status: response.status, retryAfterSeconds: retryAfter)) }
        return response
    }

    private func forward(_ request: ServerRequest) -> ServerResponse {
        var headers: [(String, String)] = []
        for name in ["content-type", "content-encoding", "authorization"] {
            if let value = request.headers[name] { headers.append((name, value)) }
        }
        do {
            let answer = try HTTPClient(connectTimeoutMs: 1_000, timeoutMs: 30_000).send(
                HTTPRequest(method: request.method, url: collectorURL + request.path, headers: headers, body: request.body))
            var out: [(String, String)] = []
            if let after = answer.headers["retry-after"] { out.append(("Retry-After", after)) }
            return ServerResponse(
                status: answer.status, body: answer.body, contentType: answer.headers["content-type"] ?? "application/json", headers: out)
        } catch {
            return ServerResponse(status: 502, body: Array(#"{"error":"unavailable","message":"the collector did not answer"}"#.utf8))
        }
    }
}
