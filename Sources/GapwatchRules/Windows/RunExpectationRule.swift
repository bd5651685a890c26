import GapwatchProtocol

/// One workflow decision seen inside a run window.
public struct DecisionSighting: Sendable, Equatable, Codable {
    public var observedAt: Millis
    public var decision: WorkflowDecision.Decision
    public var reason: String?

    public init(observedAt: Millis, decision: WorkflowDecision.Decision, reason: String?) {
        self.observedAt = observedAt
        self.decision = decision
        self.reason = reason
    }
}

/// "Only expect a run on partitions where this dataset has rows" — e.g. only on dates that have
/// games in the schedule. The partition is the window's local start date.
public struct PartitionCondition: Sendable, Equatable {
    public var dataset: String
    public var minCount: Int64

    public init(dataset: String, minCount: Int64 = 1) {
        self.dataset = dataset
        self.minCount = minCount
    }
}

/// Workflow W must show a RUN decision within each window (optionally only on some partitions).
public struct RunExpectationRule: Sendable {
    public var workflow: String
    public var windows: RunWindowSchedule
    /// How long after a window closes it is judged, so decisions still in agent spools arrive first.
    public var graceMs: Millis
    public var condition: PartitionCondition?

    public init(workflow: String, windows: RunWindowSchedule, graceMs: Millis, condition: PartitionCondition? = nil) {
        self.workflow = workflow
        self.windows = windows
        self.graceMs = graceMs
        self.condition = condition
    }

    /// Judges one closed window. `decisions` are those observed in [start, end); `partitionCount`
    /// is the latest count of `condition.dataset` for the window's partition (nil: none seen).
    public func judge(_ window: RunWindow, decisions: [DecisionSighting], partitionCount: Int64?) -> WindowJudgement {
        let inWindow = decisions.filter { $0.observedAt >= window.start && $0.observedAt < window.end }.sorted { $0.observedAt < $1.observedAt }
        if let run = inWindow.first(where: { $0.decision == .run }) {
            return .ran(at: run.observedAt)
        }
        if let condition {
            let count = partitionCount ?? 0
            if count < condition.minCount {
                return .notExpected(
                    reason:
                        "\(condition.dataset) has \(partitionCount.map(String.init) ?? "no") rows for \(window.partition) (needs \(condition.minCount))"
                )
            }
        }
        return .gap(reason: gapReason(window, inWindow))
    }

    private func gapReason(_ window: RunWindow, _ seen: [DecisionSighting]) -> String {
        let head =
            "workflow \(workflow): window \(TimeParsing.format(window.start)) to \(TimeParsing.format(window.end)) (\(window.partition)) closed with no RUN"
        if seen.isEmpty { return head + "; no decisions were seen in it" }
        // Group identical decisions so 30 SKIPs with one reason read as one line.
        var groups: [(String, Int)] = []
        for d in seen {
            let key = d.decision.rawValue + (d.reason.map { " (\($0))" } ?? "")
            if let i = groups.firstIndex(where: { $0.0 == key }) { groups[i].1 += 1 } else { groups.append((key, 1)) }
        }
        let listed = groups.map { $0.1 == 1 ? $0.0 : "\($0.0) ×\($0.1)" }.joined(separator: ", ")
        return head + "; decisions seen: " + listed
    }
}

public enum WindowJudgement: Sendable, Equatable {
    /// A RUN decision was seen in the window.
    case ran(at: Millis)
    /// The partition condition says no run was expected.
    case notExpected(reason: String)
    /// The window closed with no RUN: a workflow gap.
    case gap(reason: String)
}
