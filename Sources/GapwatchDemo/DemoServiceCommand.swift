import ArgumentParser
import Foundation
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol
import Hummingbird
import Logging
import NIOCore

/// One small simulated service of the demo's pipeline, as its own process on 127.0.0.1. Each
/// behaves like its real counterpart did on Jan 22, including the parts that made it worse:
/// the analytics processor skips dates whose games are not Final (and still answers 200), and
/// the orchestrator will not run while anyone holds its lock.
struct DemoServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Run one simulated service of the demo's pipeline (started by `gapwatch demo`).")

    enum Role: String, ExpressibleByArgument, CaseIterable {
        case scrapers, analytics, schedule, orchestrator, pager
    }

    @Argument(help: "scrapers, analytics, schedule, orchestrator or pager.") var role: Role
    @Option(help: "The demo's world folder (holds world.json).") var world: String
    @Option(help: "Port on 127.0.0.1.") var port: Int
    @Option(help: "The orchestrator's agent push endpoint, for its workflow decisions.") var agentURL: String?

    func run() async throws {
        let world = DemoWorld(dir: self.world)
        let router = Router()
        router.get("health") { _, _ in "ok\n" }
        switch role {
        case .scrapers:
            router.post("**") { request, _ in "scraped \(request.uri.path)\n" }
        case .analytics:
            router.post("backfill") { request, _ -> Response in
                let body = try await Self.fields(request)
                return try Self.backfill(world, start: body["start"] ?? "", end: body["end"] ?? "", bypassChecks: body["bypass_checks"] == "true")
            }
        case .schedule:
            router.post("refresh") { request, _ -> Response in
                let ids = Set((try await Self.fields(request)["games"] ?? "").split(separator: ",").map(String.init))
                // Re-reading the league's API takes a while: accepted now, written a few seconds
                // later, so what runs meanwhile still sees "In Progress".
                Task {
                    try await Task.sleep(for: .seconds(6))
                    let updated = try world.update { state -> [String] in
                        var updated: [String] = []
                        for i in state.games.indices
                        where ids.contains(state.games[i].id) && state.games[i].finished && state.games[i].status != "Final" {
                            state.games[i].status = "Final"
                            updated.append(state.games[i].id)
                        }
                        return updated
                    }
                    say("refresh: \(updated.count) game(s) now Final: \(updated.joined(separator: ", "))")
                }
                return Self.json(["accepted": ids.sorted().joined(separator: ",")], status: .accepted)
            }
        case .orchestrator:
            guard let agentURL else { throw ValidationError("--agent-url is required for the orchestrator") }
            router.post("run") { request, _ -> Response in
                let body = try await Self.fields(request)
                return try Self.runWorkflow(world, workflow: body["workflow"] ?? "", partition: body["partition"] ?? "", agentURL: agentURL)
            }
            // Its own schedule, once the replay's outage is over (see WorldState.orchestratorOnSchedule).
            Task.detached { await Self.runWindowsOnSchedule(world, agentURL: agentURL) }
        case .pager:
            let pager = DemoPager(dir: self.world)
            router.post("notify") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                try pager.record(String(buffer: body))
                say("page: \(String(buffer: body))")
                return Self.json(["received": "true"])
            }
        }
        var logger = Logger(label: "demo-\(role.rawValue)")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        say("\(role.rawValue) listening on 127.0.0.1:\(port)")
        try await app.runService()
    }

    static func fields(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 1 << 20)
        guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(buffer: body)) else {
            throw HTTPError(.badRequest, message: "the body must be a JSON object of strings")
        }
        return fields
    }

    static func json(_ fields: [String: String], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: ReportCodec.encode(fields))))
    }

    /// Processes raw rows into analytics for each date of the range, unless the date's games are
    /// not all Final (the processor's ENABLE_GAMES_FINISHED_CHECK): then it skips the date, and
    /// still answers 200, exactly the quiet failure of Jan 22.
    static func backfill(_ world: DemoWorld, start: String, end: String, bypassChecks: Bool) throws -> Response {
        guard start.utf8.count == 10, end.utf8.count == 10, TimeParsing.parse(start) != nil, TimeParsing.parse(end) != nil, start <= end else {
            return json(["error": "start and end must be dates, start <= end"], status: .badRequest)
        }
        let (processed, skipped) = try world.update { state -> ([String], [String]) in
            var processed: [String] = []
            var skipped: [String] = []
            for date in Set(state.raw.keys).union(state.games.map(\.date)).sorted() where date >= start && date <= end {
                let unfinished = state.games.filter { $0.date == date && $0.status != "Final" }
                if !unfinished.isEmpty && !bypassChecks {
                    skipped.append("\(date) (\(unfinished.count) games not Final)")
                    continue
                }
                state.analytics[date] = state.raw[date] ?? 0
                processed.append("\(date) (\(state.raw[date] ?? 0) rows)")
            }
            return (processed, skipped)
        }
        say("backfill \(start)..\(end): processed \(processed.joined(separator: ", ")); skipped \(skipped.joined(separator: ", "))")
        return json(["processed": processed.joined(separator: ", "), "skipped": skipped.joined(separator: ", ")])
    }

    /// While the world says the orchestrator is on schedule, runs each post-game window once, early
    /// in the window, as the real orchestrator does when nothing is broken.
    static func runWindowsOnSchedule(_ world: DemoWorld, agentURL: String) async {
        var lastWindow: Millis = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            let now = WallClock.nowMillis()
            let window = now - now % 60_000
            // Leave a second of the window for the decision to reach the agent.
            guard window != lastWindow, now < window + Millis(DemoScenario.windowSeconds - 1) * 1000,
                (try? world.read().orchestratorOnSchedule) == true
            else { continue }
            lastWindow = window
            _ = try? runWorkflow(
                world, workflow: DemoScenario.workflow, partition: String(TimeParsing.format(window).prefix(10)), agentURL: agentURL, scheduled: true)
        }
    }

    /// Runs a workflow window if it can take the controller lock: records RUN when every game
    /// that has started is Final, SKIP otherwise, through its agent like the real one.
    static func runWorkflow(_ world: DemoWorld, workflow: String, partition: String, agentURL: String, scheduled: Bool = false) throws -> Response {
        let now = WallClock.nowMillis()
        let outcome = try world.update { state -> (blockedBy: WorldState.Lock?, unfinished: Int) in
            if let held = state.locks.first(where: { $0.name == DemoScenario.lockName }) { return (held, 0) }
            let unfinished = state.games.filter { $0.startTime <= now && $0.status != "Final" }.count
            state.runs.append("\(workflow) \(partition) \(unfinished == 0 ? "RUN" : "SKIP")")
            return (nil, unfinished)
        }
        if let held = outcome.blockedBy {
            say("run \(workflow) \(partition): blocked, \(held.name) held by \(held.holder)")
            return json(
                ["error": "\(held.name) is held by \(held.holder) since \(TimeParsing.format(held.acquiredAt)); workflow evaluation blocked"],
                status: .serviceUnavailable, headers: [.retryAfter: "5"])
        }
        let decision: WorkflowDecision.Decision = outcome.unfinished == 0 ? .run : .skip
        let reason =
            outcome.unfinished == 0
            ? "\(scheduled ? "scheduled run" : "rerun") of \(partition): all started games Final" : "\(outcome.unfinished) games still In Progress"
        let body = ReportCodec.encode(ObservationBody.decision(WorkflowDecision(workflow: workflow, decision: decision, reason: reason)))
        let response = try HTTPClient(connectTimeoutMs: 1000, timeoutMs: 5000).send(
            GapwatchHTTPClient.HTTPRequest(
                method: "POST", url: agentURL + "/v1/observations", headers: [("Content-Type", "application/json")], body: body))
        guard response.status == 200 else {
            return json(["error": "the agent did not record the decision (HTTP \(response.status))"], status: .internalServerError)
        }
        say("run \(workflow) \(partition): \(decision.rawValue) (\(reason))")
        return json(["decision": decision.rawValue, "reason": reason])
    }
}
