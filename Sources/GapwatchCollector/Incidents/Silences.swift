import GapwatchProtocol
import GapwatchRules

/// A silence request that failed validation; `field` names the offending field.
public struct SilenceValidationError: Error, Sendable {
    public var message: String
    public var field: String
}

/// Where a silence stands at a moment (`SilenceInfo.status`): derived from its times, never stored.
enum SilenceStatus: String, StateColumnValue, CaseIterable {
    /// In force.
    case active
    /// Starts later.
    case pending
    /// Ended by its `ends_at`.
    case expired
    /// Ended by hand (`DELETE /v1/silences/{id}`).
    case deleted

    init(startsAt: Millis, endsAt: Millis, deletedAt: Millis?, now: Millis) {
        self = deletedAt != nil ? .deleted : endsAt <= now ? .expired : startsAt > now ? .pending : .active
    }
}

/// Known rule names, so a typo in a silence is refused instead of silently matching nothing.
public let knownRuleNames: [String] = RuleRegistry.ruleNames

extension AppDatabase {
    /// Longest silence: a year. Longer ones are almost always a mistake (use pause for a check).
    public static let maxSilenceMs: Millis = 366 * 86_400_000

    public func createSilence(_ request: SilenceRequest, createdBy: String, now: Millis) throws -> SilenceInfo {
        func fail(_ message: String, _ field: String) -> SilenceValidationError { SilenceValidationError(message: message, field: field) }
        if let rule = request.rule, !knownRuleNames.contains(rule) {
            throw fail("rule: '\(excerpt(rule))' is not one of \(knownRuleNames.joined(separator: ", "))", "rule")
        }
        let labels = request.labels ?? [:]
        if request.rule == nil && request.subject == nil && labels.isEmpty {
            throw fail("a silence needs at least one of rule, subject or labels (it would silence everything)", "rule")
        }
        if let subject = request.subject, subject.isEmpty || subject.utf8.count > 256 { throw fail("subject: 1 to 256 bytes", "subject") }
        if labels.count > 20 || labels.contains(where: { $0.key.isEmpty || $0.key.utf8.count > 64 || $0.value.utf8.count > 256 }) {
            throw fail("labels: at most 20, names 1-64 bytes, values up to 256 bytes", "labels")
        }
        let comment = request.comment ?? ""
        if comment.utf8.count > 1024 { throw fail("comment: at most 1024 bytes", "comment") }
        var startsAt = now
        if let text = request.startsAt {
            guard let t = TimeParsing.parse(text) else {
                throw fail("starts_at: '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", "starts_at")
            }
            startsAt = t
        }
        let endsAt: Millis
        switch (request.endsAt, request.duration) {
        case (let text?, nil):
            guard let t = TimeParsing.parse(text) else {
                throw fail("ends_at: '\(text)' is not a time (milliseconds since 1970, or RFC 3339)", "ends_at")
            }
            endsAt = t
        case (nil, let text?):
            guard let d = Units.parseDuration(text), d > 0 else { throw fail("duration: '\(text)' is not a duration (e.g. 30m, 2h)", "duration") }
            endsAt = startsAt + d
        case (nil, nil): throw fail("give ends_at or duration", "ends_at")
        case (_?, _?): throw fail("give ends_at or duration, not both", "duration")
        }
        if endsAt <= startsAt { throw fail("the range is reversed or empty: ends_at is not after starts_at", "ends_at") }
        if endsAt <= now { throw fail("ends_at is in the past: the silence would never apply", "ends_at") }
        if endsAt - startsAt > Self.maxSilenceMs { throw fail("a silence may last at most 366 days", "ends_at") }
        let labelsJSON = String(decoding: ReportCodec.encode(labels), as: UTF8.self)
        let id = try write { tx in
            try tx.silences.insert(
                rule: request.rule, subject: request.subject, labelsJSON: labelsJSON, startsAt: startsAt, endsAt: endsAt, comment: comment,
                createdBy: createdBy, now: now)
        }
        return SilenceInfo(
            id: id, rule: request.rule, subject: request.subject, labels: labels, startsAt: startsAt, endsAt: endsAt, comment: comment,
            createdBy: createdBy, createdAt: now, status: SilenceStatus(startsAt: startsAt, endsAt: endsAt, deletedAt: nil, now: now).rawValue)
    }

    public func silences(includeEnded: Bool, now: Millis) throws -> [SilenceInfo] {
        try read { tx in
            try tx.silences.list(includeEnded: includeEnded, now: now).map { stored in
                let silence = stored.silence
                let status = SilenceStatus(startsAt: silence.startsAt, endsAt: silence.endsAt, deletedAt: stored.deletedAt, now: now)
                return SilenceInfo(
                    id: silence.id, rule: silence.rule, subject: silence.subject, labels: silence.labels, startsAt: silence.startsAt,
                    endsAt: silence.endsAt, comment: silence.comment, createdBy: stored.createdBy, createdAt: stored.createdAt,
                    status: status.rawValue)
            }
        }
    }

    /// Ends a silence now (kept for the record). False when no such live silence exists.
    public func deleteSilence(id: Int64, now: Millis) throws -> Bool {
        try write { tx in try tx.silences.end(id: id, now: now) }
    }
}
