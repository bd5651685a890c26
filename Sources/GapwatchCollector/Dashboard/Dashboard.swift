import Foundation
import GapwatchProtocol
import Hummingbird
import Logging
import NIOCore

/// The web dashboard: server-rendered HTML pages at `/`, no JavaScript, nothing loaded from
/// elsewhere (the Content-Security-Policy forbids it too). Reading needs a login with a read or
/// admin token (`/login`); the one state-changing form, a lock's force release, needs an admin
/// token and the session's CSRF field.
struct Dashboard {
    /// The use cases the pages read and the forms change, shared with the API.
    let app: CollectorApp
    let sessions = DashboardSessions()
    let loginThrottle = LoginThrottle()
    /// Logins refused while their source waits: logged at most once a minute.
    let throttledLog = LogThrottle()

    /// The pages, in the navigation's order.
    enum Section: String, CaseIterable {
        case overview = "/"
        case checks = "/checks"
        case workflows = "/workflows"
        case completeness = "/completeness"
        case jobs = "/jobs"
        case locks = "/locks"
        case incidents = "/incidents"
        case actions = "/actions"
        case story = "/story"

        var title: String {
            switch self {
            case .overview: "Overview"
            case .checks: "Checks"
            case .workflows: "Workflows"
            case .completeness: "Completeness"
            case .jobs: "Jobs"
            case .locks: "Locks"
            case .incidents: "Incidents"
            case .actions: "Actions"
            case .story: "Story"
            }
        }
    }

    /// Who is looking: a live session whose token may read.
    struct Viewer {
        var identity: TokenIdentity
        var sessionID: String
        /// The hidden field every POST form carries.
        var csrf: String
    }

    /// A rendered page body and its status.
    struct Page {
        var title: String
        var body: String
        var status: HTTPResponse.Status = .ok
    }

    /// A request the page cannot answer: shown as a page with this status and message.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    typealias Renderer = @Sendable (Request, CollectorContext, Viewer, Millis) async throws -> Page

    func register(on router: Router<CollectorContext>) {
        router.get("login", use: loginForm)
        router.post("login", use: login)
        router.post("logout", use: logout)
        router.get("/", use: page(.overview, overview))
        router.get("checks", use: page(.checks, checks))
        router.get("workflows", use: page(.workflows, workflows))
        router.get("completeness", use: page(.completeness, completeness))
        router.get("story", use: page(.story, story))
        router.get("jobs", use: page(.jobs, jobs))
        router.get("locks", use: page(.locks, locks))
        router.post("locks/:name/release", use: release)
        router.get("incidents", use: page(.incidents, incidents))
        router.get("incidents/:id", use: page(.incidents, incident))
        router.get("actions", use: page(.actions, actions))
    }

    // MARK: - Sessions

    /// The viewer behind the request's session cookie, if the session is live and its token still
    /// may read. A token in the URL is never looked at.
    func viewer(_ request: Request, now: Millis) throws -> Viewer? {
        guard let id = request.cookies[DashboardSessions.cookieName]?.value, let token = sessions.token(session: id, now: now) else { return nil }
        guard let identity = try app.authenticate(token, now: now), identity.canRead else {
            sessions.remove(session: id)
            return nil
        }
        return Viewer(identity: identity, sessionID: id, csrf: sessions.csrfField(session: id))
    }

    /// Wraps a page: no live session redirects (303) to the login form, which comes back here.
    func page(_ section: Section, _ render: @escaping Renderer) -> @Sendable (Request, CollectorContext) async throws -> Response {
        { request, context in
            let started = WallClock.monotonicNanos()
            let now = WallClock.nowMillis()
            guard let viewer = try viewer(request, now: now) else {
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return redirect(to: "/login?next=" + DashboardHTML.percentEncode(next))
            }
            var page: Page
            do {
                page = try await render(request, context, viewer, now)
            } catch let refusal as Refusal {
                page = Page(title: "Error", body: "<p class=\"error\">\(esc(refusal.message))</p>", status: refusal.status)
            } catch {
                context.logger.error("dashboard page failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
                page = Page(
                    title: "Error", body: "<p class=\"error\">This page could not be rendered; the collector log says why.</p>",
                    status: .internalServerError)
            }
            return html(layout(page, section: section, viewer: viewer, startedNanos: started), status: page.status)
        }
    }

    @Sendable func loginForm(request: Request, context: CollectorContext) async throws -> Response {
        html(loginPage(next: safeNext(request.uri.queryParameters["next"].map(String.init)), error: nil))
    }

    /// Checks the token from the form field (never from the URL) and starts a session. Failures are
    /// logged (never the token) and throttled per source address (`LoginThrottle`).
    @Sendable func login(request: Request, context: CollectorContext) async throws -> Response {
        let source = context.remoteAddress ?? "unknown"
        if let waitMs = loginThrottle.wait(source: source, now: WallClock.nowMillis()) {
            let seconds = Int((waitMs + 999) / 1000)
            let line = throttledLog.admit(now: WallClock.nowMillis())
            if line.log {
                context.logger.warning(
                    "dashboard login refused: too many failed logins from this source",
                    metadata: ["source": "\(source)", "retry_after": "\(seconds)s", "refused_unlogged_since_last_line": "\(line.suppressed)"])
            }
            var response = html(
                loginPage(next: "/", error: "Too many failed logins from this address. Try again in \(seconds) s."), status: .tooManyRequests)
            response.headers[.retryAfter] = String(seconds)
            return response
        }
        let form: [String: String]
        do {
            form = try await formBody(request)
        } catch let refusal as Refusal {
            return html(loginPage(next: "/", error: refusal.message), status: refusal.status)
        }
        let next = safeNext(form["next"])
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        func failed(_ reason: String, tokenID: String? = nil, _ page: String, _ status: HTTPResponse.Status) -> Response {
            let (failures, waitMs) = loginThrottle.failed(source: source, now: WallClock.nowMillis())
            var metadata: Logger.Metadata = ["source": "\(source)", "reason": "\(reason)", "failures": "\(failures)"]
            if let tokenID { metadata["token.id"] = "\(tokenID)" }
            if waitMs > 0 { metadata["next_try_after"] = "\(Units.formatDuration(waitMs))" }
            context.logger.warning("dashboard login failed", metadata: metadata)
            return html(loginPage(next: next, error: page), status: status)
        }
        guard !token.isEmpty else { return failed("no token", "Give a token.", .unauthorized) }
        let now = WallClock.nowMillis()
        guard let identity = try app.authenticate(token, now: now) else {
            return failed("unknown or revoked token", "Unknown or revoked token.", .unauthorized)
        }
        guard identity.canRead else {
            return failed(
                "\(identity.kind.rawValue) token may not read", tokenID: identity.tokenID,
                "\(identity.kind.rawValue) tokens may not read the dashboard; log in with a read or admin token.", .forbidden)
        }
        loginThrottle.succeeded(source: source)
        context.logger.notice("dashboard login", metadata: ["token.id": "\(identity.tokenID)", "source": "\(source)"])
        var response = redirect(to: next)
        response.setCookie(sessionCookie(sessions.create(token: token, now: now), request: request, maxAge: Int(DashboardSessions.lifetimeMs / 1000)))
        return response
    }

    @Sendable func logout(request: Request, context: CollectorContext) async throws -> Response {
        let form = (try? await formBody(request)) ?? [:]
        if let id = request.cookies[DashboardSessions.cookieName]?.value, sessions.token(session: id, now: WallClock.nowMillis()) != nil {
            guard sessions.csrfMatches(form["csrf"], session: id) else {
                return html(layout(csrfRefusal, section: nil, viewer: nil, startedNanos: WallClock.monotonicNanos()), status: .forbidden)
            }
            sessions.remove(session: id)
        }
        var response = redirect(to: "/login")
        response.setCookie(sessionCookie("", request: request, maxAge: 0))
        return response
    }

    var csrfRefusal: Page {
        Page(
            title: "Refused",
            body:
                "<p class=\"error\">This form did not come from a page of this dashboard session (its CSRF field is missing or stale). Reload the page and try again.</p>",
            status: .forbidden)
    }

    func sessionCookie(_ value: String, request: Request, maxAge: Int) -> Cookie {
        // Behind a TLS-terminating proxy the cookie must not travel over plain HTTP.
        let secure = request.headers[HTTPFields.Element.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
        return Cookie(name: DashboardSessions.cookieName, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// Where to go after logging in: only a path on this site (never `//host` or a full URL).
    func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"), next.utf8.count <= 2048,
            !next.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E }), !next.hasPrefix("/login")
        else { return "/" }
        return next
    }

    /// The fields of a form POST. Refused: another content type, a body over 16 KiB, or an
    /// `Origin` header naming another site.
    func formBody(_ request: Request) async throws -> [String: String] {
        if let origin = request.headers[.origin], let host = request.head.authority,
            origin != "http://\(host)" && origin != "https://\(host)"
        {
            throw Refusal(status: .forbidden, message: "This form was posted from another site (\(origin)).")
        }
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw Refusal(status: .unsupportedMediaType, message: "Post the form as application/x-www-form-urlencoded.")
        }
        do {
            return DashboardHTML.formFields(Array(buffer: try await request.body.collect(upTo: 16 * 1024)))
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Refusal(status: .contentTooLarge, message: "The form is too large.")
        }
    }

    // MARK: - Responses

    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .cacheControl: "no-store",
                // Inline styles only: no script, no image, font or stylesheet from anywhere.
                .contentSecurityPolicy:
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                .xContentTypeOptions: "nosniff",
                // Not no-referrer: with it, browsers send `Origin: null` on form posts, and the posts' origin is checked.
                HTTPFields.Element.Name("Referrer-Policy")!: "same-origin",
                HTTPFields.Element.Name("X-Frame-Options")!: "DENY",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }
}
