import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

// Fact owners (protocol/README.md, "Fact owners"): who may report which job, lock, dataset and ping.

struct OwnersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "owners",
        abstract: "List who may report which facts, and the refused claims; reassign a fact to another agent.",
        discussion: """
            A scheduler's jobs (and their probes), a lock, a dataset's counts and the pings of a configured check are facts with owners. The collector config's owners: decides who may report them; where it is silent, the first agent that reported a fact owns it until an admin reassigns it. Anything another agent says about the fact is refused one by one (not stored, no effect) and counted.

            Facts are named like timeline subjects: job:NAME, lock:NAME, dataset:NAME, ping:NAME.

            Examples:
              gapwatch owners
              gapwatch owners list --fact 'job:phase1-*'
              gapwatch owners list --agent scheduler-1
              gapwatch owners reassign job:nightly-export scheduler-2     # admin token
            """,
        subcommands: [List.self, Reassign.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List owned facts, the config's owners: rules and the refused claims (read token is enough).",
            discussion: """
                OWNER is the agent whose reports of the fact are accepted; SINCE is when it became the owner; BY is how: its first report, or the admin token that reassigned it. Facts an owners: rule covers are the rule's, listed under Rules.
                """)
        @Option(help: "Only facts matching this glob, e.g. 'job:phase1-*'.") var fact: String?
        @Option(help: "Only facts of this agent, and the claims it was refused.") var agent: String?
        @OptionGroup var client: ClientOptions

        func run() throws {
            var query: [(String, String)] = []
            if let fact { query.append(("fact", fact)) }
            if let agent { query.append(("agent", agent)) }
            let path = "/v1/owners" + (query.isEmpty ? "" : "?" + encodeQuery(query))
            guard let listing = try client.decoded(OwnersListing.self, "GET", path) else { return }
            let now = WallClock.nowMillis()
            if listing.owners.isEmpty {
                print(
                    query.isEmpty ? "no owned facts yet: an agent owns a job, lock, dataset or ping once it first reports it" : "no owned facts match"
                )
            } else {
                print(
                    renderTable(
                        ["FACT", "OWNER", "SINCE", "BY"],
                        listing.owners.map {
                            [$0.fact, $0.agentID, agoText($0.since, now: now), $0.assignedBy.map { "token \($0)" } ?? "first report"]
                        }))
            }
            if !listing.rules.isEmpty {
                print("\nRules (owners: in the collector config):")
                print(
                    renderTable(
                        ["FACTS", "AGENTS", "SERVICE", "LABELS"],
                        listing.rules.map {
                            [
                                $0.facts.joined(separator: ", "), $0.agents.isEmpty ? "-" : $0.agents.joined(separator: ", "), $0.service ?? "-",
                                labelsText($0.labels),
                            ]
                        }))
            }
            if !listing.refused.isEmpty {
                print("\nRefused (observations about facts another agent owns):")
                print(renderRefused(listing.refused, now: now))
            }
        }
    }

    struct Reassign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make another agent the owner of a fact (admin token).",
            discussion: """
                From now on the new owner's reports of the fact are accepted and the previous owner's refused. A fact an owners: rule of the config covers cannot be reassigned here (409): change the config.

                Example:
                  gapwatch owners reassign job:nightly-export scheduler-2
                """)
        @Argument(help: "The fact: job:NAME, lock:NAME, dataset:NAME or ping:NAME.") var fact: String
        @Argument(help: "The agent id that owns it from now on.") var agent: String
        @OptionGroup var client: ClientOptions

        struct Request: Encodable {
            var fact: String
            var agentID: String
            enum CodingKeys: String, SnakeCaseKey {
                case fact, agentID
            }
        }

        func run() throws {
            let body = ReportCodec.encode(Request(fact: fact, agentID: agent))
            guard let owner = try client.decoded(FactOwnerInfo.self, "POST", "/v1/owners", body: body) else { return }
            print("\(owner.fact) is now owned by agent \(owner.agentID)")
        }
    }
}

/// The refused claims, as a table.
func renderRefused(_ refused: [RefusedClaimInfo], now: Millis) -> String {
    renderTable(
        ["AGENT", "FACT", "MAY BE REPORTED BY", "COUNT", "LAST SEQ", "FIRST", "LAST"],
        refused.map { r in
            [r.agentID, r.fact, r.entitled, "\(r.count)", "\(r.lastSeq)", agoText(r.firstAt, now: now), agoText(r.lastAt, now: now)]
        })
}

/// `--label KEY=VALUE` options as a map.
func parseLabels(_ options: [String]) throws -> [String: String] {
    var labels: [String: String] = [:]
    for option in options {
        guard let equals = option.firstIndex(of: "="), equals != option.startIndex else {
            throw ValidationError("--label '\(option)' is not KEY=VALUE (e.g. env=prod)")
        }
        let key = String(option[..<equals])
        guard labels[key] == nil else { throw ValidationError("--label \(key) is given twice") }
        labels[key] = String(option[option.index(after: equals)...])
    }
    return labels
}
