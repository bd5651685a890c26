import GapwatchProtocol
import Hummingbird
import NIOCore

/// `GET /metrics`: the collector's metrics in the Prometheus text format (0.0.4), for a read or
/// admin token like every other read; and the middleware that counts `POST /v1/reports` answers.
struct MetricsController {
    let runtime: CollectorRuntime

    /// `GET /metrics`, behind the token middleware.
    var routes: RouteCollection<CollectorContext> {
        let routes = RouteCollection(context: CollectorContext.self)
        routes.add(middleware: TokenAuthMiddleware(tokens: runtime.tokens))
        routes.get("metrics", use: scrape)
        return routes
    }

    /// Router-wide, not part of `routes`: it must wrap the `/v1` group's token middleware to see
    /// the reports' 401s, so it is added to the router before that group.
    var ingestCounting: IngestMetricsMiddleware { IngestMetricsMiddleware(metrics: runtime.metrics) }

    @Sendable func scrape(request: Request, context: CollectorContext) async throws -> Response {
        _ = try context.requireReader()
        let text: [UInt8]
        do {
            text = try await runtime.metrics.scrape(database: runtime.database)
        } catch {
            throw APIError.unavailable("cannot read the metrics: storage unavailable")
        }
        return Response(
            status: .ok, headers: [.contentType: CollectorMetrics.contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }
}

/// Counts every `POST /v1/reports` answer by outcome, including the token middleware's 401s and
/// the body limit's 413s, and times those that committed (200).
struct IngestMetricsMiddleware: RouterMiddleware {
    typealias Context = CollectorContext
    let metrics: CollectorMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, context.endpointPath == "/v1/reports" else { return try await next(request, context) }
        let began = WallClock.monotonicNanos()
        do {
            let response = try await next(request, context)
            metrics.ingestAnswered(status: response.status.code, began: began)
            return response
        } catch {
            // What ErrorBodyMiddleware will answer: the error's own status, else 500.
            metrics.ingestAnswered(status: (error as? any HTTPResponseError)?.status.code ?? 500, began: began)
            throw error
        }
    }
}
