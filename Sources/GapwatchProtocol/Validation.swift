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
        if let previousSpoolID { try check(token: previousSpoolID, field: "previous_spool_id", max: 64) }
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
        try check(line: service, field: "agent.service", max: FieldLimits.name)
        try check(line: host, field: "agent.host", max: FieldLimits.name)
        try check(line: version, field: "agent.version", max: 64)
        try Self.validate(labels: labels, field: "agent.labels", limits: limits)
    }

    static func validate(labels: [String: String], field: String, limits: ReportLimits) throws(ValidationError) {
        if labels.count > limits.maxLabels {
            throw ValidationError(field: field, message: "at most \(limits.maxLabels) labels")
        }
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            try check(token: key, field: field, max: 64, allowed: "._-")
            try check(line: value, field: "\(field).\(key)", max: FieldLimits.label)
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
            if let d = h.durationMs { try check(duration: d, field: "\(path).duration_ms") }
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
            try check(duration: p.latencyMs, field: "\(path).latency_ms")
        case .count(let c):
            try check(identifier: c.dataset, field: "\(path).dataset")
            try check(partition: c.partition, field: "\(path).partition")
            try check(count: c.count, field: "\(path).count")
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
            try check(count: d.overflow, field: "\(path).overflow")
            try check(count: d.corrupt, field: "\(path).corrupt")
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
        throw ValidationError(
            field: field(), message: "'\(excerpt(identifier))' contains whitespace; names of datasets, item kinds, workflows and locks may not")
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
    let year = number(0, 4)
    let month = number(5, 2)
    let day = number(8, 2)
    guard (1...12).contains(month), day >= 1, day <= TimeParsing.daysIn(month: month, year: year) else {
        throw ValidationError(field: field(), message: "'\(excerpt(partition))' is not a real date (YYYY-MM-DD)")
    }
    if c.count >= 13, c[10] == 0x54 || c[10] == 0x20, digit(11), digit(12), number(11, 2) > 23 {
        throw ValidationError(field: field(), message: "'\(excerpt(partition))' is not a real hour (00-23)")
    }
}

/// A non-empty name: one line of printable text (`check(line:)`).
func check(name: String, field: @autoclosure () -> String, max: Int = FieldLimits.name) throws(ValidationError) {
    if name.isEmpty { throw ValidationError(field: field(), message: "must not be empty") }
    try check(line: name, field: field(), max: max)
}

/// Text shown on one line of a table or a log (a name, a label, a host): no control character
/// at all (not even tab or line feed), no line or paragraph separator, no bidirectional control.
/// Any of them would let the text end a log line early or show itself as something else.
func check(line: String, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    try check(length: line, field: field(), max: max)
    if let scalar = line.unicodeScalars.first(where: { DisplayUnsafe.breaksLine($0) || DisplayUnsafe.isHidden($0) }) {
        throw ValidationError(
            field: field(), message: "contains \(DisplayUnsafe.describe(scalar)); names and labels are one line of printable text")
    }
}

func check(optionalText: String?, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    if let text = optionalText { try check(text: text, field: field(), max: max) }
}

/// Free text (a message, a reason, an error, a command's output): may hold tabs and line feeds;
/// no other C0 control character (carriage return included) and no bidirectional control.
/// (Agents replace those in text they compose from command output or errors before they spool it.)
func check(text: String, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    try check(length: text, field: field(), max: max)
    if let scalar = text.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\t" && $0 != "\n") || DisplayUnsafe.isHidden($0) }) {
        throw ValidationError(
            field: field(),
            message:
                "contains \(DisplayUnsafe.describe(scalar)); free text may hold tabs and line feeds, but no other control or bidirectional character")
    }
}

private func check(length text: String, field: @autoclosure () -> String, max: Int) throws(ValidationError) {
    let length = text.utf8.count
    if length > max {
        throw ValidationError(field: field(), message: "\(length) bytes; at most \(max)")
    }
}

/// Unicode scalars that make text display as something other than what it holds.
public enum DisplayUnsafe {
    /// C0 controls (tab, line feed and carriage return included), DEL and C1 controls.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// A control character, or U+2028 / U+2029 (line and paragraph separators).
    public static func breaksLine(_ scalar: Unicode.Scalar) -> Bool {
        isControl(scalar) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// Invisible bidirectional controls: embeddings and overrides (U+202A-U+202E), isolates
    /// (U+2066-U+2069) and the marks U+200E, U+200F and U+061C. They reorder the text around them.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: true
        default: false
        }
    }

    /// "a line feed (U+000A)", "a bidirectional control (U+202E)".
    public static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        let what: String =
            switch scalar.value {
            case 0x09: "a tab"
            case 0x0A: "a line feed"
            case 0x0D: "a carriage return"
            case 0x2028: "a line separator"
            case 0x2029: "a paragraph separator"
            default: isHidden(scalar) ? "a bidirectional control" : "a control character"
            }
        return "\(what) (\(code))"
    }
}

/// An identifier: ASCII letters, digits and the `allowed` punctuation.
func check(token: String, field: @autoclosure () -> String, max: Int, allowed: String = "-") throws(ValidationError) {
    if token.isEmpty { throw ValidationError(field: field(), message: "must not be empty") }
    if token.utf8.count > max { throw ValidationError(field: field(), message: "\(token.utf8.count) bytes; at most \(max)") }
    for byte in token.utf8 {
        let ok =
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || allowed.utf8.contains(byte)
        if !ok {
            throw ValidationError(
                field: field(), message: "'\(token)' may hold only letters, digits and \(allowed.map { "'\($0)'" }.joined(separator: " "))")
        }
    }
}

/// A count: 0 ... `FieldLimits.maxCount`.
func check(count: Int64, field: @autoclosure () -> String) throws(ValidationError) {
    if count < 0 { throw ValidationError(field: field(), message: "\(count) is negative; a count is 0 or more") }
    if count > FieldLimits.maxCount {
        throw ValidationError(field: field(), message: "\(count) is above the largest count, \(FieldLimits.maxCount) (2^53-1)")
    }
}

/// A duration in milliseconds: 0 ... `FieldLimits.maxDurationMs` (366 days).
func check(duration: Int64, field: @autoclosure () -> String) throws(ValidationError) {
    if duration < 0 { throw ValidationError(field: field(), message: "\(duration) is negative; a duration is 0 or more") }
    if duration > FieldLimits.maxDurationMs {
        throw ValidationError(
            field: field(), message: "\(duration) ms is longer than the longest duration, \(FieldLimits.maxDurationMs) ms (366 days)")
    }
}

func check(time: Millis, field: @autoclosure () -> String) throws(ValidationError) {
    if time < FieldLimits.earliestTime || time >= FieldLimits.latestTime {
        throw ValidationError(
            field: field(), message: "\(time) is not a time in milliseconds since 1970 between the years 2000 and 2100")
    }
}
