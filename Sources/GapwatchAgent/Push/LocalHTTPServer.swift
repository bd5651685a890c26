import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP request as the local server read it.
public struct ServerRequest: Sendable {
    public var method: String
    /// The path without the query string.
    public var path: String
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: [UInt8]
}

public struct ServerResponse: Sendable {
    public var status: Int
    public var contentType = "application/json"
    public var headers: [(String, String)] = []
    public var body: [UInt8]

    public init(status: Int, body: [UInt8], contentType: String = "application/json", headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }
}

/// A small HTTP/1.1 server on POSIX sockets, for the agent's loopback push endpoint.
///
/// One thread accepts; each connection gets its own thread, so a slow client never blocks the
/// others. Keep-alive is supported; a connection idle (or a request incomplete) for `idleTimeoutMs`
/// is closed. Bodies need a Content-Length and may not pass `maxBodyBytes` (413).
///
/// At `maxConnections`, a new connection closes the connection that has waited longest without a
/// request being handled (idle, or still sending one), so sockets held open by anyone cannot lock
/// out a push. A request whose `Host` is not this server's own loopback address is refused (403):
/// a web page whose name resolves to 127.0.0.1 (DNS rebinding) cannot reach the endpoint.
public final class LocalHTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (ServerRequest) -> ServerResponse

    public let host: String
    /// The bound port (the kernel's choice when asked for port 0).
    public private(set) var port: UInt16 = 0
    public var maxBodyBytes = 64 * 1024
    public var maxHeaderBytes = 16 * 1024
    public var idleTimeoutMs: Int64 = 10_000
    public var maxConnections = 64

    private let handler: Handler
    private let logger: Logger
    private var listenFD: Int32 = -1
    private let stopSignal = Wakeup()
    private var acceptThread: AgentThread?
    private let connections = ConditionLock()
    /// Connection threads running (evicted ones included until they end).
    private var openConnections = 0
    /// The connections that count against `maxConnections`, by id; each fd here is still open.
    private var slots: [Int: Slot] = [:]
    private var nextSlotID = 0

    private struct Slot {
        let fd: Int32
        /// Whether the handler is working on one of its requests (never evicted then).
        var handling = false
        /// When it last started waiting for a request.
        var since: UInt64
    }

    /// Binds and listens at once, so that callers learn about a busy port before starting threads.
    public init(host: String, port: UInt16, logger: Logger, handler: @escaping Handler) throws(FileError) {
        self.host = host
        self.handler = handler
        self.logger = logger
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FileError("cannot create a socket for", host) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        func bindSocket<Address>(to addr: inout Address) -> Int32 {
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
            }
        }
        func notAnAddress(_ family: String) -> FileError {
            close(fd)
            return FileError(message: "'\(host)' is not an \(family) address")
        }
        var bindResult: Int32
        if v6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &addr.sin6_addr) == 1 else { throw notAnAddress("IPv6") }
            bindResult = bindSocket(to: &addr)
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw notAnAddress("IPv4") }
            bindResult = bindSocket(to: &addr)
        }
        let address = v6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        guard bindResult == 0, listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw FileError(message: ListenError(address: address, code: code, reason: ListenCheck.reason(code)).description, code: code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if v6 {
            self.port = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        } else {
            self.port = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        }
        // Non-blocking, so accept never waits after a poll that a vanished client woke.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        listenFD = fd
    }

    deinit {
        if listenFD >= 0 { close(listenFD) }
    }

    /// Starts accepting connections on a dedicated thread.
    public func start() {
        acceptThread = AgentThread(name: "gw-push-accept") { [self] in acceptLoop() }
    }

    /// Stops accepting, lets open connections finish their current request, and closes the socket.
    public func stop(timeoutMs: Int64 = 3_000) {
        stopSignal.stop()
        acceptThread?.join(timeoutMs: timeoutMs)
        let deadline = WallClock.monotonicNanos() + UInt64(timeoutMs) * 1_000_000
        connections.withLock {
            while openConnections > 0 {
                if !connections.wait(until: deadline) { break }
            }
        }
    }

    private func acceptLoop() {
        defer {
            close(listenFD)
            listenFD = -1
        }
        while !stopSignal.isStopped {
            var pfd = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            let n = poll(&pfd, 1, 200)
            if n <= 0 { continue }
            // accept4 is not visible from Swift; accept + FD_CLOEXEC under the spawn lock is as safe.
            let client = CommandRunner.spawnLock.withLock { () -> Int32 in
                let fd = accept(listenFD, nil, nil)
                if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                return fd
            }
            if client < 0 {
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED {
                    logger.warning("local push server: accept failed", metadata: ["error": "\(Errno.current)"])
                    _ = stopSignal.sleep(ms: 100)
                }
                continue
            }
            let slotID = connections.withLock { () -> Int? in admit(client) }
            guard let slotID else {
                let conn = Connection(fd: client, server: self)
                conn.send(
                    status: 503, body: Array(#"{"error":"unavailable","message":"too many connections; retry later"}"#.utf8),
                    headers: [("Retry-After", "1")], close: true)
                close(client)
                continue
            }
            AgentThread.detached(name: "gw-push-conn") { [self] in
                var connection = Connection(fd: client, server: self, slotID: slotID)
                connection.serve()
                connections.withLock {
                    // Out of `slots` before the close, so an eviction never shuts down a reused fd.
                    slots.removeValue(forKey: slotID)
                    close(client)
                    openConnections -= 1
                    connections.broadcast()
                }
            }
        }
    }

    /// Takes a slot for `fd` (under `connections`): a free one, else the one of the connection
    /// waiting longest without a request being handled, which is shut down. nil when every
    /// connection is handling a request, or evicted ones have not ended yet.
    private func admit(_ fd: Int32) -> Int? {
        guard openConnections < 2 * maxConnections else { return nil }
        if slots.count >= maxConnections {
            guard let (oldest, slot) = slots.filter({ !$0.value.handling }).min(by: { $0.value.since < $1.value.since }) else { return nil }
            slots.removeValue(forKey: oldest)
            // Its thread sees the end of the stream at once and ends.
            shutdown(slot.fd, Int32(SHUT_RDWR))
            evictions += 1
        }
        nextSlotID += 1
        slots[nextSlotID] = Slot(fd: fd, since: WallClock.monotonicNanos())
        openConnections += 1
        return nextSlotID
    }

    /// Connections closed to make room for a new one, since the start.
    public private(set) var evictions = 0

    fileprivate func setHandling(_ slotID: Int, _ handling: Bool) {
        connections.withLock {
            slots[slotID]?.handling = handling
            if !handling { slots[slotID]?.since = WallClock.monotonicNanos() }
        }
    }

    /// The `Host` values a request may carry: this server's port with 127.0.0.1, localhost, [::1]
    /// or the address it is bound to (without the port only on port 80).
    var allowedHosts: Set<String> {
        let bound = host.contains(":") ? "[\(host)]" : host
        let names = Set(["127.0.0.1", "localhost", "[::1]", bound.lowercased()])
        return Set(names.map { "\($0):\(port)" } + (port == 80 ? Array(names) : []))
    }

    /// One client connection, served request after request.
    private struct Connection {
        let fd: Int32
        let server: LocalHTTPServer
        let slotID: Int
        var buffer: [UInt8] = []

        init(fd: Int32, server: LocalHTTPServer, slotID: Int = 0) {
            self.fd = fd
            self.server = server
            self.slotID = slotID
        }

        mutating func serve() {
            // A client that stops reading cannot hold a send forever.
            var timeout = timeval(tv_sec: Int(server.idleTimeoutMs / 1000), tv_usec: Int(server.idleTimeoutMs % 1000) * 1000)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while !server.stopSignal.isStopped {
                let deadline = WallClock.monotonicNanos() + UInt64(server.idleTimeoutMs) * 1_000_000
                // Head: up to the blank line.
                var headEnd: Int? = findHeadEnd()
                while headEnd == nil {
                    if buffer.count > server.maxHeaderBytes {
                        send(status: 431, error: "headers_too_large", message: "request headers pass \(server.maxHeaderBytes) bytes", close: true)
                        return
                    }
                    switch readMore(deadline: deadline) {
                    case .data: headEnd = findHeadEnd()
                    case .closed: return
                    case .timeout:
                        if !buffer.isEmpty {
                            send(
                                status: 408, error: "request_timeout", message: "the request was not complete within \(server.idleTimeoutMs / 1000)s",
                                close: true)
                        }
                        return
                    }
                }
                if headEnd! > server.maxHeaderBytes {
                    send(status: 431, error: "headers_too_large", message: "request headers pass \(server.maxHeaderBytes) bytes", close: true)
                    return
                }
                let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
                buffer.removeFirst(headEnd! + 4)
                var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map { String($0) }
                let requestLine = lines.removeFirst().split(separator: " ")
                guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
                    send(status: 400, error: "bad_request", message: "malformed request line", close: true)
                    return
                }
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else {
                        send(status: 400, error: "bad_request", message: "malformed header line", close: true)
                        return
                    }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmed
                }
                let http10 = requestLine[2] == "HTTP/1.0"
                let connectionHeader = headers["connection"]?.lowercased() ?? ""
                let wantsClose = connectionHeader.contains("close") || (http10 && !connectionHeader.contains("keep-alive"))
                if headers["transfer-encoding"] != nil {
                    send(status: 411, error: "length_required", message: "send the body with Content-Length, not chunked", close: true)
                    return
                }
                var length = 0
                let method = String(requestLine[0])
                if headers["content-length"] == nil && (method == "POST" || method == "PUT") {
                    send(status: 411, error: "length_required", message: "send the body with a Content-Length header", close: true)
                    return
                }
                if let text = headers["content-length"] {
                    guard let n = Int(text), n >= 0 else {
                        send(status: 400, error: "bad_request", message: "bad Content-Length", close: true)
                        return
                    }
                    length = n
                }
                if length > server.maxBodyBytes {
                    send(status: 413, error: "payload_too_large", message: "the body is \(length) bytes; at most \(server.maxBodyBytes)", close: true)
                    return
                }
                if length > buffer.count, headers["expect"]?.lowercased() == "100-continue" {
                    _ = writeAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
                while buffer.count < length {
                    switch readMore(deadline: deadline) {
                    case .data: continue
                    case .closed: return
                    case .timeout:
                        send(
                            status: 408, error: "request_timeout", message: "the body did not arrive within \(server.idleTimeoutMs / 1000)s",
                            close: true)
                        return
                    }
                }
                let body = Array(buffer[0..<length])
                buffer.removeFirst(length)
                var path = String(requestLine[1])
                if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
                // No Host at all (HTTP/1.0) cannot come from a browser, so it is no rebinding.
                if headers["host"] == nil && !http10 {
                    send(status: 400, error: "bad_request", message: "an HTTP/1.1 request needs a Host header", close: true)
                    return
                }
                if let hostHeader = headers["host"], !server.allowedHosts.contains(hostHeader.lowercased()) {
                    let allowed = server.allowedHosts.sorted().joined(separator: ", ")
                    send(
                        status: 403, error: "forbidden",
                        message: "Host '\(jsonSafe(headers["host"] ?? "none"))' is not this agent's loopback address (allowed: \(allowed))",
                        close: true)
                    return
                }
                server.setHandling(slotID, true)
                let response = server.handler(ServerRequest(method: method, path: path, headers: headers, body: body))
                let sent = send(
                    status: response.status, body: response.body, contentType: response.contentType, headers: response.headers, close: wantsClose)
                server.setHandling(slotID, false)
                guard sent else { return }
                if wantsClose { return }
            }
        }

        /// `text` fit to quote inside a JSON string: at most 64 printable ASCII characters.
        func jsonSafe(_ text: String) -> String {
            String(text.unicodeScalars.prefix(64).map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "?" })
        }

        func findHeadEnd() -> Int? {
            guard buffer.count >= 4 else { return nil }
            for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                return i
            }
            return nil
        }

        enum ReadResult { case data, closed, timeout }

        mutating func readMore(deadline: UInt64) -> ReadResult {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let now = WallClock.monotonicNanos()
                if now >= deadline || server.stopSignal.isStopped { return .timeout }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&pfd, 1, Int32(min(200, (deadline - now) / 1_000_000 + 1)))
                if n < 0 && errno != EINTR { return .closed }
                if n <= 0 { continue }
                let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if got <= 0 { return .closed }
                buffer.append(contentsOf: chunk[0..<got])
                return .data
            }
        }

        @discardableResult
        func send(status: Int, error: String, message: String, close: Bool) -> Bool {
            let body = "{\"error\":\"\(error)\",\"message\":\"\(message)\"}"
            return send(status: status, body: Array(body.utf8), close: close)
        }

        @discardableResult
        func send(status: Int, body: [UInt8], contentType: String = "application/json", headers: [(String, String)] = [], close: Bool) -> Bool {
            var head = "HTTP/1.1 \(status) \(reason(status))\r\n"
            head += "Content-Type: \(contentType)\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            head += "Content-Length: \(body.count)\r\n"
            if close { head += "Connection: close\r\n" }
            head += "\r\n"
            return writeAll(Array(head.utf8) + body)
        }

        func writeAll(_ bytes: [UInt8]) -> Bool {
            var sent = 0
            let deadline = WallClock.monotonicNanos() + UInt64(server.idleTimeoutMs) * 1_000_000
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN && WallClock.monotonicNanos() < deadline {
                        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&pfd, 1, 200)
                        continue
                    }
                    return false
                }
                sent += n
            }
            return true
        }

        func reason(_ status: Int) -> String {
            switch status {
            case 100: "Continue"
            case 200: "OK"
            case 400: "Bad Request"
            case 404: "Not Found"
            case 405: "Method Not Allowed"
            case 408: "Request Timeout"
            case 411: "Length Required"
            case 413: "Payload Too Large"
            case 415: "Unsupported Media Type"
            case 431: "Request Header Fields Too Large"
            case 500: "Internal Server Error"
            case 503: "Service Unavailable"
            default: "Status"
            }
        }
    }
}
