import GapwatchSubprocess

/// The collector token, from the config or a token file that may appear or change later.
///
/// With a token file, the file is re-read while it has given no token and after the collector
/// refuses the token (401/403), so writing or rotating the file needs no restart.
public final class TokenSource: @unchecked Sendable {
    public enum Current: Equatable, Sendable {
        /// No token is configured at all: send without `Authorization`.
        case none
        case token(String)
        /// A token file is configured but gives no token now.
        case unavailable(String)
    }

    private let file: String?
    private let lock = ConditionLock()
    private var cached: String?

    public init(token: String?, file: String?) {
        self.cached = token
        self.file = file
    }

    public func current() -> Current {
        lock.withLock { () -> Current in
            if let cached { return .token(cached) }
            guard let file else { return .none }
            do throws(AgentConfig.TokenFileError) {
                let token = try AgentConfig.readTokenFile(file)
                cached = token
                return .token(token)
            } catch {
                switch error {
                case .unreadable(let why), .invalid(let why): return .unavailable(why)
                }
            }
        }
    }

    /// Forgets a file-read token so the next `current()` reads the file again.
    public func refresh() {
        lock.withLock { if file != nil { cached = nil } }
    }
}
