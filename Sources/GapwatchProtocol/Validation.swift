/// A report that decoded but breaks a rule of the protocol. `field` names the offending field.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension Report {
    /// Checks every rule of protocol v1 that the type system does not. Throws the first violation.
    public func validate(limits: ReportLimits = .default) throws(ValidationError) {
        try agent.validate(limits: limits)
        try check(token: bootID, field: "boot_id", max: 64)
        try check(token: spoolID, field: "spool_id", max: 64)
        try check(time: sentAt, field: "sent_at")
        if observations.count > limits.maxObservations {
            throw ValidationError(
                field: "observations",
                message: "\(observations.count) observations; at most \(limits.maxObservations) per report")
        }
        var previous: UInt64 = 0
        for (i, observation) in observations.enumerated() {
            var path: String { "observations[\(i)]" }
            if observation.seq == 0 {
                throw ValidationError(field: "\(path).seq", message: "must be 1 or more")
            }
            if observation.seq > UInt64(Int64.max) {
                throw ValidationError(field: "\(path).seq", message: "\(observation.seq) is above the largest seq, 2^63-1")
            }
            if observation.seq <= previous {
                throw ValidationError(
                    field: "\(path).seq",
                    message: "\(observation.seq) does not follow \(previous): seqs must strictly increase within a report")
            }
            previous = observation.seq
            try check(time: observation.observedAt, field: "\(path).observed_at")
            try observation.body.validate(path: path)
        }
    }
}

extension AgentIdentity {
    /// What is wrong with `id` as an agent id (1-128 ASCII letters, digits and . _ : -), or nil when
    /// nothing is: the one rule for reports, token requests and query parameters alike.
    public static func problem(withID id: String) -> String? {
        do {
            try check(token: id, field: "", max: FieldLimits.id, allowed: "._:-")
            return nil
        } catch {
            return error.message
        }
    }

    func validate(limits: ReportLimits) throws(ValidationError) {
        try check(token: id, field: "agent.id", max: FieldLimits.id, allowed: "._:-")
        try check(text: service, field: "agent.service", max: FieldLimits.name)
        try check(text: host, field: "agent.host", max: FieldLimits.name)
        try check(text: version, field: "agent.version", max: 64)
        try Self.validate(labels: labels, field: "agent.labels", limits: limits)
    }

    static func validate(labels: [String: String], field: String, limits: ReportLimits) throws(ValidationError) {
        if labels.count > limits.maxLabels {
            throw ValidationError(field: field, message: "at most \(limits.maxLabels) labels")
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            try check(token: key, field: field, max: 64, allowed: "._-")
            try check(text: value, field: "\(field).\(key)", max: FieldLimits.label)
        }
    }

    /// What is wrong with a service and labels an operator binds to a token (the rules of a
    /// report's agent object), or nil when nothing is.
    public static func bindingProblem(service: String?, labels: [String: String], limits: ReportLimits = .default) -> ValidationError? {
        do {
            if let service { try check(name: service, field: "service", max: FieldLimits.name) }
            try validate(labels: labels, field: "labels", limits: limits)
            return nil
        } catch {
            return error
        }
    }
}

extension ObservationBody {
    /// Validates the kind-specific fields; `path` prefixes field names in errors.
    public func validate(path makePath: @autoclosure () -> String) throws(ValidationError) {
        var path: String { makePath() }
        switch self {
        case .heartbeat(let h):
            try check(name: h.name, field: "\(path).name")
            if let d = h.durationMs, d < 0 { throw ValidationError(field: "\(path).duration_ms", message: "must not be negative") }
            try check(optionalText: h.message, field: "\(path).message", max: FieldLimits.text)
        case .probe(let p):
            if let job = p.job { try check(name: job, field: "\(path).job") }
            try check(name: p.target, field: "\(path).target", max: FieldLimits.url)
            if let s = p.httpStatus, !(100...599).contains(s) {
                throw ValidationError(field: "\(path).http_status", message: "\(s) is not an HTTP status (100-599)")
            }
            if p.httpStatus == nil && p.error == nil {
                throw ValidationError(field: "\(path).http_status", message: "a probe needs http_status or error")
            }
            try check(optionalText: p.error, field: "\(path).error", max: FieldLimits.text)
            if p.latencyMs < 0 { throw ValidationError(field: "\(path).latency_ms", message: "must not be negative") }
        case .count(let c):
            try check(identifier: c.dataset, field: "\(path).dataset")
            try check(partition: c.partition, field: "\(path).partition")
            if c.count < 0 { throw ValidationError(field: "\(path).count", message: "\(c.count) is negative; a count is 0 or more") }
        case .itemStatus(let s):
            try check(identifier: s.itemKind, field: "\(path).item_kind")
            if s.itemKind.contains("/") {
                throw ValidationError(field: "\(path).item_kind", message: "must not contain '/' (it separates kind and id in the subject)")
            }
            try check(name: s.itemID, field: "\(path).item_id")
            try check(name: s.status, field: "\(path).status")
            if let t = s.referenceTime { try check(time: t, field: "\(path).reference_time") }
        case .decision(let d):
            try check(identifier: d.workflow, field: "\(path).workflow")
            try check(optionalText: d.reason, field: "\(path).reason", max: FieldLimits.text)
        case .lock(let l):
            try check(identifier: l.name, field: "\(path).name")
            if let holder = l.holder { try check(name: holder, field: "\(path).holder") }
            if let t = l.acquiredAt { try check(time: t, field: "\(path).acquired_at") }
            if let t = l.expiresAt { try check(time: t, field: "\(path).expires_at") }
        case .actionResult(let a):
            try check(token: a.actionID, field: "\(path).action_id", max: FieldLimits.id, allowed: "._:-")
            try check(optionalText: a.outputTail, field: "\(path).output_tail", max: FieldLimits.outputTail)
        case .dropped(let d):
            if d.overflow < 0 { throw ValidationError(field: "\(path).overflow", message: "must not be negative") }
            if d.corrupt < 0 { throw ValidationError(field: "\(path).corrupt", message: "must not be negative") }
        case .job(let j):
            try check(name: j.name, field: "\(path).name")
            if let t = j.target { try check(name: t, field: "\(path).target", max: FieldLimits.url) }
            if let t = j.healthURL { try check(name: t, field: "\(path).health_url", max: FieldLimits.url) }
            if let t = j.schedule { try check(name: t, field: "\(path).schedule") }
            if let t = j.timeZone { try check(name: t, field: "\(path).timezone") }
            if let t = j.scheduler { try check(name: t, field: "\(path).scheduler") }
            if let t = j.lastResult { try check(name: t, field: "\(path).last_result") }
            if let t = j.lastAttemptAt { try check(time: t, field: "\(path).last_attempt_at") }
            if let t = j.lastSuccessAt { try check(time: t, field: "\(path).last_success_at") }
        }
    }
}

// MARK: - Field checks

/// `text` cut to at most `max` UTF-8 bytes (on a character boundary, marked with "…") for quoting in
/// an error message: a refusal says what was wrong without echoing a megabyte of input back.
public func excerpt(_ text: String, max: Int = 64) -> String {
    if text.utf8.count <= max { return text }
    var out = ""
    for character in text {
        if out.utf8.count + character.utf8.count > max { break }
        out.append(character)
    }
    return out + "…"
}

/// A name that identifies something rules and configs refer to (a dataset, an item kind, a
/// workflow, a lock): a name, and no whitespace, which would only make it differ from the name in
/// the config that watches it.
func check(identifier: String, field: @autoclosure () -> String, max: Int = FieldLimits.name) throws(ValidationError) {
    try check(name: identifier, field: field(), max: max)
    if identifier.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
        throw ValidationError(field: field(), message: "'\(excerpt(identifier))' contains whitespace; names of datasets, item kinds, workflows and locks may not")
    }
}

/// A count's partition: a name without leading or trailing whitespace; one that begins like a date
/// (`YYYY-MM-DD…`) must be a real calendar date, with a real hour if one follows
/// (`2026-01-22 13:00`), so a typo cannot create a partition no rule will ever judge.
func check(partition: String, field: @autoclosure () -> String) throws(ValidationError) {
    try check(name: partition, field: field())
    if let first = partition.unicodeScalars.first, let last = partition.unicodeScalars.last,
        first.properties.isWhitespace || last.properties.isWhitespace
    {
        throw ValidationError(field: field(), message: "'\(excerpt(partition))' begins or ends with whitespace")
    }
    let c = Array(partition.utf8)
    func digit(_ i: Int) -> Bool { i < c.count && c[i] >= 0x30 && c[i] <= 0x39 }
    guard c.count >= 10, (0..<4).allSatisfy(digit), c[4] == 0x2D, digit(5), digit(6), c[7] == 0x2D, digit(8), digit(9) else { return }
    func number(_ i: Int, _ n: Int) -> Int { (i..<(i + n)).reduce(0) { $0 * 10 + Int(c[$1] - 0x30) } }
    let year = number(0, 4), month = number(5, 2), day = number(8, 2)
    guard (1...12).contains(month), day >= 1, day <= TimeParsing.daysIn(month: month, year: year) else {
        throw ValidationError(field: field(), message: "'\(excerpt(partition))' is not a real date (YYYY-MM-DD)")
    }
    if c.count >= 13, c[10] == 0x54 || c[10] == 0x20, digit(11), digit(12), number(11, 2) > 23 {
        throw ValidationError(field: field(), message: "'\(excerpt(partition))' is not a real hour (00-23)")
    }
}

/// A non-empty printable name with no control characters.
func check(name: String, field: @autoclosure () -> String, max: Int = FieldLimits.name) throws(ValidationError) {
    if name.isEmpty { throw ValidationError(field: field(), message: "must not be empty") }
    try check(text: name, field: field(), max: max)
}

func check(optionalText: String?, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    if let text = optionalText { try check(text: text, field: field(), max: max) }
}

func check(text: String, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    let length = text.utf8.count
    if length > max {
        throw ValidationError(field: field(), message: "\(length) bytes; at most \(max)")
    }
    for byte in text.utf8 where byte < 0x20 && byte != 0x09 && byte != 0x0A {
        throw ValidationError(field: field(), message: "contains a control character")
    }
}

/// An identifier: ASCII letters, digits and the `allowed` punctuation.
func check(token: String, field: @autoclosure () -> String, max: Int, allowed: String = "-") throws(ValidationError) {
    if token.isEmpty { throw ValidationError(field: field(), message: "must not be empty") }
    if token.utf8.count > max { throw ValidationError(field: field(), message: "\(token.utf8.count) bytes; at most \(max)") }
    for byte in token.utf8 {
        let ok = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || allowed.utf8.contains(byte)
        if !ok {
            throw ValidationError(
                field: field(), message: "'\(token)' may hold only letters, digits and \(allowed.map { "'\($0)'" }.joined(separator: " "))")
        }
    }
}

func check(time: Millis, field: @autoclosure () -> String) throws(ValidationError) {
    if time < FieldLimits.earliestTime || time >= FieldLimits.latestTime {
        throw ValidationError(
            field: field(), message: "\(time) is not a time in milliseconds since 1970 between the years 2000 and 2100")
    }
}
