/// A single-pass JSON parser specialised for `Report`, used on the collector's ingest path.
///
/// Why not `JSONDecoder`: on this platform it took ~370 µs for a 3.4 KB, 20-observation report in a
/// release build, against ~11 µs to gunzip it, so decoding was nearly all of ingest's cost. This
/// parser reads the bytes once, straight into the protocol types, and gives the same errors as the
/// Codable path (`field: required field is missing`, `field: expected an integer`, ...). The Codable
/// conformances stay the reference; tests check both agree on every golden example.
struct ReportParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var depth = 0
    private static let maxDepth = 64
    /// Paths whose value was an explicit null, so a required one says "found null".
    private var nulls: Set<String> = []

    struct Failure: Error {
        var message: String
    }

    static func parse(_ input: [UInt8]) throws(Failure) -> Report {
        let result: Result<Report, Failure> = input.withUnsafeBufferPointer { buffer in
            var parser = ReportParser(bytes: buffer)
            return Result { () throws(Failure) -> Report in
                let report = try parser.report()
                parser.skipWhitespace()
                if parser.position != buffer.count { throw parser.syntax("unexpected data after the report") }
                return report
            }
        }
        return try result.get()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    // MARK: - Report structure

    private mutating func report() throws(Failure) -> Report {
        var version: Int?
        var agent: AgentIdentity?
        var bootID: String?
        var spoolID: String?
        var previousSpoolID: String?
        var sentAt: Int64?
        var observations: [Observation]?
        let first = try peek()
        if first != UInt8(ascii: "{") && first != UInt8(ascii: "[") && first != UInt8(ascii: "\"") {
            try skipValue()  // throws a syntax error for anything that is not JSON at all
            // A scalar is JSON but not a report; going on would read "900{...}" as the object after it.
            throw Failure(message: "body: expected an object")
        }
        var seen: UInt64 = 0
        try object(path: "") { (p: inout ReportParser, key) throws(Failure) in
            if let bit = Self.reportKeys.firstIndex(of: key) { try p.once(bit, &seen, key) }
            switch key {
            case "protocol": version = try p.int(path: "protocol").map(Int.init)
            case "agent": agent = try p.agentIdentity()
            case "boot_id": bootID = try p.string(path: "boot_id")
            case "spool_id": spoolID = try p.string(path: "spool_id")
            case "previous_spool_id": previousSpoolID = try p.string(path: "previous_spool_id")
            case "sent_at": sentAt = try p.int(path: "sent_at")
            case "observations": observations = try p.observations()
            default: try p.skipValue()
            }
        }
        return Report(
            protocolVersion: try required(version, "protocol", type: "an integer"),
            agent: try required(agent, "agent", type: "an object"),
            bootID: try required(bootID, "boot_id", type: "a string"),
            spoolID: try required(spoolID, "spool_id", type: "a string"),
            sentAt: try required(sentAt, "sent_at", type: "an integer"),
            observations: try required(observations, "observations", type: "an array"), previousSpoolID: previousSpoolID)
    }

    private mutating func agentIdentity() throws(Failure) -> AgentIdentity? {
        if try null() { return nil }
        var id: String?
        var identity = AgentIdentity(id: "", service: "", host: "", version: "")
        var seen: UInt64 = 0
        try object(path: "agent") { (p: inout ReportParser, key) throws(Failure) in
            if let bit = Self.agentKeys.firstIndex(of: key) { try p.once(bit, &seen, "agent.\(key)") }
            switch key {
            case "id": id = try p.string(path: "agent.id")
            case "service": identity.service = try p.string(path: "agent.service") ?? ""
            case "host": identity.host = try p.string(path: "agent.host") ?? ""
            case "version": identity.version = try p.string(path: "agent.version") ?? ""
            case "labels": identity.labels = try p.labels() ?? [:]
            default: try p.skipValue()
            }
        }
        identity.id = try required(id, "agent.id", type: "a string")
        return identity
    }

    private mutating func labels() throws(Failure) -> [String: String]? {
        if try null() { return nil }
        var labels: [String: String] = [:]
        try object(path: "agent.labels") { (p: inout ReportParser, key) throws(Failure) in
            let path = "agent.labels.\(excerpt(key))"
            if labels[key] != nil { throw Failure(message: "agent.labels: \(Self.duplicate)") }
            labels[key] = try p.required(try p.string(path: path), path, type: "a string")
        }
        return labels
    }

    private mutating func observations() throws(Failure) -> [Observation]? {
        if try null() { return nil }
        var list: [Observation] = []
        try array(path: "observations") { (p: inout ReportParser, index) throws(Failure) in
            list.append(try p.observation(index: index))
        }
        return list
    }

    /// Observation field names, looked up by hash: a `switch` over ~30 strings compares them one by
    /// one and cost more than the rest of parsing.
    private enum ObservationKey: Int {
        case seq, observedAt, kind, name, status, message, durationMs, exitCode, job, target, httpStatus, error, latencyMs, healthy, dataset,
            partition, count, itemKind, itemId, referenceTime, workflow, decision, reason, holder, acquiredAt, expiresAt, actionId, outcome,
            outputTail, overflow, corrupt, change, enabled, healthUrl, schedule, timezone, scheduler, lastAttemptAt, lastResult, lastSuccessAt, probe
    }

    private static let observationKeys: [String: ObservationKey] = [
        "seq": .seq,
        "observed_at": .observedAt,
        "kind": .kind,
        "name": .name,
        "status": .status,
        "message": .message,
        "duration_ms": .durationMs,
        "exit_code": .exitCode,
        "job": .job,
        "target": .target,
        "http_status": .httpStatus,
        "error": .error,
        "latency_ms": .latencyMs,
        "healthy": .healthy,
        "dataset": .dataset,
        "partition": .partition,
        "count": .count,
        "item_kind": .itemKind,
        "item_id": .itemId,
        "reference_time": .referenceTime,
        "workflow": .workflow,
        "decision": .decision,
        "reason": .reason,
        "holder": .holder,
        "acquired_at": .acquiredAt,
        "expires_at": .expiresAt,
        "action_id": .actionId,
        "outcome": .outcome,
        "output_tail": .outputTail,
        "overflow": .overflow,
        "corrupt": .corrupt,
        "change": .change,
        "enabled": .enabled,
        "health_url": .healthUrl,
        "schedule": .schedule,
        "timezone": .timezone,
        "scheduler": .scheduler,
        "last_attempt_at": .lastAttemptAt,
        "last_result": .lastResult,
        "last_success_at": .lastSuccessAt,
        "probe": .probe,
    ]

    /// Every field any kind may carry; the kind decides which are required.
    private struct Fields {
        var seq: UInt64?, observedAt: Int64?, kind: String?
        var name: String?, status: String?, message: String?, durationMs: Int64?, exitCode: Int64?
        var job: String?, target: String?, httpStatus: Int64?, error: String?, latencyMs: Int64?, healthy: Bool?
        var dataset: String?, partition: String?, count: Int64?
        var itemKind: String?, itemID: String?, referenceTime: Int64?
        var workflow: String?, decision: String?, reason: String?
        var holder: String?, acquiredAt: Int64?, expiresAt: Int64?
        var actionID: String?, outcome: String?, outputTail: String?
        var overflow: Int64?, corrupt: Int64?
        var change: String?, enabled: Bool?, healthURL: String?, schedule: String?, timeZone: String?, scheduler: String?
        var lastAttemptAt: Int64?, lastResult: String?, lastSuccessAt: Int64?
        var probe: Bool?
    }

    private mutating func observation(index: Int) throws(Failure) -> Observation {
        var path: String { "observations[\(index)]" }
        var f = Fields()
        var seqIsNegative = false
        var seen: UInt64 = 0
        try object(path: path) { (p: inout ReportParser, key) throws(Failure) in
            var field: String { "\(path).\(key)" }
            let known = ReportParser.observationKeys[key]
            if let known { try p.once(known.rawValue, &seen, field) }
            switch known {
            case .seq?:
                f.seq = try p.unsigned(path: field, negative: &seqIsNegative)
            case .observedAt?: f.observedAt = try p.int(path: field)
            case .kind?: f.kind = try p.string(path: field)
            case .name?: f.name = try p.string(path: field)
            case .status?: f.status = try p.string(path: field)
            case .message?: f.message = try p.string(path: field)
            case .durationMs?: f.durationMs = try p.int(path: field)
            case .exitCode?: f.exitCode = try p.int(path: field)
            case .job?: f.job = try p.string(path: field)
            case .target?: f.target = try p.string(path: field)
            case .httpStatus?: f.httpStatus = try p.int(path: field)
            case .error?: f.error = try p.string(path: field)
            case .latencyMs?: f.latencyMs = try p.int(path: field)
            case .healthy?: f.healthy = try p.bool(path: field)
            case .dataset?: f.dataset = try p.string(path: field)
            case .partition?: f.partition = try p.string(path: field)
            case .count?: f.count = try p.int(path: field)
            case .itemKind?: f.itemKind = try p.string(path: field)
            case .itemId?: f.itemID = try p.string(path: field)
            case .referenceTime?: f.referenceTime = try p.int(path: field)
            case .workflow?: f.workflow = try p.string(path: field)
            case .decision?: f.decision = try p.string(path: field)
            case .reason?: f.reason = try p.string(path: field)
            case .holder?: f.holder = try p.string(path: field)
            case .acquiredAt?: f.acquiredAt = try p.int(path: field)
            case .expiresAt?: f.expiresAt = try p.int(path: field)
            case .actionId?: f.actionID = try p.string(path: field)
            case .outcome?: f.outcome = try p.string(path: field)
            case .outputTail?: f.outputTail = try p.string(path: field)
            case .overflow?: f.overflow = try p.int(path: field)
            case .corrupt?: f.corrupt = try p.int(path: field)
            case .change?: f.change = try p.string(path: field)
            case .enabled?: f.enabled = try p.bool(path: field)
            case .probe?: f.probe = try p.bool(path: field)
            case .healthUrl?: f.healthURL = try p.string(path: field)
            case .schedule?: f.schedule = try p.string(path: field)
            case .timezone?: f.timeZone = try p.string(path: field)
            case .scheduler?: f.scheduler = try p.string(path: field)
            case .lastAttemptAt?: f.lastAttemptAt = try p.int(path: field)
            case .lastResult?: f.lastResult = try p.string(path: field)
            case .lastSuccessAt?: f.lastSuccessAt = try p.int(path: field)
            case nil: try p.skipValue()
            }
        }
        if seqIsNegative { throw Failure(message: "\(path).seq: expected an integer of 0 or more") }
        let seq = try required(f.seq, "\(path).seq", type: "an integer")
        let observedAt = try required(f.observedAt, "\(path).observed_at", type: "an integer")
        let kindName = try required(f.kind, "\(path).kind", type: "a string")
        guard let kind = ObservationKind(rawValue: kindName) else {
            throw Failure(
                message:
                    "\(path).kind: '\(excerpt(kindName))' is not a kind; one of \(ObservationKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func need<T>(_ value: T?, _ key: String, _ type: String) throws(Failure) -> T {
            try required(value, "\(path).\(key)", type: type)
        }
        func enumValue<E: RawRepresentable & CaseIterable>(_ raw: String?, _ key: String, _: E.Type) throws(Failure) -> E
        where E.RawValue == String {
            let text = try need(raw, key, "a string")
            guard let value = E(rawValue: text) else {
                throw Failure(
                    message: "\(path).\(key): '\(excerpt(text))' is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return value
        }
        func small(_ value: Int64?, _ key: String) throws(Failure) -> Int? {
            guard let value else { return nil }
            guard FieldLimits.exitCodes.contains(value), let int = Int(exactly: value) else {
                throw Failure(
                    message: "\(path).\(key): \(value) is out of range (\(FieldLimits.exitCodes.lowerBound) to \(FieldLimits.exitCodes.upperBound))")
            }
            return int
        }
        let body: ObservationBody
        switch kind {
        case .heartbeat:
            body = .heartbeat(
                Heartbeat(
                    name: try need(f.name, "name", "a string"), status: try enumValue(f.status, "status", Heartbeat.Status.self),
                    durationMs: f.durationMs, exitCode: try small(f.exitCode, "exit_code"), message: f.message, probe: f.probe))
        case .probe:
            body = .probe(
                TargetProbe(
                    job: f.job, target: try need(f.target, "target", "a string"), httpStatus: try small(f.httpStatus, "http_status"),
                    error: f.error, latencyMs: try need(f.latencyMs, "latency_ms", "an integer"),
                    healthy: try need(f.healthy, "healthy", "true or false")))
        case .count:
            body = .count(
                Count(
                    dataset: try need(f.dataset, "dataset", "a string"), partition: try need(f.partition, "partition", "a string"),
                    count: try need(f.count, "count", "an integer")))
        case .itemStatus:
            body = .itemStatus(
                ItemStatus(
                    itemKind: try need(f.itemKind, "item_kind", "a string"), itemID: try need(f.itemID, "item_id", "a string"),
                    status: try need(f.status, "status", "a string"), referenceTime: f.referenceTime))
        case .decision:
            body = .decision(
                WorkflowDecision(
                    workflow: try need(f.workflow, "workflow", "a string"),
                    decision: try enumValue(f.decision, "decision", WorkflowDecision.Decision.self), reason: f.reason))
        case .lock:
            body = .lock(
                LockSighting(name: try need(f.name, "name", "a string"), holder: f.holder, acquiredAt: f.acquiredAt, expiresAt: f.expiresAt))
        case .actionResult:
            body = .actionResult(
                ActionResult(
                    actionID: try need(f.actionID, "action_id", "a string"),
                    outcome: try enumValue(f.outcome, "outcome", ActionResult.Outcome.self), exitCode: try small(f.exitCode, "exit_code"),
                    outputTail: f.outputTail))
        case .dropped:
            body = .dropped(
                DroppedRecords(overflow: try need(f.overflow, "overflow", "an integer"), corrupt: try need(f.corrupt, "corrupt", "an integer")))
        case .job:
            body = .job(
                JobSighting(
                    name: try need(f.name, "name", "a string"), change: try enumValue(f.change, "change", JobSighting.Change.self),
                    enabled: try need(f.enabled, "enabled", "true or false"), target: f.target, healthURL: f.healthURL, schedule: f.schedule,
                    timeZone: f.timeZone, scheduler: f.scheduler, lastAttemptAt: f.lastAttemptAt, lastResult: f.lastResult,
                    lastSuccessAt: f.lastSuccessAt))
        }
        return Observation(seq: seq, observedAt: observedAt, body: body)
    }

    static let reportKeys = ["protocol", "agent", "boot_id", "spool_id", "sent_at", "observations", "previous_spool_id"]
    static let agentKeys = ["id", "service", "host", "version", "labels"]
    static let duplicate = "a key appears twice in one object"

    /// Refuses a known key seen before in the same object. Parsers disagree on which of two values
    /// wins (JSONDecoder keeps the first), so an ambiguous body is refused rather than guessed at.
    private func once(_ bit: Int, _ seen: inout UInt64, _ path: @autoclosure () -> String) throws(Failure) {
        let mask: UInt64 = 1 << UInt64(bit)
        if seen & mask != 0 { throw Failure(message: "\(path()): \(Self.duplicate)") }
        seen |= mask
    }

    private func required<T>(_ value: T?, _ path: @autoclosure () -> String, type: String) throws(Failure) -> T {
        guard let value else {
            let path = path()
            if nulls.contains(path) { throw Failure(message: "\(path): expected \(type), found null") }
            throw Failure(message: "\(path): required field is missing")
        }
        return value
    }

    // MARK: - JSON grammar

    private func syntax(_ what: String) -> Failure {
        Failure(message: "body is not valid JSON: \(what) at byte \(position)")
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func peek() throws(Failure) -> UInt8 {
        skipWhitespace()
        guard position < bytes.count else { throw syntax("unexpected end") }
        return bytes[position]
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard try peek() == byte else { throw syntax("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw syntax("unexpected end") }
        for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw syntax("unknown literal") }
        position += count
    }

    /// Consumes `null` if it is next.
    private mutating func null() throws(Failure) -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func nest() throws(Failure) {
        depth += 1
        if depth > Self.maxDepth { throw syntax("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func object(path: @autoclosure () -> String, _ member: (inout ReportParser, String) throws(Failure) -> Void) throws(Failure) {
        guard try peek() == UInt8(ascii: "{") else {
            let path = path()
            throw Failure(message: "\(path.isEmpty ? "body" : path): expected an object")
        }
        position += 1
        try nest()
        defer { depth -= 1 }
        if try peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw syntax("expected a key") }
            let key = try rawString()
            try expect(UInt8(ascii: ":"))
            try member(&self, key)
            let next = try peek()
            position += 1
            if next == UInt8(ascii: "}") { return }
            if next != UInt8(ascii: ",") { throw syntax("expected ',' or '}'") }
        }
    }

    private mutating func array(path: @autoclosure () -> String, _ element: (inout ReportParser, Int) throws(Failure) -> Void) throws(Failure) {
        guard try peek() == UInt8(ascii: "[") else { throw Failure(message: "\(path()): expected an array") }
        position += 1
        try nest()
        defer { depth -= 1 }
        if try peek() == UInt8(ascii: "]") {
            position += 1
            return
        }
        var index = 0
        while true {
            try element(&self, index)
            index += 1
            let next = try peek()
            position += 1
            if next == UInt8(ascii: "]") { return }
            if next != UInt8(ascii: ",") { throw syntax("expected ',' or ']'") }
        }
    }

    /// A string value, or nil for `null`.
    private mutating func string(path: @autoclosure () -> String) throws(Failure) -> String? {
        let next = try peek()
        if next == UInt8(ascii: "n") {
            try literal("null")
            nulls.insert(path())
            return nil
        }
        guard next == UInt8(ascii: "\"") else {
            try skipValue()
            throw Failure(message: "\(path()): expected a string")
        }
        return try rawString()
    }

    /// A non-negative integer up to 2^64-1 (seq), or nil for `null`; `negative` is set for a minus sign.
    private mutating func unsigned(path: @autoclosure () -> String, negative: inout Bool) throws(Failure) -> UInt64? {
        if try peek() == UInt8(ascii: "-") {
            negative = true
            _ = try int(path: path())
            return nil
        }
        guard let (magnitude, _) = try number(path: path()) else { return nil }
        return magnitude
    }

    /// An integer value, or nil for `null`. Fractions, exponents and overflow are refused.
    private mutating func int(path: @autoclosure () -> String) throws(Failure) -> Int64? {
        guard let (magnitude, negative) = try number(path: path()) else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw Failure(message: "\(path()): number is too large") }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw Failure(message: "\(path()): number is too large") }
        return Int64(magnitude)
    }

    /// An integer's magnitude and sign, or nil for `null`.
    private mutating func number(path: @autoclosure () -> String) throws(Failure) -> (UInt64, Bool)? {
        let next = try peek()
        if next == UInt8(ascii: "n") {
            try literal("null")
            nulls.insert(path())
            return nil
        }
        guard next == UInt8(ascii: "-") || (next >= 0x30 && next <= 0x39) else {
            try skipValue()
            throw Failure(message: "\(path()): expected an integer")
        }
        let negative = next == UInt8(ascii: "-")
        if negative { position += 1 }
        let start = position
        var value: UInt64 = 0
        var overflow = false
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[position] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            position += 1
        }
        if position == start { throw syntax("expected digits") }
        // RFC 8259 has no leading zeros ("01"); JSONDecoder refuses them, so must this parser.
        if bytes[start] == UInt8(ascii: "0") && position - start > 1 { throw syntax("leading zero in a number") }
        if position < bytes.count,
            bytes[position] == UInt8(ascii: ".") || bytes[position] | 0x20 == UInt8(ascii: "e")
        {
            position = start
            try skipNumber()
            throw Failure(message: "\(path()): expected an integer, not a fraction")
        }
        if overflow { throw Failure(message: "\(path()): number is too large") }
        return (value, negative)
    }

    private mutating func bool(path: @autoclosure () -> String) throws(Failure) -> Bool? {
        switch try peek() {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        case UInt8(ascii: "n"):
            try literal("null")
            nulls.insert(path())
            return nil
        default:
            try skipValue()
            throw Failure(message: "\(path()): expected true or false")
        }
    }

    /// A string at the current position (which holds `"`), unescaped and checked as UTF-8.
    private mutating func rawString() throws(Failure) -> String {
        position += 1
        let start = position
        var hasEscape = false
        while true {
            guard position < bytes.count else { throw syntax("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscape = true
                position += 2
                continue
            }
            if byte < 0x20 { throw syntax("control character in a string") }
            position += 1
        }
        let end = position
        position += 1
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<end])
        if !hasEscape {
            // Nearly every string on the wire is ASCII, which is valid UTF-8 as it is; the generic
            // validating initialiser costs a runtime metadata lookup per call.
            var ascii = true
            for byte in raw where byte >= 0x80 {
                ascii = false
                break
            }
            if ascii { return String(decoding: raw, as: UTF8.self) }
            guard let text = String(validating: raw, as: UTF8.self) else { throw syntax("invalid UTF-8 in a string") }
            return text
        }
        return try unescape(raw)
    }

    private func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws(Failure) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) throws(Failure) -> UInt32 {
            guard at + 4 <= raw.count else { throw syntax("short \\u escape") }
            var v: UInt32 = 0
            for j in 0..<4 {
                let c = raw[at + j]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw syntax("bad \\u escape")
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { throw syntax("bad escape") }
            let e = raw[i + 1]
            i += 2
            if let byte = JSONEscape.byte(e) {
                out.append(byte)
                continue
            }
            switch e {
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") else {
                        throw syntax("unpaired surrogate")
                    }
                    let low = try hex4(i + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw syntax("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                guard let u = Unicode.Scalar(scalar) else { throw syntax("unpaired surrogate") }
                out.append(contentsOf: String(Character(u)).utf8)
            default: throw syntax("bad escape")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw syntax("invalid UTF-8 in a string") }
        return text
    }

    /// Skips a number from its first digit (after any minus sign), holding it to RFC 8259's grammar:
    /// `0` or a digit run without a leading zero, then an optional `.digits` and `e[+-]digits`.
    private mutating func skipNumber() throws(Failure) {
        func digits(_ p: inout ReportParser) -> Int {
            let start = p.position
            while p.position < p.bytes.count, p.bytes[p.position] >= 0x30, p.bytes[p.position] <= 0x39 { p.position += 1 }
            return p.position - start
        }
        let start = position
        let integer = digits(&self)
        if integer == 0 { throw syntax("expected digits") }
        if integer > 1 && bytes[start] == UInt8(ascii: "0") { throw syntax("leading zero in a number") }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            if digits(&self) == 0 { throw syntax("expected digits after '.'") }
        }
        if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            if digits(&self) == 0 { throw syntax("expected digits in the exponent") }
        }
    }

    /// Skips any JSON value (an unknown field's), checking its syntax; depth is bounded.
    private mutating func skipValue() throws(Failure) {
        switch try peek() {
        case UInt8(ascii: "{"):
            try object(path: "") { (p: inout ReportParser, _) throws(Failure) in try p.skipValue() }
        case UInt8(ascii: "["):
            try array(path: "") { (p: inout ReportParser, _) throws(Failure) in try p.skipValue() }
        case UInt8(ascii: "\""): _ = try rawString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), 0x30...0x39:
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            try skipNumber()
        default: throw syntax("unexpected character")
        }
    }
}
