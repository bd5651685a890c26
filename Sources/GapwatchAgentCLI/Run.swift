import ArgumentParser
import GapwatchAgent
import GapwatchProtocol
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent until SIGTERM or SIGINT.",
        discussion: """
            Opens the spool, listens on the local push endpoint, and starts the shipper, the heartbeat
            and the probes. Logs go to standard error. SIGTERM or SIGINT stops it cleanly (exit 0).
            A bad config exits with status 78.

            Example:
              GAPWATCH_AGENT_TOKEN=gw_agent_... gapwatch-agent run --config agent.yaml
            """)

    @Option(name: .shortAndLong, help: "Path to the agent's YAML config (see agent/agent.example.yaml).")
    var config: String

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Default: $GAPWATCH_LOG_LEVEL or info.")
    var logLevel: String?

    func run() throws {
        let environment = currentEnvironment()
        let levelText = logLevel ?? environment["GAPWATCH_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ValidationError("--log-level: '\(levelText)' is not a level (trace, debug, info, notice, warning, error, critical)")
        }
        // The agent's JSON in plain Swift: Foundation's encoder and decoder stay unloaded from
        // memory for the process's life (bench/README.md, "Agent memory").
        ReportCodec.engine = .compact
        let config = try loadConfig(self.config)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gapwatch-agent")

        // Every thread inherits this mask, so the signals wait for sigwait below; commands the agent
        // spawns get a clean mask back (CommandRunner).
        var signals = sigset_t()
        sigemptyset(&signals)
        for sig in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, sig) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        signal(SIGPIPE, SIG_IGN)
        // Past a file-size limit (ulimit -f, systemd LimitFSIZE) a spool write must fail like a
        // full disk (EFBIG: the push is answered 503 and retried), not kill the agent with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)

        let agent: Agent
        do {
            agent = try Agent(config: config, logger: logger)
        } catch {
            printError(error.message)
            throw ExitCode(1)
        }
        agent.start()
        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else { continue }
            if received == SIGHUP {
                logger.notice("SIGHUP ignored: restart the agent to load a changed config")
                continue
            }
            logger.info("stopping", metadata: ["signal": "\(received == SIGTERM ? "SIGTERM" : "SIGINT")"])
            break
        }
        agent.stop()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and print the effective config (token redacted).",
        discussion: """
            Exits 0 and prints every setting, defaults included, when the file is valid; otherwise
            prints the first problem with its line number and exits 78.

            Example:
              gapwatch-agent check-config --config /etc/gapwatch/agent.yaml
            """)

    @Option(name: .shortAndLong, help: "Path to the agent's YAML config.")
    var config: String

    func run() throws {
        let config = try loadConfig(self.config)
        printOut("# effective configuration of \(self.config)\n" + config.render())
    }
}
