import GapwatchProtocol
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// An error answered to an API client as the protocol's `ErrorBody` JSON.
public struct APIError: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var body: ErrorBody
    public var retryAfterSeconds: Int?
    /// With 405: the methods the path takes, for the `Allow` header.
    public var allow: String?

    public init(
        _ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, retryAfterSeconds: Int? = nil,
        allow: String? = nil
    ) {
        self.status = status
        self.body = ErrorBody(error: code, message: message, field: field)
        self.retryAfterSeconds = retryAfterSeconds
        self.allow = allow
    }

    init(status: HTTPResponse.Status, body: ErrorBody) {
        self.status = status
        self.body = body
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = jsonResponse(body, status: status)
        if let retryAfterSeconds { response.headers[.retryAfter] = String(retryAfterSeconds) }
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        if let allow { response.headers[.allow] = allow }
        return response
    }

    /// A refused use case (`CollectorApp`) as the API answers it.
    init(_ refusal: UseCaseError) {
        switch refusal.kind {
        case .notFound: self = .notFound(refusal.message)
        case .conflict: self.init(.conflict, "conflict", refusal.message)
        case .invalid(let field): self = .badRequest(refusal.message, field: field)
        }
    }

    static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, "bad_request", message, field: field)
    }
    static let missingToken = APIError(
        .unauthorized, "unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'")
    static let unknownToken = APIError(.unauthorized, "unauthorized", "unknown or revoked token")
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, "unavailable", message, retryAfterSeconds: 5)
    }
}

/// A JSON response with the protocol's encoder (sorted keys, no whitespace).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let bytes = ReportCodec.encode(value)
    return Response(
        status: status, headers: [.contentType: "application/json"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// The router's paths and the methods each takes, to tell 405 (the path exists, the method does not)
/// from 404. Filled once by `Collector.buildRouter` after every route is added and before the server
/// starts, then only read: that ordering is why the unchecked Sendable is safe.
final class KnownRoutes: @unchecked Sendable {
    private var routes: [(path: RouterPath, methods: [HTTPRequest.Method])] = []

    func fill(from router: Router<some RequestContext>) {
        var byPath: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
        for route in router.routes {
            byPath[route.path.description, default: (route.path, [])].methods.append(route.method)
        }
        routes = byPath.values.sorted { $0.path.description < $1.path.description }
    }

    /// The methods that `path` takes, or [] when no route has that path.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var found: Set<String> = []
        for route in routes where Self.matches(route.path, parts) {
            found.formUnion(route.methods.map(\.rawValue))
        }
        return found.sorted().compactMap { HTTPRequest.Method($0) }
    }

    private static func matches(_ route: RouterPath, _ parts: [Substring]) -> Bool {
        guard route.components.count == parts.count else { return false }
        // Same count: the collector registers no recursive wildcard (`**`) routes.
        return zip(route.components, parts).allSatisfy { component, part in component ~= part }
    }
}

/// Turns every error into the protocol's error body: router 404s (405 when the path exists with other
/// methods), Hummingbird's own errors, and anything unexpected (500, logged, details not leaked).
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    let knownRoutes: KnownRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let refusal as UseCaseError {
            throw APIError(refusal)
        } catch let error as HTTPError where error.status == .notFound {
            // The router's 404 for an unmatched method and path. RFC 9110: a path that exists with
            // other methods is 405 with Allow listing them.
            let allowed = knownRoutes.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else {
                throw APIError(.notFound, "not_found", error.body ?? "no such endpoint: \(request.method) \(request.uri.path)")
            }
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            throw APIError(
                .methodNotAllowed, "method_not_allowed",
                "\(request.method) is not allowed on \(excerpt(request.uri.path, max: 256)); allowed: \(list)",
                allow: list)
        } catch let error as HTTPError {
            let code: String =
                switch error.status {
                case .notFound: "not_found"
                case .methodNotAllowed: "method_not_allowed"
                case .contentTooLarge: "payload_too_large"
                case .unauthorized: "unauthorized"
                default: error.status.code < 500 ? "bad_request" : "internal"
                }
            let message =
                error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            throw APIError(status: error.status, body: ErrorBody(error: code, message: message))
        } catch {
            if let refusal = BodyReadFailure(error) {
                // The client's fault (a malformed chunked body, a body cut off): 400, and one
                // throttled log line however many clients do it.
                refusal.log(context.logger, path: request.uri.path)
                throw refusal.apiError
            }
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, "internal", "internal error; see the collector log")
        }
    }
}

/// A request body that could not be read because of the client: the HTTP decoder refused its
/// framing (a bad chunk size, a body that ended before its Content-Length), or the connection
/// broke while it was arriving.
struct BodyReadFailure {
    let reason: String
    static let throttle = LogThrottle()

    init?(_ error: any Error) {
        switch error {
        case let parse as HTTPParserError: reason = "malformed request body (\(parse))"
        case let io as IOError: reason = "the connection broke while the body arrived (\(io.description))"
        case let channel as ChannelError: reason = "the connection broke while the body arrived (\(channel))"
        default: return nil
        }
    }

    var apiError: APIError { APIError.badRequest("the request body could not be read: \(reason)") }

    func log(_ logger: Logger, path: String) {
        let line = Self.throttle.admit(now: WallClock.nowMillis())
        guard line.log else { return }
        logger.warning(
            "refused request bodies that could not be read",
            metadata: ["reason": "\(reason)", "path": "\(excerpt(path, max: 256))", "refused_unlogged_since_last_line": "\(line.suppressed)"])
    }
}
