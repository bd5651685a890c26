import GapwatchProtocol

/// Reads of `incidents` (no notification settings needed): rules, pages and metrics.
/// Reached through `StoreTransaction`; see `StoreTransaction` for the engine contract.
protocol IncidentReads {
    /// Incidents newest first, as the API lists them.
    func incidents(_ filter: IncidentFilter) throws -> [IncidentInfo]

    /// One incident with its full history and every delivery.
    func incident(id: Int64) throws -> IncidentInfo?

    /// When the open incident for (rule, subject) opened; nil when none is open.
    func openedAt(rule: String, subject: String) throws -> Millis?

    func isOpen(rule: String, subject: String) throws -> Bool

    func subject(id: Int64) throws -> String?

    /// Open incidents per rule.
    func openCountByRule() throws -> [String: Int]

    /// How many incidents there are (in `state` when given).
    func count(state: String?) throws -> Int

    /// Incidents open at some time in [from, to) whose subject is `subject` or that carry
    /// `bareName` as a label value, by id.
    func mentioning(subject: String, bareName: String, from: Millis, to: Millis, limit: Int) throws -> [Int64]

    /// The open incidents of `rule` whose subject starts with `prefix` (only those check `check`
    /// opened, when given).
    func open(rule: String, subjectPrefix prefix: String, check: String?) throws -> [OpenIncident]

    /// The incidents of `rule` on `subject` open at or after `since` (see `withActionIn`).
    func spans(withActionIn state: String, rule: String, subject: String, openSince since: Millis, limit: Int) throws -> [IncidentSpan]
}

extension IncidentReads {
    func open(rule: String, subjectPrefix prefix: String) throws -> [OpenIncident] {
        try open(rule: rule, subjectPrefix: prefix, check: nil)
    }
}

/// An open incident: its id and subject.
struct OpenIncident: Sendable, Equatable {
    var id: Int64
    var subject: String
}

/// An incident of a subject and whether an action of it reached the asked state.
struct IncidentSpan: Sendable, Equatable {
    var openedAt: Millis
    var resolvedAt: Millis?
    var hasAction: Bool
}

public struct IncidentFilter: Sendable {
    public var state: String?
    public var since: Millis?
    public var limit = 100
    public init() {}
}
