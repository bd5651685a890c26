import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real headless Chromium (`chromium-headless-shell`, Debian's package of the same name) driven
/// over the Chrome DevTools Protocol through `--remote-debugging-pipe`: the browser reads
/// NUL-terminated JSON commands on fd 3 and writes responses and events on fd 4, so no WebSocket
/// client is needed. One page target is attached (flattened session); every wait is bounded.
public final class ChromiumDriver {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        init(_ message: String) { self.message = message }
    }

    /// The binary: `$CHROMIUM` when set, else chromium-headless-shell where Debian installs it or on
    /// PATH. nil when there is none (or `$CHROMIUM` is not an executable).
    public static func find() -> String? {
        if let path = ProcessInfo.processInfo.environment["CHROMIUM"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let dirs = ["/usr/bin", "/usr/lib/chromium"] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in dirs {
            for name in ["chromium-headless-shell", "headless_shell"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
                return dir + "/" + name
            }
        }
        return nil
    }

    public static let installHint =
        "chromium-headless-shell is not installed: the dashboard tests render every page in a real headless Chromium. "
        + "Install it with `apt-get install -y chromium-headless-shell` (bash .ci/run does), or point $CHROMIUM at a headless Chromium."

    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1
    private var sessionID: String?
    /// Events read since the last `clearEvents`, oldest first.
    private var events: [[String: Any]] = []
    /// Every URL the page asked the network for (Network.requestWillBeSent), in order.
    public private(set) var requestedURLs: [String] = []
    public let logPath: String

    /// Starts the browser with a fresh profile in `profileDir`; its own output goes to `logPath`.
    public init(executable: String, profileDir: String, logPath: String, width: Int = 1280, height: Int = 900) throws {
        self.logPath = logPath
        signal(SIGPIPE, SIG_IGN)  // a browser that died makes writes fail with EPIPE, not kill the tests
        var commands: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard pipe(&commands) == 0, pipe(&output) == 0 else { throw Failure("pipe: \(String(cString: strerror(errno)))") }
        // Our ends stay out of the child; fds 3 and 4 are the child's, so ours move above them.
        func high(_ fd: Int32) -> Int32 {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 10)
            Glibc.close(fd)
            return moved
        }
        let (childIn, parentOut) = (high(commands[0]), high(commands[1]))
        let (parentIn, childOut) = (high(output[0]), high(output[1]))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // Its own process group: closing the driver ends the browser and every helper it started.
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        let arguments = [
            executable, "--remote-debugging-pipe", "--user-data-dir=\(profileDir)", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
            "--hide-scrollbars", "--window-size=\(width),\(height)", "about:blank",
        ]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, environ)
        Glibc.close(childIn)
        Glibc.close(childOut)
        guard rc == 0 else {
            Glibc.close(parentOut)
            Glibc.close(parentIn)
            throw Failure("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
        self.toBrowser = parentOut
        self.fromBrowser = parentIn
    }

    deinit { close() }

    private var closed = false

    /// Asks the browser to quit, then ends its process group (bounded: 5 s).
    public func close() {
        guard !closed else { return }
        closed = true
        _ = try? send("Browser.close", [:], session: false, timeout: 5)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(5)
        while waitpid(pid, &status, WNOHANG) == 0 && Date() < deadline { usleep(50_000) }
        kill(-pid, SIGKILL)
        _ = waitpid(pid, &status, WNOHANG)
        Glibc.close(toBrowser)
        Glibc.close(fromBrowser)
    }

    // MARK: - Protocol

    /// Sends one command and returns its `result`; a protocol error or no answer in `timeout` throws.
    @discardableResult
    public func send(_ method: String, _ params: [String: Any] = [:], session: Bool = true, timeout: TimeInterval = 30) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if session, let sessionID { message["sessionId"] = sessionID }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(toBrowser, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("\(method): the browser's pipe is closed (\(String(cString: strerror(errno)))); see \(logPath)") }
            offset += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reply = try read(until: deadline, what: "the answer to \(method)")
            if let replyID = reply["id"] as? Int, replyID == id {
                if let error = reply["error"] as? [String: Any] { throw Failure("\(method) failed: \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
            record(reply)
        }
    }

    /// Waits (bounded) for an event `method` read since the last `clearEvents`, and returns its params.
    @discardableResult
    public func waitForEvent(_ method: String, timeout: TimeInterval = 30, where match: ([String: Any]) -> Bool = { _ in true }) throws -> [String:
        Any]
    {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let hit = events.first(where: { $0["method"] as? String == method && match($0["params"] as? [String: Any] ?? [:]) }) {
                return hit["params"] as? [String: Any] ?? [:]
            }
            record(try read(until: deadline, what: "the event \(method)"))
        }
    }

    public func clearEvents() { events.removeAll() }

    private func record(_ message: [String: Any]) {
        guard let method = message["method"] as? String else { return }
        if method == "Network.requestWillBeSent", let params = message["params"] as? [String: Any],
            let request = params["request"] as? [String: Any], let url = request["url"] as? String
        {
            requestedURLs.append(url)
        }
        events.append(message)
    }

    /// The next message from the browser, waiting at most until `deadline`.
    private func read(until deadline: Date, what: String) throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let data = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let message = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
                return message
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw Failure("timed out waiting for \(what); see \(logPath)") }
            var poller = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fromBrowser, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("the browser closed its pipe while we waited for \(what); see \(logPath)") }
            buffer += chunk[..<n]
        }
    }

    // MARK: - Page

    /// Opens a page target and attaches to it; later `send`s go to that page.
    public func openPage(width: Int = 1280, height: Int = 900) throws {
        let target = try send("Target.createTarget", ["url": "about:blank"], session: false)
        guard let targetID = target["targetId"] as? String else { throw Failure("Target.createTarget gave no targetId: \(target)") }
        let attached = try send("Target.attachToTarget", ["targetId": targetID, "flatten": true], session: false)
        guard let session = attached["sessionId"] as? String else { throw Failure("Target.attachToTarget gave no sessionId: \(attached)") }
        sessionID = session
        try send("Page.enable")
        try send("Network.enable")
        try send("Runtime.enable")
        try send("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    /// Navigates and waits for the load event; returns the seconds it took.
    @discardableResult
    public func navigate(_ url: String, timeout: TimeInterval = 30) throws -> TimeInterval {
        clearEvents()
        let started = Date()
        let result = try send("Page.navigate", ["url": url], timeout: timeout)
        if let error = result["errorText"] as? String { throw Failure("navigating to \(url) failed: \(error)") }
        try waitForEvent("Page.loadEventFired", timeout: timeout)
        return Date().timeIntervalSince(started)
    }

    /// Runs `action` (JavaScript that submits a form or clicks a button) and waits for the page it loads.
    public func submit(_ action: String, timeout: TimeInterval = 30) throws {
        clearEvents()
        _ = try evaluate(action)
        try waitForEvent("Page.loadEventFired", timeout: timeout)
    }

    /// The value of a JavaScript expression in the page.
    public func evaluate(_ expression: String) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw Failure("evaluating \(expression) threw: \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// The page's visible text.
    public func text() throws -> String { try evaluate("document.body.innerText") as? String ?? "" }

    /// The page's address (after redirects).
    public func location() throws -> String { try evaluate("location.href") as? String ?? "" }

    /// A PNG of the whole page (at most `maxHeight` CSS pixels tall) written to `path`.
    public func screenshot(to path: String, maxHeight: Double = 4000) throws {
        let metrics = try send("Page.getLayoutMetrics")
        let size = (metrics["cssContentSize"] ?? metrics["contentSize"]) as? [String: Any] ?? [:]
        func number(_ value: Any?) -> Double? { (value as? Double) ?? (value as? Int).map(Double.init) }
        let width = number(size["width"]) ?? 1280
        let height = min(number(size["height"]) ?? 900, maxHeight)
        let shot = try send(
            "Page.captureScreenshot",
            ["format": "png", "captureBeyondViewport": true, "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1]])
        guard let base64 = shot["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw Failure("Page.captureScreenshot gave no data")
        }
        try png.write(to: URL(fileURLWithPath: path))
    }
}
