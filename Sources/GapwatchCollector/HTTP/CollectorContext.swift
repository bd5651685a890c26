import GapwatchProtocol
import Hummingbird
import Logging

/// Request context carrying the authenticated token, set by `TokenAuthMiddleware`.
public struct CollectorContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: TokenIdentity?
    /// The TCP peer's IP address (recorded for refused reports).
    public var remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
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

    /// A path parameter, percent-decoded: a client may encode any character of a name or id
    /// (`agent:1` as `agent%3A1`), and the router hands the segment over as sent.
    func pathParameter(_ name: String) throws -> String {
        let raw = parameters.get(name) ?? ""
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError.badRequest("\(name): '\(raw.prefix(64))' is not valid percent-encoding", field: name)
        }
        return decoded
    }
}

/// Every /v1 call needs `Authorization: Bearer <token>`; 401 when missing, unknown or revoked.
/// Refused reports (`POST /v1/reports`) are noted in `rejections`, when given.
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = CollectorContext
    let tokens: TokenStore
    var rejections: RejectedAgents? = nil

    /// The agent id an agent claims, sent beside its token so a refused token (401, body unread)
    /// can still be told apart in `gapwatch agents`. Only ever recorded, never trusted.
    static let agentIDHeader = HTTPFields.Element.Name("Gapwatch-Agent-Id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        func refuse(_ reason: RejectionReason, tokenID: String? = nil, _ error: APIError) -> APIError {
            if let rejections, request.method == .post, request.uri.path == "/v1/reports" {
                rejections.record(
                    claimedAgentID: request.headers[Self.agentIDHeader], tokenID: tokenID, source: context.remoteAddress,
                    reason: reason, at: WallClock.nowMillis())
            }
            return error
        }
        guard let header = request.headers[.authorization] else { throw refuse(.missingToken, APIError.missingToken) }
        let prefix = "Bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix("bearer ") else { throw refuse(.missingToken, APIError.missingToken) }
        let token = String(header.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        let identity: TokenIdentity
        do {
            switch try tokens.lookup(token, now: WallClock.nowMillis()) {
            case .valid(let valid): identity = valid
            case .revoked(let id): throw refuse(.revokedToken, tokenID: id, APIError.unknownToken)
            case .unknown: throw refuse(.unknownToken, APIError.unknownToken)
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.unavailable("cannot check the token: storage unavailable")
        }
        var context = context
        context.identity = identity
        context.logger[metadataKey: "token.id"] = .string(identity.tokenID)
        return try await next(request, context)
    }
}
