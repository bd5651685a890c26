import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCollector  // knownRuleNames, for `silence add --rule`
import GapwatchCommandSupport
import GapwatchProtocol

// Detection: checks, incidents, silences and the workflow gaps table (protocol/README.md, "Detection API").

/// A point in time from a flag: a duration means that long ago (`24h` is now minus 24 hours);
/// anything else is RFC 3339, a date (its midnight UTC) or milliseconds since 1970.
func parsePastTime(_ text: String, now: Millis = WallClock.nowMillis()) -> Millis? {
    if let ms = Units.parseDuration(text) { return ClampedTime.subtract(now, ms) }
    return TimeParsing.parse(text)
}

/// `--since` as the query string wants it (ms), or a validation error.
func sinceMillis(_ text: String) throws -> Millis {
    guard let t = parsePastTime(text) else {
        throw ValidationError("--since '\(text)' is neither a duration (30m, 24h, 7d) nor a time (RFC 3339, a date, ms since 1970)")
    }
    return t
}

/// "5m ago", or "-" when it never happened.
func agoText(_ t: Millis?, now: Millis) -> String {
    t.map { "\(Units.formatAge(ClampedTime.subtract(now, $0))) ago" } ?? "-"
}

func labelsText(_ labels: [String: String]) -> String {
    labels.isEmpty ? "-" : labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
}

extension ClientOptions {
    /// Calls the collector; with --json prints the raw answer and returns nil, else decodes it.
    func decoded<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, body: [UInt8]? = nil) throws -> T? {
        let answer = try call(method, path, body: body)
        if json {
            printJSON(answer)
            return nil
        }
        return try ReportCodec.decode(T.self, from: answer)
    }
}

// MARK: checks

struct ChecksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checks",
        abstract: "List checks (heartbeat checks, agents' liveness, run expectations); pause and resume them.",
        discussion: """
            Checks come from the collector config (checks:, expectations:), plus one liveness check per agent (agent:ID). States: new (never pinged yet), up, down, paused; "(late)" means past due but still within grace.

            Examples:
              gapwatch checks
              gapwatch checks --json
              gapwatch checks pause nightly-export    # admin token
              gapwatch checks resume nightly-export
            """,
        subcommands: [List.self, Pause.self, Resume.self], defaultSubcommand: List.self)

    struct Response: Decodable { var checks: [CheckInfo] }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every check with its state, last ping, expectation and reason (read token is enough).",
            discussion: """
                Examples:
                  gapwatch checks list
                  gapwatch checks --json | jq '.checks[] | select(.state == "down")'
                """)
        @OptionGroup var client: ClientOptions

        func run() throws {
            guard let checks = try client.decoded(Response.self, "GET", "/v1/checks")?.checks else { return }
            if checks.isEmpty { return print("no checks: declare checks: or expectations: in the collector config, or start an agent") }
            let now = WallClock.nowMillis()
            print(
                renderTable(
                    ["NAME", "KIND", "STATE", "LAST PING", "EXPECTS", "REASON"],
                    checks.map { c in
                        [c.name, c.kind, c.state + (c.late ? " (late)" : ""), agoText(c.lastPingAt, now: now), c.expects, c.reason]
                    }))
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a check: it is not evaluated and its open incident is resolved (admin token).",
            discussion: """
                A paused check stays paused across collector restarts until it is resumed. For a maintenance window that should end by itself, prefer `gapwatch silence add`.

                Example:
                  gapwatch checks pause nightly-export
                """)
        @Argument(help: "Check name, as in `gapwatch checks`.") var name: String
        @OptionGroup var client: ClientOptions

        func run() throws { try ChecksCommand.changeCheck(name, action: "pause", client: client) }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused check as new: it is due one period from now (admin token).",
            discussion: """
                Pings observed while it was paused do not count: the check starts afresh.

                Example:
                  gapwatch checks resume nightly-export
                """)
        @Argument(help: "Check name, as in `gapwatch checks`.") var name: String
        @OptionGroup var client: ClientOptions

        func run() throws { try ChecksCommand.changeCheck(name, action: "resume", client: client) }
    }

    static func changeCheck(_ name: String, action: String, client: ClientOptions) throws {
        let found: CheckInfo?
        do {
            found = try client.decoded(CheckInfo.self, "POST", "/v1/checks/\(pathSegment(name))/\(action)")
        } catch let error as CLIError where name.contains("/") {
            throw CLIError("\(error) (this collector cannot address a check whose name contains '/')")
        }
        guard let check = found else { return }
        print("\(action == "pause" ? "paused" : "resumed") \(check.name): \(check.state) (\(check.reason))")
    }
}

/// A check name as one path segment: ':' stays as is, '/' is percent-encoded.
func pathSegment(_ text: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove("/")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

// MARK: incidents

struct IncidentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "List incidents, or show one with its events and notification deliveries.",
        discussion: """
            An incident opens when a check goes down (rule heartbeat, liveness or workflow_gap) and resolves when the check comes back, is paused or is removed from the config. NOTIFY says whether its opening reached a notification channel.

            Examples:
              gapwatch incidents                          # newest first, at most 100
              gapwatch incidents --state open
              gapwatch incidents --since 7d --limit 500
              gapwatch incidents --since 2026-01-22T00:00:00Z --json
              gapwatch incidents show 42
            """,
        subcommands: [List.self, Show.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List incidents, newest first.",
            discussion: """
                --since keeps the incidents that were open at any time since then: opened after it, still open, or resolved after it.

                Examples:
                  gapwatch incidents list --state open
                  gapwatch incidents --since 24h
                """)
        @Option(help: "open or resolved.") var state: String?
        @Option(help: "Incidents open at any time since then: a duration back from now (30m, 24h, 7d) or a time (RFC 3339, a date, ms).")
        var since: String?
        @Option(help: "At most this many (1 to 1000; the collector's default is 100).") var limit: Int?
        @OptionGroup var client: ClientOptions

        struct Response: Decodable { var incidents: [IncidentInfo] }

        func validate() throws {
            if let state, !["open", "resolved"].contains(state) { throw ValidationError("--state '\(state)' is not one of open, resolved") }
            if let since { _ = try sinceMillis(since) }
            if let limit, !(1...1000).contains(limit) { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() throws {
            var query: [(String, String)] = []
            if let state { query.append(("state", state)) }
            if let since { query.append(("since", String(try sinceMillis(since)))) }
            if let limit { query.append(("limit", String(limit))) }
            let path = "/v1/incidents" + (query.isEmpty ? "" : "?" + encodeQuery(query))
            guard let incidents = try client.decoded(Response.self, "GET", path)?.incidents else { return }
            if incidents.isEmpty { return print("no incidents match") }
            print(
                renderTable(
                    ["ID", "STATE", "RULE", "SUBJECT", "OPENED", "RESOLVED", "NOTIFY", "REASON"],
                    incidents.map { i in
                        [
                            "\(i.id)", i.state, i.rule, i.subject, TimeParsing.format(i.openedAt), i.resolvedAt.map(TimeParsing.format) ?? "-",
                            i.notified ? "notified" : "-", i.reason,
                        ]
                    }))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one incident: its fields, every event with its notify state, and every delivery.",
            discussion: """
                Each event (opened, resolved, reminder, updated) has a notify state: pending, sent, failed, silenced, suppressed or not_needed (protocol/README.md explains them). Each delivery is one channel's record for that event: sent, retrying or failed, with its attempts and the last answer.

                Example:
                  gapwatch incidents show 42
                """)
        @Argument(help: "Incident id (a number, the ID column of `gapwatch incidents`).") var id: Int64
        @OptionGroup var client: ClientOptions

        func run() throws {
            guard let i = try client.decoded(IncidentInfo.self, "GET", "/v1/incidents/\(id)") else { return }
            let now = WallClock.nowMillis()
            var lines = [
                "incident \(i.id): \(i.state)",
                "rule:      \(i.rule)",
                "subject:   \(i.subject)",
                "opened:    \(TimeParsing.format(i.openedAt)) (\(agoText(i.openedAt, now: now)))",
                "resolved:  \(i.resolvedAt.map { "\(TimeParsing.format($0)) (\(agoText($0, now: now)))" } ?? "-")",
                "reason:    \(i.reason)",
                "labels:    \(labelsText(i.labels))",
                "notified:  \(i.notified ? "yes: resolution and reminders are sent too" : "no")",
            ]
            if let agent = i.feederAgentID { lines.append("feeder:    agent \(agent) (its liveness decides whether this pages)") }
            print(lines.joined(separator: "\n"))
            let events = i.events ?? []
            print("\nevents:")
            if events.isEmpty { return print("  none") }
            for e in events {
                let change = "\(e.oldState ?? "-") → \(e.newState)"
                let attempts = e.attempts == 0 ? "" : ", \(e.attempts) attempt\(e.attempts == 1 ? "" : "s")"
                print(
                    "  #\(e.id)  \(TimeParsing.format(e.at))  \(e.event)  \(change)  notify: \(e.notify)\(e.notifyDetail.map { " (\($0))" } ?? "")\(attempts)"
                )
                print("      \(e.reason)")
                if e.deliveries.isEmpty { continue }
                let table = renderTable(
                    ["CHANNEL", "STATE", "ATTEMPTS", "LAST ATTEMPT", "DETAIL"],
                    e.deliveries.map { d in [d.channel, d.state, "\(d.attempts)", TimeParsing.format(d.lastAttemptAt), d.detail] })
                print(table.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
            }
        }
    }
}

// MARK: silences

struct SilenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "silence",
        abstract: "Maintenance windows: matching incidents are recorded but not notified.",
        discussion: """
            A silence matches an incident when every part it gives matches: the rule (\(knownRuleNames.joined(separator: ", "))), the subject (a pattern where * matches any run of characters) and the labels. A silenced opening or reminder is recorded, not sent; the resolution of an incident whose opening was sent is always sent.

            Examples:
              gapwatch silence add --subject 'check:nightly-*' --duration 2h \\
                --comment "db migration"
              gapwatch silence add --rule liveness --label service=nba-scrapers \\
                --starts 2026-01-24T02:00:00Z --until 2026-01-24T04:00:00Z \\
                --comment "VM resize"
              gapwatch silence list
              gapwatch silence remove 3
            """,
        subcommands: [Add.self, List.self, Remove.self], defaultSubcommand: List.self)

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a silence (admin token). Give --duration or --until, and a --comment.",
            discussion: """
                Give at least one of --rule, --subject, --label: a silence of everything is refused. Times are RFC 3339, a date (its midnight UTC) or ms since 1970. A silence lasts at most 366 days.

                Subjects: check:NAME (heartbeat checks), agent:ID (liveness), expectation:NAME (workflow_gap). Incident labels: the check's labels from the config, plus check (and agent, when one agent alone feeds it) for heartbeat, agent and service for liveness, workflow and expectation for workflow_gap.

                Examples:
                  gapwatch silence add --subject check:nightly-export --duration 2h \\
                    --comment "rerunning by hand"
                  gapwatch silence add --label team=data --until 2026-01-25 \\
                    --comment "staging rebuild"
                  gapwatch silence add --rule workflow_gap \\
                    --subject 'expectation:post_game_*' \\
                    --starts 2026-01-24T18:00:00Z --duration 8h --comment "no games"
                """)
        @Option(help: "Only incidents of this rule: \(knownRuleNames.joined(separator: ", ")).") var rule: String?
        @Option(help: "Only incidents whose subject matches this pattern (* matches anything), e.g. 'check:nightly-*', 'agent:scrapers-1'.")
        var subject: String?
        @Option(help: "Only incidents with this label (KEY=VALUE); repeat for several, all must match.") var label: [String] = []
        @Option(help: "How long from the start, e.g. 30m, 2h, 1d.") var duration: String?
        @Option(help: "When it ends (RFC 3339, a date, or ms since 1970).") var until: String?
        @Option(help: "When it starts (RFC 3339, a date, or ms since 1970). Default: now.") var starts: String?
        @Option(help: "Why: shown in `gapwatch silence list` and on silenced events.") var comment: String
        @OptionGroup var client: ClientOptions

        func validate() throws {
            switch (duration, until) {
            case (nil, nil): throw ValidationError("give --duration (e.g. 2h) or --until TIME")
            case (_?, _?): throw ValidationError("give --duration or --until, not both")
            default: break
            }
            if let duration, (Units.parseDuration(duration) ?? 0) <= 0 {
                throw ValidationError("--duration '\(duration)' is not a duration (e.g. 30m, 2h, 1d)")
            }
            for (flag, value) in [("--until", until), ("--starts", starts)] {
                if let value, TimeParsing.parse(value) == nil {
                    throw ValidationError("\(flag) '\(value)' is not a time (RFC 3339, a date, or ms since 1970)")
                }
            }
            if rule == nil && subject == nil && label.isEmpty {
                throw ValidationError("give at least one of --rule, --subject, --label: a silence of everything is refused")
            }
            _ = try labels()
        }

        func labels() throws -> [String: String] { try parseLabels(label) }

        func run() throws {
            let labels = try labels()
            let request = SilenceRequest(
                rule: rule, subject: subject, labels: labels.isEmpty ? nil : labels, startsAt: starts, endsAt: until, duration: duration,
                comment: comment)
            guard let s = try client.decoded(SilenceInfo.self, "POST", "/v1/silences", body: ReportCodec.encode(request)) else { return }
            print("silence \(s.id) \(s.status): \(TimeParsing.format(s.startsAt)) to \(TimeParsing.format(s.endsAt))")
            print("remove it early with: gapwatch silence remove \(s.id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List active and pending silences; --all adds expired and deleted ones.",
            discussion: """
                Examples:
                  gapwatch silence list
                  gapwatch silence list --all --json
                """)
        @Flag(help: "Also expired and deleted silences.") var all = false
        @OptionGroup var client: ClientOptions

        struct Response: Decodable { var silences: [SilenceInfo] }

        func run() throws {
            guard let silences = try client.decoded(Response.self, "GET", "/v1/silences" + (all ? "?all=true" : ""))?.silences else { return }
            if silences.isEmpty { return print(all ? "no silences" : "no active or pending silences (--all shows ended ones)") }
            print(
                renderTable(
                    ["ID", "STATUS", "RULE", "SUBJECT", "LABELS", "STARTS", "ENDS", "CREATED BY", "COMMENT"],
                    silences.map { s in
                        [
                            "\(s.id)", s.status, s.rule ?? "*", s.subject ?? "*", labelsText(s.labels), TimeParsing.format(s.startsAt),
                            TimeParsing.format(s.endsAt), s.createdBy, s.comment,
                        ]
                    }))
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a silence now (admin token); `silence list --all` still shows it, as deleted.",
            discussion: """
                Example:
                  gapwatch silence remove 3
                """)
        @Argument(help: "Silence id (the ID column of `gapwatch silence list`).") var id: Int64
        @OptionGroup var client: ClientOptions

        func run() throws {
            _ = try client.call("DELETE", "/v1/silences/\(id)")
            print("removed silence \(id)")
        }
    }
}

// MARK: workflows

struct WorkflowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflows", abstract: "Workflow run expectations: which expected runs happened.",
        discussion: """
            Run expectations are declared in the collector config (expectations:): workflow W must show a RUN decision in each run window.

            Examples:
              gapwatch workflows gaps --since 7d
              gapwatch workflows --json               # gaps is the default
            """,
        subcommands: [Gaps.self], defaultSubcommand: Gaps.self)

    struct Gaps: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per expectation and hour (UTC): expected runs, RUN/SKIP/FAIL decisions seen, missed windows and how many were healed.",
            discussion: """
                One row per run expectation (expectations: in the collector config) and UTC hour. EXPECTED counts the run windows that opened in the hour, have closed, and were expected (an only_when condition can rule a window out); MISSED counts those of them that closed with no RUN; HEALED those of the missed ones whose rerun action ran and was verified (a RUN came afterwards); GAPS the missed ones still not healed. RUNS, SKIPS and FAILS count the workflow's decisions observed in the hour; REASONS are the distinct SKIP and FAIL reasons. Hours with nothing in them are left out.

                Examples:
                  gapwatch workflows gaps                  # the last 24 hours
                  gapwatch workflows gaps --since 7d       # at most 31 days back
                  gapwatch workflows gaps --since 2026-01-20 --json
                """)
        @Option(help: "From then to now: a duration back from now (24h, 7d) or a time (RFC 3339, a date, ms). Default: 24h.")
        var since: String?
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if let since { _ = try sinceMillis(since) }
        }

        func run() throws {
            let query = try since.map { "?" + encodeQuery([("since", String(try sinceMillis($0)))]) } ?? ""
            guard let report = try client.decoded(WorkflowGapsReport.self, "GET", "/v1/workflows/gaps" + query) else { return }
            let range = "\(TimeParsing.format(report.since)) to \(TimeParsing.format(report.until))"
            if report.hours.isEmpty { return print("no expected runs or decisions from \(range) (expectations: in the collector config)") }
            print("from \(range)")
            print(
                renderTable(
                    ["EXPECTATION", "WORKFLOW", "HOUR", "EXPECTED", "RUNS", "SKIPS", "FAILS", "MISSED", "HEALED", "GAPS", "REASONS"],
                    report.hours.map { h in
                        [
                            h.expectation, h.workflow, TimeParsing.format(h.hour), "\(h.expected)", "\(h.runs)", "\(h.skips)", "\(h.fails)",
                            "\(h.gaps)", "\(h.healed)", "\(h.unhealed)", h.reasons.isEmpty ? "-" : h.reasons.joined(separator: "; "),
                        ]
                    }))
        }
    }
}
