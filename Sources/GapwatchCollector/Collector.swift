import Foundation
import GapwatchHTTPClient
import GapwatchProtocol
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

public enum Collector {
    /// Opens (and migrates) the database; on a first start, generates the admin and agent tokens
    /// and writes them to the token file, readable only by its owner.
    public static func open(config: CollectorConfig, logger: Logger) throws -> CollectorRuntime {
        let database = try AppDatabase(config.storageOptions)
        let tokens = TokenStore(database: database)
        if try tokens.isEmpty() {
            let now = WallClock.nowMillis()
            let admin = try tokens.issue(kind: .admin, agentID: nil, name: "generated admin token", now: now)
            let agent = try tokens.issue(
                kind: .agent, agentID: config.bootstrapAgentID, name: "generated agent token", now: now)
            let path = config.effectiveTokenFile
            try writeTokenFile(path: path, admin: admin, agent: agent)
            logger.notice(
                "first start: generated an admin token and an agent token",
                metadata: [
                    "token_file": "\(URL(fileURLWithPath: path).standardizedFileURL.path)",
                    "agent.id": "\(config.bootstrapAgentID)",
                ])
        }
        let metrics = CollectorMetrics(
            notifyChannels: config.detection.notify.channels.map(\.name), ruleNames: RuleRegistry.ruleNames,
            actionStates: ActionState.allCases.filter { $0 != .failed }.map(\.rawValue))
        let detector = Detector(
            database: database, config: config.detection, remediation: config.remediation, startedAt: WallClock.nowMillis(), logger: logger,
            metrics: metrics)
        let routing = try detector.syncConfig(now: WallClock.nowMillis())
        let actions = ActionRunner(
            database: database, config: config.remediation, detection: config.detection, logger: logger, ownership: config.ownership)
        actions.healVerifier.verify = { action in try detector.actionHealed(action) }
        return CollectorRuntime(
            config: config, database: database, tokens: tokens,
            writer: IngestWriter(
                database: database, logger: logger, routing: routing, ownership: config.ownership, metrics: metrics, fleet: config.fleet),
            detector: detector,
            notifier: Notifier(database: database, detection: config.detection, collectorName: HostName.current(), logger: logger, metrics: metrics),
            actions: actions, metrics: metrics, rejections: RejectedAgents(database: database, metrics: metrics))
    }

    /// Checks what a start needs before it creates anything: that the listen address can be bound
    /// now. The config has been read and validated by then (`CollectorConfig.load`), so a collector
    /// that cannot start leaves no database or token file behind.
    public static func checkCanStart(config: CollectorConfig) throws(ListenError) {
        try ListenCheck.probe(host: config.listenHost, port: config.listenPort)
    }

    /// The bind failure inside an error the HTTP server threw while starting, if that is what it is.
    public static func listenError(in error: any Error, config: CollectorConfig) -> ListenError? {
        guard let io = error as? IOError, [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(io.errnoCode) else { return nil }
        return ListenError(host: config.listenHost, port: config.listenPort, code: io.errnoCode)
    }

    /// The HTTP routes. `extra` lets benchmarks add endpoints without them existing in production.
    public static func buildRouter(
        _ runtime: CollectorRuntime, extra: ((Router<CollectorContext>) -> Void)? = nil
    ) -> Router<CollectorContext> {
        let router = Router(context: CollectorContext.self)
        // The use cases the API controllers and the dashboard share (App/).
        let app = CollectorApp(runtime: runtime)
        let knownRoutes = KnownRoutes()
        router.add(middleware: ErrorBodyMiddleware(knownRoutes: knownRoutes))
        let metrics = MetricsController(runtime: runtime)
        // Before the /v1 group: router middleware wraps only the routes added after it.
        router.add(middleware: metrics.ingestCounting)  // counts POST /v1/reports answers
        router.addRoutes(metrics.routes)  // GET /metrics
        // Open on purpose: load balancers and service managers probe it without a token. It says
        // only that the process serves and its database answers.
        router.get("healthz") { _, _ -> Response in
            do {
                _ = try runtime.database.integrityQuickCheck()
                return jsonResponse(["status": "ok"])
            } catch {
                throw APIError.unavailable("database unavailable")
            }
        }
        Dashboard(app: app).register(on: router)  // HTML pages at /, behind their own login (Dashboard/)
        let v1 = router.group("v1").add(middleware: TokenAuthMiddleware(tokens: runtime.tokens, rejections: runtime.rejections))
        ReportsController(writer: runtime.writer, limits: runtime.config.limits, rejections: runtime.rejections).register(on: v1)
        // The API's controllers (HTTP/Controllers/), one route collection each.
        v1.addRoutes(ActionsController(app: app).routes)
        v1.addRoutes(SchedulerController(app: app).routes)
        v1.addRoutes(InsightController(app: app).routes)
        v1.addRoutes(
            QueryController(
                database: runtime.database, rejections: runtime.rejections, clockToleranceMs: runtime.config.detection.clockSkew.toleranceMs
            ).routes)
        v1.addRoutes(AgentStreamsController(database: runtime.database).routes)
        v1.addRoutes(TokensController(tokens: runtime.tokens).routes)
        v1.addRoutes(OwnersController(database: runtime.database, ownership: runtime.config.ownership).routes)
        v1.addRoutes(ChecksController(app: app).routes)
        v1.addRoutes(IncidentsController(database: runtime.database).routes)
        v1.addRoutes(SilencesController(database: runtime.database).routes)
        extra?(router)
        knownRoutes.fill(from: router)
        return router
    }

    /// A runnable collector: HTTP server plus background services; SIGTERM/SIGINT drain and stop.
    public static func buildApplication(
        _ runtime: CollectorRuntime, logger: Logger,
        extraRoutes: ((Router<CollectorContext>) -> Void)? = nil,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = buildRouter(runtime, extra: extraRoutes)
        let limits = runtime.config.listenLimits
        let fileLimit = ListenLimits.openFileLimit()
        let maxConnections = limits.effectiveMaxConnections(fileLimit: fileLimit)
        if maxConnections < limits.maxConnections, let fileLimit {
            logger.notice(
                "listen_limits.max_connections lowered to fit the open-file limit",
                metadata: ["max_connections": "\(maxConnections)", "configured": "\(limits.maxConnections)", "open_file_limit": "\(fileLimit)"])
        }
        var app = Application(
            router: router,
            // Slow or idle clients are closed, and one source address cannot hold every connection.
            server: .guardedHTTP1(ConnectionGuard(limits: limits, logger: logger)),
            configuration: .init(
                address: .hostname(runtime.config.listenHost, port: runtime.config.listenPort), serverName: "gapwatch",
                // Past the cap new connections wait in the kernel's accept queue, holding no descriptor.
                availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        for service in CollectorServices.all(runtime, logger: logger) { app.addServices(service) }
        return app
    }
}

/// The files a collector start may create: the database with its WAL and shared-memory files, and
/// the token file. Taken before the start, so that a start that fails removes only what it created
/// and never touches an existing store.
public struct StartupFiles: Sendable {
    /// The paths that did not exist when the start began.
    public let absent: [String]

    public init(config: CollectorConfig) {
        func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
        let db = config.databasePath
        var paths = exists(config.effectiveTokenFile) ? [] : [config.effectiveTokenFile]
        // SQLite's in-memory and temporary databases have no files. The side files go only with a
        // database this start creates: an existing database's WAL may hold its last transactions.
        if !db.isEmpty && db != ":memory:" && !db.hasPrefix("file::memory:") && !exists(db) {
            paths += [db, db + "-wal", db + "-shm", db + "-journal"].filter { !exists($0) }
        }
        absent = paths
    }

    /// Removes what this start created. Close the database first, or SQLite recreates its side files.
    public func removeCreated() {
        for path in absent { unlink(path) }
    }
}

/// Writes the generated tokens to `path` with mode 0600, atomically (temp file, fsync, rename).
func writeTokenFile(path: String, admin: IssuedToken, agent: IssuedToken) throws {
    let text = """
        # Gapwatch tokens generated by the collector's first start. Keep this file secret.
        # Admin token: every API call (gapwatch CLI reads this file by default).
        GAPWATCH_ADMIN_TOKEN=\(admin.token)
        # Agent token, bound to agent id '\(agent.info.agentID ?? "")' (agent config: collector.token_file).
        GAPWATCH_AGENT_TOKEN=\(agent.token)
        GAPWATCH_AGENT_ID=\(agent.info.agentID ?? "")

        """
    let temp = path + ".tmp-\(getpid())"
    let fd = Glibc.open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw ConfigError("cannot write token file \(temp): \(String(cString: strerror(errno)))") }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    fchmod(fd, 0o600)
    fsync(fd)
    close(fd)
    guard written == bytes.count, rename(temp, path) == 0 else {
        unlink(temp)
        throw ConfigError("cannot write token file \(path): \(String(cString: strerror(errno)))")
    }
}
