import GapwatchHTTPClient
import GapwatchProtocol
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the agent could not start.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// The whole agent: spool, shipper, local push endpoint, heartbeat and probes, each loop on its
/// own thread.
///
/// `init` does everything that can fail (open the spool, bind the port) so `gapwatch-agent run`
/// fails fast with a clear message; `start` only starts threads.
public final class Agent: @unchecked Sendable {
    public let config: AgentConfig
    public let spool: Spool
    public let bootID = RandomID.make()
    public let shipper: Shipper
    public let server: LocalHTTPServer
    /// Runs the commands the collector hands back, within `config.actions`.
    public let actions: ActionRunner
    private let loops: [ObserverLoop]
    private let logger: Logger

    public init(config: AgentConfig, logger: Logger) throws(AgentError) {
        self.config = config
        self.logger = logger
        // Before any HTTPClient exists: TLS costs memory that an http-only agent never needs.
        HTTPClient.globalInit(tls: config.needsTLS)
        do {
            spool = try Spool(dir: config.spool.dir, maxBytes: config.spool.maxBytes, segmentBytes: config.spool.segmentBytes, logger: logger)
        } catch {
            throw AgentError("cannot open the spool in \(config.spool.dir): \(error.message)")
        }
        var options = ShipperOptions(
            reportsURL: config.collector.reportsURL, token: config.collector.token, identity: config.identity, bootID: bootID)
        options.tokenFile = config.collector.tokenFile
        options.connectTimeoutMs = config.collector.connectTimeoutMs
        options.timeoutMs = config.collector.timeoutMs
        options.batchMax = config.collector.batchMax
        options.shipIntervalMs = config.collector.shipIntervalMs
        options.backoffCapMs = config.collector.backoffMaxMs
        var loops: [ObserverLoop] = []
        if config.heartbeat.intervalMs > 0 {
            loops.append(
                ObserverLoop(
                    observer: HeartbeatObserver(name: config.heartbeat.name, intervalMs: config.heartbeat.intervalMs), spool: spool, logger: logger))
        }
        for probe in config.httpProbes {
            loops.append(ObserverLoop(observer: HTTPProbeObserver(config: probe), spool: spool, logger: logger))
        }
        for probe in config.commandProbes {
            let statePath = CommandProbeObserver.statePath(spoolDir: config.spool.dir, probe: probe.name)
            loops.append(
                ObserverLoop(observer: CommandProbeObserver(config: probe, logger: logger, statePath: statePath), spool: spool, logger: logger))
        }
        // Re-read at once after every action this agent runs: it may have paused, resumed or released.
        var rereadAfterActions: [ObserverLoop] = []
        if let scheduler = config.scheduler {
            let catalog = JobCatalog()
            let inventory = ListingObserver.inventory(scheduler, spoolDir: spool.dir, catalog: catalog, logger: logger)
            let inventoryLoop = ObserverLoop(observer: inventory, spool: spool, logger: logger, earlyWakeups: true)
            let proberLoop = ObserverLoop(
                observer: JobTargetProber(config: scheduler, catalog: catalog), spool: spool, logger: logger, earlyWakeups: true)
            // A new job's target is probed at once, not a probe interval later.
            catalog.onNewTargets { [weak proberLoop] in proberLoop?.wakeup.signal() }
            loops += [inventoryLoop, proberLoop]
            rereadAfterActions.append(inventoryLoop)
        }
        if let locks = config.locks {
            let locksLoop = ObserverLoop(
                observer: ListingObserver.locks(locks, spoolDir: spool.dir, logger: logger), spool: spool, logger: logger, earlyWakeups: true)
            loops.append(locksLoop)
            rereadAfterActions.append(locksLoop)
        }
        self.loops = loops

        do {
            actions = try ActionRunner(actions: config.actions, spool: spool, logger: logger) { [rereadAfterActions] in
                for loop in rereadAfterActions { loop.wakeup.signal() }
            }
        } catch {
            spool.close()
            throw error
        }
        let actions = self.actions
        shipper = Shipper(spool: spool, options: options, logger: logger) { actions.handle($0) }

        var pushToken: String?
        if let path = config.listenTokenFile {
            do {
                pushToken = try PushToken.read(path, requirePrivate: true)
            } catch {
                spool.close()
                throw AgentError(error.message)
            }
        }
        let statusSource = StatusSource()
        let api = PushAPI(spool: spool, logger: logger, pushToken: pushToken) { statusSource.status() }
        do {
            server = try LocalHTTPServer(host: config.listen.host, port: config.listen.port, logger: logger) { api.handle($0) }
        } catch {
            spool.close()
            // One line with what to do: the usual cause is a second agent with the same `listen`.
            let advice = error.code == EADDRINUSE ? "another agent running? set listen: in the agent config" : "set listen: in the agent config"
            throw AgentError("\(error.message) (the local push endpoint; \(advice))")
        }
        statusSource.agent = self
    }

    /// Starts every thread.
    public func start() {
        if let problem = config.collector.tokenFileProblem {
            logger.warning(
                "collector.token_file is not readable yet; observations are spooled and shipping starts once it is",
                metadata: ["token_file": "\(config.collector.tokenFile ?? "")", "error": "\(problem)"])
        }
        server.start()
        shipper.start()
        for loop in loops { loop.start() }
        let stats = spool.stats
        logger.info(
            "gapwatch-agent started",
            metadata: [
                "agent.id": "\(config.agent.id)", "listen": "\(config.listen.host):\(server.port)", "collector": "\(config.collector.url)",
                "spool.id": "\(stats.spoolID)", "spool.next_seq": "\(stats.nextSeq)", "spool.backlog": "\(stats.backlogRecords)",
                "probes": "\(config.httpProbes.count + config.commandProbes.count)", "actions": "\(config.actions.count)",
                "scheduler": "\(config.scheduler == nil ? "off" : config.scheduler?.name ?? "on")", "locks": "\(config.locks == nil ? "off" : "on")",
            ])
    }

    /// Stops accepting pushes, ends the loops, gives the shipper a moment, closes the spool.
    public func stop() {
        server.stop(timeoutMs: 2_000)
        for loop in loops { loop.wakeup.stop() }
        for loop in loops { loop.stop(timeoutMs: 3_000) }
        // Running commands get SIGTERM (SIGKILL after 2 s); their `failed` results are spooled.
        actions.stop(timeoutMs: 5_000)
        shipper.stop(timeoutMs: 3_000)
        spool.close()
        logger.info("gapwatch-agent stopped", metadata: ["agent.id": "\(config.agent.id)"])
    }

    /// What `GET /v1/status` shows.
    public func status() -> AgentStatus {
        let s = spool.stats
        let ship = shipper.status
        return AgentStatus(
            agentID: config.agent.id, service: config.agent.service, version: AgentConfig.version, bootID: bootID,
            spoolID: s.spoolID, lastSeq: s.nextSeq - 1, nextSeq: s.nextSeq, ackedSeq: s.ackedSeq, pending: s.backlogRecords,
            pendingBytes: s.backlogBytes, spoolBytes: s.totalBytes, dropped: .init(overflow: s.overflow, corrupt: s.corrupt),
            rejected: ship.rejected, collectorURL: config.collector.url, lastShipAt: ship.lastAttemptAt,
            lastShipOKAt: ship.lastOKAt, lastError: ship.lastError, refused: ship.refused)
    }
}

/// Lets the push API ask the agent for its status without a retain cycle at construction.
private final class StatusSource: @unchecked Sendable {
    weak var agent: Agent?
    func status() -> AgentStatus {
        agent?.status()
            ?? AgentStatus(
                agentID: "", service: "", version: AgentConfig.version, bootID: "", spoolID: "", lastSeq: 0, nextSeq: 0,
                ackedSeq: 0, pending: 0, pendingBytes: 0, spoolBytes: 0, dropped: .init(overflow: 0, corrupt: 0), rejected: 0,
                collectorURL: "", lastShipAt: nil, lastShipOKAt: nil, lastError: "the agent is stopping")
    }
}
