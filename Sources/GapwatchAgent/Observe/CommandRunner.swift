import GapwatchProtocol
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished (or killed) command did.
public struct CommandResult: Sendable {
    /// The exit status when the command exited by itself.
    public var exitStatus: Int32?
    /// The signal that ended it, if one did (including our own SIGTERM/SIGKILL on timeout).
    public var signal: Int32?
    public var timedOut: Bool
    /// The first `maxStdoutBytes` of standard output.
    public var stdout: [UInt8]
    /// The last `maxStderrBytes` of standard error.
    public var stderr: [UInt8]
    public var stdoutTruncated: Bool
    public var durationMs: Int64

    public var succeeded: Bool { !timedOut && exitStatus == 0 }

    /// The exit status, or 128 + signal like a shell reports it.
    public var exitCode: Int { Int(exitStatus ?? (128 + (signal ?? 0))) }
}

/// The command could not be started at all (no such program, not executable...).
public struct CommandError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Runs a program from an argv array via `posix_spawnp`, never through a shell.
///
/// Standard input is /dev/null; standard output and error are captured up to a cap each. The
/// command gets its own process group so that, on timeout, SIGTERM and then SIGKILL reach its
/// children too. The agent's token is removed from the command's environment.
public struct CommandRunner: Sendable {
    public var timeoutMs: Int64
    public var killGraceMs: Int64 = 2_000
    public var maxStdoutBytes = 1 << 20
    public var maxStderrBytes = 16 << 10
    /// Environment variables never passed to commands.
    public var hiddenEnvironment: Set<String> = ["GAPWATCH_AGENT_TOKEN"]

    public init(timeoutMs: Int64) { self.timeoutMs = timeoutMs }

    /// Held while creating file descriptors that must not leak into a spawned command.
    static let spawnLock = ConditionLock()

    /// Runs `argv` to completion or timeout. `cancel`, when stopped, ends the command early.
    public func run(_ argv: [String], cancel: Wakeup? = nil) throws(CommandError) -> CommandResult {
        guard let program = argv.first, !program.isEmpty else { throw CommandError(message: "empty argv") }
        let started = WallClock.monotonicNanos()

        // Pipes are made close-on-exec under a process-wide lock that every spawn also takes, so a
        // command started by another thread never inherits this one's write ends (and so never
        // holds its output open past its exit).
        Self.spawnLock.lock()
        var spawnLocked = true
        defer { if spawnLocked { Self.spawnLock.unlock() } }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw CommandError(message: "pipe: \(Errno.current)") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw CommandError(message: "pipe: \(Errno.current)")
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // A fresh process group, no blocked signals, default handlers for what the agent changed.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)

        let cArgv = argv.map { strdup($0) } + [nil]
        defer { for p in cArgv { free(p) } }
        var envStrings: [UnsafeMutablePointer<CChar>?] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.prefix { $0 != "=" }
            if !hiddenEnvironment.contains(String(name)) { envStrings.append(strdup(entry)) }
            index += 1
        }
        envStrings.append(nil)
        defer { for p in envStrings { free(p) } }

        var pid = pid_t()
        let rc = posix_spawnp(&pid, program, &actions, &attr, cArgv, envStrings)
        close(outPipe[1])
        close(errPipe[1])
        Self.spawnLock.unlock()
        spawnLocked = false
        guard rc == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw CommandError(message: "cannot run \(program): \(Errno.describe(rc))")
        }

        var result = CommandResult(
            exitStatus: nil, signal: nil, timedOut: false, stdout: [], stderr: [], stdoutTruncated: false, durationMs: 0)
        let deadline = started + UInt64(max(0, timeoutMs)) * 1_000_000
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var cancelled = false

        // Read both pipes until they close or time runs out.
        while fds.contains(where: { $0.fd >= 0 }) {
            let now = WallClock.monotonicNanos()
            if now >= deadline { result.timedOut = true; break }
            if cancel?.isStopped == true { cancelled = true; break }
            let waitMs = Int32(min(100, (deadline - now) / 1_000_000 + 1))
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 && errno != EINTR { break }
            if n <= 0 { continue }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let got = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if got < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if got <= 0 {
                    close(fds[i].fd)
                    fds[i].fd = -1
                    continue
                }
                if i == 0 {
                    let room = maxStdoutBytes - result.stdout.count
                    if room > 0 { result.stdout.append(contentsOf: buffer[0..<min(room, got)]) }
                    if got > room { result.stdoutTruncated = true }
                } else {
                    result.stderr.append(contentsOf: buffer[0..<got])
                    if result.stderr.count > maxStderrBytes {
                        result.stderr.removeFirst(result.stderr.count - maxStderrBytes)
                    }
                }
            }
        }

        // Reap it; if it outlives the deadline, terminate its whole process group.
        var status: Int32 = 0
        var exited = false
        while !result.timedOut && !cancelled {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { exited = true; break }
            if r < 0 && errno != EINTR { break }
            if WallClock.monotonicNanos() >= deadline { result.timedOut = true; break }
            if cancel?.isStopped == true { cancelled = true; break }
            usleep(5_000)
        }
        if !exited {
            kill(-pid, SIGTERM)
            let graceEnd = WallClock.monotonicNanos() + UInt64(max(0, killGraceMs)) * 1_000_000
            while WallClock.monotonicNanos() < graceEnd {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { exited = true; break }
                if r < 0 && errno != EINTR { break }
                usleep(10_000)
            }
            kill(-pid, SIGKILL)  // also reaches children that ignored SIGTERM
            if !exited {
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
        }
        for fd in fds where fd.fd >= 0 { close(fd.fd) }

        if status & 0x7F == 0 {
            result.exitStatus = (status >> 8) & 0xFF
        } else {
            result.signal = status & 0x7F
        }
        result.durationMs = Int64((WallClock.monotonicNanos() - started) / 1_000_000)
        return result
    }
}
