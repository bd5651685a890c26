import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchSubprocess
import GapwatchTestSupport
import Hummingbird
import Logging
import NIOCore
import XCTest
import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Notification channels against real receivers: a Hummingbird server on 127.0.0.1 for webhook and
/// slack, real child processes for command channels, real YAML (Yams) for config parsing.
final class NotificationChannelTests: XCTestCase {
    let message = NotificationMessage(
        eventID: 4242, incidentID: 17, rule: "heartbeat", subject: "check:nightly-export", event: "opened",
        reason: "no ping since 2026-11-28T03:00:00Z (expected every 1h + 5m grace)", at: 1_795_842_300_000,
        openedAt: 1_795_842_300_000, labels: ["team": "data", "env": "prod"], collector: "collector-1")

    // MARK: webhook

    func testWebhookPostsTheMessageJSONWithIdempotencyKeyAndHeaders() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let channel = ChannelConfig(
            name: "ops-hook", kind: .webhook, url: receiver.base + "/ok",
            headers: ["Authorization": "Bearer s3cret-token-value", "X-Team": "data"])

        let outcome = await ChannelSender().send(message, via: channel)

        XCTAssertEqual(outcome, .delivered(detail: "HTTP 200: ok"))
        let requests = receiver.requests
        XCTAssertEqual(requests.count, 1)
        let request = try XCTUnwrap(requests.first)
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.path, "/ok")
        XCTAssertEqual(try JSONDecoder().decode(NotificationMessage.self, from: Data(request.body)), message)
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]).keys
        XCTAssertEqual(
            Set(keys), ["event_id", "incident_id", "rule", "subject", "event", "reason", "at", "opened_at", "labels", "collector"])
        XCTAssertEqual(request.header("idempotency-key"), ["gapwatch-4242-ops-hook"])
        XCTAssertEqual(request.header("content-type"), ["application/json"])
        XCTAssertEqual(request.header("user-agent"), ["gapwatch"])
        XCTAssertEqual(request.header("authorization"), ["Bearer s3cret-token-value"])
        XCTAssertEqual(request.header("x-team"), ["data"])
    }

    func testWebhookRetriesKeepTheIdempotencyKeyAndEventsDiffer() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let channel = ChannelConfig(name: "ops-hook", kind: .webhook, url: receiver.base + "/ok")
        var resolved = message
        resolved.eventID = 4243
        resolved.event = "resolved"

        _ = await ChannelSender().send(message, via: channel)
        _ = await ChannelSender().send(message, via: channel)
        _ = await ChannelSender().send(resolved, via: channel)

        XCTAssertEqual(
            receiver.requests.map { $0.header("idempotency-key") },
            [["gapwatch-4242-ops-hook"], ["gapwatch-4242-ops-hook"], ["gapwatch-4243-ops-hook"]])
    }

    func testConfiguredUserAgentReplacesTheDefaultOne() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let channel = ChannelConfig(name: "h", kind: .webhook, url: receiver.base + "/ok", headers: ["User-Agent": "ops-bot/2"])

        _ = await ChannelSender().send(message, via: channel)

        XCTAssertEqual(receiver.requests.first?.header("user-agent"), ["ops-bot/2"], "sent once, the configured value")
    }

    func testServerErrorIsRetryableAndHonoursRetryAfter() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let outcome = await ChannelSender().send(message, via: ChannelConfig(name: "h", kind: .webhook, url: receiver.base + "/fail"))

        guard case .failed(let detail, let retryable, let retryAfterMs) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertEqual(retryAfterMs, 7_000)
        XCTAssertTrue(detail.hasPrefix("HTTP 500"), detail)
        XCTAssertTrue(detail.contains("upstream exploded"), "the receiver's words help the operator: \(detail)")
    }

    func testTooManyRequestsIsRetryableWithoutRetryAfter() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let outcome = await ChannelSender().send(message, via: ChannelConfig(name: "h", kind: .webhook, url: receiver.base + "/throttle"))

        guard case .failed(let detail, let retryable, let retryAfterMs) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertNil(retryAfterMs)
        XCTAssertTrue(detail.hasPrefix("HTTP 429"), detail)
    }

    func testClientErrorIsNotRetryable() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let outcome = await ChannelSender().send(message, via: ChannelConfig(name: "h", kind: .webhook, url: receiver.base + "/gone"))

        guard case .failed(let detail, let retryable, let retryAfterMs) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertFalse(retryable)
        XCTAssertNil(retryAfterMs)
        XCTAssertTrue(detail.hasPrefix("HTTP 404"), detail)
    }

    func testTimeoutIsRetryableAndBounded() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let started = WallClock.monotonicMillis()
        let outcome = await ChannelSender().send(
            message, via: ChannelConfig(name: "h", kind: .webhook, url: receiver.base + "/hang", timeoutMs: 500))
        let elapsed = WallClock.monotonicMillis() - started

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertTrue(detail.contains("timed out"), detail)
        XCTAssertGreaterThanOrEqual(elapsed, 450)
        XCTAssertLessThan(elapsed, 2_500, "the receiver hangs for 3s; the channel must give up at its timeout")
        XCTAssertEqual(receiver.requests.map(\.path), ["/hang"], "the request did reach the receiver")
    }

    func testConnectionRefusedIsRetryable() async throws {
        let (fd, port) = try boundPortThatRefusesConnections()
        defer { close(fd) }
        let outcome = await ChannelSender().send(
            message, via: ChannelConfig(name: "h", kind: .webhook, url: "http://127.0.0.1:\(port)/hook", timeoutMs: 2_000))

        guard case .failed(let detail, let retryable, let retryAfterMs) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertNil(retryAfterMs)
        XCTAssertTrue(detail.hasPrefix("transport error"), detail)
    }

    func testSecretsNeverReachTheDetail() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        // The receiver echoes the Authorization header and the request path and query in its error.
        let channel = ChannelConfig(
            name: "h", kind: .webhook, url: receiver.base + "/echo/T0123/hook-path-secret?sig=query-secret-123",
            headers: ["Authorization": "Bearer s3cret-token-value"])

        let outcome = await ChannelSender().send(message, via: channel)

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertFalse(retryable)
        XCTAssertTrue(detail.hasPrefix("HTTP 400"), detail)
        XCTAssertTrue(detail.contains("<redacted>"), "the echo was there and was replaced: \(detail)")
        for secret in ["s3cret-token-value", "hook-path-secret", "query-secret-123"] {
            XCTAssertFalse(detail.contains(secret), "\(secret) leaked into: \(detail)")
        }
        XCTAssertFalse("\(channel)".contains("s3cret-token-value"))
        XCTAssertFalse("\(channel)".contains("hook-path-secret"))
    }

    // MARK: slack

    func testSlackPostsAReadableOneLineText() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let channel = ChannelConfig(name: "slack", kind: .slack, url: receiver.base + "/ok")
        var resolved = message
        resolved.event = "resolved"
        resolved.reason = "ping received at 2026-11-28T04:12:00Z"
        var reminder = message
        reminder.event = "reminder"
        reminder.reason = "still open after 4h\nno ping <since> A & B"

        for m in [message, resolved, reminder] {
            let outcome = await ChannelSender().send(m, via: channel)
            XCTAssertEqual(outcome, .delivered(detail: "HTTP 200: ok"))
        }

        let texts = try receiver.requests.map { request -> String in
            XCTAssertEqual(request.header("content-type"), ["application/json"])
            XCTAssertEqual(request.header("idempotency-key"), [], "a webhook-only header")
            let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            XCTAssertEqual(Array(body.keys), ["text"])
            return try XCTUnwrap(body["text"] as? String)
        }
        XCTAssertEqual(
            texts,
            [
                ":red_circle: OPENED heartbeat check:nightly-export — no ping since 2026-11-28T03:00:00Z (expected every 1h + 5m grace)",
                ":large_green_circle: RESOLVED heartbeat check:nightly-export — ping received at 2026-11-28T04:12:00Z",
                ":bell: REMINDER heartbeat check:nightly-export — still open after 4h no ping &lt;since&gt; A &amp; B",
            ])
    }

    func testSlackStatusHandlingMatchesWebhooks() async throws {
        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let failed = await ChannelSender().send(message, via: ChannelConfig(name: "s", kind: .slack, url: receiver.base + "/fail"))
        let gone = await ChannelSender().send(message, via: ChannelConfig(name: "s", kind: .slack, url: receiver.base + "/gone"))

        guard case .failed(_, let retryable, let retryAfterMs) = failed else { return XCTFail("\(failed)") }
        XCTAssertTrue(retryable)
        XCTAssertEqual(retryAfterMs, 7_000)
        guard case .failed(_, let goneRetryable, _) = gone else { return XCTFail("\(gone)") }
        XCTAssertFalse(goneRetryable)
    }

    // MARK: command

    func testCommandGetsTheMessageOnStdinAndTheEnvironment() async throws {
        let file = temporaryPath()
        defer { unlink(file) }
        // The test's own program is a shell; the channel itself runs argv as given.
        let script =
            #"cat > "$1"; printf '%s\n' "$GAPWATCH_EVENT" "$GAPWATCH_RULE" "$GAPWATCH_SUBJECT" "$GAPWATCH_INCIDENT_ID" "$GAPWATCH_REASON" "$GAPWATCH_EVENT_ID" >> "$1""#
        let channel = ChannelConfig(name: "cmd", kind: .command, argv: ["/bin/sh", "-c", script, "sh", file])

        let outcome = await ChannelSender().send(message, via: channel)

        XCTAssertEqual(outcome, .delivered(detail: "exit 0"))
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 8, "JSON line, six variables, final newline: \(lines)")
        XCTAssertEqual(try JSONDecoder().decode(NotificationMessage.self, from: Data(lines[0].utf8)), message)
        XCTAssertEqual(
            Array(lines.dropFirst().prefix(6)),
            [
                "opened", "heartbeat", "check:nightly-export", "17",
                "no ping since 2026-11-28T03:00:00Z (expected every 1h + 5m grace)", "4242",
            ])
    }

    func testFailingCommandIsRetryableWithExitCode() async throws {
        let outcome = await ChannelSender().send(message, via: ChannelConfig(name: "cmd", kind: .command, argv: ["/bin/false"]))

        guard case .failed(let detail, let retryable, let retryAfterMs) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertNil(retryAfterMs)
        XCTAssertEqual(detail, "exit 1")
    }

    func testFailureDetailQuotesTheEndOfStderr() async throws {
        // 400 'a's, then the last words: only the final 300 bytes of stderr are quoted.
        let script = "head -c 400 /dev/zero | tr '\\0' a >&2; echo ' disk full' >&2; exit 7"
        let outcome = await ChannelSender().send(message, via: ChannelConfig(name: "cmd", kind: .command, argv: ["/bin/sh", "-c", script]))

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertTrue(detail.hasPrefix("exit 7; stderr: "), detail)
        XCTAssertTrue(detail.hasSuffix("a disk full"), detail)
        let quoted = detail.dropFirst("exit 7; stderr: ".count)
        XCTAssertLessThanOrEqual(quoted.utf8.count, 300)
        XCTAssertGreaterThan(quoted.utf8.count, 250, "the tail is quoted, not just the last line")
    }

    func testCommandTimeoutIsRetryable() async throws {
        let started = WallClock.monotonicMillis()
        let outcome = await ChannelSender().send(
            message, via: ChannelConfig(name: "cmd", kind: .command, argv: ["sleep", "30"], timeoutMs: 300))

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertTrue(detail.hasPrefix("timed out after 300ms"), detail)
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 5_000)
    }

    func testMissingProgramIsNotRetryable() async throws {
        let outcome = await ChannelSender().send(
            message, via: ChannelConfig(name: "cmd", kind: .command, argv: ["/nonexistent/gapwatch-notify-xyz"]))

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertFalse(retryable)
        XCTAssertTrue(detail.contains("cannot run /nonexistent/gapwatch-notify-xyz"), detail)
    }

    func testCancellingTheTaskEndsARunningCommand() async throws {
        let started = WallClock.monotonicMillis()
        let message = self.message
        let task = Task {
            await ChannelSender().send(message, via: ChannelConfig(name: "cmd", kind: .command, argv: ["sleep", "30"], timeoutMs: 60_000))
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let outcome = await task.value

        guard case .failed(let detail, let retryable, _) = outcome else { return XCTFail("\(outcome)") }
        XCTAssertTrue(retryable)
        XCTAssertTrue(detail.hasPrefix("cancelled"), detail)
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 5_000)
    }

    // MARK: CommandRunner stdin and environment (GapwatchSubprocess)

    func testRunnerWritesLargeStdinWithoutDeadlock() throws {
        var runner = CommandRunner(timeoutMs: 10_000)
        runner.stdin = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)  // far more than a pipe holds
        let result = try runner.run(["wc", "-c"])
        XCTAssertTrue(result.succeeded, "\(result)")
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "1048576")
    }

    func testRunnerSurvivesCommandsThatLeaveStdinUnread() throws {
        // The test runner may start us with SIGPIPE ignored; a collector does not. With the default
        // action, a write racing a reader's exit would end this process without the runner's guard.
        let previous = signal(SIGPIPE, SIG_DFL)
        defer { signal(SIGPIPE, previous) }
        var runner = CommandRunner(timeoutMs: 10_000)
        runner.stdin = [UInt8](repeating: 0, count: 1 << 20)
        let ignores = try runner.run(["true"])
        XCTAssertTrue(ignores.succeeded, "\(ignores)")
        XCTAssertFalse(ignores.timedOut)
        // Reads a little, then exits while we are still writing: the race the guard is for.
        for _ in 0..<100 {
            let partial = try runner.run(["head", "-c", "1"])
            XCTAssertTrue(partial.succeeded, "\(partial)")
        }
        var none = CommandRunner(timeoutMs: 5_000)
        none.stdin = []
        let empty = try none.run(["wc", "-c"])
        XCTAssertEqual(String(decoding: empty.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    func testRunnerStdinIsDevNullByDefault() throws {
        let result = try CommandRunner(timeoutMs: 5_000).run(["wc", "-c"])
        XCTAssertTrue(result.succeeded)
        XCTAssertEqual(String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "0")
    }

    func testRunnerExtraEnvironmentWinsOverInherited() throws {
        setenv("GW_NOTIFY_TEST_VAR", "inherited", 1)
        defer { unsetenv("GW_NOTIFY_TEST_VAR") }
        var runner = CommandRunner(timeoutMs: 5_000)
        runner.extraEnvironment = ["GW_NOTIFY_TEST_VAR": "extra", "GW_NOTIFY_OTHER": "two words"]
        let lines = try String(decoding: runner.run(["env"]).stdout, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("GW_NOTIFY_TEST_VAR=") }, ["GW_NOTIFY_TEST_VAR=extra"])
        XCTAssertEqual(lines.filter { $0.hasPrefix("GW_NOTIFY_OTHER=") }, ["GW_NOTIFY_OTHER=two words"])
        XCTAssertTrue(lines.contains { $0.hasPrefix("PATH=") }, "the rest is inherited")
        runner.extraEnvironment = ["BAD=NAME": "x"]
        XCTAssertThrowsError(try runner.run(["env"]))
    }

    // MARK: config

    func testParsesValidChannels() throws {
        let env = ["GW_TEST_TOKEN": "Bearer s3cret-token-value", "GW_TEST_SLACK_URL": "https://hooks.slack.example/services/T1/B2/xyz"]
        XCTAssertEqual(
            try parse(
                """
                name: ops-hook
                kind: webhook
                url: https://alerts.example.com/gapwatch
                headers:
                  Authorization: env:GW_TEST_TOKEN
                  X-Team: data
                timeout: 30s
                """, environment: env),
            ChannelConfig(
                name: "ops-hook", kind: .webhook, url: "https://alerts.example.com/gapwatch",
                headers: ["Authorization": "Bearer s3cret-token-value", "X-Team": "data"], timeoutMs: 30_000))
        XCTAssertEqual(
            try parse("name: team.slack\nkind: slack\nurl: env:GW_TEST_SLACK_URL", environment: env),
            ChannelConfig(name: "team.slack", kind: .slack, url: "https://hooks.slack.example/services/T1/B2/xyz", timeoutMs: 10_000))
        XCTAssertEqual(
            try parse("name: page_me\nkind: command\nargv: [/usr/local/bin/page, --level, 2]\ntimeout: 1m"),
            ChannelConfig(name: "page_me", kind: .command, argv: ["/usr/local/bin/page", "--level", "2"], timeoutMs: 60_000))
    }

    func testConfigErrorsNameThePathAndTheKey() {
        let p = "notify.channels[0]"
        let cases: [(String, String)] = [
            ("name: a\nkind: webhook", "\(p).url: required for a webhook channel"),
            ("name: a\nkind: slack", "\(p).url: required for a slack channel"),
            (
                "name: a\nkind: webhook\nurl: http://x\nulr: http://y",
                "\(p).ulr: unknown key; did you mean 'url'? (known keys here: argv, headers, kind, name, timeout, url)"
            ),
            ("name: a\nkind: webhook\nurl: ftp://example.com/x", "\(p).url: must be an http:// or https:// URL"),
            ("name: a\nkind: slack\nurl: hooks.slack.com/services/T/B/x", "\(p).url: must be an http:// or https:// URL"),
            ("name: a\nkind: webhook\nurl: 'http://'", "\(p).url: not a valid URL (it needs a host, and no spaces)"),
            ("name: a\nkind: command", "\(p).argv: required for a command channel"),
            ("name: a\nkind: command\nargv: []", "\(p).argv: must not be empty: the first item is the program"),
            (
                "name: a\nkind: command\nargv: notify-send hello",
                "\(p).argv: expected a list: the program, then one item per argument (there is no shell)"
            ),
            ("name: a\nkind: command\nargv: ['', x]", "\(p).argv[0]: the program must not be empty"),
            ("name: a\nkind: command\nargv: [x]\nurl: http://x", "\(p).url: not used by a command channel (it runs argv)"),
            ("name: a\nkind: webhook\nurl: http://x\nargv: [x]", "\(p).argv: only for command channels"),
            ("name: a\nkind: slack\nurl: http://x\nheaders: {X-A: b}", "\(p).headers: only for webhook channels"),
            (
                "name: a\nkind: webhook\nurl: http://x\nheaders: {Authorization: a, authorization: b}",
                "\(p).headers.authorization: duplicate header name (same as Authorization; header names ignore case)"
            ),
            ("name: a\nkind: webhook\nurl: http://x\nheaders: [a]", "\(p).headers: expected a map of header names to values"),
            ("name: a\nkind: webhook\nurl: http://x\nheaders: {'X A': b}", "\(p).headers.X A: not a valid header name"),
            (
                "name: a\nkind: webhook\nurl: http://x\nheaders: {Idempotency-Key: b}",
                "\(p).headers.Idempotency-Key: set by gapwatch, cannot be configured"
            ),
            ("name: a\nkind: webhook\nurl: http://x\nheaders: {X-A: \"b\\nEvil: 1\"}", "\(p).headers.X-A: the value must be one line"),
            (
                "name: a\nkind: webhook\nurl: http://x\nheaders: {Authorization: 'env:GW_TEST_UNSET_VAR'}",
                "\(p).headers.Authorization: environment variable GW_TEST_UNSET_VAR is not set"
            ),
            ("kind: webhook\nurl: http://x", "\(p).name: required"),
            ("name: ops team\nkind: webhook\nurl: http://x", "\(p).name: 'ops team' must be 1 to 64 letters, digits, '.', '_' or '-'"),
            ("name: a\nurl: http://x", "\(p).kind: required (one of webhook, slack, command)"),
            ("name: a\nkind: email", "\(p).kind: 'email' is not one of webhook, slack, command"),
            ("name: a\nkind: command\nargv: [x]\ntimeout: soon", "\(p).timeout: 'soon' is not a duration (e.g. 500ms, 30s, 5m, 1h)"),
            ("name: a\nkind: command\nargv: [x]\ntimeout: 2h", "\(p).timeout: must be more than 0 and at most 1h"),
        ]
        for (yaml, expected) in cases {
            do {
                let config = try parse(yaml)
                XCTFail("accepted \(yaml.debugDescription) as \(config)")
            } catch let error as ConfigError {
                XCTAssertEqual(error.message, expected, yaml.debugDescription)
            } catch {
                XCTFail("\(yaml.debugDescription): \(error)")
            }
        }
        // A zero timeout is refused too (the wording is the config reader's, shared by every duration).
        XCTAssertThrowsError(try parse("name: a\nkind: command\nargv: [x]\ntimeout: 0s")) { error in
            XCTAssertTrue((error as? ConfigError)?.message.hasPrefix("\(p).timeout: ") == true, "\(error)")
        }
    }

    // MARK: backoff

    func testBackoffIsExponentialCappedAndFullyJittered() {
        let top: (ClosedRange<Double>) -> Double = { $0.upperBound }
        let bottom: (ClosedRange<Double>) -> Double = { $0.lowerBound }
        let half: (ClosedRange<Double>) -> Double = { ($0.lowerBound + $0.upperBound) / 2 }
        XCTAssertEqual(
            (1...8).map { notificationBackoff(attempt: $0, initialMs: 1_000, maxMs: 60_000, random: top) },
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000])
        XCTAssertEqual(
            (1...8).map { notificationBackoff(attempt: $0, initialMs: 1_000, maxMs: 60_000, random: bottom) }, Array(repeating: 0, count: 8))
        XCTAssertEqual(notificationBackoff(attempt: 3, initialMs: 1_000, maxMs: 60_000, random: half), 2_000)
        XCTAssertEqual(notificationBackoff(attempt: 500, initialMs: 1_000, maxMs: 60_000, random: top), 60_000, "no overflow")
        XCTAssertEqual(notificationBackoff(attempt: 40, initialMs: Int64.max / 4, maxMs: 90_000, random: top), 90_000)
        XCTAssertEqual(notificationBackoff(attempt: 0, initialMs: 1_000, maxMs: 60_000, random: top), 1_000, "attempt 0 is treated as 1")
        XCTAssertEqual(notificationBackoff(attempt: 1, initialMs: 1_000, maxMs: 60_000, random: { _ in 7 }), 1_000, "a bad random is clamped")
        for attempt in 1...20 {
            let value = notificationBackoff(attempt: attempt, initialMs: 500, maxMs: 30_000, random: Double.random(in:))
            XCTAssertTrue((0...min(30_000, 500 << (attempt - 1))).contains(value), "attempt \(attempt): \(value)")
        }
    }

    // MARK: helpers

    private func parse(_ yaml: String, environment: [String: String] = [:]) throws -> ChannelConfig {
        let map = try XCTUnwrap(try Yams.load(yaml: yaml) as? [String: Any], "not a map: \(yaml)")
        return try ChannelConfig.parse(map, path: "notify.channels[0]", environment: environment)
    }

    private func temporaryPath() -> String {
        NSTemporaryDirectory() + "gapwatch-notify-\(UUID().uuidString)"
    }

    /// A TCP port on 127.0.0.1 that is bound but not listening, so connecting is refused at once.
    func boundPortThatRefusesConnections() throws -> (Int32, Int) {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw XCTSkip("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw XCTSkip("bind: \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
