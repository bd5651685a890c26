import GRDB
import GapwatchProtocol

/// The incidents the rule kinds read back, as records rather than rows (the rule kinds sit
/// outside Storage/). Built on the owner's queries in IncidentStore+Reads.
extension SQLiteIncidentReads {
    /// The open incidents of `rule` whose subject starts with `prefix` (only those check `check`
    /// opened, when given).
    func open(rule: String, subjectPrefix prefix: String, check: String? = nil) throws -> [OpenIncident] {
        try listOpen(rule: rule, subjectPrefix: prefix, check: check).map { OpenIncident(id: $0["id"], subject: $0["subject"]) }
    }

    /// The incidents of `rule` on `subject` open at or after `since` (see `withActionIn`).
    func spans(withActionIn state: String, rule: String, subject: String, openSince since: Millis, limit: Int) throws -> [IncidentSpan] {
        try withActionIn(state: state, rule: rule, subject: subject, openSince: since, limit: limit).map {
            IncidentSpan(openedAt: $0["opened_at"], resolvedAt: $0["resolved_at"], hasAction: $0["has_action"])
        }
    }
}
