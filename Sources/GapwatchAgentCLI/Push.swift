import ArgumentParser
import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the running agent listens.
struct EndpointOptions: ParsableArguments {
    @Option(help: "The agent's local endpoint, e.g. http://127.0.0.1:7071. Default: $GAPWATCH_AGENT_URL, else http://127.0.0.1:7071.")
    var agentURL: String?

    @Option(
        name: .customLong("config"),
        help: "Read the endpoint from this agent config's `listen` instead, and its push token from `listen_token_file`.")
    var configPath: String?

    @Flag(name: .shortAndLong, help: "Print the seq the agent assigned.")
    var verbose = false

    /// The agent's URL and its push token: from --agent-url or the config's `listen`, else
    /// $GAPWATCH_AGENT_URL; the token from the config's `listen_token_file`, else $GAPWATCH_PUSH_TOKEN.
    func resolved() throws -> AgentEndpoint {
        let environment = currentEnvironment()
        let config = try configPath.map { try loadConfig($0) }
        var token = environment["GAPWATCH_PUSH_TOKEN"].map(\.trimmed).flatMap { $0.isEmpty ? nil : $0 }
        if let file = config?.listenTokenFile {
            do {
                token = try PushToken.read(file, requirePrivate: false)
            } catch {
                printError(error.message)
                throw ExitCode(exitConfigError)
            }
        }
        let url: String
        if let agentURL {
            url = trimSlash(agentURL)
        } else if let config {
            url = config.listen.url
        } else if let env = environment["GAPWATCH_AGENT_URL"], !env.isEmpty {
            url = trimSlash(env)
        } else {
            url = "http://127.0.0.1:7071"
        }
        return AgentEndpoint(url: url, token: token)
    }

    private func trimSlash(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}

/// Options every push shares.
struct PushOptions: ParsableArguments {
    @OptionGroup var endpoint: EndpointOptions

    @Option(help: "When it happened: milliseconds since 1970 or RFC 3339 (2026-01-22T19:00:00Z). Default: now, by the agent's clock.")
    var observedAt: String?
}

/// The body of `POST /v1/observations`: the observation's fields and an optional `observed_at`.
struct PushBody: Encodable {
    var body: ObservationBody
    var observedAt: Millis?

    enum CodingKeys: String, CodingKey { case observedAt = "observed_at" }

    func encode(to encoder: any Encoder) throws {
        try body.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(observedAt, forKey: .observedAt)
    }
}

/// Where the running agent listens, and the token its push endpoint wants (nil: none).
struct AgentEndpoint {
    var url: String
    var token: String?
}

enum AgentClient {
    /// Sends `method path` to the local agent (with its push token), or exits 1 with a one-line reason.
    static func send(_ method: String, _ path: String, json: [UInt8]? = nil, to endpoint: AgentEndpoint) throws -> HTTPResponse {
        var headers: [(String, String)] = json == nil ? [] : [("Content-Type", "application/json")]
        if let token = endpoint.token { headers.append(("Authorization", "Bearer \(token)")) }
        return try send(HTTPRequest(method: method, url: endpoint.url + path, headers: headers, body: json), baseURL: endpoint.url)
    }

    static func send(_ request: HTTPRequest, baseURL: String) throws -> HTTPResponse {
        HTTPClient.globalInit(tls: baseURL.hasPrefix("https://"))
        let client = HTTPClient(connectTimeoutMs: 3_000, timeoutMs: 15_000)
        do {
            return try client.send(request)
        } catch {
            let reason: String
            switch error.code {
            case 7: reason = "connection refused (is gapwatch-agent running?)"
            case 28: reason = "timed out"
            case 6: reason = "cannot resolve the host"
            default: reason = error.message
            }
            printError("cannot reach the agent at \(baseURL): \(reason)")
            throw ExitCode(1)
        }
    }

    /// Pushes one observation; returns only after the agent answered 200.
    static func push(_ body: ObservationBody, options: PushOptions) throws {
        do {
            try body.validate(path: "")
        } catch {
            let field = error.field.hasPrefix(".") ? String(error.field.dropFirst()) : error.field
            printError("\(field): \(error.message)")
            throw ExitCode(2)
        }
        var observedAt: Millis? = nil
        if let text = options.observedAt { observedAt = try parseTime(text, option: "--observed-at") }
        let endpoint = try options.endpoint.resolved()
        let base = endpoint.url
        let response = try send("POST", "/v1/observations", json: ReportCodec.encode(PushBody(body: body, observedAt: observedAt)), to: endpoint)
        guard response.status == 200 else {
            printError("the agent at \(base) did not record it (HTTP \(response.status)): \(describe(response))")
            throw ExitCode(1)
        }
        if options.endpoint.verbose {
            if let answer = try? ReportCodec.decode(PushResponse.self, from: response.body) {
                printOut("seq \(answer.seq) (spool \(answer.spoolID))\n")
            } else {
                printOut(response.bodyText + "\n")
            }
        }
    }

    static func describe(_ response: HTTPResponse) -> String {
        if let error = try? ReportCodec.decode(ErrorBody.self, from: response.body) { return error.message }
        let text = response.bodyText.trimmingNewlines
        return text.isEmpty ? "no details" : String(text.prefix(300))
    }
}

extension String {
    var trimmingNewlines: String {
        var s = Substring(self)
        while let c = s.last, c.isNewline || c == " " { s = s.dropLast() }
        return String(s)
    }
}

// MARK: - Commands

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a heartbeat: a job started, finished, or failed.",
        discussion: """
            Without --start or --fail the ping says ok. A non-zero --exit-code means fail.

            Examples:
              gapwatch-agent ping nightly-export --start
              nightly-export.sh; gapwatch-agent ping nightly-export --exit-code $?
              gapwatch-agent ping nightly-export --fail --message "upstream API returned 500"
            """)

    @Argument(help: "The signal's name, e.g. the job name.") var name: String
    @Flag(help: "The job is starting.") var start = false
    @Flag(help: "The job failed.") var fail = false
    @Option(help: "The job's exit code; non-zero implies --fail.") var exitCode: Int?
    @Option(help: "How long the job ran, in milliseconds.") var durationMs: Int64?
    @Option(help: "A short note (at most 1024 bytes).") var message: String?
    @OptionGroup var options: PushOptions

    func validate() throws {
        if start && fail { throw ValidationError("--start and --fail exclude each other") }
        if start, let code = exitCode, code != 0 { throw ValidationError("--start with a non-zero --exit-code makes no sense") }
    }

    func run() throws {
        let status: Heartbeat.Status = start ? .start : (fail || (exitCode ?? 0) != 0 ? .fail : .ok)
        try AgentClient.push(
            .heartbeat(Heartbeat(name: name, status: status, durationMs: durationMs, exitCode: exitCode, message: message)),
            options: options)
    }
}

struct CountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "count",
        abstract: "Record how many rows a dataset holds in one partition.",
        discussion: """
            Example:
              gapwatch-agent count nba_analytics.player_game_summary 2026-01-22 282
            """)

    @Argument(help: "The dataset, e.g. a table name.") var dataset: String
    @Argument(help: "The partition, usually a date like 2026-01-22.") var partition: String
    @Argument(help: "The number of rows (0 or more; 0 says the partition has no rows).") var count: Int64
    @OptionGroup var options: PushOptions

    func run() throws {
        try AgentClient.push(.count(Count(dataset: dataset, partition: partition, count: count)), options: options)
    }

    /// `count d 2026-01-22 -5` would read as an unknown option `-5`, and the error would say the
    /// count is missing: say what is wrong instead. nil: nothing to say.
    static func negativeCountProblem(_ arguments: [String]) -> String? {
        guard arguments.first == "count" else { return nil }
        for argument in arguments.dropFirst() {
            if argument == "--" { break }
            if argument.hasPrefix("-"), argument.count > 1, argument.dropFirst().allSatisfy(\.isNumber) {
                return "count: \(argument) is negative; a count is 0 or more (0: the partition has no rows)"
            }
        }
        return nil
    }
}

struct CountsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counts",
        abstract: "Record a dataset's complete counts: partitions pushed before and not listed now read as 0.",
        discussion: """
            Reads PARTITION<separator>COUNT lines from stdin (a tab, '|', ',' or spaces, as a count probe \
            reads them; a header line is skipped) and sends them in one batch. The batch is complete for \
            the partitions it --covers: a partition this agent was sent before for the dataset, covered, \
            and not in the batch is recorded as 0. Nothing is recorded if a line cannot be read.

            Examples:
              sqlite3 -separator '|' db "select day, count(*) from t where day >= date('now','-2 days') group by 1" \\
                | gapwatch-agent counts nba_analytics.player_game_summary --covers 3d
              psql -At -c "select day, count(*) from t group by 1" | gapwatch-agent counts t --covers all
              gapwatch-agent counts t --from 2026-01-20 --to 2026-01-22 < counts.txt
            """)

    @Argument(help: "The dataset, e.g. a table name.") var dataset: String
    @Option(help: "What the batch is complete for: a window (3d: today and the 2 days before; 48h for hourly partitions), all, or none.")
    var covers: String?
    @Option(help: "First partition the batch is complete for (with --to), instead of --covers.") var from: String?
    @Option(help: "Last partition the batch is complete for (with --from).") var to: String?
    @Option(help: "The IANA zone that places a --covers window's today (default UTC).") var timezone: String?
    @OptionGroup var options: PushOptions

    func validate() throws {
        if covers == nil && from == nil && to == nil {
            throw ValidationError("say what the batch is complete for: --covers 3d | 48h | all | none, or --from P --to P")
        }
        if covers != nil && (from != nil || to != nil) { throw ValidationError("use --covers or --from/--to, not both") }
        if (from == nil) != (to == nil) { throw ValidationError("--from and --to go together") }
        if let covers, CountCoverage.parse(covers) == nil {
            throw ValidationError("--covers '\(covers)' is not all, none, or a window of whole days or hours (3d, 48h)")
        }
    }

    func run() throws {
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(0, &buffer, buffer.count)
            if n <= 0 { break }
            input += buffer[0..<n]
            if input.count > 64 * 1024 {
                printError("stdin is larger than a batch may be (64 KiB); split it with --from/--to ranges")
                throw ExitCode(2)
            }
        }
        let parsed = ProbeOutput.counts(String(decoding: input, as: UTF8.self), dataset: dataset)
        if let problem = parsed.problems.first {
            printError("stdin \(problem); nothing was recorded")
            throw ExitCode(2)
        }
        struct Row: Encodable {
            var partition: String
            var count: Int64
        }
        struct Range: Encodable {
            var from: String
            var to: String
        }
        struct Batch: Encodable {
            var dataset: String
            var covers: String?
            var range: Range?
            var timezone: String?
            var counts: [Row]
            var observedAt: Millis?
            enum CodingKeys: String, SnakeCaseKey {
                case dataset, covers, timezone, counts, observedAt
            }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(dataset, forKey: .dataset)
                if let range { try c.encode(range, forKey: .covers) } else { try c.encodeIfPresent(covers, forKey: .covers) }
                try c.encodeIfPresent(timezone, forKey: .timezone)
                try c.encode(counts, forKey: .counts)
                try c.encodeIfPresent(observedAt, forKey: .observedAt)
            }
        }
        var observedAt: Millis? = nil
        if let text = options.observedAt { observedAt = try parseTime(text, option: "--observed-at") }
        let rows = parsed.bodies.compactMap { body -> Row? in
            guard case .count(let c) = body else { return nil }
            return Row(partition: c.partition, count: c.count)
        }
        let batch = Batch(
            dataset: dataset, covers: covers, range: from.map { Range(from: $0, to: to ?? $0) }, timezone: timezone, counts: rows,
            observedAt: observedAt)
        let endpoint = try options.endpoint.resolved()
        let base = endpoint.url
        let response = try AgentClient.send("POST", "/v1/counts", json: ReportCodec.encode(batch), to: endpoint)
        guard response.status == 200, let answer = try? ReportCodec.decode(CountBatchResponse.self, from: response.body) else {
            printError("the agent at \(base) did not record the batch (HTTP \(response.status)): \(AgentClient.describe(response))")
            throw ExitCode(response.status == 400 ? 2 : 1)
        }
        if options.endpoint.verbose || !answer.zeroed.isEmpty {
            print(
                "recorded \(rows.count) count(s)"
                    + (answer.zeroed.isEmpty
                        ? "" : "; \(answer.zeroed.count) partition(s) no longer listed recorded as 0: \(answer.zeroed.joined(separator: ", "))"))
        }
    }
}

extension WorkflowDecision.Decision: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

struct DecisionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decision",
        abstract: "Record what an orchestrator decided for a workflow: RUN, SKIP or FAIL.",
        discussion: """
            Example:
              gapwatch-agent decision post_game_window_1 SKIP --reason "3 of 8 games not Final"
            """)

    @Argument(help: "The workflow's name.") var workflow: String
    @Argument(help: "RUN, SKIP or FAIL.") var decision: WorkflowDecision.Decision
    @Option(help: "Why (at most 1024 bytes).") var reason: String?
    @OptionGroup var options: PushOptions

    func run() throws {
        try AgentClient.push(.decision(WorkflowDecision(workflow: workflow, decision: decision, reason: reason)), options: options)
    }
}

struct ItemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "item",
        abstract: "Record the status of one tracked item, e.g. a game.",
        discussion: """
            Example:
              gapwatch-agent item game 0022500634 "In Progress" --reference-time 2026-01-22T19:00:00Z
            """)

    @Argument(help: "The item kind, e.g. game.") var kind: String
    @Argument(help: "The item's id.") var id: String
    @Argument(help: "Its status, e.g. Scheduled, In Progress, Final.") var status: String
    @Option(help: "The time deadlines count from (a game's start): ms since 1970 or RFC 3339.") var referenceTime: String?
    @OptionGroup var options: PushOptions

    func run() throws {
        let reference = try referenceTime.map { try parseTime($0, option: "--reference-time") }
        try AgentClient.push(.itemStatus(ItemStatus(itemKind: kind, itemID: id, status: status, referenceTime: reference)), options: options)
    }
}

struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Record a lock as held (by --holder) or as free (--released).",
        discussion: """
            Examples:
              gapwatch-agent lock backfill --holder worker-3 --ttl 30m
              gapwatch-agent lock backfill --holder worker-3 --expires-at 2026-01-22T19:30:00Z
              gapwatch-agent lock backfill --released
            """)

    @Argument(help: "The lock's name.") var name: String
    @Option(help: "Who holds it.") var holder: String?
    @Flag(help: "The lock was seen free.") var released = false
    @Option(help: "When it was taken: ms since 1970 or RFC 3339. Default with --ttl: now.") var acquiredAt: String?
    @Option(help: "When it expires: ms since 1970 or RFC 3339.") var expiresAt: String?
    @Option(help: "Expires this long after it was taken, e.g. 5m, 1h.") var ttl: String?
    @OptionGroup var options: PushOptions

    func validate() throws {
        if released && (holder != nil || acquiredAt != nil || expiresAt != nil || ttl != nil) {
            throw ValidationError("--released takes no --holder, --acquired-at, --expires-at or --ttl")
        }
        if !released && holder == nil { throw ValidationError("give --holder H (the lock is held) or --released (it is free)") }
        if expiresAt != nil && ttl != nil { throw ValidationError("give --expires-at or --ttl, not both") }
    }

    func run() throws {
        if released {
            try AgentClient.push(.lock(LockSighting(name: name, holder: nil)), options: options)
            return
        }
        var acquired = try acquiredAt.map { try parseTime($0, option: "--acquired-at") }
        var expires = try expiresAt.map { try parseTime($0, option: "--expires-at") }
        if let ttl {
            guard let ms = Units.parseDuration(ttl), ms > 0 else {
                throw ValidationError("--ttl: '\(ttl)' is not a duration; write e.g. 30s, 5m or 1h")
            }
            let start = acquired ?? WallClock.nowMillis()
            acquired = start
            expires = start + ms
        }
        try AgentClient.push(.lock(LockSighting(name: name, holder: holder, acquiredAt: acquired, expiresAt: expires)), options: options)
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the running agent's status (spool, backlog, last shipping error) as JSON.",
        discussion: """
            Example:
              gapwatch-agent status --agent-url http://127.0.0.1:7071
            """)

    @OptionGroup var endpoint: EndpointOptions

    func run() throws {
        let resolved = try endpoint.resolved()
        let base = resolved.url
        let response = try AgentClient.send("GET", "/v1/status", to: resolved)
        guard response.status == 200 else {
            printError("the agent at \(base) answered HTTP \(response.status): \(AgentClient.describe(response))")
            throw ExitCode(1)
        }
        if let status = try? ReportCodec.decode(AgentStatus.self, from: response.body) {
            printOut(String(decoding: ReportCodec.encodePretty(status), as: UTF8.self) + "\n")
        } else {
            printOut(response.bodyText + "\n")
        }
    }
}
