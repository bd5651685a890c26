import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The optional token of the local push endpoint (`listen_token_file:`). With it, every push and
/// `GET /v1/status` must carry `Authorization: Bearer <token>`, so that only who may read the file
/// (its owner) can record observations, not every process on the host.
public enum PushToken {
    /// Shortest token accepted: a guessable token would protect nothing.
    public static let minLength = 16

    /// Reads the token: the file's only line, trimmed, one word of printable ASCII. With
    /// `requirePrivate` (the agent's start) the file must not be readable or writable by group or
    /// others.
    public static func read(_ path: String, requirePrivate: Bool) throws(ConfigError) -> String {
        if requirePrivate {
            var info = stat()
            guard stat(path, &info) == 0 else {
                throw ConfigError(line: nil, key: "listen_token_file", "cannot read \(path): \(Errno.current)")
            }
            if info.st_mode & 0o077 != 0 {
                throw ConfigError(
                    line: nil, key: "listen_token_file",
                    "\(path) may be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
            }
        }
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: 4096)
        } catch {
            throw ConfigError(line: nil, key: "listen_token_file", "cannot read \(path): \(error)")
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(\.trimmed).filter { !$0.isEmpty }
        guard lines.count == 1, let token = lines.first, token.utf8.count >= minLength, token.utf8.count <= 256,
            token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw ConfigError(
                line: nil, key: "listen_token_file",
                "\(path) must hold one token alone on one line: \(minLength)-256 printable characters without spaces (e.g. from `openssl rand -hex 32`)"
            )
        }
        return token
    }

    /// Whether an `Authorization` header value carries `token` (compared in constant time).
    public static func matches(authorization: String?, token: String) -> Bool {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return false }
        let given = Array(authorization.dropFirst(7).trimmed.utf8)
        let expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }
}
