import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// The dashboard with our binaries as processes: a collector with a completeness rule (two), a run
/// expectation, a stale_items rule, scheduler targets and stuck locks; an agent beside it pushing
/// counts, decisions and item statuses, listing jobs and locks. Every page is rendered in a real
/// headless Chromium (over the DevTools protocol), and fetched plainly to check what is refused.
final class DashboardTests: CollectorTestCase {
    let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 15_000)

    /// Where the screenshots go: `artifacts/dashboard/` in the package (gitignored; CI keeps it),
    /// or `$GAPWATCH_DASHBOARD_SCREENSHOTS`.
    static let screenshots: String = {
        if let dir = ProcessInfo.processInfo.environment["GAPWATCH_DASHBOARD_SCREENSHOTS"], !dir.isEmpty { return dir }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return package.appendingPathComponent("artifacts/dashboard").path
    }()

    /// A decision reason that would run script if it were not escaped.
    static let hostileReason = #"<script>alert("x")</script> & 3 games <b>In Progress</b>"#

    override func setUpWithError() throws {
        agent.heartbeatInterval = "1s"
        // Dates are computed from the wall clock: keep clear of a UTC day boundary.
        if WallClock.nowMillis() % 86_400_000 > 86_400_000 - 150_000 { sleep(155) }
    }

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(WallClock.nowMillis() - Millis(daysAgo) * 86_400_000).prefix(10)) }

    /// Starts the collector and agent with every rule the pages show, and pushes the data.
    func startSystem() throws {
        let now = WallClock.nowMillis()
        try """
        [{"name":"workflow_controller","holder":"orchestrator-dead","acquired_at":\(now - 600_000),"expires_at":\(now - 300_000)},
         {"name":"workflow_live","holder":"orchestrator-live","acquired_at":\(now - 60_000),"expires_at":\(now + 3_600_000)}]

        """.write(toFile: workspace.file("locks.json"), atomically: true, encoding: .utf8)
        // Every URL in the data is the collector's own, so no page may show another origin: the
        // dead job's target is a path the collector answers with 404.
        agent.extraConfig = """
            scheduler:
              name: test-scheduler
              jobs:
                - {name: job-live, target: "\(collector.url)/healthz", schedule: "*/5 * * * *"}
                - {name: job-dead, target: "\(collector.url)/gone/run", schedule: "0 * * * *", timezone: America/New_York}
              inventory_interval: 2s
              probe_interval: 1s
              probe_timeout: 2s
            locks: {argv: ["/bin/cat", "\(workspace.file("locks.json"))"], interval: 1s, timeout: 10s}
            """
        // Actions wait for approval, so nothing runs: the stuck lock stays stuck and the gap stays healing.
        collector.extraConfig = """
            recheck_interval: 2s
            expectations:
              - {name: post-game, workflow: post_game_window, window: {cron: '* * * * *', duration: 5s}, grace: 0s}
            completeness:
              - {name: boxscores, source: raw.boxscores, derived: analytics.player_games, due_after: 0s, lookback: 5d, settle: 0s, backfill: backfill}
              - {name: summaries, source: raw.boxscores, derived: analytics.summaries, due_after: 0s, lookback: 5d, settle: 0s}
            stale_items:
              - {name: games-final, item_kind: game, final: [Final], deadline: 4h}
            scheduler_targets: {failures: 2}
            stuck_locks:
              - {name: controller-locks, locks: 'workflow_*', slack: 1m, release: release-lock}
            actions:
              - {name: backfill, kind: webhook, url: "\(collector.url)/never-called", body: '{"start":"{start}","end":"{end}"}', mode: approval}
              - {name: release-lock, kind: agent, agent: e2e-agent, command: release-lock, parameters: {lock: "{lock}"}, mode: approval}
            """
        try collector.start()
        try agent.start()
        func push(_ body: ObservationBody) throws { _ = try agent.push(body, client: client) }
        for daysAgo in 1...4 {
            try push(.count(Count(dataset: "raw.boxscores", partition: day(daysAgo), count: 100)))
            try push(.count(Count(dataset: "analytics.player_games", partition: day(daysAgo), count: daysAgo == 2 ? 50 : 100)))
            if daysAgo != 3 { try push(.count(Count(dataset: "analytics.summaries", partition: day(daysAgo), count: 100))) }
        }
        try push(.decision(WorkflowDecision(workflow: "post_game_window", decision: .skip, reason: Self.hostileReason)))
        try push(.decision(WorkflowDecision(workflow: "post_game_window", decision: .fail, reason: "scraper down")))
        try push(.itemStatus(ItemStatus(itemKind: "game", itemID: "0022500610", status: "In Progress", referenceTime: now - 5 * 3_600_000)))
        try push(.itemStatus(ItemStatus(itemKind: "game", itemID: "0022500611", status: "Final", referenceTime: now - 5 * 3_600_000)))
        try waitFor("the locks to be listed", timeout: 60) {
            let locks = try ReportCodec.decode(LocksList.self, from: try collector.get("/v1/locks").body).locks
            return locks.contains { $0.name == "workflow_controller" && $0.state == "stuck" }
                && locks.contains { $0.name == "workflow_live" && $0.state == "held" }
        }
    }

    struct LocksList: Decodable { var locks: [LockInfo] }
    struct ActionsList: Decodable { var actions: [ActionInfo] }
    struct IncidentsList: Decodable { var incidents: [IncidentInfo] }

    func actions() throws -> [ActionInfo] {
        try ReportCodec.decode(ActionsList.self, from: try collector.get("/v1/actions?limit=1000").body).actions
    }

    // MARK: - HTTP helpers

    func fetch(_ path: String, cookie: String? = nil, method: String = "GET", form: String? = nil, headers: [(String, String)] = []) throws
        -> HTTPResponse
    {
        var all = headers
        if let cookie { all.append(("Cookie", "gapwatch_session=\(cookie)")) }
        if form != nil { all.append(("Content-Type", "application/x-www-form-urlencoded")) }
        return try client.send(.init(method: method, url: collector.url + path, headers: all, body: form.map { Array($0.utf8) }))
    }

    /// Logs in through the form; returns the session cookie's value.
    func login(_ token: String) throws -> String {
        let response = try fetch("/login", method: "POST", form: "token=" + DashboardHTML.percentEncode(token))
        XCTAssertEqual(response.status, 303, response.bodyText)
        let cookie = try XCTUnwrap(response.headers["set-cookie"], "no session cookie")
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] { XCTAssertTrue(cookie.contains(attribute), cookie) }
        return String(cookie.dropFirst("gapwatch_session=".count).prefix { $0 != ";" })
    }

    func issueReadToken() throws -> String {
        let response = try client.send(
            .init(
                method: "POST", url: collector.url + "/v1/tokens",
                headers: [("Authorization", "Bearer \(try collector.token("GAPWATCH_ADMIN_TOKEN"))"), ("Content-Type", "application/json")],
                body: Array(#"{"kind":"read","name":"dashboard viewer"}"#.utf8)))
        XCTAssertEqual(response.status, 201, response.bodyText)
        return try ReportCodec.decode(IssuedToken.self, from: response.body).token
    }

    static let pages = [
        "/", "/checks", "/workflows", "/completeness", "/story?subject=workflow:post_game_window", "/jobs", "/locks", "/incidents", "/actions",
    ]

    // MARK: - Tests

    func testEscapingAndLinksAreSafe() {
        XCTAssertEqual(DashboardHTML.escape(#"<a href="x">Tom & 'Jerry'</a>"#), "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;")
        XCTAssertEqual(DashboardHTML.escape("plain text, ünïcödé ✓"), "plain text, ünïcödé ✓")
        XCTAssertEqual(DashboardHTML.escape("nul\u{0}bell\u{7}"), "nul\u{FFFD}bell\u{FFFD}")
        XCTAssertEqual(DashboardHTML.percentEncode("a b/c?d&e=f#g+h%"), "a%20b%2Fc%3Fd%26e%3Df%23g%2Bh%25")
        XCTAssertEqual(DashboardHTML.percentDecode("a%20b%2Fc+d", plusIsSpace: true), "a b/c d")
        XCTAssertEqual(DashboardHTML.link(["story"], [("subject", "dataset:x&y"), ("partition", nil)]), "/story?subject=dataset:x%26y")
        XCTAssertEqual(DashboardHTML.link(["locks", "..", "release"]), "/locks/%2E%2E/release", "dot segments cannot climb out")
        XCTAssertEqual(DashboardHTML.link(["locks", #""><script>"#, "release"]), "/locks/%22%3E%3Cscript%3E/release")
    }

    /// Plain HTTP: a login is needed and only from the form; agent tokens and tokens in URLs get
    /// nowhere; the pages name no other origin; the release form needs admin and its CSRF field.
    func testPagesNeedALoginAndRefuseWhatTheyMust() throws {
        try startSystem()
        let admin = try collector.token("GAPWATCH_ADMIN_TOKEN")
        let agentToken = try collector.token("GAPWATCH_AGENT_TOKEN")

        // No session: every page redirects to the login form, and says where to come back to.
        for page in Self.pages + ["/incidents/1"] {
            let response = try fetch(page)
            XCTAssertEqual(response.status, 303, page)
            XCTAssertTrue(response.headers["location"]?.hasPrefix("/login?next=%2F") ?? false, "\(page): \(response.headers)")
        }
        // A token in the URL is never read: not by a page, not by the login form.
        XCTAssertEqual(try fetch("/?token=\(admin)").status, 303)
        XCTAssertEqual(try fetch("/locks?session=\(admin)").status, 303)
        let form = try fetch("/login?token=\(admin)")
        XCTAssertEqual(form.status, 200)
        XCTAssertNil(form.headers["set-cookie"])
        XCTAssertTrue(form.bodyText.contains("name=\"token\" type=\"password\""), form.bodyText)
        for (what, response, status) in [
            ("no token", try fetch("/login", method: "POST", form: ""), 401),
            ("an empty token", try fetch("/login", method: "POST", form: "token="), 401),
            ("a token only in the URL", try fetch("/login?token=\(admin)", method: "POST", form: "next=%2F"), 401),
            ("an unknown token", try fetch("/login", method: "POST", form: "token=gw_admin_not-a-real-token"), 401),
            ("an agent token", try fetch("/login", method: "POST", form: "token=\(agentToken)"), 403),
            ("a JSON body", try fetch("/login", method: "POST", headers: [("Content-Type", "application/json")]), 415),
        ] {
            XCTAssertEqual(response.status, status, "\(what): \(response.bodyText)")
            XCTAssertNil(response.headers["set-cookie"], "\(what) must not start a session")
        }
        XCTAssertTrue(try fetch("/login", method: "POST", form: "token=\(agentToken)").bodyText.contains("agent tokens may not read the dashboard"))
        // A bearer header is for the API, not the pages.
        XCTAssertEqual(try fetch("/", headers: [("Authorization", "Bearer \(admin)")]).status, 303)
        XCTAssertEqual(try fetch("/v1/agents", cookie: "whatever").status, 401, "the session cookie opens no API call")

        // A read token reads every page; the pages name no origin but the collector's.
        let readToken = try issueReadToken()
        let reader = try login(readToken)
        XCTAssertEqual(
            try fetch("/login", method: "POST", form: "token=\(readToken)&next=%2F%2Fevil.example%2F").headers["location"], "/", "no open redirect")
        XCTAssertEqual(try fetch("/login", method: "POST", form: "token=\(readToken)&next=%2Fjobs").headers["location"], "/jobs")
        for page in Self.pages + ["/story?subject=dataset:raw.boxscores&subject=dataset:analytics.player_games&partition=\(day(2))"] {
            let response = try fetch(page, cookie: reader)
            XCTAssertEqual(response.status, 200, "\(page): \(response.bodyText)")
            XCTAssertEqual(response.headers["content-type"], "text/html; charset=utf-8")
            XCTAssertTrue(response.headers["content-security-policy"]?.hasPrefix("default-src 'none'") ?? false, page)
            assertOnlyOwnOrigin(response.bodyText, page: page)
        }
        // Escaped, never markup: a decision reason with a script tag in it.
        let workflows = try fetch("/workflows", cookie: reader).bodyText
        XCTAssertTrue(workflows.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 3 games &lt;b&gt;In Progress&lt;/b&gt;"), workflows)
        XCTAssertFalse(workflows.lowercased().contains("<script"), "no script element, ever")
        // A read session sees no release button and may not release.
        let readLocks = try fetch("/locks", cookie: reader).bodyText
        XCTAssertFalse(readLocks.contains("Force release</button>"), readLocks)
        XCTAssertTrue(readLocks.contains("needs an admin token"), readLocks)
        let readCSRF = try XCTUnwrap(csrfField(readLocks))
        XCTAssertEqual(try fetch("/locks/workflow_live/release", cookie: reader, method: "POST", form: "csrf=\(readCSRF)").status, 403)

        // An admin session: the release needs the form's CSRF field, of this session.
        let adminSession = try login(admin)
        let locksPage = try fetch("/locks", cookie: adminSession).bodyText
        XCTAssertTrue(locksPage.contains("Force release</button>"), locksPage)
        let csrf = try XCTUnwrap(csrfField(locksPage))
        // What a release would queue. The rules queue their own actions meanwhile (the stuck lock,
        // the gap), so count only this lock's release, not every action.
        func releases() throws -> Int { try actions().filter { $0.key == "lock:release:workflow_live" }.count }
        XCTAssertEqual(try releases(), 0)
        for (what, response) in [
            ("no CSRF field", try fetch("/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "")),
            (
                "a wrong CSRF field",
                try fetch("/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "csrf=\(String(repeating: "0", count: 64))")
            ),
            (
                "another session's CSRF field",
                try fetch("/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "csrf=\(readCSRF)")
            ),
            (
                "another site's form",
                try fetch(
                    "/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "csrf=\(csrf)",
                    headers: [("Origin", "http://evil.example")])
            ),
        ] {
            XCTAssertEqual(response.status, 403, "\(what): \(response.bodyText)")
        }
        XCTAssertEqual(try releases(), 0, "a refused release changes nothing")
        XCTAssertEqual(try fetch("/locks/workflow_live/release", method: "POST", form: "csrf=\(csrf)").status, 303, "no session: to the login form")
        XCTAssertEqual(try releases(), 0)

        // With it, the release is queued exactly as the API's, recorded with the admin token.
        let released = try fetch("/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "csrf=\(csrf)")
        XCTAssertEqual(released.status, 303, released.bodyText)
        XCTAssertEqual(released.headers["location"], "/locks?released=workflow_live")
        let manual = try XCTUnwrap(try actions().first { $0.origin == "manual" })
        XCTAssertEqual(manual.key, "lock:release:workflow_live")
        XCTAssertNotNil(manual.requestedBy)
        XCTAssertTrue(
            try fetch("/locks?released=workflow_live", cookie: adminSession).bodyText.contains(
                "Release of lock <strong>workflow_live</strong> queued"))
        let again = try fetch("/locks/workflow_live/release", cookie: adminSession, method: "POST", form: "csrf=\(csrf)")
        XCTAssertEqual(again.status, 409, "already in flight")
        XCTAssertTrue(again.bodyText.contains("already in flight"), again.bodyText)

        // Logging out ends the session on the collector, not only in the browser.
        XCTAssertEqual(try fetch("/logout", cookie: adminSession, method: "POST", form: "").status, 403, "logout needs the CSRF field too")
        let out = try fetch("/logout", cookie: adminSession, method: "POST", form: "csrf=\(csrf)")
        XCTAssertEqual(out.status, 303)
        XCTAssertTrue(out.headers["set-cookie"]?.contains("Max-Age=0") ?? false, "\(out.headers)")
        XCTAssertEqual(try fetch("/", cookie: adminSession).status, 303)
        // Revoking a token ends its sessions at once.
        XCTAssertEqual(try fetch("/", cookie: reader).status, 200)
        let tokens = try collector.get("/v1/tokens").bodyText
        let readID = try XCTUnwrap(
            tokens.range(of: #"tok_[A-Za-z0-9_-]+(?=","kind":"read")"#, options: .regularExpression).map { String(tokens[$0]) }, tokens)
        let revoked = try client.send(
            .init(method: "DELETE", url: collector.url + "/v1/tokens/\(readID)", headers: [("Authorization", "Bearer \(admin)")]))
        XCTAssertTrue((200..<300).contains(revoked.status), revoked.bodyText)
        XCTAssertEqual(try fetch("/", cookie: reader).status, 303)
    }

    /// Every page in a real headless Chromium: logged in through the form, page-specific content
    /// in the rendered text, the release button works, and the browser asked nothing of any
    /// origin but the collector's. Screenshots go to `artifacts/dashboard/`.
    func testEveryPageRendersInHeadlessChromium() throws {
        guard let executable = ChromiumDriver.find() else {
            XCTFail(ChromiumDriver.installHint)
            return
        }
        try startSystem()
        // The run windows open each minute; the first one since the start closes without a RUN.
        try waitFor("a workflow gap", timeout: 100) {
            let report = try ReportCodec.decode(WorkflowGapsReport.self, from: try collector.get("/v1/workflows/gaps").body)
            return report.hours.contains { $0.gaps > 0 }
        }
        try waitFor("the completeness, stale, target and lock incidents", timeout: 60) {
            let rules = Set(try ReportCodec.decode(IncidentsList.self, from: try collector.get("/v1/incidents").body).incidents.map(\.rule))
            return rules.isSuperset(of: ["completeness", "stale_items", "target_unhealthy", "stuck_lock"])
        }
        try waitFor("the backfill to wait for approval", timeout: 30) {
            try actions().contains { $0.name == "backfill" && $0.state == "awaiting_approval" }
        }

        try FileManager.default.createDirectory(atPath: Self.screenshots, withIntermediateDirectories: true)
        let browser = try ChromiumDriver(
            executable: executable, profileDir: workspace.file("chromium-profile"), logPath: workspace.file("chromium.log"))
        defer { browser.close() }
        try browser.openPage()
        let origin = collector.url

        // Not logged in: the page sends the browser to the login form.
        try browser.navigate(origin + "/locks")
        XCTAssertEqual(try browser.location(), origin + "/login?next=%2Flocks")
        try browser.screenshot(to: Self.screenshots + "/login.png")
        let token = String(decoding: try JSONSerialization.data(withJSONObject: [try collector.token("GAPWATCH_ADMIN_TOKEN")]), as: UTF8.self)
        try browser.submit("document.getElementById('token').value = \(token)[0]; document.querySelector('main form').submit()")
        XCTAssertEqual(try browser.location(), origin + "/locks", "back where the login was asked for")

        var timings: [(page: String, loadMs: Int, serverMs: Int)] = []
        /// Opens `path`, checks the text holds each of `expected`, and takes a screenshot.
        func visit(_ path: String, shot: String, expect expected: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
            let seconds = try browser.navigate(origin + path)
            XCTAssertEqual(try browser.location(), origin + path, file: file, line: line)
            let text = try browser.text()
            for needle in expected { XCTAssertTrue(text.contains(needle), "\(path) lacks '\(needle)':\n\(text)", file: file, line: line) }
            let server =
                text.range(of: #"Rendered by the collector in (\d+) ms"#, options: .regularExpression)
                .flatMap { Int(text[$0].split(separator: " ")[5]) } ?? -1
            timings.append((path, Int(seconds * 1000), server))
            try browser.screenshot(to: Self.screenshots + "/\(shot).png")
            return text
        }
        func count(_ selector: String) throws -> Int {
            try browser.evaluate(
                "document.querySelectorAll(\(String(decoding: try JSONSerialization.data(withJSONObject: [selector]), as: UTF8.self))[0]).length")
                as? Int ?? -1
        }

        // A report with a token this collector never issued: the overview lists who was refused.
        let refused = try client.send(
            .init(
                method: "POST", url: origin + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer gw_agent_forged"), ("Gapwatch-Agent-Id", "rogue-agent")],
                body: Array("{}".utf8)))
        XCTAssertEqual(refused.status, 401)
        _ = try visit(
            "/", shot: "overview",
            expect: [
                "agents up (of 1)", "open incidents", "actions in flight", "stuck locks", "workflow_controller", "e2e-agent", "backfill",
                "Rejected agents", "rogue-agent", "unknown_token", "127.0.0.1",
            ])
        _ = try visit(
            "/checks", shot: "checks",
            expect: [
                "post-game", "a RUN of post_game_window within 5s of each cron '* * * * *' (UTC)", "boxscores",
                "derived analytics.player_games ≥ 90% of raw.boxscores per day",
                "games-final", "every game final (Final) within 4h of its reference time", "controller-locks",
                "no lock 'workflow_*' held past its expiry + 1m",
                "job-targets", "agent:e2e-agent", "anything from the agent every 30s", "next due",
            ])
        XCTAssertEqual(try count("header nav a[href='/checks']"), 1, "the Checks page is in the navigation")
        _ = try visit("/workflows", shot: "workflows", expect: ["post-game", "gap(s)", "Latest decisions", Self.hostileReason, "scraper down"])
        XCTAssertGreaterThanOrEqual(try count("svg.chart"), 1, "the hourly chart")
        XCTAssertGreaterThanOrEqual(try count("svg.chart rect[fill='#fbd3d2']"), 1, "the gap hour is highlighted")
        XCTAssertEqual(try count("script"), 0, "the hostile reason stays text")
        _ = try visit(
            "/completeness", shot: "completeness",
            expect: [
                "boxscores", "summaries", "analytics.player_games ← raw.boxscores", "Stale items", "0022500610", "Partitions with a gap", "not due",
            ])
        XCTAssertGreaterThanOrEqual(try count("table.heat td.c-healing"), 1, "the gap with its backfill waiting")
        XCTAssertGreaterThanOrEqual(try count("table.heat td.c-gap"), 1, "the gap with no action")
        // A heatmap cell opens that partition's story: both datasets' counts for the date.
        let cell = try XCTUnwrap(try browser.evaluate("document.querySelector('table.heat td.c-healing a').getAttribute('href')") as? String)
        _ = try visit(cell, shot: "story-partition", expect: ["\(day(2)) = 50 rows", "\(day(2)) = 100 rows", "incident"])
        _ = try visit("/story?subject=workflow:post_game_window", shot: "story", expect: ["SKIP", "FAIL: scraper down", Self.hostileReason])
        _ = try visit("/jobs", shot: "jobs", expect: ["job-dead", "job-live", "failing", "target_failing", "healthy"])
        _ = try visit("/locks", shot: "locks", expect: ["workflow_controller", "stuck", "workflow_live", "held", "orchestrator-live"])
        XCTAssertEqual(try count("form[action='/locks/workflow_live/release'] button"), 1)
        let incidentsText = try visit("/incidents", shot: "incidents", expect: ["completeness", "stuck_lock", "target_unhealthy", "stale_items"])
        XCTAssertFalse(incidentsText.isEmpty)
        let first = try XCTUnwrap(try browser.evaluate("document.querySelector('main table tbody a').getAttribute('href')") as? String)
        _ = try visit(first, shot: "incident", expect: ["Events", "opened"])
        _ = try visit("/actions", shot: "actions", expect: ["backfill", "release-lock", "awaiting_approval"])

        // The release button, clicked in the browser, queues the release and says so.
        try browser.navigate(origin + "/locks")
        try browser.submit("document.querySelector(\"form[action='/locks/workflow_live/release'] button\").click()")
        XCTAssertEqual(try browser.location(), origin + "/locks?released=workflow_live")
        let releasedText = try browser.text()
        XCTAssertTrue(releasedText.contains("Release of lock workflow_live queued"), releasedText)
        try browser.screenshot(to: Self.screenshots + "/locks-released.png")
        XCTAssertEqual(try actions().filter { $0.origin == "manual" && $0.key == "lock:release:workflow_live" }.count, 1)

        // Logging out in the browser leads back to the login form, and the pages stay closed.
        try browser.submit("document.querySelector('form.who').submit()")
        let afterLogout = try browser.location()
        XCTAssertTrue(afterLogout.hasPrefix(origin + "/login"), afterLogout)
        try browser.navigate(origin + "/")
        let closed = try browser.location()
        XCTAssertTrue(closed.hasPrefix(origin + "/login"), closed)

        // Nothing but the collector was asked for anything.
        XCTAssertFalse(browser.requestedURLs.isEmpty)
        for url in browser.requestedURLs { XCTAssertTrue(url.hasPrefix(origin + "/"), "the page asked another origin: \(url)") }
        print("dashboard page timings (load in Chromium / render on the collector, debug build):")
        for t in timings { print("  \(t.page): \(t.loadMs) ms / \(t.serverMs) ms") }
        for t in timings { XCTAssertLessThan(t.serverMs, 1000, "\(t.page) took \(t.serverMs) ms to render") }
        print("screenshots in \(Self.screenshots)")
    }

    // MARK: - Checks

    /// The hidden CSRF field of the first form on a page.
    func csrfField(_ html: String) -> String? {
        html.range(of: #"name="csrf" value="[0-9a-f]{64}""#, options: .regularExpression).map { String(html[$0].dropFirst(19).dropLast()) }
    }

    /// Every http(s) URL in the page is the collector's own, and nothing is loaded from elsewhere.
    func assertOnlyOwnOrigin(_ html: String, page: String, file: StaticString = #filePath, line: UInt = #line) {
        var rest = html[...]
        while let match = rest.range(of: #"https?://[^\s"'<>]*"#, options: .regularExpression) {
            let url = String(rest[match])
            XCTAssertTrue(url.hasPrefix(collector.url + "/") || url == collector.url, "\(page) names another origin: \(url)", file: file, line: line)
            rest = rest[match.upperBound...]
        }
        let lower = html.lowercased()
        for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url(", "src="] {
            XCTAssertFalse(lower.contains(forbidden), "\(page) contains \(forbidden)", file: file, line: line)
        }
        // Links and forms are paths on this site.
        var attributes = html[...]
        while let match = attributes.range(of: #"(href|action)="[^"]*""#, options: .regularExpression) {
            let value = attributes[match].drop { $0 != "\"" }.dropFirst().dropLast()
            XCTAssertTrue(
                value.hasPrefix("/") && !value.hasPrefix("//") || value.hasPrefix("#"), "\(page): \(attributes[match])", file: file, line: line)
            attributes = attributes[match.upperBound...]
        }
    }
}
