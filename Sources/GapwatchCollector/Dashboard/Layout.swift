import GapwatchProtocol

/// The frame around every page: navigation, who is logged in, the logout form, and a footer with
/// the time the page took on the server.
extension Dashboard {
    func layout(_ page: Page, section: Section?, viewer: Viewer?, startedNanos: UInt64) -> String {
        var html = head(title: page.title)
        html += "<header><span class=\"brand\">Gapwatch</span><nav>"
        if viewer != nil {
            for item in Section.allCases {
                let current = item == section ? " aria-current=\"page\"" : ""
                html += "<a href=\"\(item.rawValue)\"\(current)>\(esc(item.title))</a>"
            }
        }
        html += "</nav>"
        if let viewer {
            html += """
                <form class="who" method="post" action="/logout"><input type="hidden" name="csrf" value="\(esc(viewer.csrf))">\
                <span>\(esc(viewer.identity.kind.rawValue)) token \(esc(viewer.identity.tokenID))</span> <button>Log out</button></form>
                """
        }
        html += "</header><main><h1>\(esc(page.title))</h1>\n\(page.body)\n</main>"
        let ms = Double(WallClock.monotonicNanos() - startedNanos) / 1_000_000
        html += "<footer>Rendered by the collector in \(Int(ms.rounded(.up))) ms at \(esc(dashTime(WallClock.nowMillis()))).</footer></body></html>\n"
        return html
    }

    func loginPage(next: String, error: String?) -> String {
        var html = head(title: "Log in")
        html += "<header><span class=\"brand\">Gapwatch</span></header><main class=\"login\"><h1>Log in</h1>"
        if let error { html += "<p class=\"error\">\(esc(error))</p>" }
        html += """
            <form method="post" action="/login">
            <input type="hidden" name="next" value="\(esc(next))">
            <label for="token">Read or admin token</label>
            <input id="token" name="token" type="password" autocomplete="off" autofocus required>
            <button>Log in</button>
            </form>
            <p class="hint">The collector's first start wrote an admin token to <code>gapwatch.tokens</code>; \
            <code>gapwatch tokens create --kind read</code> makes a read-only one. The token is checked once and kept \
            only by the collector: your browser gets a session cookie.</p>
            </main></body></html>

            """
        return html
    }

    private func head(title: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(title)) · Gapwatch</title>
        <style>\(Self.css)</style></head><body>

        """
    }

    static let css = """
        :root{--fg:#1d2330;--muted:#5d6678;--line:#dde1e8;--bg:#f6f7f9;--card:#fff;--ok:#1f8a4c;--bad:#c62828;--warn:#c77700;--info:#1f5fbf}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header{display:flex;align-items:center;gap:16px;padding:8px 20px;background:#1d2330;color:#fff;flex-wrap:wrap}
        header .brand{font-weight:700;letter-spacing:.5px}
        header nav{display:flex;gap:4px;flex-wrap:wrap;flex:1}
        header nav a{color:#cfd6e4;text-decoration:none;padding:4px 10px;border-radius:4px}
        header nav a[aria-current]{background:#3a4458;color:#fff}
        header .who{display:flex;gap:8px;align-items:center;color:#cfd6e4;font-size:12px;margin:0}
        main{padding:12px 20px 24px;max-width:1400px}
        main.login{max-width:460px}
        main.login form{display:flex;flex-direction:column;gap:8px;background:var(--card);padding:16px;border:1px solid var(--line);border-radius:6px}
        h1{font-size:20px;margin:8px 0 12px}
        h2{font-size:16px;margin:20px 0 8px}
        a{color:var(--info)}
        table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);width:100%;margin:4px 0 8px}
        th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
        th{background:#eef0f4;font-weight:600;font-size:12px;color:var(--muted)}
        td.num,th.num{text-align:right}
        code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
        .tiles{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}
        .tile{text-decoration:none;color:inherit;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:150px}
        .tile .n{font-size:26px;font-weight:700}
        .tile .l{color:var(--muted);font-size:12px}
        .tile.bad .n{color:var(--bad)} .tile.good .n{color:var(--ok)} .tile.warn .n{color:var(--warn)}
        .badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:600;background:#e6e8ee;color:#333}
        .b-up,.b-ok,.b-verified,.b-free,.b-healthy,.b-resolved,.b-run,.b-enabled{background:#dff3e6;color:#17603a}
        .b-down,.b-gap,.b-failed,.b-stuck,.b-failing,.b-open,.b-fail,.b-escalated{background:#fde2e1;color:#9b1c1c}
        .b-healing,.b-pending,.b-awaiting_approval,.b-running,.b-verifying,.b-degraded,.b-held,.b-skip,.b-paused,.b-disabled{background:#fff1d6;color:#8a5300}
        .b-incident{background:#fde2e1;color:#9b1c1c} .b-action{background:#e3ecfb;color:#1f4f99}
        .error{background:#fde2e1;color:#9b1c1c;padding:8px 12px;border-radius:4px}
        .notice{background:#e3ecfb;color:#1f4f99;padding:8px 12px;border-radius:4px}
        .empty,.more,.hint{color:var(--muted)}
        .filters a{margin-right:10px}
        form.filters p{margin:4px 0} .kinds label{margin-right:8px;white-space:nowrap;font-size:12px}
        .fold{color:var(--muted);font-size:12px;white-space:nowrap}
        form.inline{display:inline;margin:0}
        button{font:inherit;white-space:nowrap;padding:2px 10px;border:1px solid #8a93a6;border-radius:4px;background:#fff;cursor:pointer}
        button.danger{border-color:var(--bad);color:var(--bad)}
        input[type=text],input[type=password],select{font:inherit;padding:4px 8px;border:1px solid #8a93a6;border-radius:4px}
        .heat td{text-align:center;padding:0;min-width:46px}
        .heat td.name{text-align:left;padding:4px 8px;white-space:nowrap}
        .heat td a{display:block;padding:6px 2px;color:#111;text-decoration:none;font-size:12px}
        .c-ok{background:#6cc28a} .c-ok-part{background:#b8e2c5} .c-gap{background:#ef7d7a} .c-healing{background:#f6c76b}
        .c-escalated{background:#b388d8} .c-none{background:#eceef2}
        .c-notdue{background:repeating-linear-gradient(45deg,#f4f5f7,#f4f5f7 4px,#e3e6ea 4px,#e3e6ea 8px)} .c-settling{background:#dde7f5}
        .legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px;font-size:12px}
        svg.chart{background:var(--card);border:1px solid var(--line);border-radius:4px;display:block;margin:4px 0}
        svg.chart text{font:11px system-ui,sans-serif;fill:#5d6678}
        footer{color:var(--muted);font-size:12px;padding:8px 20px 20px}
        """
}
