import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

// One command per question a person asks during an incident (protocol/README.md, "Insight API").

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One screen for the whole system: agents up and down, open incidents, actions in flight, jobs disabled, stuck locks.",
        discussion: """
            Examples:
              gapwatch status
              gapwatch status --json | jq '.open_by_rule'
            """)
    @OptionGroup var client: ClientOptions

    func run() throws {
        guard let o = try client.decoded(SystemOverview.self, "GET", "/v1/overview") else { return }
        print(Self.render(o))
    }

    static func render(_ o: SystemOverview) -> String {
        let now = o.generatedAt
        var out: [String] = []
        let down = o.agents.filter { $0.state == "down" }
        out.append("Gapwatch status at \(TimeParsing.format(now))")
        out.append("")
        out.append(
            "agents      \(o.agents.count) reporting, \(down.count) down"
                + (down.isEmpty
                    ? ""
                    : ": "
                        + down.map { "\($0.id) (last seen \(Units.formatAge(ClampedTime.subtract(now, $0.lastSeen))) ago)" }.joined(separator: ", ")))
        let checks = o.checks.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        out.append("checks      \(checks.isEmpty ? "none configured" : checks)")
        let rules = o.openByRule.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        out.append("incidents   \(o.openByRule.values.reduce(0, +)) open\(rules.isEmpty ? "" : " (\(rules))")")
        let states = o.actionsByState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        out.append("actions     \(o.actionsByState.values.reduce(0, +)) in flight\(states.isEmpty ? "" : " (\(states))")")
        out.append(
            "jobs        \(o.jobs) in inventories, \(o.jobsDisabled) disabled (\(o.jobsDisabledByGapwatch) by Gapwatch), \(o.jobsTargetFailing) on a failing target"
        )
        out.append(
            "locks       \(o.stuckLocks.count) stuck"
                + (o.stuckLocks.isEmpty ? "" : ": " + o.stuckLocks.map { "\($0.name) (\($0.holder ?? "?"))" }.joined(separator: ", ")))
        if !o.openIncidents.isEmpty {
            out.append("")
            out.append(
                renderTable(
                    ["INCIDENT", "RULE", "SUBJECT", "OPENED", "REASON"],
                    o.openIncidents.map { i in
                        [
                            "\(i.id)\(i.escalated ? " !" : "")", i.rule, i.subject, "\(Units.formatAge(ClampedTime.subtract(now, i.openedAt))) ago",
                            i.reason,
                        ]
                    }))
        }
        if !o.actionsInFlight.isEmpty {
            out.append("")
            out.append(
                renderTable(
                    ["ACTION", "STATE", "NAME", "KEY", "DETAIL"], o.actionsInFlight.map { a in [a.id, a.state, a.name, a.key, a.detail] }))
        }
        if o.openIncidents.isEmpty && o.actionsInFlight.isEmpty && down.isEmpty && o.stuckLocks.isEmpty {
            out.append("")
            out.append("all clear: nothing open, nothing in flight")
        }
        return out.joined(separator: "\n")
    }
}

struct GapsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gaps",
        abstract: "Per partition and completeness rule: source count, derived count, gap, ratio and state.",
        discussion: """
            The post-mortem's first query, for every completeness: rule in the collector config. States: ok (complete); gap; healing (an action over the partition is in flight); escalated (its action gave up and a person must look); not due (its period has not ended, plus due_after: it is still filling and is never judged); settling (due, but the source count changed less than settle ago); no rows (neither dataset has rows, and none were expected). Hourly rules list 24 partitions a day.

            Examples:
              gapwatch gaps
              gapwatch gaps --days 14 --check analytics-boxscores
              gapwatch gaps --json
            """)
    @Option(help: "How many dates, today (in each rule's time zone) included: 1 to 366.") var days = 7
    @Option(help: "Only this completeness rule.") var check: String?
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if !(1...366).contains(days) { throw ValidationError("--days must be from 1 to 366") }
    }

    func run() throws {
        var query = [("days", String(days))]
        if let check { query.append(("check", check)) }
        guard let report = try client.decoded(GapReport.self, "GET", "/v1/gaps?" + encodeQuery(query)) else { return }
        if report.checks.isEmpty { return print("no completeness rules are configured (completeness: in the collector config)") }
        for (i, c) in report.checks.enumerated() {
            if i > 0 { print("") }
            print("\(c.name): \(c.source) -> \(c.derived) (min ratio \(c.minRatio))")
            print(
                renderTable(
                    [c.partition == "hour" ? "HOUR" : "DATE", "SOURCE", "DERIVED", "GAP", "RATIO", "STATE", "ACTION"],
                    c.days.reversed().map { d in
                        [
                            d.date, d.sourceCount.map(String.init) ?? "-", d.derivedCount.map(String.init) ?? "-", d.gap > 0 ? String(d.gap) : "0",
                            d.ratio.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                            d.state == "not_due"
                                ? "not due (until \(TimeParsing.format(d.dueAt).prefix(16))Z)" : d.state.replacingOccurrences(of: "_", with: " "),
                            d.actionID ?? "-",
                        ]
                    }))
        }
    }
}

struct StaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stale",
        abstract: "Items past their deadline and not final (e.g. games still In Progress), grouped by status.",
        discussion: """
            Items of every stale_items: rule whose reference time is within --days.

            Examples:
              gapwatch stale
              gapwatch stale --days 7 --json
            """)
    @Option(help: "Reference times within this many days: 1 to 366.") var days = 3
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if !(1...366).contains(days) { throw ValidationError("--days must be from 1 to 366") }
    }

    struct Response: Decodable { var items: [StaleItemInfo] }

    func run() throws {
        guard let items = try client.decoded(Response.self, "GET", "/v1/stale?days=\(days)")?.items else { return }
        if items.isEmpty { return print("nothing stale in the last \(days) day(s)") }
        let now = WallClock.nowMillis()
        let groups = Dictionary(grouping: items, by: \.status)
        for (i, status) in groups.keys.sorted().enumerated() {
            if i > 0 { print("") }
            let group = groups[status]!
            print("\(status): \(group.count)")
            print(
                renderTable(
                    ["ITEM", "RULE", "REFERENCE", "OVERDUE", "LAST SEEN"],
                    group.map { s in
                        [
                            "\(s.itemKind)/\(s.itemID)", s.check, s.referenceTime.map(TimeParsing.format) ?? "-",
                            s.deadline.map { Units.formatAge(ClampedTime.subtract(now, $0)) } ?? "-", agoText(s.lastSeen, now: now),
                        ]
                    }))
        }
    }
}

struct DecisionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decisions",
        abstract: "Workflow decisions (RUN, SKIP, FAIL) with their reasons, newest last.",
        discussion: """
            Examples:
              gapwatch decisions --since 24h
              gapwatch decisions --workflow 'post_game*' --since 24h
              gapwatch decisions --workflow post_game_window_1 --json
            """)
    @Option(help: "A workflow name, or a glob (* any run, ? one character).") var workflow: String?
    @Option(help: "From this long ago (30m, 24h, 7d) or this time.") var since = "24h"
    @Option(help: "At most this many (1 to 1000).") var limit = 200
    @OptionGroup var client: ClientOptions

    func validate() throws {
        _ = try sinceMillis(since)
        if !(1...1000).contains(limit) { throw ValidationError("--limit must be from 1 to 1000") }
    }

    func run() throws {
        let query = [
            ("kind", "decision"), ("subject", "workflow:" + (workflow ?? "*")), ("from", String(try sinceMillis(since))), ("limit", String(limit)),
        ]
        guard let page = try client.decoded(TimelinePage.self, "GET", "/v1/timeline?" + encodeQuery(query)) else { return }
        if page.observations.isEmpty { return print("no decisions match") }
        print(
            renderTable(
                ["OBSERVED", "WORKFLOW", "DECISION", "REASON"],
                page.observations.compactMap { e in
                    guard case .decision(let d) = e.observation.body else { return nil }
                    return [TimeParsing.format(e.observation.observedAt), d.workflow, d.decision.rawValue, d.reason ?? "-"]
                }))
        if page.nextCursor != nil { print("(more: raise --limit or narrow --since)") }
    }
}

/// The story of one subject: `gapwatch timeline SUBJECT`.
func printStory(_ story: SubjectStory) {
    if story.entries.isEmpty { return print("nothing about \(story.subject) in that range") }
    print(
        renderTable(
            ["AT", "WHAT", "DETAIL"],
            story.entries.map { e in
                if let o = e.observation {
                    return [TimeParsing.format(e.at), o.observation.body.kind.rawValue, "\(o.observation.body.summary)  (agent \(o.agentID))"]
                }
                return [TimeParsing.format(e.at), e.source, e.text ?? ""]
            }))
    if story.truncated { print("(more observations in the range: narrow --from/--to)") }
}
