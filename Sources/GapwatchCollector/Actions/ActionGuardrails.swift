import GapwatchProtocol
import GapwatchRules

/// The guardrail scopes of one action (see `ActionScope`).
struct ActionScopes: Hashable, Sendable {
    var rule: String
    var target: String
}

/// How many actions run now and started in the last hour: in all, per rule and per target.
struct GuardrailLoad {
    var running = 0
    var lastHour = 0
    var runningByRule: [String: Int] = [:]
    var runningByTarget: [String: Int] = [:]
    var hourByRule: [String: Int] = [:]
    var hourByTarget: [String: Int] = [:]

    mutating func add(_ scopes: ActionScopes, running isRunning: Bool) {
        if isRunning {
            running += 1
            runningByRule[scopes.rule, default: 0] += 1
            runningByTarget[scopes.target, default: 0] += 1
        } else {
            lastHour += 1
            hourByRule[scopes.rule, default: 0] += 1
            hourByTarget[scopes.target, default: 0] += 1
        }
    }

    /// An action just started: it runs and counts against the hour.
    mutating func started(_ scopes: ActionScopes) {
        add(scopes, running: true)
        add(scopes, running: false)
    }

    func allowsGlobal(_ limits: GuardrailConfig) -> Bool { running < limits.maxConcurrent && lastHour < limits.maxPerHour }

    func allows(_ scopes: ActionScopes, _ limits: GuardrailConfig) -> Bool {
        why(rule: scopes.rule, limits) == nil && why(target: scopes.target, limits) == nil
    }

    /// Why the rule's scope is full, nil when it is not.
    func why(rule: String, _ limits: GuardrailConfig) -> String? {
        let (perHour, concurrent) = limits.limits(limits.perRule)
        if runningByRule[rule, default: 0] >= concurrent {
            return "rule \(rule) has \(concurrent) action(s) running (guardrails.per_rule.max_concurrent)"
        }
        if hourByRule[rule, default: 0] >= perHour {
            return "rule \(rule) started \(perHour) action(s) in the last hour (guardrails.per_rule.max_per_hour)"
        }
        return nil
    }

    func why(target: String, _ limits: GuardrailConfig) -> String? {
        let (perHour, concurrent) = limits.limits(limits.perTarget)
        if runningByTarget[target, default: 0] >= concurrent {
            return "target \(target) has \(concurrent) action(s) running (guardrails.per_target.max_concurrent)"
        }
        if hourByTarget[target, default: 0] >= perHour {
            return "target \(target) was sent \(perHour) action(s) in the last hour (guardrails.per_target.max_per_hour)"
        }
        return nil
    }

    /// Every full rule and target scope, with why.
    func fullScopes(_ limits: GuardrailConfig) -> (rules: [String: String], targets: [String: String]) {
        var rules: [String: String] = [:]
        var targets: [String: String] = [:]
        for rule in Set(runningByRule.keys).union(hourByRule.keys) { rules[rule] = why(rule: rule, limits) }
        for target in Set(runningByTarget.keys).union(hourByTarget.keys) { targets[target] = why(target: target, limits) }
        return (rules, targets)
    }
}

extension ActionRunner {
    /// What runs now and what started in the last hour. Both are few: the global limits bound them.
    func guardrailLoad(now: Millis) throws -> GuardrailLoad {
        try database.read { tx in
            var load = GuardrailLoad()
            let actions = tx.actions
            for row in try actions.scopes(in: ActionState.running) {
                load.add(ActionScopes(rule: row.rule, target: row.target), running: true)
            }
            for row in try actions.scopesStarted(after: now - 3_600_000) {
                load.add(ActionScopes(rule: row.rule, target: row.target), running: false)
            }
            return load
        }
    }

    /// Says on each due action of a full scope why it waits. Written only when it changes: a
    /// read finds whether any says something else, so a full scope costs no write per pass.
    func noteWaiting(_ full: (rules: [String: String], targets: [String: String]), now: Millis) throws {
        var stale: [(column: ActionScopeColumn, scope: String, detail: String)] = []
        try database.read { tx in
            for (column, scopes) in [(ActionScopeColumn.rule, full.rules), (.target, full.targets)] {
                for (scope, why) in scopes {
                    if try tx.actions.dueInScopeSaysOtherwise(
                        column, scope, detail: "waiting: \(why)", pending: ActionState.pending, now: now)
                    {
                        stale.append((column, scope, "waiting: \(why)"))
                    }
                }
            }
        }
        guard !stale.isEmpty else { return }
        try database.write { tx in
            for (column, scope, detail) in stale {
                try tx.actions.noteDueInScope(column, scope, detail: detail, pending: ActionState.pending, now: now)
            }
        }
    }

    /// Why `action` must wait for a person rather than run unattended, nil when it need not:
    /// a command about a job or lock bound for an agent not entitled to that fact, and the
    /// breaker on disabling a large share of one scheduler's jobs.
    func approvalNeeded(_ action: ActionInfo, _ heals: ActionHeals?, _ definition: ActionConfig, now: Millis) throws -> String? {
        if let why = try crossAgentCommand(action, heals, definition) { return why }
        return try disableBreaker(action, now: now)
    }

    /// A job's or lock's actions go to the agent that reports it (or one the config's owners bind
    /// it to): otherwise whoever reported the fact would steer another agent's commands.
    private func crossAgentCommand(_ action: ActionInfo, _ heals: ActionHeals?, _ definition: ActionConfig) throws -> String? {
        guard case .agent(let agentID, _, _) = definition.target else { return nil }
        let fact: String
        let isJob: Bool
        if heals?.rule == .schedulerTargets, let job = action.parameters["job"] {
            (fact, isJob) = ("job:\(job)", true)
        } else if heals?.rule == .stuckLocks, let lock = action.parameters["lock"] {
            (fact, isJob) = ("lock:\(lock)", false)
        } else {
            return nil
        }
        let name = String(fact.drop { $0 != ":" }.dropFirst())
        let (reporter, target) = try database.read { tx in
            (
                try isJob ? tx.jobs.reporter(ofJob: name)?.agentID : tx.jobs.reporter(ofLock: name),
                try tx.agents.binding(of: agentID)
            )
        }
        guard let reporter, reporter != agentID else { return nil }
        let binding = AgentBinding(service: target?.service, labels: TokenRow.labels(target?.labels) ?? [:])
        if ownership.rules(covering: fact).contains(where: { $0.admits(agentID: agentID, binding: binding) }) { return nil }
        return "\(fact) is reported by agent \(reporter), but this command would run on agent \(agentID)"
    }

    /// The breaker: disabling more than `breaker.max_share` of one scheduler's jobs (the jobs one
    /// agent reports under one scheduler name) within `breaker.window` waits for a person.
    private func disableBreaker(_ action: ActionInfo, now: Millis) throws -> String? {
        guard action.key.hasPrefix(JobActionKey.disable("")), let job = action.parameters["job"], let breaker = config.schedulerTargets?.breaker
        else { return nil }
        return try database.read { tx -> String? in
            guard let (agentID, scheduler) = try tx.jobs.reporter(ofJob: job) else { return nil }
            let total = try tx.jobs.presentCount(agentID: agentID, scheduler: scheduler)
            // Other jobs of the scheduler whose disable started within the window (a retry is the same job).
            let disabled = try tx.actions.disablesStarted(
                after: now - breaker.windowMs, otherThan: action.key, agentID: agentID, scheduler: scheduler)
            guard total > 0, Double(disabled + 1) > breaker.maxShare * Double(total) else { return nil }
            let percent = Int((breaker.maxShare * 100).rounded())
            return "breaker: disabling it would make \(disabled + 1) of the \(total) job(s) of scheduler \(scheduler ?? "-") on agent \(agentID) "
                + "disabled within \(Units.formatDuration(breaker.windowMs)), more than \(percent)% (scheduler_targets.breaker)"
        }
    }
}
