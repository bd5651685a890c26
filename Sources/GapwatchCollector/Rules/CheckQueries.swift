import GapwatchProtocol
import GapwatchRules

public enum CheckChange: Sendable, Equatable {
    case changed
    /// Already in the asked state.
    case unchanged
    case notFound
}

extension Detector {
    public func checks(now: Millis) throws -> [CheckInfo] {
        try database.read { tx in
            try tx.checks.all().map { check in
                let name = check.name
                let kind = check.kind
                let (expects, grace) = describeExpectation(kind: kind, name: name)
                let late = RuleRegistry.kind(of: kind)?.isLate(check, self, now: now) ?? false
                return CheckInfo(
                    name: name, kind: kind, state: check.storedState, late: late, reason: check.reason, expects: expects, graceMs: grace,
                    lastPingAt: check.lastPingAt, lastStartAt: check.lastStartAt, lastFailAt: check.lastFailAt,
                    lastDurationMs: check.lastDurationMs, feederAgentID: check.feederAgentID, nextDue: check.nextDue,
                    changedAt: check.changedAt)
            }
        }
    }

    /// Pauses a check: no evaluation, and its open incident is resolved as paused.
    public func pause(name: String, now: Millis) throws -> CheckChange {
        try database.write { tx in
            let checks = tx.checks
            guard let check = try checks.find(name: name) else { return .notFound }
            if check.state == .paused { return .unchanged }
            try checks.pause(id: check.id, now: now)
            try RuleRegistry.kind(of: check.kind)?.resolveIncidents(tx, check: name, reason: "the check was paused", self, now: now)
            return .changed
        }
    }

    /// Resumes a paused check as `new`: it is due one period from now (expectations judge
    /// windows closing from now on).
    public func resume(name: String, now: Millis) throws -> CheckChange {
        try database.write { tx in
            let checks = tx.checks
            guard let check = try checks.find(name: name) else { return .notFound }
            if check.state != .paused { return .unchanged }
            try checks.resume(id: check.id, judgesFromNow: RuleRegistry.kind(of: check.kind)?.judgesFromCreation ?? false, now: now)
            return .changed
        }
    }
}
