import GapwatchProtocol
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The state every connection of one server shares: open connections per source address, and the
/// throttled log lines about connections refused or closed.
final class ConnectionGuard: Sendable {
    let limits: ListenLimits
    let logger: Logger
    private let perSource = Mutex<[String: Int]>([:])
    private let refusedLog = LogThrottle()
    private let timeoutLog = LogThrottle()

    init(limits: ListenLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    /// Counts `channel` against its source address until it closes; false (and nothing counted)
    /// when that source already holds its share.
    func admit(_ channel: any Channel) -> Bool {
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        let admitted = perSource.withLock { counts in
            let open = counts[source, default: 0]
            guard open < limits.maxConnectionsPerSource else { return false }
            counts[source] = open + 1
            return true
        }
        guard admitted else {
            let line = refusedLog.admit(now: WallClock.nowMillis())
            if line.log {
                logger.warning(
                    "connection refused: its source holds listen_limits.max_connections_per_source connections",
                    metadata: [
                        "source": "\(source)", "max_connections_per_source": "\(limits.maxConnectionsPerSource)",
                        "refused_since_last_line": "\(line.suppressed)",
                    ])
            }
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in
            perSource.withLock { counts in
                let left = counts[source, default: 1] - 1
                counts[source] = left > 0 ? left : nil
            }
        }
        return true
    }

    func timedOut(_ phase: RequestTimeoutHandler.Phase, source: String) {
        let line = timeoutLog.admit(now: WallClock.nowMillis())
        guard line.log else { return }
        logger.notice(
            "closed a connection that timed out",
            metadata: [
                "source": "\(source)", "phase": "\(phase.rawValue)", "timeout": "\(Units.formatDuration(phase.timeout(limits)))",
                "closed_unlogged_since_last_line": "\(line.suppressed)",
            ])
    }

    /// Open connections from `source` (tests and diagnostics).
    func open(from source: String) -> Int { perSource.withLock { $0[source, default: 0] } }
}

/// Closes a connection that is too slow in any phase: sending its first request's head, sending a
/// request's body, or waiting between requests. Sits after the HTTP decoder, so it sees request
/// heads, body parts and ends, and the responses going out; while a response is being prepared no
/// timer runs (that is the collector's own work).
final class RequestTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum Phase: String {
        case header, body, idle

        func timeout(_ limits: ListenLimits) -> Millis {
            switch self {
            case .header: limits.headerTimeoutMs
            case .body: limits.bodyTimeoutMs
            case .idle: limits.idleTimeoutMs
            }
        }
    }

    private let connectionGuard: ConnectionGuard
    private var timer: Scheduled<Void>?
    /// Requests whose head arrived and whose response has not ended.
    private var inFlight = 0
    /// Whether a request's body is still arriving.
    private var readingBody = false
    private var armed = false

    init(connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startOnce(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startOnce(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inFlight += 1
            readingBody = true
            arm(.body, context)
        case .body:
            break
        case .end:
            readingBody = false
            cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inFlight = max(0, inFlight - 1)
            if inFlight == 0 && !readingBody { arm(.idle, context) }
        }
        context.write(data, promise: promise)
    }

    private func startOnce(_ context: ChannelHandlerContext) {
        guard !armed else { return }
        armed = true
        arm(.header, context)
    }

    private func arm(_ phase: Phase, _ context: ChannelHandlerContext) {
        cancel()
        let channel = context.channel
        let connectionGuard = self.connectionGuard
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(phase.timeout(connectionGuard.limits))) {
            connectionGuard.timedOut(phase, source: channel.remoteAddress?.ipAddress ?? "unknown")
            channel.close(promise: nil)
        }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }
}

/// HTTP/1.1 with the collector's connection limits: a connection past its source's share is closed
/// as soon as it is accepted, and every connection gets a `RequestTimeoutHandler`.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel
    let connectionGuard: ConnectionGuard

    init(responder: @escaping HTTPChannelHandler.Responder, connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
        http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [RequestTimeoutHandler(connectionGuard: connectionGuard)]))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Never a failed future: the server would take it for a failure of its own accept loop. A
        // refused connection is set up like any other and closed as soon as it is active.
        if !connectionGuard.admit(channel) {
            do {
                try channel.pipeline.syncOperations.addHandler(CloseWhenActiveHandler())
            } catch {
                channel.close(promise: nil)
            }
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// Closes its connection as soon as it is active (a connection refused over a cap).
final class CloseWhenActiveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with per-source caps and header, body and idle timeouts.
    static func guardedHTTP1(_ connectionGuard: ConnectionGuard) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in GuardedHTTP1Channel(responder: responder, connectionGuard: connectionGuard) }
    }
}
