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
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a program from an argv array via `posix_spawnp`, never through a shell.
///
/// Standard input is `stdin` (written by the runner, then closed) or /dev/null; standard output
/// and error are captured up to a cap each. The command gets its own process group so that, on
/// timeout, SIGTERM and then SIGKILL reach its children too. Variables in `hiddenEnvironment` are
/// removed from the inherited environment; `extraEnvironment` is added (and wins over inherited
/// variables of the same name).
///
/// Used by the agent's command probes and the collector's command notification channel.
public struct CommandRunner: Sendable {
    public var timeoutMs: Int64
    public var killGraceMs: Int64 = 2_000
    public var maxStdoutBytes = 1 << 20
    public var maxStderrBytes = 16 << 10
    /// Inherited environment variables never passed to commands. By default the agent's token, so
    /// no Gapwatch process hands it to a child unless it clears this.
    public var hiddenEnvironment: Set<String> = ["GAPWATCH_AGENT_TOKEN"]
    /// Variables set for the command on top of the (filtered) inherited environment.
    public var extraEnvironment: [String: String] = [:]
    /// Bytes written to the command's standard input, which is then closed; nil gives it /dev/null.
    /// A command that exits (or closes its input) without reading them all is not an error.
    public var stdin: [UInt8]? = nil

    public init(timeoutMs: Int64) { self.timeoutMs = timeoutMs }

    /// Held while creating file descriptors that must not leak into a spawned command: take it
    /// around any `socket`/`accept`/`pipe` whose result is made close-on-exec only afterwards.
    public static let spawnLock = ConditionLock()

    /// Runs `argv` to completion or timeout. `cancel`, when stopped, ends the command early.
    public func run(_ argv: [String], cancel: Wakeup? = nil) throws(CommandError) -> CommandResult {
        guard let program = argv.first, !program.isEmpty else { throw CommandError(message: "empty argv") }
        for name in extraEnvironment.keys where name.isEmpty || name.contains("=") || name.contains("\0") {
            throw CommandError(message: "bad environment variable name '\(name)'")
        }
        let started = WallClock.monotonicNanos()

        // Pipes are made close-on-exec under a process-wide lock that every spawn also takes, so a
        // command started by another thread never inherits this one's write ends (and so never
        // holds its output open past its exit).
        Self.spawnLock.lock()
        var spawnLocked = true
        defer { if spawnLocked { Self.spawnLock.unlock() } }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw CommandError(message: "pipe: \(Errno.current)") }
        guard pipe(&errPipe) == 0 else {
            close(outPipe[0])
            close(outPipe[1])
            throw CommandError(message: "pipe: \(Errno.current)")
        }
        if stdin != nil {
            guard pipe(&inPipe) == 0 else {
                for fd in outPipe + errPipe { close(fd) }
                throw CommandError(message: "pipe: \(Errno.current)")
            }
        }
        for fd in outPipe + errPipe + inPipe where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
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
        // SIGXFSZ too: the agent and the collector ignore it, and an ignored signal survives exec.
        for sig in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGXFSZ] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)

        let cArgv = argv.map { strdup($0) } + [nil]
        defer { for p in cArgv { free(p) } }
        var envStrings: [UnsafeMutablePointer<CChar>?] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = String(text.prefix { $0 != "=" })
            if !hiddenEnvironment.contains(name) && extraEnvironment[name] == nil { envStrings.append(strdup(entry)) }
            index += 1
        }
        for (name, value) in extraEnvironment.sorted(by: { $0.key < $1.key }) {
            envStrings.append(strdup("\(name)=\(value)"))
        }
        envStrings.append(nil)
        defer { for p in envStrings { free(p) } }

        var pid = pid_t()
        let rc = posix_spawnp(&pid, program, &actions, &attr, cArgv, envStrings)
        close(outPipe[1])
        close(errPipe[1])
        if inPipe[0] >= 0 { close(inPipe[0]) }
        Self.spawnLock.unlock()
        spawnLocked = false
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            if inPipe[1] >= 0 { close(inPipe[1]) }
            throw CommandError(message: "cannot run \(program): \(Errno.describe(rc))")
        }

        // Standard input is written from the same loop that reads the output, without blocking, so
        // a command that writes a lot before it reads cannot deadlock against us.
        let input = stdin ?? []
        var inputOffset = 0
        if inPipe[1] >= 0 {
            if input.isEmpty {
                close(inPipe[1])
                inPipe[1] = -1
            } else {
                _ = fcntl(inPipe[1], F_SETFL, fcntl(inPipe[1], F_GETFL) | O_NONBLOCK)
                #if canImport(Darwin)
                    _ = fcntl(inPipe[1], F_SETNOSIGPIPE, 1)
                #endif
            }
        }
        #if os(Linux)
            // Writing to a pipe whose reader is gone raises SIGPIPE, which would end the whole process
            // unless ignored. Block it on this thread while writing and consume one we caused.
            let guardsPipe = inPipe[1] >= 0
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            var savedMask = sigset_t()
            var pendingBefore = sigset_t()
            if guardsPipe {
                sigpending(&pendingBefore)
                pthread_sigmask(SIG_BLOCK, &pipeSignal, &savedMask)
            }
            defer {
                if guardsPipe {
                    var pendingNow = sigset_t()
                    sigpending(&pendingNow)
                    if sigismember(&pendingNow, SIGPIPE) == 1 && sigismember(&pendingBefore, SIGPIPE) == 0 {
                        var zero = timespec(tv_sec: 0, tv_nsec: 0)
                        while sigtimedwait(&pipeSignal, nil, &zero) < 0 && errno == EINTR {}
                    }
                    pthread_sigmask(SIG_SETMASK, &savedMask, nil)
                }
            }
        #endif

        var result = CommandResult(
            exitStatus: nil, signal: nil, timedOut: false, stdout: [], stderr: [], stdoutTruncated: false, durationMs: 0)
        let deadline = started + UInt64(max(0, timeoutMs)) * 1_000_000
        var fds = [
            pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: inPipe[1], events: Int16(POLLOUT), revents: 0),
        ]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var cancelled = false

        // Read both pipes until they close or time runs out.
        while fds.contains(where: { $0.fd >= 0 }) {
            let now = WallClock.monotonicNanos()
            if now >= deadline {
                result.timedOut = true
                break
            }
            if cancel?.isStopped == true {
                cancelled = true
                break
            }
            let waitMs = Int32(min(100, (deadline - now) / 1_000_000 + 1))
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 && errno != EINTR { break }
            if n <= 0 { continue }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                if i == 2 {
                    // Standard input: write what fits; the reader gone (POLLERR) ends the input.
                    var finished = fds[i].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0
                    if !finished {
                        let wrote = input.withUnsafeBytes { all in
                            write(fds[i].fd, all.baseAddress! + inputOffset, all.count - inputOffset)
                        }
                        if wrote > 0 {
                            inputOffset += wrote
                            finished = inputOffset >= input.count
                        } else if wrote < 0 && errno != EINTR && errno != EAGAIN {
                            finished = true
                        }
                    }
                    if finished {
                        close(fds[i].fd)
                        fds[i].fd = -1
                    }
                    continue
                }
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
            if r == pid {
                exited = true
                break
            }
            if r < 0 && errno != EINTR { break }
            if WallClock.monotonicNanos() >= deadline {
                result.timedOut = true
                break
            }
            if cancel?.isStopped == true {
                cancelled = true
                break
            }
            usleep(5_000)
        }
        if !exited {
            kill(-pid, SIGTERM)
            let graceEnd = WallClock.monotonicNanos() + UInt64(max(0, killGraceMs)) * 1_000_000
            while WallClock.monotonicNanos() < graceEnd {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid {
                    exited = true
                    break
                }
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
