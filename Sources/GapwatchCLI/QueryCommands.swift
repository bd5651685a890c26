import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

struct AgentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "List the agents that have reported, with last seen, last seq, drops, refused observations and clock skew; and the rejected ones.",
        discussion: """
            SERVICE is what the agent's token or the collector config vouches for (bound, never a report's claim; check filters and owners: match it), else the report's claim in parentheses. REFUSED counts its observations refused because another agent owns their fact (a job, a lock, a dataset, a configured check's ping); they are listed below by fact, with who may report it (gapwatch owners shows every owner).

            Rejected: callers whose reports the collector refused (401: missing, unknown or revoked token; 403: a token bound to another agent id, or a read token; 429 new_agent_rate: a new agent id from a fleet token past fleet.new_agents_per_hour), by claimed agent id, token id, source address and reason, with how often and when. The claimed id is the caller's word: the report's agent.id, or the Gapwatch-Agent-Id header agents send beside a refused token.

            Streams: an agent's commands go to the one stream (spool) its id is bound to. --streams AGENT lists its streams; --rebind AGENT (admin) moves its commands to its most recently seen stream, or to --stream N (e.g. after its spool folder was recreated while a fleet token's old stream holds the binding).
            """)

    @OptionGroup var client: ClientOptions

    @Option(help: "List this agent's streams (spools) and which one gets its commands.")
    var streams: String?

    @Option(help: "Move this agent's commands to its most recently seen stream, or to --stream (admin token).")
    var rebind: String?

    @Option(help: "With --rebind: the stream number (from --streams).")
    var stream: Int64?

    struct StreamsResponse: Decodable {
        var streams: [AgentStreamInfo]
    }

    func validate() throws {
        if streams != nil && rebind != nil { throw ValidationError("give --streams or --rebind, not both") }
        if stream != nil && rebind == nil { throw ValidationError("--stream goes with --rebind AGENT") }
    }

    /// `--streams` and `--rebind`: one agent's streams.
    func runStreams() throws {
        let body: [UInt8]
        if let agent = rebind {
            let ask = stream.map { "{\"stream\":\($0)}" } ?? "{}"
            body = try client.call("POST", "/v1/agents/\(agent)/rebind", body: Array(ask.utf8))
        } else {
            body = try client.call("GET", "/v1/agents/\(streams ?? "")/streams")
        }
        if client.json { return printJSON(body) }
        let now = WallClock.nowMillis()
        let list = try ReportCodec.decode(StreamsResponse.self, from: body).streams
        print(
            renderTable(
                ["STREAM", "SPOOL", "ROTATED FROM", "FIRST SEEN", "LAST SEEN", "LAST SEQ", "COMMANDS"],
                list.map { s in
                    [
                        "\(s.stream)", s.spoolPrefix + "…", s.previousSpoolPrefix.map { $0 + "…" } ?? "-",
                        "\(Units.formatAge(now - s.firstSeen)) ago",
                        "\(Units.formatAge(now - s.lastSeen)) ago", "\(s.lastSeq)", s.bound ? "yes" : "",
                    ]
                }))
    }

    struct Response: Decodable {
        var agents: [AgentInfo]
        var rejected: [RejectedAgentInfo]?
        var clockToleranceMs: Millis?

        enum CodingKeys: String, SnakeCaseKey {
            case agents, rejected, clockToleranceMs
        }
    }

    func run() throws {
        if streams != nil || rebind != nil { return try runStreams() }
        let body = try client.call("GET", "/v1/agents")
        if client.json { return printJSON(body) }
        let response = try ReportCodec.decode(Response.self, from: body)
        let agents = response.agents
        let rejected = response.rejected ?? []
        let now = WallClock.nowMillis()
        if agents.isEmpty {
            print("no agent has reported yet")
        } else {
            print(
                renderTable(
                    ["AGENT", "SERVICE", "HOST", "VERSION", "LAST SEEN", "LAST SEQ", "DROPPED", "REFUSED", "CLOCK"],
                    agents.map { a in
                        [
                            a.id, a.boundService ?? (a.service.isEmpty ? "-" : "(\(a.service))"), a.host, a.version,
                            "\(Units.formatAge(ClampedTime.subtract(now, a.lastSeen))) ago", "\(a.lastSeq)",
                            "\(ClampedTime.add(a.droppedOverflow, a.droppedCorrupt))", "\(a.refused)",
                            Self.clock(a, toleranceMs: response.clockToleranceMs),
                        ]
                    }))
        }
        if agents.contains(where: { $0.refused > 0 }) {
            let refused = try ReportCodec.decode(OwnersListing.self, from: try client.call("GET", "/v1/owners")).refused
            print("\nRefused (observations about facts another agent owns; not stored, acknowledged to the agent):")
            print(renderRefused(refused, now: now))
        }
        guard !rejected.isEmpty else { return }
        print("\nRejected (reports refused with 401/403/429, newest first):")
        print(
            renderTable(
                ["CLAIMED AGENT", "TOKEN", "SOURCE", "REASON", "COUNT", "FIRST SEEN", "LAST SEEN"],
                rejected.map { r in
                    [
                        r.claimedAgentID.isEmpty ? "-" : r.claimedAgentID, r.tokenID ?? "-", r.source.isEmpty ? "-" : r.source, r.reason.rawValue,
                        "\(r.count)", "\(Units.formatAge(ClampedTime.subtract(now, r.firstSeen))) ago",
                        "\(Units.formatAge(ClampedTime.subtract(now, r.lastSeen))) ago",
                    ]
                }))
    }
}

extension AgentsCommand {
    /// "+120ms ok", "3h 12m ahead: OFF (over 5m); 40 corrected, 2 refused".
    static func clock(_ agent: AgentInfo, toleranceMs: Millis?) -> String {
        let skew = agent.clockSkewMs
        let size = skew == .min ? Units.formatAge(.max) : Units.formatAge(skew < 0 ? -skew : skew)
        var text: String
        if let tolerance = toleranceMs, skew > tolerance || skew < -tolerance {
            text = "\(size) \(skew < 0 ? "ahead" : "behind"): OFF (over \(Units.formatDuration(tolerance)))"
        } else {
            text = "\(skew)ms" + (toleranceMs == nil ? "" : " ok")
        }
        var counts: [String] = []
        if agent.clockCorrected > 0 { counts.append("\(agent.clockCorrected) corrected") }
        if agent.clockRefused > 0 { counts.append("\(agent.clockRefused) refused") }
        if !counts.isEmpty { text += "; " + counts.joined(separator: ", ") }
        return text
    }
}

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Tell the story of one subject (its observations, incidents and actions), or list observations by filter.",
        discussion: """
            With a SUBJECT argument: everything about it in time order, its observations with the incidents and actions about it inline (default: the last 7 days). With filters instead: observations only, in time order.

            Subjects are typed names: ping:NAME, job:NAME, target:URL, dataset:NAME, item:KIND/ID, workflow:NAME, lock:NAME, action:ID, agent:ID. --subject also takes a glob (workflow:post_game*). Times are RFC 3339, a date, or ms since 1970.

            Examples:
              gapwatch timeline dataset:nba_analytics.player_game_summary
              gapwatch timeline job:execute-workflows --since 3d
              gapwatch timeline --since 24h --kind decision
              gapwatch timeline --subject 'workflow:post_game*' --service nba-orchestrator --label env=prod
              gapwatch timeline --subject dataset:nba_raw.bdl_player_boxscores --from 2026-01-20 --to 2026-01-23 --json
            """)

    @Argument(help: "The subject whose story to tell, e.g. dataset:nba_analytics.player_game_summary.")
    var subjectArgument: String?

    @Option(help: "Only this subject, or a glob of subjects (observations only).")
    var subject: String?

    @Option(help: "Only observations from agents of this service.")
    var service: String?

    @Option(help: "Only observations from agents with this label, KEY=VALUE (repeatable).")
    var label: [String] = []

    @Option(help: "Only this kind: \(ObservationKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: String?

    @Option(help: "Only observations from this agent id.")
    var agent: String?

    @Option(help: "From this time (inclusive).")
    var from: String?

    @Option(help: "Up to this time (exclusive).")
    var to: String?

    @Option(help: "Shorthand for --from: this long ago (e.g. 30m, 24h, 7d).")
    var since: String?

    @Option(help: "At most this many observations (follows pages).")
    var limit: Int = 200

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if subject != nil && subjectArgument != nil { throw ValidationError("give the subject once: as an argument or with --subject") }
        if since != nil && from != nil { throw ValidationError("--since and --from both set the start; use one") }
        if let since, Units.parseDuration(since) == nil { throw ValidationError("--since '\(since)' is not a duration (e.g. 30m, 24h, 7d)") }
        if limit < 1 { throw ValidationError("--limit must be 1 or more") }
        for l in label where !l.contains("=") || l.hasPrefix("=") { throw ValidationError("--label '\(l)' is not KEY=VALUE (e.g. env=prod)") }
        if subjectArgument != nil && (kind != nil || agent != nil || service != nil || !label.isEmpty) {
            throw ValidationError(
                "a SUBJECT argument tells that subject's whole story; to filter observations use --subject with --kind, --agent, --service or --label"
            )
        }
    }

    func run() throws {
        if let subjectArgument { return try story(subjectArgument) }
        var query: [(String, String)] = []
        if let s = subject ?? subjectArgument { query.append(("subject", s)) }
        if let kind { query.append(("kind", kind)) }
        if let agent { query.append(("agent", agent)) }
        if let service { query.append(("service", service)) }
        for l in label { query.append(("label", l)) }
        if let since, let ms = Units.parseDuration(since) { query.append(("from", String(WallClock.nowMillis() - ms))) }
        if let from { query.append(("from", from)) }
        if let to { query.append(("to", to)) }
        var entries: [TimelineEntry] = []
        var cursor: String?
        repeat {
            var q = query + [("limit", String(min(1000, limit - entries.count)))]
            if let cursor { q.append(("cursor", cursor)) }
            let page = try ReportCodec.decode(TimelinePage.self, from: try client.call("GET", "/v1/timeline?" + encodeQuery(q)))
            entries += page.observations
            cursor = page.nextCursor
        } while cursor != nil && entries.count < limit
        if client.json {
            return printJSON(ReportCodec.encodePretty(entries))
        }
        if entries.isEmpty { return print("no observations match") }
        print(
            renderTable(
                ["OBSERVED", "AGENT", "SEQ", "KIND", "SUBJECT", "DETAIL"],
                entries.map { e in
                    [
                        TimeParsing.format(e.observation.observedAt), e.agentID, "\(e.observation.seq)", e.observation.body.kind.rawValue,
                        e.subject, e.observation.body.summary,
                    ]
                }))
    }
}

extension TimelineCommand {
    func story(_ subject: String) throws {
        var query = [("subject", subject), ("limit", String(min(1000, limit)))]
        if let since, let ms = Units.parseDuration(since) { query.append(("from", String(WallClock.nowMillis() - ms))) }
        if let from { query.append(("from", from)) }
        if let to { query.append(("to", to)) }
        guard let story = try client.decoded(SubjectStory.self, "GET", "/v1/story?" + encodeQuery(query)) else { return }
        printStory(story)
    }
}

/// One line of the kind-specific fields, for tables.
func encodeQuery(_ items: [(String, String)]) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return items.map { k, v in
        "\(k)=\(v.addingPercentEncoding(withAllowedCharacters: allowed) ?? v)"
    }.joined(separator: "&")
}

struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Issue, list and revoke API tokens (admin token needed).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a token; its secret is printed once.",
            discussion: """
                Kinds: admin (everything), agent (reports for one --agent-id), fleet (reports for any agent id),
                read (GET endpoints only).

                --service and --label bind what the agents reporting with an agent or fleet token are: check filters
                (service:, agent_labels:) and owners: rules match these, never the service and labels a report claims.

                Examples:
                  gapwatch tokens create --kind agent --agent-id scrapers-1 --service nba-scrapers --label env=prod
                  gapwatch tokens create --kind fleet --label role=scraper --name "scraper fleet"
                """)
        @Option(help: "admin, agent, fleet or read.") var kind: String
        @Option(help: "The agent id an agent token is bound to.") var agentId: String?
        @Option(help: "The service the token's agents are (agent and fleet tokens).") var service: String?
        @Option(help: "A label the token's agents carry, KEY=VALUE (repeatable; agent and fleet tokens).") var label: [String] = []
        @Option(help: "A note saying what the token is for.") var name: String?
        @OptionGroup var client: ClientOptions

        struct Request: Encodable {
            var kind: String
            var agentID: String?
            var name: String?
            var service: String?
            var labels: [String: String]?
            enum CodingKeys: String, SnakeCaseKey {
                case kind, name, service, labels, agentID
            }
        }

        func validate() throws {
            guard TokenKind(rawValue: kind) != nil else {
                throw ValidationError("--kind '\(kind)' is not one of admin, agent, fleet, read")
            }
            _ = try parseLabels(label)
        }

        func run() throws {
            let labels = try parseLabels(label)
            let body = Request(kind: kind, agentID: agentId, name: name, service: service, labels: labels.isEmpty ? nil : labels)
            let response = try client.call("POST", "/v1/tokens", body: ReportCodec.encode(body))
            if client.json { return printJSON(response) }
            let issued = try ReportCodec.decode(IssuedToken.self, from: response)
            print("id:    \(issued.info.id)\nkind:  \(issued.info.kind.rawValue)")
            if let agent = issued.info.agentID { print("agent: \(agent)") }
            if let service = issued.info.service { print("service: \(service)") }
            if let labels = issued.info.labels { print("labels: \(labelsText(labels))") }
            print("token: \(issued.token)\n(shown only now; store it where the agent reads collector.token_file)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var client: ClientOptions
        struct Response: Decodable { var tokens: [TokenInfo] }

        func run() throws {
            let body = try client.call("GET", "/v1/tokens")
            if client.json { return printJSON(body) }
            let tokens = try ReportCodec.decode(Response.self, from: body).tokens
            print(
                renderTable(
                    ["ID", "KIND", "AGENT", "SERVICE", "LABELS", "NAME", "CREATED", "REVOKED"],
                    tokens.map {
                        [
                            $0.id, $0.kind.rawValue, $0.agentID ?? "-", $0.service ?? "-", $0.labels.map(labelsText) ?? "-", $0.name,
                            TimeParsing.format($0.createdAt), $0.revokedAt.map(TimeParsing.format) ?? "-",
                        ]
                    }))
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once; agents using other tokens carry on.")
        @Argument(help: "Token id (tok_...).") var id: String
        @OptionGroup var client: ClientOptions

        func run() throws {
            _ = try client.call("DELETE", "/v1/tokens/\(id)")
            print("revoked \(id)")
        }
    }
}
