import Crypto
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
    private let csrfKey = SymmetricKey(size: .bits256)

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
        HMAC<SHA256>.authenticationCode(for: Array("csrf:\(id)".utf8), using: csrfKey).map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 15)]])
        }.joined()
    }

    func csrfMatches(_ field: String?, session id: String) -> Bool {
        guard let field else { return false }
        return constantTimeEquals(Array(field.utf8), Array(csrfField(session: id).utf8))
    }
}

/// Failed dashboard logins per source address. The first `freeFailures` failures within
/// `forgetAfterMs` of each other cost nothing; each one after them makes that source wait before
/// its next try: 1 s, then twice as long per further failure, at most `maxDelayMs`. While a source
/// waits, its logins are answered 429 with Retry-After and no token is looked at. A success clears
/// the source's count; so do `forgetAfterMs` without a failure.
final class LoginThrottle: Sendable {
    struct Entry: Sendable {
        var failures: Int
        var lastFailureAt: Millis
        var blockedUntil: Millis
    }

    static let freeFailures = 10
    static let forgetAfterMs: Millis = 30 * 60_000
    static let maxDelayMs: Millis = 15 * 60_000
    /// Most sources remembered; past it the one whose last failure is oldest is forgotten.
    static let maxSources = 10_000

    private let entries = Mutex<[String: Entry]>([:])

    /// How long `source` must still wait before its next login, in ms; nil when it may try now.
    func wait(source: String, now: Millis) -> Millis? {
        entries.withLock { entries in
            guard let entry = entries[source], entry.blockedUntil > now else { return nil }
            return entry.blockedUntil - now
        }
    }

    /// Counts a failed login; returns the failures counted so far and how long the source must now wait.
    func failed(source: String, now: Millis) -> (failures: Int, waitMs: Millis) {
        entries.withLock { entries in
            var entry = entries[source] ?? Entry(failures: 0, lastFailureAt: now, blockedUntil: 0)
            if now - entry.lastFailureAt > Self.forgetAfterMs { entry.failures = 0 }
            entry.failures += 1
            entry.lastFailureAt = now
            var waitMs: Millis = 0
            if entry.failures > Self.freeFailures {
                let doublings = min(entry.failures - Self.freeFailures - 1, 20)
                waitMs = min(Self.maxDelayMs, 1_000 << Millis(doublings))
                entry.blockedUntil = now + waitMs
            }
            if entries[source] == nil, entries.count >= Self.maxSources,
                let oldest = entries.min(by: { $0.value.lastFailureAt < $1.value.lastFailureAt })?.key
            {
                entries.removeValue(forKey: oldest)
            }
            entries[source] = entry
            return (entry.failures, waitMs)
        }
    }

    func succeeded(source: String) {
        _ = entries.withLock { $0.removeValue(forKey: source) }
    }
}
