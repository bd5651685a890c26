import Foundation
import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import Logging
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh temporary folder, removed at the end of the test.
func makeTempDir(_ test: XCTestCase) -> String {
    var template = Array("/tmp/gapwatch-agent-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buf -> String in
        guard let p = mkdtemp(buf.baseAddress!) else { fatalError("mkdtemp failed") }
        return String(cString: p)
    }
    test.addTeardownBlock { removeTree(path) }
    return path
}

func removeTree(_ path: String) {
    if FileIO.isDirectory(path) {
        for name in (try? FileIO.list(path)) ?? [] { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// agent/agent.example.yaml, which documents every key and must stay loadable.
let exampleConfigPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../agent/agent.example.yaml").path

/// Asserts that `yaml` is refused with a message holding every one of `parts`.
func assertConfigError(_ yaml: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try AgentConfig.parse(yaml: yaml)
        XCTFail("expected a config error for:\n\(yaml)", file: file, line: line)
    } catch {
        for part in parts {
            XCTAssertTrue(error.message.contains(part), "'\(error.message)' lacks '\(part)'", file: file, line: line)
        }
    }
}

/// Polls `condition` every 20 ms for at most `timeoutMs`; its last value.
func waitFor(_ timeoutMs: Int64 = 10_000, _ condition: () -> Bool) -> Bool {
    let deadline = WallClock.monotonicMillis() + timeoutMs
    while WallClock.monotonicMillis() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func appendFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path, O_WRONLY | O_APPEND)
    precondition(fd >= 0, "cannot open \(path)")
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}

func segmentFiles(_ dir: String) -> [String] {
    ((try? FileIO.list(dir)) ?? []).filter { $0.hasPrefix("seg-") && $0.hasSuffix(".log") }
}

func count(_ n: Int64, partition: String = "2026-01-22") -> ObservationBody {
    .count(Count(dataset: "d", partition: partition, count: n))
}

/// A tiny HTTP/1.1 responder on 127.0.0.1 for shipper tests: one thread, one connection at a time,
/// `Connection: close` after every answer. Records every request it gets.
final class TinyHTTPResponder: @unchecked Sendable {
    struct Request {
        var method: String
        var path: String
        var headers: [String: String]
        var body: [UInt8]
    }

    struct Reply {
        var status: Int
        var headers: [(String, String)] = []
        var body: String = ""
    }

    let port: UInt16
    private let fd: Int32
    private let lock = ConditionLock()
    private var requests: [Request] = []
    private var stopped = false
    private var thread: AgentThread?
    private let respond: @Sendable (Request) -> Reply

    init(respond: @escaping @Sendable (Request) -> Reply) {
        self.respond = respond
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(rc == 0 && listen(fd, 16) == 0, "cannot listen")
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: bound.sin_port)
        thread = AgentThread(name: "tiny-http") { [self] in serve() }
    }

    var url: String { "http://127.0.0.1:\(port)" }

    var received: [Request] { lock.withLock { requests } }

    func stop() {
        lock.withLock { stopped = true }
        thread?.join(timeoutMs: 2_000)
        close(fd)
    }

    private func serve() {
        while !lock.withLock({ stopped }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = WallClock.monotonicMillis() + 5_000
        func readMore() -> Bool {
            var pfd = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { return WallClock.monotonicMillis() < deadline }
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            guard readMore() else { return }
            headEnd = buffer.indices.dropLast(3).first { buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10 }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = head[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        let bodyStart = headEnd! + 4
        while buffer.count < bodyStart + length {
            guard readMore() else { return }
        }
        let request = Request(
            method: String(requestLine[0]), path: String(requestLine[1]), headers: headers,
            body: Array(buffer[bodyStart..<(bodyStart + length)]))
        lock.withLock { requests.append(request) }
        let reply = respond(request)
        var text = "HTTP/1.1 \(reply.status) X\r\nContent-Type: application/json\r\nContent-Length: \(reply.body.utf8.count)\r\nConnection: close\r\n"
        for (name, value) in reply.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n" + reply.body
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
