import GapwatchProtocol
import Synchronization

/// Dashboard logins, held in memory: the cookie carries a random session id, never the token. Each
/// request re-checks the token behind the session against the `TokenStore`, so revoking the token
/// ends its sessions at once; a restart of the collector ends every session (people log in again).
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        var token: String
        var createdAt: Millis
    }

    static let cookieName = "gapwatch_session"
    /// A session lasts this long after its login (the cookie's Max-Age too).
    static let lifetimeMs: Millis = 12 * 3_600_000
    /// Most sessions held; a login past this drops the oldest.
    static let maxSessions = 10_000

    private let sessions = Mutex<[String: Session]>([:])
    /// The key of the CSRF field's HMAC: random per process, so a form from before a restart is refused.
    private let csrfKey: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }()

    /// Starts a session for a token already checked by the caller; returns its id (the cookie value).
    func create(token: String, now: Millis) -> String {
        let id = randomToken(bytes: 32)
        sessions.withLock { sessions in
            if sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value.createdAt < $1.value.createdAt })?.key {
                sessions.removeValue(forKey: oldest)
            }
            sessions[id] = Session(token: token, createdAt: now)
        }
        return id
    }

    /// The token behind a live session; nil (and the session dropped) once it has expired.
    func token(session id: String, now: Millis) -> String? {
        sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard now - session.createdAt < Self.lifetimeMs else {
                sessions.removeValue(forKey: id)
                return nil
            }
            return session.token
        }
    }

    func remove(session id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// The hidden form field that proves a POST comes from a page this session was shown:
    /// HMAC-SHA256 of the session id under the per-process key, in hex.
    func csrfField(session id: String) -> String {
        hmacSHA256(key: csrfKey, message: Array("csrf:\(id)".utf8)).map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        }.joined()
    }

    func csrfMatches(_ field: String?, session id: String) -> Bool {
        guard let field else { return false }
        return constantTimeEquals(Array(field.utf8), Array(csrfField(session: id).utf8))
    }
}

/// HMAC (RFC 2104) over the collector's SHA-256.
func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var block = key.count > 64 ? SHA256.hash(key) : key
    block += [UInt8](repeating: 0, count: 64 - block.count)
    let inner = SHA256.hash(block.map { $0 ^ 0x36 } + message)
    return SHA256.hash(block.map { $0 ^ 0x5c } + inner)
}
