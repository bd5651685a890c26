import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol

/// A long collector outage in compressed time: agents spool, a stand-in answers 503 with
/// Retry-After for a while (a load balancer with its backend down), then the collector returns.
///
/// Time is compressed by about 30 against the defaults, keeping their ratios: heartbeat 30s → 1s,
/// liveness every 30s + grace 60s → 1s + 2s, agent backoff_max 5m → 10s; a 20-minute outage → 40s.
struct Outage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outage",
        abstract: "A long collector outage with agents spooling: drains without a reconnect storm, Retry-After honoured, no false down pages.")

    @Option(help: "Agents.") var agents = 4
    @Option(help: "Seconds the collector is down (connections refused).") var outage = 40.0
    @Option(help: "Seconds a stand-in then answers 503 + Retry-After before the collector is back.") var unavailable = 12.0
    @Option(help: "The Retry-After (seconds) of those 503s.") var retryAfter = 2
    @Option(help: "The agents' collector.backoff_max (seconds).") var backoffMax = 10
    @Option(help: "Pushes per second to each agent.") var rate = 20
    @OptionGroup var common: CommonOptions

    func run() throws {
        runSuite("outage", common: common) { report, workspace in
            let graceSeconds = 2.0
            let fleet = Fleet(
                workspace,
                collectorExtraConfig: """
                    liveness:
                      enabled: true
                      every: 1s
                      grace: 2s
                      agent_backoff_max: \(backoffMax)s
                    """)
            defer { fleet.stopAll() }
            try fleet.startCollector()
            let standIn = StandIn(ports: (0..<agents).map { _ in freePort() }, collectorURL: fleet.collector.url)
            try standIn.start()
            defer { standIn.stop() }
            var pushers: [Pusher] = []
            for i in 0..<agents {
                let agent = try fleet.addAgent(i, collectorURL: standIn.url(i))
                agent.heartbeatInterval = "1s"
                agent.extraCollectorConfig = "backoff_max: \(backoffMax)s"
                try agent.start()
                let pusher = Pusher(agentID: agent.agentID, url: agent.localURL, perSecond: rate)
                pusher.start(threads: 1)
                pushers.append(pusher)
            }
            // Warm up: every agent has shipped and its liveness check is up.
            try waitFor("every agent to ship", timeout: 30) {
                try fleet.agents.allSatisfy { try agentStatus($0).lastShipOKAt != nil }
            }
            sleep(3)
            let suiteStart = WallClock.nowMillis()

            // The outage: the collector crashes, and nothing listens where the agents send.
            standIn.stop()
            fleet.collector.child?.kill9()
            let failuresBefore = fleet.agents.map(shipFailures)
            usleep(UInt32(outage * 1_000_000))
            let outageAttempts = zip(fleet.agents.map(shipFailures), failuresBefore).map { $0 - $1 }

            // A stand-in answers 503 + Retry-After while the collector is still down.
            standIn.setMode(.unavailable(retryAfterSeconds: retryAfter))
            let unavailableStart = Date()
            try standIn.start()
            usleep(UInt32(unavailable * 1_000_000))
            let unavailableEnd = Date()

            // The collector returns.
            try fleet.collector.start()
            let collectorBack = Date()
            standIn.setMode(.forward)
            let backlog = try fleet.agents.reduce(0) { $0 + (try agentStatus($1).pending) }
            let drain = try waitForDrain(fleet.agents, acks: pushers.flatMap(\.acknowledged), timeout: 120)
            for pusher in pushers { pusher.stop() }
            // A false page would open once the hold-off ends (start + agent backoff + grace); look after it.
            let judgedAt = collectorBack.addingTimeInterval(Double(backoffMax) + graceSeconds + 3)
            if judgedAt > Date() { usleep(UInt32(judgedAt.timeIntervalSinceNow * 1_000_000)) }
            let incidents = try pageIncidents(fleet.collector, since: suiteStart)

            // Reconnect figures from what the stand-in saw.
            let hits = standIn.hits
            let inUnavailable = hits.filter { $0.at >= unavailableStart && $0.at < unavailableEnd }
            let maxPerSecond = maxInWindow(inUnavailable.map(\.at), window: 1)
            var retryAfterChecked = 0
            var retryAfterViolations: [String] = []
            var minGapAfter503 = Double.infinity
            for agent in 0..<agents {
                let own = hits.filter { $0.agent == agent }.sorted { $0.at < $1.at }
                for (a, b) in zip(own, own.dropFirst()) {
                    guard let retryAfter = a.retryAfterSeconds else { continue }
                    let gap = b.at.timeIntervalSince(a.at)
                    retryAfterChecked += 1
                    minGapAfter503 = min(minGapAfter503, gap)
                    // 20 ms for thread scheduling: the agent must not come back before Retry-After.
                    if gap < Double(retryAfter) - 0.02 { retryAfterViolations.append("agent \(agent): \(seconds(gap))s after a 503") }
                }
            }
            let firstAttempts = (0..<agents).compactMap { agent in inUnavailable.first { $0.agent == agent }?.at }
            let agentsAnswered503 = Set(inUnavailable.map(\.agent)).count
            let firstReconnect = (0..<agents).compactMap { agent in
                hits.first { $0.agent == agent && $0.at >= collectorBack && $0.status == 200 }?.at.timeIntervalSince(collectorBack)
            }

            report.figure("agents", agents)
            report.figure("outage_s", seconds(outage))
            report.figure("failed_attempts_per_agent_during_outage", outageAttempts)
            report.figure("unavailable_phase_s", seconds(unavailable))
            report.figure("answered_503_with_retry_after", inUnavailable.count)
            report.figure("attempts_per_agent_in_503_phase", (0..<agents).map { a in inUnavailable.filter { $0.agent == a }.count })
            report.figure("max_attempts_in_any_1s_all_agents", maxPerSecond)
            report.figure(
                "first_attempt_spread_s", seconds((firstAttempts.max() ?? .distantPast).timeIntervalSince(firstAttempts.min() ?? .distantPast)))
            report.figure("min_gap_after_a_503_s", minGapAfter503.isFinite ? seconds(minGapAfter503) : "none")
            report.figure("retry_after_gaps_checked", retryAfterChecked)
            report.figure("backlog_when_collector_returned", backlog)
            report.figure("first_200_after_return_s", firstReconnect.map(seconds))
            report.figure("drain_s", seconds(drain))
            report.figure("liveness_or_heartbeat_incidents_opened", incidents.count)
            // Backoff from 1s doubling to backoff_max with full jitter: about a dozen tries in 40s. An
            // agent retrying at a fixed short pace would make hundreds.
            let maxOutageAttempts = Int(outage / 2)
            report.check(
                outageAttempts.allSatisfy { $0 >= 1 && $0 <= maxOutageAttempts },
                "every agent backed off while the collector was down (1 to \(maxOutageAttempts) attempts in \(Int(outage))s)", "\(outageAttempts)")
            report.check(agentsAnswered503 == agents, "every agent retried during the 503 phase", "\(agentsAnswered503) of \(agents)")
            report.check(
                retryAfterChecked >= agents && retryAfterViolations.isEmpty, "every agent waited out Retry-After",
                "\(retryAfterViolations.count) early retries of \(retryAfterChecked): \(retryAfterViolations.prefix(5))")
            // Each agent may come at most once per second while Retry-After is 2s: more is a storm.
            report.check(maxPerSecond <= agents, "no reconnect storm (at most one attempt per agent in any second)", "\(maxPerSecond) in one second")
            report.check(firstReconnect.count == agents, "every agent reconnected", "\(firstReconnect.count) of \(agents)")
            report.check(drain < 60, "the backlog drained within 60 s of the collector's return", seconds(drain))
            report.check(
                incidents.isEmpty, "no false down page for the spooling agents",
                incidents.map { "\($0.rule) \($0.subject): \($0.reason)" }.prefix(4).joined(separator: "; "))
            fleet.stopAll()
            try Reconciliation.run(database: fleet.collector.database, acks: pushers.flatMap(\.acknowledged)).report(to: report)
            try Reconciliation.reportStreams(database: fleet.collector.database, to: report)
        }
    }

    /// Liveness and heartbeat incidents opened since `since` (open or already resolved).
    func pageIncidents(_ collector: CollectorProcess, since: Millis) throws -> [IncidentInfo] {
        let response = try collector.get("/v1/incidents?since=\(since)&limit=1000")
        guard response.status == 200 else { throw HarnessError("GET /v1/incidents answered \(response.status): \(response.bodyText)") }
        struct Page: Decodable { var incidents: [IncidentInfo] }
        return try ReportCodec.decode(Page.self, from: response.body).incidents.filter {
            ($0.rule == "liveness" || $0.rule == "heartbeat") && $0.openedAt >= since
        }
    }

    func maxInWindow(_ times: [Date], window: TimeInterval) -> Int {
        let sorted = times.sorted()
        var best = 0
        var j = 0
        for i in sorted.indices {
            while sorted[i].timeIntervalSince(sorted[j]) >= window { j += 1 }
            best = max(best, i - j + 1)
        }
        return best
    }
}
