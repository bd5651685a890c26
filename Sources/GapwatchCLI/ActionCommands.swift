import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

// Self-healing: actions, manual backfills and catch-up (protocol/README.md, "Self-healing API").

/// Every state an action can be in, in lifecycle order.
let actionStates = ["pending", "awaiting_approval", "running", "verifying", "verified", "escalated", "dry_run", "cancelled"]

/// "1/3": attempts made of attempts allowed.
func attemptsText(_ a: ActionInfo) -> String { "\(a.attempts)/\(a.maxAttempts)" }

/// What `next_attempt_at` means in the action's state, or nil when it has none.
func nextAttemptLabel(_ a: ActionInfo) -> String? {
    guard a.nextAttemptAt != nil else { return nil }
    switch a.state {
    case "pending": return "next try:"
    case "running": return "gives up:"
    case "verifying": return "verify by:"
    default: return "due:"
    }
}

/// A YYYY-MM-DD date that exists on the calendar.
func isCalendarDate(_ text: String) -> Bool {
    guard text.utf8.count == 10, let t = TimeParsing.parse(text) else { return false }
    return TimeParsing.format(t).hasPrefix(text)
}

// MARK: actions

struct ActionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actions",
        abstract: "List healing actions, show one, or approve one that waits for approval.",
        discussion: """
            The collector queues an action when a completeness or stale-item rule finds a gap (origin rule, KEY = the gap: the incident's subject plus the range, e.g. completeness:analytics:backfill:2026-01-20..2026-01-21), or when a person asks for a backfill (origin manual, KEY = manual:ACTION:START..END).

            States: pending (queued, or waiting out cooldown/backoff before a retry) → awaiting_approval (mode: approval) → running (the webhook call or agent command is in flight) → verifying (it succeeded; waiting for the rule to judge its gap fixed) → verified. A failed attempt or a failed verification goes back to pending for a retry; after max_attempts it is escalated (a person must look; its gap queues no more actions while the incident is open). dry_run: mode dry_run recorded what would have run. cancelled: the gap closed or changed shape before the action ran.

            Examples:
              gapwatch actions                              # newest first, at most 100
              gapwatch actions --state awaiting_approval
              gapwatch actions --incident 42
              gapwatch actions show act-7-Xy3kQ9aZ
              gapwatch actions approve act-7-Xy3kQ9aZ       # admin token
              gapwatch actions --json | jq '.actions[] | select(.state == "escalated")'
            """,
        subcommands: [List.self, Show.self, Approve.self], defaultSubcommand: List.self)

    struct Response: Decodable { var actions: [ActionInfo] }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List actions, newest first (read token is enough).",
            discussion: """
                ATTEMPTS is attempts made / max_attempts. INCIDENT is the incident the action heals (- for a manual backfill). DETAIL is the latest outcome, for people.

                Examples:
                  gapwatch actions list --state escalated
                  gapwatch actions --incident 42 --limit 10
                """)
        @Option(help: "Only actions healing this incident (its id, as in `gapwatch incidents`).") var incident: Int64?
        @Option(help: "Only actions in this state: \(actionStates.joined(separator: ", ")).") var state: String?
        @Option(help: "At most this many (1 to 1000; the collector's default is 100).") var limit: Int?
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if let state, !actionStates.contains(state) {
                throw ValidationError("--state '\(state)' is not one of \(actionStates.joined(separator: ", "))")
            }
            if let incident, incident < 1 { throw ValidationError("--incident must be an incident id (1 or more)") }
            if let limit, !(1...1000).contains(limit) { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() throws {
            var query: [(String, String)] = []
            if let incident { query.append(("incident", String(incident))) }
            if let state { query.append(("state", state)) }
            if let limit { query.append(("limit", String(limit))) }
            let path = "/v1/actions" + (query.isEmpty ? "" : "?" + encodeQuery(query))
            guard let actions = try client.decoded(Response.self, "GET", path)?.actions else { return }
            if actions.isEmpty {
                return print(
                    query.isEmpty
                        ? "no actions yet: they are queued by completeness: and stale_items: rules with an action, or by `gapwatch backfill`"
                        : "no actions match")
            }
            let now = WallClock.nowMillis()
            print(
                renderTable(
                    ["ID", "STATE", "ACTION", "ATTEMPTS", "INCIDENT", "KEY", "UPDATED", "DETAIL"],
                    actions.map { a in
                        [
                            a.id, a.state, a.name, attemptsText(a), a.incidentID.map(String.init) ?? "-", a.key, agoText(a.updatedAt, now: now),
                            a.detail,
                        ]
                    }))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one action: what it runs with, its attempts, its deadlines and its latest outcome.",
            discussion: """
                Every step of the action is also on the timeline: gapwatch timeline action:ID.

                Example:
                  gapwatch actions show act-7-Xy3kQ9aZ
                """)
        @Argument(help: "Action id (the ID column of `gapwatch actions`).") var id: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            guard let a = try client.decoded(ActionInfo.self, "GET", "/v1/actions/\(pathSegment(id))") else { return }
            let now = WallClock.nowMillis()
            var lines = [
                "action \(a.id): \(a.state)",
                "name:        \(a.name) (\(a.kind))",
                "key:         \(a.key)",
                "origin:      \(a.origin)",
                "incident:    \(a.incidentID.map { "\($0) (gapwatch incidents show \($0))" } ?? "- (manual)")",
                "parameters:  \(a.parameters.isEmpty ? "-" : a.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
                "attempts:    \(a.attempts) of \(a.maxAttempts)",
                "created:     \(TimeParsing.format(a.createdAt)) (\(agoText(a.createdAt, now: now)))",
                "updated:     \(TimeParsing.format(a.updatedAt)) (\(agoText(a.updatedAt, now: now)))",
            ]
            if let label = nextAttemptLabel(a), let t = a.nextAttemptAt {
                let when = t >= now ? "in \(Units.formatAge(ClampedTime.subtract(t, now)))" : "\(Units.formatAge(ClampedTime.subtract(now, t))) ago"
                lines.append("\(label.padding(toLength: 12, withPad: " ", startingAt: 0)) \(TimeParsing.format(t)) (\(when))")
            }
            if let by = a.approvedBy { lines.append("approved by: token \(by)") }
            if let p = a.progress { lines.append("progress:    partitions verified \(p.verified) / \(p.total)") }
            lines.append("detail:      \(a.detail)")
            print(lines.joined(separator: "\n"))
            switch a.state {
            case "awaiting_approval": print("\napprove it with: gapwatch actions approve \(a.id)")
            case "escalated":
                print("\nescalated: it will not be retried, and its range queues no more actions while its incident is open.")
                print("fix the cause, then rerun by hand if needed: gapwatch backfill ACTION --from DATE --to DATE")
            default: break
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve an action waiting for approval: it runs at the collector's next pass (admin token).",
            discussion: """
                Only actions in state awaiting_approval can be approved; anything else is refused (409). An action waits for approval when its action has mode: approval, when the breaker holds it (disabling more than scheduler_targets.breaker.max_share of one scheduler's jobs within its window), or when it would run a command about a job or lock on an agent other than the one that reports it; its DETAIL says which. An approved action keeps its approval for its retries.

                Example:
                  gapwatch actions --state awaiting_approval
                  gapwatch actions approve act-7-Xy3kQ9aZ
                """)
        @Argument(help: "Action id (the ID column of `gapwatch actions`).") var id: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            guard let a = try client.decoded(ActionInfo.self, "POST", "/v1/actions/\(pathSegment(id))/approve") else { return }
            print("approved \(a.id) (\(a.name) for \(a.key)): \(a.state), runs within a second or two unless the guardrails hold it")
            print("follow it with: gapwatch actions show \(a.id)")
        }
    }
}

// MARK: backfill

struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Ask the collector to run a configured action over a date range, and optionally wait until it is verified.",
        discussion: """
            ACTION is the name of an action in the collector config (actions:). The collector fills {start}, {end} and {partition} (= start) from the range, {dataset} with the derived dataset of the completeness rule whose backfill: is ACTION (empty if none), and {bypass_checks} with true or false, then runs it under the usual guardrails (mode, cooldown, max_attempts, max_per_hour, max_concurrent). Needs an admin token.

            Refused, with nothing queued: a date that is not YYYY-MM-DD or --from after --to (checked here, exit 64); an unknown action, a range longer than the action's max_range_days, or a run of the same action over an overlapping range already in flight, queued by a person or by a rule (the collector answers 400 or 409, exit 1).

            Verified means the data shows it, judged by the completeness rule that owns ACTION: for its backfill:, every partition in the range that has source rows has at least min_ratio of them in the derived dataset; for its scrape:, every partition has source rows. An action that belongs to no rule has nothing to verify it against: it ends verified once it succeeded, and its detail says nothing was checked.

            With --wait it polls the action every second and prints a line whenever its state, detail or progress (partitions verified N / total) changes (with --json: those lines on stderr, the final action as JSON on stdout). Exit status: 0 verified; 1 escalated, cancelled or dry_run (nothing ran), or the collector refused; 2 --timeout passed first (the action goes on; follow it with `gapwatch actions show ID`). An action with mode: approval waits in awaiting_approval until someone runs `gapwatch actions approve ID`; the timeout keeps counting meanwhile.

            Examples:
              gapwatch backfill backfill-analytics --from 2026-01-20 --to 2026-01-22
              gapwatch backfill backfill-analytics --from 2026-01-20 --to 2026-01-22 --wait
              gapwatch backfill backfill-analytics --from 2026-01-01 --to 2026-01-31 \\
                --bypass-checks --wait --timeout 3h
              gapwatch backfill rescrape-boxscores --from 2026-01-21 --to 2026-01-21 \\
                --wait --json > action.json
            """)

    @Argument(help: "The action to run, by its name in the collector config (actions:).") var action: String
    @Option(help: "First date of the range, YYYY-MM-DD (inclusive).") var from: String
    @Option(help: "Last date of the range, YYYY-MM-DD (inclusive).") var to: String
    @Flag(help: "Send bypass_checks=true: the action's {bypass_checks} placeholder tells the job to skip its own pre-checks.")
    var bypassChecks = false
    @Flag(help: "Wait until the action is verified, escalated or cancelled, printing its progress.") var wait = false
    @Option(help: "With --wait: give up waiting after this long (e.g. 30m, 1h, 6h); exit 2.") var timeout = "1h"
    @OptionGroup var client: ClientOptions

    func validate() throws {
        for (flag, value) in [("--from", from), ("--to", to)] where !isCalendarDate(value) {
            throw ValidationError("\(flag) '\(value)' is not a date (YYYY-MM-DD)")
        }
        if from > to { throw ValidationError("the range is reversed: --from \(from) is after --to \(to)") }
        guard let ms = Units.parseDuration(timeout), ms > 0 else {
            throw ValidationError("--timeout '\(timeout)' is not a duration (e.g. 30m, 1h, 6h)")
        }
    }

    /// Days in the range, both ends included.
    var days: Int {
        guard let a = TimeParsing.parse(from), let b = TimeParsing.parse(to) else { return 0 }
        return Int((b - a) / 86_400_000) + 1
    }

    var rangeText: String { "\(from)..\(to) (\(days) day\(days == 1 ? "" : "s"))" }

    func run() throws {
        let request = BackfillRequest(action: action, start: from, end: to, bypassChecks: bypassChecks ? true : nil)
        let answer = try client.call("POST", "/v1/backfills", body: ReportCodec.encode(request))
        let queued = try ReportCodec.decode(ActionInfo.self, from: answer)
        guard wait else {
            if client.json { return printJSON(answer) }
            print(
                "queued \(queued.id): \(queued.name) over \(rangeText)\(bypassChecks ? ", bypassing checks" : ""): \(queued.state) (\(queued.detail))"
            )
            print("follow it with: gapwatch actions show \(queued.id)   (or rerun with --wait)")
            return
        }
        try follow(queued)
    }

    /// Polls the action every second until it settles or the timeout passes.
    func follow(_ queued: ActionInfo) throws {
        let timeoutMs = Units.parseDuration(timeout) ?? 3_600_000
        let started = WallClock.monotonicMillis()
        // With --json the final answer goes to stdout; progress goes to stderr.
        let say: (String) -> Void = client.json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        say("queued \(queued.id): \(queued.name) over \(rangeText)\(bypassChecks ? ", bypassing checks" : "")")
        var current = queued
        var lastShown: (String, String, String)?
        var lastBody: [UInt8]?
        var unreachable = false
        var hinted = false
        while true {
            let elapsed = WallClock.monotonicMillis() - started
            let partitions = current.progress.map { "partitions verified \($0.verified) / \($0.total)" } ?? ""
            if lastShown.map({ $0 != (current.state, current.detail, partitions) }) ?? true {
                say(
                    "[\(elapsedText(elapsed))] \(current.state.padding(toLength: 17, withPad: " ", startingAt: 0)) attempt \(attemptsText(current))"
                        + (partitions.isEmpty ? "" : "  \(partitions)") + "  \(current.detail)")
                lastShown = (current.state, current.detail, partitions)
            }
            if current.state == "awaiting_approval" && !hinted && !current.detail.contains("actions approve") {
                say("          waiting for a person: gapwatch actions approve \(current.id)")
                hinted = true
            }
            switch current.state {
            case "verified":
                finish(current, body: lastBody, say: say, "verified: \(rangeText) is complete by its rule")
                return
            case "escalated", "failed", "cancelled", "dry_run":
                let why: String =
                    switch current.state {
                    case "dry_run": "dry run: nothing ran (the action has mode: dry_run)"
                    case "cancelled": "cancelled: it did not run"
                    default: "\(current.state): a person must look (gapwatch actions show \(current.id))"
                    }
                finish(current, body: lastBody, say: say, why)
                throw ExitCode(1)
            default: break
            }
            if elapsed >= timeoutMs {
                finish(
                    current, body: lastBody, say: say,
                    "timed out after \(timeout): the action is still \(current.state) and goes on; follow it with gapwatch actions show \(current.id)"
                )
                throw ExitCode(2)
            }
            Thread.sleep(forTimeInterval: 1)
            do {
                let body = try client.call("GET", "/v1/actions/\(pathSegment(current.id))")
                current = try ReportCodec.decode(ActionInfo.self, from: body)
                lastBody = body
                if unreachable {
                    say("[\(elapsedText(WallClock.monotonicMillis() - started))] the collector answers again")
                    unreachable = false
                }
            } catch let error as CLIError where Self.isTransient(error) {
                // A collector restart or a busy database: keep polling until the timeout.
                if !unreachable { say("[\(elapsedText(WallClock.monotonicMillis() - started))] \(error.description); still polling") }
                unreachable = true
            }
        }
    }

    private func finish(_ action: ActionInfo, body: [UInt8]?, say: (String) -> Void, _ line: String) {
        say(line)
        if client.json { printJSON(body ?? ReportCodec.encode(action)) }
    }

    /// Errors worth polling through: no answer at all, or 503 (storage busy, shutting down).
    static func isTransient(_ error: CLIError) -> Bool {
        error.description.hasPrefix("cannot reach the collector") || error.description.hasPrefix("collector answered 503")
    }
}

/// "45s", "3m05s", "1h02m".
func elapsedText(_ ms: Int64) -> String {
    let s = max(0, ms) / 1000
    if s < 60 { return "\(s)s" }
    func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
    if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
    return "\(s / 3600)h\(two(s % 3600 / 60))m"
}

// MARK: catch-up

struct CatchUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catch-up",
        abstract: "Re-evaluate every completeness and stale-item rule over its whole lookback now (admin token).",
        discussion: """
            The same as the scheduled catch_up: in the collector config, on demand: every completeness and stale_items check that is not paused becomes due at once. Gaps found open incidents and queue their actions as usual; gaps that closed resolve their incidents. Useful after an outage, or after fixing data by hand.

            With --wait it follows the re-evaluation: how many rules have been evaluated, then the actions they queued, until every rule ran (or --timeout passed; exit 2).

            Examples:
              gapwatch catch-up
              gapwatch catch-up --wait
              gapwatch catch-up && sleep 5 && gapwatch actions --state pending
            """)
    @Flag(help: "Wait until every rule was re-evaluated, printing progress and the actions queued.") var wait = false
    @Option(help: "With --wait: give up waiting after this long (e.g. 30s, 5m); exit 2.") var timeout = "2m"
    @OptionGroup var client: ClientOptions

    struct Answer: Decodable { var checks: Int }
    struct Checks: Decodable { var checks: [CheckInfo] }
    struct Actions: Decodable { var actions: [ActionInfo] }

    func validate() throws {
        guard let ms = Units.parseDuration(timeout), ms > 0 else { throw ValidationError("--timeout '\(timeout)' is not a duration (e.g. 30s, 5m)") }
    }

    func run() throws {
        let asked = WallClock.nowMillis()
        guard let answer = try client.decoded(Answer.self, "POST", "/v1/catch-up") else { return }
        if answer.checks == 0 {
            return print("nothing to re-evaluate: no completeness: or stale_items: rules are configured (or all are paused)")
        }
        print("re-evaluating \(answer.checks) completeness and stale-item check\(answer.checks == 1 ? "" : "s") now")
        guard wait else { return print("then: gapwatch incidents --state open; gapwatch actions   (or rerun with --wait)") }
        let deadline = WallClock.monotonicMillis() + (Units.parseDuration(timeout) ?? 120_000)
        var shown = -1
        while true {
            // A rule has run once its next evaluation moved past the moment we asked.
            let checks = try ReportCodec.decode(Checks.self, from: try client.call("GET", "/v1/checks")).checks
                .filter { ["completeness", "stale_items"].contains($0.kind) && $0.state != "paused" }
            let done = checks.filter { ($0.nextDue ?? .max) > asked }.count
            if done != shown {
                print("[\(elapsedText(WallClock.nowMillis() - asked))] evaluated \(done) / \(checks.count) rules")
                shown = done
            }
            if done >= checks.count { break }
            if WallClock.monotonicMillis() >= deadline {
                print("timed out after \(timeout): \(checks.count - done) rule(s) not evaluated yet; they run as soon as the collector gets to them")
                throw ExitCode(2)
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let queued = try ReportCodec.decode(Actions.self, from: try client.call("GET", "/v1/actions?limit=1000")).actions.filter {
            $0.createdAt >= asked
        }
        print("done: \(queued.count) action\(queued.count == 1 ? "" : "s") queued" + (queued.isEmpty ? "" : ":"))
        for a in queued { print("  \(a.id)  \(a.name)  \(a.key)  \(a.state)") }
        if !queued.isEmpty { print("follow them with: gapwatch actions") }
    }
}
