import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit scheduler jobs: every job, its target's health, its last success, and what is wrong with it.",
        discussion: """
            Agents beside schedulers report their job inventories (scheduler: in the agent config); their probes say whether each job's target answers. Flags: target_failing (the target failed its probes `failures` times in a row), no_recent_success (enabled, its scheduler reports runs, none succeeded for audit_no_success_days), disabled_by_gapwatch, missing_from_inventory (the job left its scheduler's listing).

            Examples:
              gapwatch audit jobs
              gapwatch audit jobs --flagged
              gapwatch audit service https://nba-phase1-scrapers-f7p3g7f6ya-wl.a.run.app   # before deleting a service
              gapwatch audit service nba-phase1-scrapers
              gapwatch audit report
            """,
        subcommands: [Jobs.self, Service.self, Report.self], defaultSubcommand: Jobs.self)

    struct Response: Decodable { var jobs: [JobAudit] }

    static func printJobs(_ jobs: [JobAudit], empty: String) {
        guard !jobs.isEmpty else { return print(empty) }
        let now = WallClock.nowMillis()
        print(
            renderTable(
                ["JOB", "ENABLED", "SERVICE", "TARGET", "LAST SUCCESS", "FLAGS"],
                jobs.map { j in
                    [
                        j.name, j.enabled ? "yes" : "no", j.service ?? "-", j.targetHealth + (j.lastProbeDetail.map { " (\($0))" } ?? ""),
                        agoText(j.lastSuccessAt, now: now), j.flags.isEmpty ? "-" : j.flags.joined(separator: ","),
                    ]
                }))
    }

    struct Jobs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every scheduler job with its target health and flags.")
        @Flag(help: "Only jobs with at least one flag.") var flagged = false
        @Option(help: "Only jobs on this service: a URL (same scheme, host and port) or part of one.") var service: String?
        @OptionGroup var client: ClientOptions

        func run() throws {
            var query: [(String, String)] = []
            if let service { query.append(("service", service)) }
            if flagged { query.append(("flagged", "true")) }
            guard let jobs = try client.decoded(Response.self, "GET", "/v1/audit/jobs" + (query.isEmpty ? "" : "?" + encodeQuery(query)))?.jobs
            else { return }
            printJobs(jobs, empty: query.isEmpty ? "no scheduler jobs reported yet: give an agent a scheduler: section" : "no jobs match")
        }
    }

    struct Service: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every job that points at a service: run it before deleting or moving one.",
            discussion:
                "NAME-OR-URL: a URL matches jobs whose target or health URL has the same scheme, host and port; anything else matches jobs whose URL contains it (case-insensitive)."
        )
        @Argument(help: "The service: a URL, or part of its host name.") var service: String
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if service.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("give a service URL or part of one") }
        }

        func run() throws {
            guard let jobs = try client.decoded(Response.self, "GET", "/v1/audit/jobs?" + encodeQuery([("service", service)]))?.jobs else { return }
            printJobs(jobs, empty: "no job points at \(service): nothing scheduled would break if it went away")
            if !jobs.isEmpty {
                let enabled = jobs.filter(\.enabled).count
                print("\n\(jobs.count) job(s) point at \(service); \(enabled) enabled. Disable or repoint them before the service goes away.")
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the scheduler audit report (the one scheduler_targets.audit_report sends to every notification channel).")
        @OptionGroup var client: ClientOptions

        func run() throws {
            struct Answer: Decodable { var text: String }
            guard let answer = try client.decoded(Answer.self, "GET", "/v1/audit/report") else { return }
            print(answer.text)
        }
    }
}

struct LocksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locks",
        abstract: "Show locks agents see (holder, age, expiry, state), or force-release one.",
        discussion: """
            States: free, held, stuck (held past its expiry plus slack, or longer than max_age, by a stuck_locks rule in the collector config; the rule's release: action frees it and is verified by the lock going free or changing holder).

            Examples:
              gapwatch locks
              gapwatch locks release workflow_controller
            """,
        subcommands: [List.self, Release.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every lock seen, with its holder, age, expiry and state.")
        @OptionGroup var client: ClientOptions

        func run() throws {
            struct Response: Decodable { var locks: [LockInfo] }
            guard let locks = try client.decoded(Response.self, "GET", "/v1/locks")?.locks else { return }
            guard !locks.isEmpty else { return print("no locks seen yet: agents report them with a locks: listing or `gapwatch-agent push lock`") }
            let now = WallClock.nowMillis()
            print(
                renderTable(
                    ["LOCK", "STATE", "HOLDER", "AGE", "EXPIRES", "SEEN", "REASON"],
                    locks.map { l in
                        [
                            l.name, l.state, l.holder ?? "-", l.ageMs.map(Units.formatAge) ?? "-",
                            l.expiresAt.map {
                                $0 >= now
                                    ? "in \(Units.formatAge(ClampedTime.subtract($0, now)))" : "\(Units.formatAge(ClampedTime.subtract(now, $0))) ago"
                            } ?? "-",
                            agoText(l.seenAt, now: now), l.reason ?? "-",
                        ]
                    }))
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Force-release a lock through the release action of the stuck_locks rule that covers it (admin token).",
            discussion:
                "The release is an action like any other (gapwatch actions): guardrails apply, it is recorded on the timeline with the token that asked, and it is verified when the lock goes free or changes holder. Refused: an unknown or free lock, no rule with a release: action covering it, or a release already in flight."
        )
        @Argument(help: "The lock's name, as in `gapwatch locks`.") var name: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            guard let action = try client.decoded(ActionInfo.self, "POST", "/v1/locks/\(pathSegment(name))/release") else { return }
            print("queued \(action.id): \(action.name) releases \(name) (held by \(action.parameters["holder"] ?? "?")): \(action.state)")
            print("follow it with: gapwatch actions show \(action.id)")
        }
    }
}
