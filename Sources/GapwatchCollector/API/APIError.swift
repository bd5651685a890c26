import GapwatchProtocol
import Hummingbird
import NIOCore

/// An error answered to an API client as the protocol's `ErrorBody` JSON.
public struct APIError: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var body: ErrorBody
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.body = ErrorBody(error: code, message: message, field: field)
        self.retryAfterSeconds = retryAfterSeconds
    }

    init(status: HTTPResponse.Status, body: ErrorBody) {
        self.status = status
        self.body = body
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = jsonResponse(body, status: status)
        if let retryAfterSeconds { response.headers[.retryAfter] = String(retryAfterSeconds) }
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
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

/// Turns every error into the protocol's error body: router 404s, Hummingbird's own errors, and
/// anything unexpected (500, logged, details not leaked).
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let code: String =
                switch error.status {
                case .notFound: "not_found"
                case .methodNotAllowed: "method_not_allowed"
                case .contentTooLarge: "payload_too_large"
                case .unauthorized: "unauthorized"
                default: error.status.code < 500 ? "bad_request" : "internal"
                }
            let message = error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            throw APIError(status: error.status, body: ErrorBody(error: code, message: message))
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, "internal", "internal error; see the collector log")
        }
    }
}
