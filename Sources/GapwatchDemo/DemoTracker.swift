import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchProtocol

/// Follows the collector's incidents and actions through its API and turns their changes into
/// the demo's live timeline; then judges, per failure of the scenario, whether it was healed.
final class DemoTracker {
    let startedAt: Millis
    private(set) var incidents: [Int64: IncidentInfo] = [:]
    private(set) var actions: [String: ActionInfo] = [:]
    private var notified = Set<String>()

    init(startedAt: Millis) { self.startedAt = startedAt }

    private func at(_ ms: Millis) -> String {
        String(format: "%+7.1fs", Double(ms - startedAt) / 1000)
    }

    /// A timeline line for something the demo itself did, now.
    func line(_ kind: String, _ text: String) -> String {
        "\(at(WallClock.nowMillis()))  \(kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(text)"
    }

    /// Whether the missed post-game window was re-run and its incident resolved.
    func windowsHealed(scenario: DemoScenario) -> Bool {
        failures(scenario: scenario).contains { $0.name == Self.missedWindows && $0.healed }
    }

    static let missedWindows = "missed post-game windows"

    /// New lines for what changed since the last poll. A failed poll prints nothing: the next one
    /// catches up (the demo's volume is small).
    func poll(_ api: DemoAPI) -> [String] {
        struct Incidents: Decodable { var incidents: [IncidentInfo] }
        struct Actions: Decodable { var actions: [ActionInfo] }
        guard let listed = try? ReportCodec.decode(Incidents.self, from: api.get("/v1/incidents?limit=1000")).incidents,
            let acted = try? ReportCodec.decode(Actions.self, from: api.get("/v1/actions?limit=1000")).actions
        else { return [] }
        var lines: [(Millis, String)] = []
        for incident in listed.sorted(by: { $0.id < $1.id }) {
            let before = incidents[incident.id]
            if before == nil {
                lines.append(
                    (
                        incident.openedAt,
                        "\(at(incident.openedAt))  DETECTED  incident \(incident.id) \(incident.rule) \(incident.subject): \(incident.reason)"
                    ))
            }
            if incident.state == "resolved", before?.state != "resolved", let resolved = incident.resolvedAt {
                lines.append((resolved, "\(at(resolved))  HEALED    incident \(incident.id) \(incident.rule) resolved: \(incident.reason)"))
            }
            if incident.escalated, before?.escalated != true {
                lines.append((WallClock.nowMillis(), "\(at(WallClock.nowMillis()))  ESCALATED incident \(incident.id): needs a person"))
            }
            incidents[incident.id] = incident
            // Deliveries: one line per channel and event once it was sent.
            if let detail = try? ReportCodec.decode(IncidentInfo.self, from: api.get("/v1/incidents/\(incident.id)")) {
                for event in detail.events ?? [] {
                    // Every event the pager gets (updates that are only recorded have no delivery).
                    guard ["opened", "resolved", "escalated", "reminder", "job_disabled"].contains(event.event) else { continue }
                    for delivery in event.deliveries where delivery.state == "sent" {
                        let key = "\(event.id)/\(delivery.channel)"
                        guard notified.insert(key).inserted else { continue }
                        lines.append(
                            (
                                delivery.lastAttemptAt,
                                "\(at(delivery.lastAttemptAt))  NOTIFIED  \(delivery.channel): incident \(incident.id) \(event.event)"
                            ))
                    }
                }
            }
        }
        for action in acted.sorted(by: { $0.createdAt < $1.createdAt }) {
            let before = actions[action.id]
            // The parameters a person needs to follow it (the full set is in `gapwatch actions`).
            let shown = action.parameters.filter {
                !["scheduler", "target", "acquired_at", "holder", "partition", "dataset"].contains($0.key) || action.parameters.count == 1
            }
            let what =
                "\(action.id) \(action.name)"
                + (shown.isEmpty ? "" : " (" + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")")
            if action.attempts > (before?.attempts ?? 0) {
                let attempt = action.attempts > 1 ? ", attempt \(action.attempts)" : ""
                lines.append((action.updatedAt, "\(at(action.updatedAt))  ACTION    \(what) sent\(attempt)"))
            }
            if action.state != before?.state {
                switch action.state {
                case "verified": lines.append((action.updatedAt, "\(at(action.updatedAt))  VERIFIED  \(action.id): \(oneLine(action.detail))"))
                // What the service answered: a 200 is not yet a heal.
                case "verifying": lines.append((action.updatedAt, "\(at(action.updatedAt))  ANSWERED  \(action.id): \(oneLine(action.detail))"))
                case "pending" where (before?.attempts ?? 0) > 0 || action.attempts > 0:
                    lines.append((action.updatedAt, "\(at(action.updatedAt))  RETRY     \(action.id): \(oneLine(action.detail))"))
                case "escalated", "failed":
                    lines.append(
                        (
                            action.updatedAt,
                            "\(at(action.updatedAt))  \(action.state.uppercased().padding(toLength: 9, withPad: " ", startingAt: 0)) \(action.id): \(oneLine(action.detail))"
                        ))
                default: break
                }
            }
            actions[action.id] = action
        }
        return lines.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A detail on one timeline line: a command's output may end in a newline or hold several.
    func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The scenario's five failures, each with the incident that shows it and what "healed" means.
    func failures(scenario: DemoScenario) -> [DemoFailure] {
        func incident(_ rule: String, _ subjectPrefix: String) -> IncidentInfo? {
            incidents.values.filter { $0.rule == rule && $0.subject.hasPrefix(subjectPrefix) }.min { $0.id < $1.id }
        }
        func actions(of incident: IncidentInfo?) -> [ActionInfo] {
            guard let incident else { return [] }
            return self.actions.values.filter { $0.incidentID == incident.id }
        }
        var list: [DemoFailure] = []
        // 1. Dead target: contained when every job on it is paused and the pause verified.
        let target = incident("target_unhealthy", "target:\(scenario.deadServiceURL)")
        let pauses = actions(of: target).filter { $0.name == "pause-job" }
        let paused = pauses.filter { $0.state == "verified" }
        list.append(
            DemoFailure(
                name: "dead scheduler target", incident: target, actions: pauses,
                healed: paused.count == DemoScenario.deadJobs.count,
                healedAt: paused.count == DemoScenario.deadJobs.count ? paused.map(\.updatedAt).max() : nil,
                outcome: "\(paused.count) of \(DemoScenario.deadJobs.count) jobs paused (verified in the scheduler's inventory)", since: startedAt))
        for (name, rule, subject, outcome) in [
            (Self.missedWindows, "workflow_gap", "expectation:post-game-window-1", "the missed window rerun, RUN recorded"),
            ("stale \"In Progress\" games", "stale_items", "stale:games-final", "\(DemoScenario.staleGames.count) games refreshed to Final"),
            ("stuck workflow_controller lock", "stuck_lock", "lock:\(DemoScenario.lockName)", "released, then seen free"),
            ("analytics gap (282 records)", "completeness", "completeness:boxscores:", "backfilled and verified by the counts"),
        ] {
            let found = incident(rule, subject)
            // A window is missed when it closes: the minute's window of DemoSetup closes at :10.
            let since = rule == "workflow_gap" ? found.map { ($0.openedAt - 10_000) / 60_000 * 60_000 + 10_000 } ?? startedAt : startedAt
            list.append(
                DemoFailure(
                    name: name, incident: found, actions: actions(of: found), healed: found?.state == "resolved", healedAt: found?.resolvedAt,
                    outcome: outcome, since: max(since, startedAt)))
        }
        return list
    }

    func allHealed(scenario: DemoScenario) -> Bool { failures(scenario: scenario).allSatisfy(\.healed) }

    /// Whether some action is still between queued and its verdict.
    var actionsInFlight: Bool { actions.values.contains { ["pending", "awaiting_approval", "running", "verifying"].contains($0.state) } }

    func summary(scenario: DemoScenario, world: WorldState, pager: DemoPager.Tally, healed: Bool) -> DemoSummary {
        let failures = failures(scenario: scenario)
        let date = scenario.incidentDate
        let recovered = min(world.analytics[date] ?? 0, world.raw[date] ?? 0)
        // A person's step would show as a manual action or an approval; the demo has neither.
        let manual = actions.values.filter { $0.origin == "manual" || $0.approvedBy != nil }.count
        return DemoSummary(
            startedAt: startedAt, failures: failures, recordsRecovered: recovered, recordsMissing: DemoScenario.missingRecords, manualSteps: manual,
            pager: pager, allHealed: healed)
    }
}

struct DemoFailure {
    var name: String
    var incident: IncidentInfo?
    var actions: [ActionInfo]
    var healed: Bool
    var healedAt: Millis?
    var outcome: String
    /// When the failure was in place and could be seen: the start, or a missed window's close.
    var since: Millis
}

struct DemoSummary {
    var startedAt: Millis
    var failures: [DemoFailure]
    var recordsRecovered: Int64
    var recordsMissing: Int64
    var manualSteps: Int
    /// What the on-call pager received by the time of the summary.
    var pager: DemoPager.Tally
    var allHealed: Bool

    private static func seconds(_ ms: Millis?, after start: Millis?) -> Double? {
        guard let ms, let start else { return nil }
        return Double(ms - start) / 1000
    }

    var lines: [String] {
        var rows: [[String]] = []
        for f in failures {
            let detect = Self.seconds(f.incident?.openedAt, after: f.since).map { String(format: "%.1f s", $0) } ?? "not detected"
            let heal = f.healed ? (Self.seconds(f.healedAt, after: f.incident?.openedAt).map { String(format: "%.1f s", $0) } ?? "yes") : "NOT HEALED"
            let attempts = f.actions.reduce(0) { $0 + $1.attempts }
            rows.append([f.name, detect, heal, "\(attempts)", f.healed ? f.outcome : "-"])
        }
        return ["", "▶ summary"]
            + renderTable(["failure", "time to detect", "time to heal", "actions", "outcome"], rows).split(separator: "\n").map { "  " + $0 }
            + [
                "  records recovered: \(recordsRecovered) of \(recordsMissing)",
                "  manual steps: \(manualSteps)",
                "  \(pager.line)",
                allHealed ? "  every failure detected and healed by Gapwatch" : "  NOT every failure was healed",
            ]
    }

    func write(to path: String) throws {
        struct Failure: Encodable {
            var name: String
            var incidentID: Int64?
            var secondsToDetect: Double?
            var secondsToHeal: Double?
            var healed: Bool
            var actions: Int
            var attempts: Int
            var outcome: String
        }
        struct File: Encodable {
            var failures: [Failure]
            var recordsRecovered: Int64
            var recordsMissing: Int64
            var manualSteps: Int
            var pager: DemoPager.Tally
            var allHealed: Bool
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let file = File(
            failures: failures.map {
                Failure(
                    name: $0.name, incidentID: $0.incident?.id, secondsToDetect: Self.seconds($0.incident?.openedAt, after: $0.since),
                    secondsToHeal: Self.seconds($0.healedAt, after: $0.incident?.openedAt),
                    healed: $0.healed, actions: $0.actions.count, attempts: $0.actions.reduce(0) { $0 + $1.attempts }, outcome: $0.outcome)
            }, recordsRecovered: recordsRecovered, recordsMissing: recordsMissing, manualSteps: manualSteps, pager: pager,
            allHealed: allHealed)
        try encoder.encode(file).write(to: URL(fileURLWithPath: path))
    }
}
