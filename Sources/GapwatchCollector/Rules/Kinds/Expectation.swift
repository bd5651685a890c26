import GapwatchProtocol
import GapwatchRules

/// A run expectation (`expectations:`): each run window closing with no RUN decision is a gap
/// (rule workflow_gap, subject expectation:NAME), and its missed window may be rerun. Windows are
/// judged once, in order, from the check's creation on; a RUN decision makes it due.
struct ExpectationKind: ConfiguredRuleKind {
    let checkKind = "expectation"
    let rules: [IncidentRule] = [.workflowGap]
    var judgesFromCreation: Bool { true }

    func configs(_ detector: Detector) -> [RunExpectationConfig] { detector.config.expectations }

    func config(named name: String, _ detector: Detector) -> RunExpectationConfig? { detector.expectations[name] }

    func triggers(_ expectation: RunExpectationConfig) -> [CheckRouting.Trigger] { [.run(workflow: expectation.rule.workflow)] }

    func expects(_ e: RunExpectationConfig, _ detector: Detector) -> (text: String, graceMs: Millis) {
        let window = e.rule.windows
        var text =
            "a RUN of \(e.rule.workflow) within \(Units.formatDuration(window.durationMs)) of each cron '\(window.opens.expression.text)' (\(window.opens.timeZoneID))"
        if let condition = e.rule.condition {
            text += ", when \(condition.dataset) has \(condition.minCount == 1 ? "rows" : "at least \(condition.minCount) rows") for the date"
        }
        return (text + " (\(Detector.grace(e.rule.graceMs)))", e.rule.graceMs)
    }

    func resolveIncidents(_ tx: StoreTransaction, check name: String, reason: String, _ detector: Detector, now: Millis) throws {
        try detector.incidents(tx).resolve(rule: IncidentRule.workflowGap.rawValue, subject: "expectation:\(name)", reason: reason, at: now)
    }

    func evaluate(_ tx: StoreTransaction, _ expectation: RunExpectationConfig, check: CheckRecord, _ detector: Detector, now: Millis) throws
        -> Verdict
    {
        let name = expectation.name
        if check.state == .paused { return .unchanged }
        let rule = expectation.rule
        let subject = "expectation:\(name)"
        let gapRule = IncidentRule.workflowGap.rawValue
        let judgedThrough = check.judgedThrough ?? check.createdAt
        let windows = rule.windows.windowsClosing(after: judgedThrough, through: now - rule.graceMs)
        var state = check.state ?? .new
        var reason = check.reason
        var through = judgedThrough
        for window in windows {
            let decisions = try detector.decisions(tx, workflow: rule.workflow, from: window.start, to: window.end)
            let count = try rule.condition.map { try detector.partitionCount(tx, dataset: $0.dataset, partition: window.partition) } ?? nil
            switch rule.judge(window, decisions: decisions, partitionCount: count) {
            case .ran(let at):
                reason = "window \(window.partition) ran at \(TimeParsing.format(at))"
                state = .up
                try detector.incidents(tx).resolve(rule: gapRule, subject: subject, reason: "a later window ran: \(reason)", at: now)
            case .notExpected(let why):
                reason = "window \(window.partition) not expected: \(why)"
            case .gap(let why):
                reason = why
                state = .down
                var labels = expectation.labels
                labels["workflow"] = rule.workflow
                labels["expectation"] = name
                let incident = try detector.incidents(tx).open(
                    rule: gapRule, subject: subject, reason: why, labels: labels, feederAgent: nil, at: now)
                detector.logger.notice("workflow gap", metadata: ["expectation": "\(name)", "reason": "\(why)"])
                // Run the missed window again; verified when its incident resolves (a RUN arrives).
                if let rerun = expectation.rerun, let action = detector.remediation.actions[rerun] {
                    _ = try ActionQueue(tx: tx).enqueue(
                        action, key: "\(subject):rerun", heals: ActionHeals(.expectation, name), incidentID: incident, origin: "rule",
                        parameters: ["workflow": rule.workflow, "partition": window.partition], now: now)
                }
            }
            through = window.end
        }
        // A RUN after a gap (a catch-up run) resolves it, judged by observed time.
        if state == .down, let opened = try tx.incidentReads.openedAt(rule: gapRule, subject: subject),
            let gapStart = rule.windows.opens.previous(atOrBefore: opened - rule.graceMs - rule.windows.durationMs),
            let run = try detector.decisions(tx, workflow: rule.workflow, from: gapStart, to: .max).first(where: { $0.decision == .run })
        {
            state = .up
            reason = "caught up: RUN at \(TimeParsing.format(run.observedAt))"
            try detector.incidents(tx).resolve(rule: gapRule, subject: subject, reason: reason, at: now)
        }
        let nextClose = rule.windows.nextClose(after: through).map { $0 + rule.graceMs }
        return .judged(CheckJudgement(state: state, reason: reason, nextDue: nextClose, judgedThrough: through))
    }
}

extension Detector {
    /// A workflow's decisions observed in [from, to), oldest first.
    func decisions(_ tx: StoreTransaction, workflow: String, from: Millis, to: Millis) throws -> [DecisionSighting] {
        try tx.observations.decisions(workflow: workflow, from: from, to: to)
    }

    /// The latest count of a dataset's partition (a window's run condition).
    func partitionCount(_ tx: StoreTransaction, dataset: String, partition: String) throws -> Int64? {
        try tx.observations.latestCount(dataset: dataset, partition: partition)
    }
}
