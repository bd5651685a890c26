import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP connection to 127.0.0.1 that plays a broken or hostile client: it connects from a chosen
/// loopback address (all of 127.0.0.0/8 reaches the loopback interface), sends exactly the bytes
/// the test says, and tells when the server has closed it. Used by the end-to-end tests and the
/// hostile fault suite.
public final class RawConnection {
    public let fd: Int32
    public private(set) var received: [UInt8] = []
    public private(set) var closed = false

    /// Connects (non-blocking, at most `timeoutMs`); nil when the connection did not complete, as
    /// when the server's accept queue is full.
    public init?(port: Int, from source: String = "127.0.0.1", timeoutMs: Int32 = 2_000) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, source, &local.sin_addr) == 1,
            withUnsafePointer(
                to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }) == 0
        else {
            close(fd)
            return nil
        }
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard errno == EINPROGRESS, poll(&pfd, 1, timeoutMs) == 1, getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0, error == 0 else {
                close(fd)
                return nil
            }
        }
    }

    deinit { close(fd) }

    /// Sends all of `text` (bounded: gives up after 2 s of a full send buffer).
    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        let deadline = Date().addingTimeInterval(2)
        while sent < bytes.count && Date() < deadline {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else if errno == EAGAIN || errno == EINTR { usleep(1_000) } else { return }
        }
    }

    /// Ends the sending side: the server sees the end of the request stream.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads what has arrived, waiting up to `waitMs` for the server to close; true once it has
    /// (end of stream or reset).
    @discardableResult
    public func waitClosed(waitMs: Int) -> Bool {
        let deadline = Date().addingTimeInterval(Double(waitMs) / 1000)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !closed {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, left) <= 0 { return false }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received += buffer[0..<n]
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                closed = true
            }
            if left == 0 && !closed { return false }
        }
        return true
    }

    public var text: String { String(decoding: received, as: UTF8.self) }

    /// The response to `request`, read until the server closes or `waitMs` passes.
    public static func exchange(port: Int, _ request: String, waitMs: Int = 5_000) -> String? {
        guard let connection = RawConnection(port: port) else { return nil }
        connection.send(request)
        connection.waitClosed(waitMs: waitMs)
        return connection.text
    }
}
