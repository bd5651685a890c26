import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import Logging
import Synchronization

struct CollectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collector",
        abstract: "Run the collector: ingest reports from agents and serve the API.",
        discussion: """
            With no --config it runs the embedded default: listens on 127.0.0.1:7070, stores to ./gapwatch.db (SQLite, WAL). Every key of the config file is documented in collector/collector.example.yaml. SIGTERM or Ctrl-C drains in-flight requests and stops.
            """)

    @Option(help: "YAML config file (see collector/collector.example.yaml).")
    var config: String?

    @Option(help: "Listen address HOST:PORT; overrides the config.")
    var listen: String?

    @Option(help: "SQLite database path; overrides the config.")
    var database: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String?

    func run() async throws {
        // Past a file-size limit (ulimit -f, systemd LimitFSIZE) a write must fail like a full disk
        // (503, nothing stored, retried), not kill the collector with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        var settings = try config.map { try CollectorConfig.load(path: $0) } ?? CollectorConfig()
        if let listen {
            let (host, port) = try parseListen(listen)
            settings.listenHost = host
            settings.listenPort = port
        }
        if let database { settings.databasePath = database }
        if let logLevel { settings.logLevel = logLevel }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gapwatch.collector")
        // Everything a start can be refused for is checked before the first file is created; a
        // start that fails later still removes what it created, so a retry starts from nothing.
        let listenAdvice = (
            inUse: "another collector running? set listen: in the config or --listen",
            elsewhere: "set listen: in the config or --listen"
        )
        do {
            try Collector.checkCanStart(config: settings)
        } catch {
            throw startFailure(error.message(inUse: listenAdvice.inUse, elsewhere: listenAdvice.elsewhere))
        }
        let files = StartupFiles(config: settings)
        let runtime: CollectorRuntime
        do {
            runtime = try Collector.open(config: settings, logger: logger)
        } catch {
            files.removeCreated()
            throw error
        }
        let (host, databasePath) = (settings.listenHost, settings.databasePath)
        let serving = Mutex(false)
        let app = Collector.buildApplication(
            runtime, logger: logger,
            onServerRunning: { port in
                serving.withLock { $0 = true }
                logger.notice(
                    "collector listening",
                    metadata: ["address": "\(host):\(port)", "database": "\(databasePath)"])
            })
        do {
            try await app.runService()
        } catch {
            // Only a start that never served gives its files back; a running collector's store stays.
            guard !serving.withLock({ $0 }) else { throw error }
            try? runtime.database.closeConnections()
            files.removeCreated()
            if let listen = Collector.listenError(in: error, config: settings) {
                throw startFailure(listen.message(inUse: listenAdvice.inUse, elsewhere: listenAdvice.elsewhere))
            }
            throw error
        }
        logger.notice("collector stopped")
    }
}

/// Prints `gapwatch collector: <message>` as the one line on stderr and exits 1.
private func startFailure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("gapwatch collector: \(message)\n".utf8))
    return ExitCode(1)
}
