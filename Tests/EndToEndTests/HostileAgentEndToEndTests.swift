import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Issue 14, item 3, with our binaries as processes: a scheduler's agent reports its 40 jobs and
/// its lock table and runs the collector's pause and release commands; a second agent, with a
/// valid token of its own (issued by `gapwatch tokens create`), forges failing probes for every
/// one of those jobs and an expired copy of the lock, beside honest observations of its own.
final class HostileAgentEndToEndTests: CollectorTestCase {
    var forgerWorkspace: Workspace!
    var owner: AgentProcess!
    var forger: AgentProcess?

    override func setUpWithError() throws {
        forgerWorkspace = try Workspace(inside: workspace, "forger")
        owner = AgentProcess(workspace: workspace, collectorURL: collector.url, tokenFile: collector.tokenFile)
        owner.heartbeatInterval = "1s"  // commands ride on report responses
    }

    override func tearDown() {
        forger?.child?.terminate()
        owner.child?.terminate()
        super.tearDown()
    }

    func cli(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runCommand(
            Binaries.gapwatch, arguments, environment: ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")])
    }

    func decoded<T: Decodable>(_ type: T.Type, _ path: String) throws -> T { try collector.decoded(type, path) }

    /// The forger's own view (`GET /v1/status` of its local endpoint).
    func forgerStatus(_ forger: AgentProcess) throws -> [String: Any] {
        let response = try HTTPClient(connectTimeoutMs: 1000, timeoutMs: 5000).send(.init(url: forger.localURL + "/v1/status"))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    func testAnAgentForgingAnotherAgentsJobsAndLockChangesNothingOfTheirsAndReachesNoOtherAgent() throws {
        // The owner's scheduler: 40 jobs on a healthy service (the collector's own /healthz), probed
        // once at start; its lock table: one lock, held well inside its TTL.
        let scheduler = try SchedulerAgentFixture(workspace: workspace, collectorURL: collector.url)
        let (jobs, target) = (scheduler.jobs, scheduler.target)
        let now = WallClock.nowMillis()
        try scheduler.writeLocks([
            SchedulerAgentFixture.lock("workflow_controller", holder: "worker-7", acquiredAt: now - 60_000, expiresAt: now + 3_600_000)
        ])
        owner.extraConfig = scheduler.agentConfig
        collector.extraConfig = "recheck_interval: 1s\n" + SchedulerAgentFixture.collectorConfig(agentID: owner.agentID)
        try collector.start()
        try owner.start()
        try waitFor("the owner's 40 jobs, probed healthy, and its lock", timeout: 60) {
            let audit = try decoded([String: [JobAudit]].self, "/v1/audit/jobs")["jobs"] ?? []
            let locks = try decoded([String: [LockInfo]].self, "/v1/locks")["locks"] ?? []
            return audit.count == 40 && audit.allSatisfy { $0.targetHealth == "healthy" } && locks.count == 1
        }

        // The forger: a token for itself only, issued by the admin as for any agent.
        let issued = try cli(["tokens", "create", "--kind", "agent", "--agent-id", "forger", "--json"])
        XCTAssertEqual(issued.status, 0, issued.output)
        let token = try ReportCodec.decode(IssuedToken.self, from: Array(issued.output.utf8)).token
        let tokenFile = forgerWorkspace.file("forger.token")
        FileManager.default.createFile(
            atPath: tokenFile, contents: Data("GAPWATCH_AGENT_TOKEN=\(token)\n".utf8), attributes: [.posixPermissions: 0o600])
        let forger = AgentProcess(workspace: forgerWorkspace, collectorURL: collector.url, tokenFile: tokenFile, agentID: "forger")
        self.forger = forger
        try forger.start()
        let client = HTTPClient(connectTimeoutMs: 1000, timeoutMs: 5000)
        for job in jobs {
            for _ in 0..<3 {
                _ = try forger.push(.probe(TargetProbe(job: job, target: target, httpStatus: 404, latencyMs: 3, healthy: false)), client: client)
            }
        }
        let expired = LockSighting(name: "workflow_controller", holder: "worker-7", acquiredAt: now - 3 * 3_600_000, expiresAt: now - 2 * 3_600_000)
        _ = try forger.push(.lock(expired), client: client)
        _ = try forger.push(.count(Count(dataset: "forger.rows", partition: "2026-01-22", count: 5)), client: client)
        _ = try forger.push(.heartbeat(Heartbeat(name: "forger-loop", status: .ok)), client: client)
        try waitFor("the forger's spool to be acknowledged", timeout: 60) { (try self.forgerStatus(forger)["pending"] as? Int) == 0 }
        // Rules re-judge every second; the owner's heartbeat fetches any command each second.
        sleep(6)

        XCTAssertEqual(scheduler.lines("pauses.txt"), [], "no job of the owner was paused")
        XCTAssertEqual(scheduler.lines("releases.txt"), [], "the owner's live lock was not released")
        XCTAssertEqual(try decoded([String: [ActionInfo]].self, "/v1/actions")["actions"]?.map(\.key), [], "no action was queued")
        let audit = try decoded([String: [JobAudit]].self, "/v1/audit/jobs")["jobs"] ?? []
        XCTAssertTrue(
            audit.allSatisfy { $0.probeFailures == 0 && $0.targetHealth == "healthy" && $0.agentID == "e2e-agent" },
            "\(audit.first { $0.probeFailures > 0 } as Any)")
        let locks = try decoded([String: [LockInfo]].self, "/v1/locks")["locks"] ?? []
        XCTAssertEqual(locks.map { "\($0.name) \($0.state) \($0.agentID)" }, ["workflow_controller held e2e-agent"])
        XCTAssertEqual(locks.first?.expiresAt, now + 3_600_000)

        // Every honest observation of the forger is stored; each forged one is refused, counted by
        // the forger (never resent) and by the collector, and listed by fact.
        let stored = try collector.timeline("agent=forger").map(\.subject)
        XCTAssertTrue(stored.contains("dataset:forger.rows") && stored.contains("ping:forger-loop"), "\(stored)")
        XCTAssertFalse(stored.contains { $0.hasPrefix("job:") || $0.hasPrefix("lock:") }, "\(stored)")
        XCTAssertEqual(try forgerStatus(forger)["refused"] as? Int, 121, "the forger counted its 121 refused observations")
        let agents = try decoded(AgentsList.self, "/v1/agents").agents
        XCTAssertEqual(agents.first { $0.id == "forger" }?.refused, 121)
        XCTAssertTrue(forger.child?.log.contains("the collector refused an observation and will not store it") ?? false)
        let shown = try cli(["agents"])
        XCTAssertTrue(shown.output.contains("Refused (observations about facts another agent owns"), shown.output)
        XCTAssertTrue(
            shown.output.split(separator: "\n").contains { $0.contains("forger") && $0.contains("job:export-1 ") && $0.contains("agent e2e-agent") },
            shown.output)
        let owners = try cli(["owners", "list", "--fact", "lock:*"])
        XCTAssertTrue(
            owners.output.split(separator: "\n").contains { $0.contains("lock:workflow_controller") && $0.contains("e2e-agent") }, owners.output)

        // An admin may move a fact (and only an admin); a token may bind what its agents are.
        let moved = try cli(["owners", "reassign", "lock:workflow_controller", "orchestrator-2"])
        XCTAssertEqual(moved.status, 0, moved.output)
        XCTAssertTrue(moved.output.contains("lock:workflow_controller is now owned by agent orchestrator-2"), moved.output)
        let byToken = try cli(["owners", "list", "--fact", "lock:*"])
        XCTAssertTrue(byToken.output.split(separator: "\n").contains { $0.contains("orchestrator-2") && $0.contains("token tok_") }, byToken.output)
        let fleet = try cli(["tokens", "create", "--kind", "fleet", "--service", "nba-scrapers", "--label", "role=scraper", "--label", "env=prod"])
        XCTAssertEqual(fleet.status, 0, fleet.output)
        XCTAssertTrue(fleet.output.contains("service: nba-scrapers") && fleet.output.contains("labels: env=prod,role=scraper"), fleet.output)
        let listed = try cli(["tokens", "list"])
        XCTAssertTrue(listed.output.split(separator: "\n").contains { $0.contains("fleet") && $0.contains("env=prod,role=scraper") }, listed.output)
        let refusedLabel = try cli(["tokens", "create", "--kind", "read", "--label", "role=x"])
        XCTAssertNotEqual(refusedLabel.status, 0)
        XCTAssertTrue(refusedLabel.output.contains("only agent and fleet tokens report"), refusedLabel.output)
    }

    struct AgentsList: Decodable { var agents: [AgentInfo] }
}
