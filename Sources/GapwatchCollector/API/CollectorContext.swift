import GapwatchProtocol
import Hummingbird
import Logging

/// Request context carrying the authenticated token, set by `TokenAuthMiddleware`.
public struct CollectorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: TokenIdentity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// The authenticated identity; the auth middleware guarantees one on every /v1 route.
    func requireIdentity() throws -> TokenIdentity {
        guard let identity else { throw APIError.missingToken }
        return identity
    }

    func requireReader() throws -> TokenIdentity {
        let identity = try requireIdentity()
        guard identity.canRead else { throw APIError.forbidden("this token may not read; use an admin or read token") }
        return identity
    }

    func requireAdmin() throws -> TokenIdentity {
        let identity = try requireIdentity()
        guard identity.isAdmin else { throw APIError.forbidden("this call needs the admin token") }
        return identity
    }
}

/// Every /v1 call needs `Authorization: Bearer <token>`; 401 when missing, unknown or revoked.
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = CollectorContext
    let tokens: TokenStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { throw APIError.missingToken }
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix("bearer ") else { throw APIError.missingToken }
        let token = String(header.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        let identity: TokenIdentity?
        do {
            identity = try tokens.authenticate(token, now: WallClock.nowMillis())
        } catch {
            throw APIError.unavailable("cannot check the token: storage unavailable")
        }
        guard let identity else { throw APIError.unknownToken }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "token.id"] = .string(identity.tokenID)
        return try await next(request, context)
    }
}
