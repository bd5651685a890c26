#if canImport(Glibc)
    import Glibc
#endif

/// A port the kernel just handed out on 127.0.0.1 and that nobody holds now.
public func freeLoopbackPort() -> Int { freeLoopbackPorts(1)[0] }

/// `count` distinct ports on 127.0.0.1 that nobody holds now. All are bound before any is let go:
/// ports taken one at a time can come back twice, since each is free again once its probe closes.
public func freeLoopbackPorts(_ count: Int) -> [Int] {
    var sockets: [Int32] = []
    defer { for socket in sockets { close(socket) } }
    return (0..<count).map { _ in
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        sockets.append(fd)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
