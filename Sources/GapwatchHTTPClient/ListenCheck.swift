#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server that cannot listen on its address, said in one line: where, and why in words.
public struct ListenError: Error, Sendable, CustomStringConvertible {
    /// `127.0.0.1:7070`, `[::1]:7070`.
    public var address: String
    /// The errno of the failed call; nil when the host name did not resolve.
    public var code: Int32?
    public var reason: String

    public var isAddressInUse: Bool { code == EADDRINUSE }
    public var description: String { "cannot listen on \(address): \(reason)" }

    public init(address: String, code: Int32?, reason: String) {
        self.address = address
        self.code = code
        self.reason = reason
    }

    public init(host: String, port: Int, code: Int32) {
        self.init(address: ListenCheck.address(host: host, port: port), code: code, reason: ListenCheck.reason(code))
    }

    /// The one line a command prints: what failed and what to do. `inUse` is the advice for a
    /// port that is taken (another instance running?), `elsewhere` for any other failure.
    public func message(inUse: String, elsewhere: String) -> String {
        "\(description) (\(isAddressInUse ? inUse : elsewhere))"
    }
}

/// Checks that a server could listen on an address now, before a command creates anything.
public enum ListenCheck {
    /// Binds a socket the way the servers do (SO_REUSEADDR, the first address the host resolves
    /// to) and closes it again. Throws when the port is taken, not allowed or not on this host.
    public static func probe(host: String, port: Int) throws(ListenError) {
        guard (0...65535).contains(port) else {
            throw ListenError(address: address(host: host, port: port), code: nil, reason: "port \(port) is not between 0 and 65535")
        }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if os(Linux)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &found)
        guard resolved == 0, let first = found else {
            let why = resolved == 0 ? "no address" : String(cString: gai_strerror(resolved))
            throw ListenError(address: address(host: host, port: port), code: nil, reason: "cannot resolve '\(host)': \(why)")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw ListenError(host: host, port: port, code: errno) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 1) == 0 else {
            throw ListenError(host: host, port: port, code: errno)
        }
    }

    public static func address(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// strerror in lower case, with the usual cause where one is likely.
    public static func reason(_ code: Int32) -> String {
        switch code {
        case EADDRINUSE: return "address already in use"
        case EACCES: return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        case EADDRNOTAVAIL: return "address not available (no interface of this host has it)"
        default:
            guard let text = strerror(code) else { return "error \(code)" }
            return String(cString: text).lowercased()
        }
    }
}
