import ArgumentParser
import GapwatchAgent
import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The process environment as a dictionary.
func currentEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var index = 0
    while let entry = environ[index] {
        let text = String(cString: entry)
        if let eq = text.firstIndex(of: "=") {
            env[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        index += 1
    }
    return env
}

/// Prints `gapwatch-agent: message` to stderr.
func printError(_ message: String) {
    writeAll(2, "gapwatch-agent: \(message)\n")
}

func printOut(_ text: String) {
    writeAll(1, text)
}

private func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var sent = 0
    while sent < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        sent += n
    }
}

/// Exit code for a bad configuration (sysexits EX_CONFIG); the systemd unit does not restart on it.
let exitConfigError: Int32 = 78

/// Loads a config file or exits with a one-line error.
func loadConfig(_ path: String) throws -> AgentConfig {
    do {
        return try AgentConfig.load(path: path, environment: currentEnvironment())
    } catch {
        printError(error.message)
        throw ExitCode(exitConfigError)
    }
}

/// A time option: milliseconds since the epoch, or RFC 3339.
func parseTime(_ text: String, option: String) throws -> Millis {
    guard let t = TimeParsing.parse(text) else {
        throw ValidationError("\(option): '\(text)' is not a time; use milliseconds since 1970 or RFC 3339 like 2026-01-22T19:00:00Z")
    }
    return t
}
