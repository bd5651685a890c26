import GapwatchSubprocess

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The collector token, from the config or a token file that may appear or change later.
///
/// With a token file, the file is re-read while it has given no token and after the collector
/// refuses the token (401/403), so writing or rotating the file needs no restart. While the
/// shipper waits after such a refusal (or for a file that gives no token), it asks
/// `fileChangedSinceRead()` every few hundred milliseconds and retries at once when the file
/// changed, instead of waiting out the backoff (up to `collector.backoff_max`).
public final class TokenSource: @unchecked Sendable {
    public enum Current: Equatable, Sendable {
        /// No token is configured at all: send without `Authorization`.
        case none
        case token(String)
        /// A token file is configured but gives no token now.
        case unavailable(String)
    }

    /// What identifies one version of the token file: inode, size and modification time, and the
    /// token it gave (a rewrite within the file system's time resolution still changes that).
    struct FileVersion: Equatable {
        var inode: UInt64
        var size: Int64
        var modifiedNanos: Int64
        var token: String?
    }

    private let file: String?
    private let lock = ConditionLock()
    private var cached: String?
    /// The file as it was when last read; nil before the first read or when it was missing.
    private var lastRead: FileVersion?

    /// `token` may have come from `file` already (the config reads it at start): then that is
    /// the version of the file a change is measured against.
    public init(token: String?, file: String?) {
        self.cached = token
        self.file = file
        if let token, let file, let stamp = Self.stamp(file) {
            lastRead = FileVersion(inode: stamp.inode, size: stamp.size, modifiedNanos: stamp.modifiedNanos, token: token)
        }
    }

    /// Whether a token file is configured (only then is there anything to watch).
    public var watchesFile: Bool { file != nil }

    public func current() -> Current {
        lock.withLock { () -> Current in
            if let cached { return .token(cached) }
            guard let file else { return .none }
            let stamp = Self.stamp(file)
            do throws(AgentConfig.TokenFileError) {
                let token = try AgentConfig.readTokenFile(file)
                cached = token
                lastRead = stamp.map { FileVersion(inode: $0.inode, size: $0.size, modifiedNanos: $0.modifiedNanos, token: token) }
                return .token(token)
            } catch {
                lastRead = stamp.map { FileVersion(inode: $0.inode, size: $0.size, modifiedNanos: $0.modifiedNanos, token: nil) }
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

    /// True when the token file now differs from what `current()` last read: it appeared,
    /// disappeared, was replaced or rewritten (inode, size, mtime), or gives another token.
    /// Cheap enough to ask a few times a second: a stat, and a read only when the stat is unchanged
    /// (to see a same-size rewrite within the mtime's resolution).
    public func fileChangedSinceRead() -> Bool {
        guard let file else { return false }
        let previous = lock.withLock { lastRead }
        guard let now = Self.stamp(file) else { return previous != nil }
        guard let previous else { return true }
        if now.inode != previous.inode || now.size != previous.size || now.modifiedNanos != previous.modifiedNanos { return true }
        return (try? AgentConfig.readTokenFile(file)) != previous.token
    }

    private static func stamp(_ path: String) -> FileVersion? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        #if canImport(Darwin)
            let modified = Int64(st.st_mtimespec.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtimespec.tv_nsec)
        #else
            let modified = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
        #endif
        return FileVersion(inode: UInt64(st.st_ino), size: Int64(st.st_size), modifiedNanos: modified, token: nil)
    }
}
