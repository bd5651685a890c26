import GapwatchProtocol
import GapwatchRules

/// What a check expects, in words, for every check kind (each kind states its own, see
/// `RuleKind.expects`): `GET /v1/checks`' `expects` (so `gapwatch checks`) and the dashboard's
/// Checks page both show this one text.
extension Detector {
    /// The expectation and grace of the check `name` of `kind`. A kind this describer does not
    /// know says so in words rather than "?".
    func describeExpectation(kind: String, name: String) -> (text: String, graceMs: Millis) {
        guard let ruleKind = RuleRegistry.kind(of: kind) else { return ("a \(kind) check (this collector cannot describe the kind)", 0) }
        return ruleKind.expects(check: name, self) ?? Self.notConfigured(kind)
    }

    /// "every 5m" or "at each cron '0 6 * * *' (America/New_York)".
    static func cadence(_ expectation: Expectation) -> String {
        switch expectation {
        case .every(let ms): "every \(Units.formatDuration(ms))"
        case .cron(let schedule): "at each cron '\(schedule.expression.text)' (\(schedule.timeZoneID))"
        }
    }

    /// "grace 5m", or "no grace".
    static func grace(_ ms: Millis) -> String {
        ms > 0 ? "grace \(Units.formatDuration(ms))" : "no grace"
    }

    /// "90%", "99.5%".
    static func percent(_ ratio: Double) -> String { Units.formatPercent(ratio) }

    private static func notConfigured(_ kind: String) -> (String, Millis) {
        ("nothing: this \(kind) check is no longer in the config", 0)
    }
}
