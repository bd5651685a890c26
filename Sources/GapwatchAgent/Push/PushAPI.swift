import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// What `GET /v1/status` answers: the fields the protocol README requires (`agent_id`,
/// `spool_id`, `boot_id`, `last_seq`, `acked_seq`, `pending`, `dropped`, `last_ship_at`,
/// `last_error`) and a few more. Never holds the token.
public struct AgentStatus: Codable, Sendable, Equatable {
    /// The spool's losses, as the agent also reports them (`dropped` observations).
    public typealias Dropped = DroppedRecords

    public var agentID: String
    public var service: String
    public var version: String
    public var bootID: String
    public var spoolID: String
    /// The highest seq assigned so far (0 if none).
    public var lastSeq: UInt64
    /// The seq the next record gets.
    public var nextSeq: UInt64
    public var ackedSeq: UInt64
    /// Records not yet acknowledged by the collector.
    public var pending: Int
    public var pendingBytes: Int
    public var spoolBytes: Int
    public var dropped: Dropped
    /// Observations the collector refused one by one and the agent skipped (also in `dropped.corrupt`).
    public var rejected: Int64
    /// Observations the collector acknowledged but refused to store (a 200's `refused`).
    public var refused: Int64
    public var collectorURL: String
    public var lastShipAt: Millis?
    public var lastShipOKAt: Millis?
    /// The last error from the collector or the transport, or null after a success.
    public var lastError: String?

    public init(
        agentID: String, service: String, version: String, bootID: String, spoolID: String, lastSeq: UInt64, nextSeq: UInt64,
        ackedSeq: UInt64, pending: Int, pendingBytes: Int, spoolBytes: Int, dropped: Dropped, rejected: Int64,
        collectorURL: String, lastShipAt: Millis?, lastShipOKAt: Millis?, lastError: String?, refused: Int64 = 0
    ) {
        self.refused = refused
        self.agentID = agentID
        self.service = service
        self.version = version
        self.bootID = bootID
        self.spoolID = spoolID
        self.lastSeq = lastSeq
        self.nextSeq = nextSeq
        self.ackedSeq = ackedSeq
        self.pending = pending
        self.pendingBytes = pendingBytes
        self.spoolBytes = spoolBytes
        self.dropped = dropped
        self.rejected = rejected
        self.collectorURL = collectorURL
        self.lastShipAt = lastShipAt
        self.lastShipOKAt = lastShipOKAt
        self.lastError = lastError
    }

    enum CodingKeys: String, SnakeCaseKey {
        case agentID, service, version, dropped, rejected, refused, pending, bootID, spoolID, lastSeq, nextSeq, ackedSeq, pendingBytes, spoolBytes,
            collectorURL, lastShipAt, lastShipOKAt, lastError
    }

    public func encode(to encoder: any Encoder) throws {
        // Explicit nulls: scripts can rely on every field being present.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(agentID, forKey: .agentID)
        try c.encode(service, forKey: .service)
        try c.encode(version, forKey: .version)
        try c.encode(bootID, forKey: .bootID)
        try c.encode(spoolID, forKey: .spoolID)
        try c.encode(lastSeq, forKey: .lastSeq)
        try c.encode(nextSeq, forKey: .nextSeq)
        try c.encode(ackedSeq, forKey: .ackedSeq)
        try c.encode(pending, forKey: .pending)
        try c.encode(pendingBytes, forKey: .pendingBytes)
        try c.encode(spoolBytes, forKey: .spoolBytes)
        try c.encode(dropped, forKey: .dropped)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(refused, forKey: .refused)
        try c.encode(collectorURL, forKey: .collectorURL)
        try c.encode(lastShipAt, forKey: .lastShipAt)
        try c.encode(lastShipOKAt, forKey: .lastShipOKAt)
        try c.encode(lastError, forKey: .lastError)
    }
}

/// `POST /v1/observations` answers this once the observation is durably spooled.
public struct PushResponse: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var spoolID: String

    public init(seq: UInt64, spoolID: String) {
        self.seq = seq
        self.spoolID = spoolID
    }

    enum CodingKeys: String, SnakeCaseKey {
        case seq, spoolID
    }
}

/// The routes of the local push endpoint.
///
/// - `POST /v1/observations`: body = an `ObservationBody` JSON, optionally with `observed_at` (ms).
///   200 `{"seq":N,"spool_id":"..."}` after the record is fsynced; 400 with an `ErrorBody` naming the
///   field; 413 over 64 KiB (enforced by the server).
/// - `GET /healthz`: 200 `{"status":"ok"}`.
/// - `GET /v1/status`: `AgentStatus`.
public struct PushAPI: Sendable {
    let spool: Spool
    let status: @Sendable () -> AgentStatus
    let logger: Logger
    /// What was pushed per dataset, to zero partitions a complete batch no longer lists.
    let pushedCounts: PushedCounts
    /// With a token (`listen_token_file`), every route but `/healthz` needs it as a bearer token.
    let pushToken: String?

    public init(spool: Spool, logger: Logger, pushToken: String? = nil, status: @escaping @Sendable () -> AgentStatus) {
        self.spool = spool
        self.logger = logger
        self.status = status
        self.pushToken = pushToken
        self.pushedCounts = PushedCounts(dir: spool.dir, logger: logger)
    }

    /// The kinds a local service may push; `dropped` and `action_result` are the agent's own.
    static let pushableKinds: [ObservationKind] = [.heartbeat, .probe, .count, .itemStatus, .decision, .lock, .job]

    public func handle(_ request: ServerRequest) -> ServerResponse {
        if let pushToken, request.path != "/healthz", !PushToken.matches(authorization: request.headers["authorization"], token: pushToken) {
            var response = error(
                401, "unauthorized",
                "this agent's push endpoint needs 'Authorization: Bearer <token>' with the token in its listen_token_file (gapwatch-agent --config reads it)"
            )
            response.headers.append(("WWW-Authenticate", "Bearer"))
            return response
        }
        switch (request.method, request.path) {
        case ("POST", "/v1/observations"):
            if let type = request.headers["content-type"],
                type.split(separator: ";").first.map({ $0.trimmed.lowercased() }) != "application/json"
            {
                return error(415, "unsupported_media_type", "Content-Type \(type) is not supported; use application/json")
            }
            if let encoding = request.headers["content-encoding"], encoding.trimmed.lowercased() != "identity" {
                return error(415, "unsupported_media_type", "Content-Encoding \(encoding) is not supported; send plain JSON")
            }
            return push(request.body)
        case ("POST", "/v1/counts"):
            if let type = request.headers["content-type"],
                type.split(separator: ";").first.map({ $0.trimmed.lowercased() }) != "application/json"
            {
                return error(415, "unsupported_media_type", "Content-Type \(type) is not supported; use application/json")
            }
            return pushCounts(request.body)
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            if let problem = spool.problem {
                return error(503, "unavailable", "the spool is not writable: \(problem)")
            }
            return ServerResponse(status: 200, body: Array(#"{"status":"ok"}"#.utf8))
        case ("GET", "/v1/status"):
            return ServerResponse(status: 200, body: ReportCodec.encode(status()))
        case (_, "/v1/observations"), (_, "/v1/counts"):
            return error(405, "method_not_allowed", "\(request.method) is not allowed on \(request.path); allowed: POST")
        case (_, "/healthz"), (_, "/v1/status"):
            return error(405, "method_not_allowed", "\(request.method) is not allowed on \(request.path); allowed: GET")
        default:
            return error(
                404, "not_found",
                "no route \(request.method) \(request.path); see POST /v1/observations, POST /v1/counts, GET /v1/status, GET /healthz")
        }
    }

    func push(_ body: [UInt8]) -> ServerResponse {
        let parsed: (ObservationBody, Millis?)
        switch Self.decode(body) {
        case .success(let value): parsed = value
        case .failure(let e): return error(400, e.body.error, e.body.message, field: e.body.field)
        }
        if case .count(let count) = parsed.0 {
            // A single count joins what is known of its dataset, so a later complete batch can zero it.
            return pushedCounts.serially(count.dataset) { snapshot in
                _ = snapshot.record([count.partition: count.count], coverage: .none, now: WallClock.nowMillis(), zone: .utc, merge: true)
                let response = append(parsed.0, observedAt: parsed.1)
                if response.status == 200 { snapshot.commit() } else { snapshot.discard() }
                return response
            }
        }
        return append(parsed.0, observedAt: parsed.1)
    }

    private func append(_ body: ObservationBody, observedAt: Millis?) -> ServerResponse {
        do {
            let observation = try spool.append(body, observedAt: observedAt ?? WallClock.nowMillis())
            return ServerResponse(status: 200, body: ReportCodec.encode(PushResponse(seq: observation.seq, spoolID: spool.spoolID)))
        } catch {
            logger.error("cannot spool a pushed observation", metadata: ["error": "\(error)"])
            var response = self.error(503, "unavailable", "the observation was not recorded: \(error.message); retry later")
            response.headers.append(("Retry-After", "1"))
            return response
        }
    }

    /// `POST /v1/counts`: a batch of one dataset's counts that is complete for the partitions it
    /// `covers`; partitions pushed before, covered and not in the batch are recorded as 0.
    func pushCounts(_ body: [UInt8]) -> ServerResponse {
        let batch: CountBatch
        switch CountBatch.decode(body) {
        case .success(let value): batch = value
        case .failure(let e): return error(400, e.body.error, e.body.message, field: e.body.field)
        }
        return pushedCounts.serially(batch.dataset) { snapshot in
            let now = WallClock.nowMillis()
            var counts: [String: Int64] = [:]
            for row in batch.rows { counts[row.partition] = row.count }
            let zeroed = snapshot.record(counts, coverage: batch.coverage, now: now, zone: batch.zone)
            let bodies =
                batch.rows.map { ObservationBody.count(Count(dataset: batch.dataset, partition: $0.partition, count: $0.count)) }
                + zeroed.map { ObservationBody.count(Count(dataset: batch.dataset, partition: $0, count: 0)) }
            do throws(SpoolError) {
                let written = try spool.appendAll(bodies, observedAt: batch.observedAt ?? now)
                snapshot.commit()
                let answer = CountBatchResponse(
                    firstSeq: written.first?.seq, lastSeq: written.last?.seq, stored: written.count, zeroed: zeroed, spoolID: spool.spoolID)
                return ServerResponse(status: 200, body: ReportCodec.encode(answer))
            } catch {
                snapshot.discard()
                logger.error("cannot spool a pushed batch of counts", metadata: ["error": "\(error)"])
                var response = self.error(503, "unavailable", "the batch was not recorded whole: \(error.message); send it again")
                response.headers.append(("Retry-After", "1"))
                return response
            }
        }
    }

    /// Decodes and validates a push body into an observation body and its optional time.
    public static func decode(_ body: [UInt8]) -> Result<(ObservationBody, Millis?), PushRejection> {
        if body.isEmpty { return .failure(PushRejection(error: "bad_json", message: "the body is empty; send an observation as JSON")) }
        let envelope: PushEnvelope
        do {
            envelope = try decodeBody(PushEnvelope.self, body, otherwise: "body is not valid JSON")
        } catch {
            return .failure(error)
        }
        guard let kindText = envelope.kind else {
            return .failure(PushRejection(error: "bad_json", message: "kind: required field is missing", field: "kind"))
        }
        guard let kind = ObservationKind(rawValue: kindText), pushableKinds.contains(kind) else {
            let kinds = pushableKinds.map(\.rawValue).joined(separator: ", ")
            if ObservationKind(rawValue: kindText) == nil {
                return .failure(PushRejection(error: "bad_json", message: "kind: '\(kindText)' is not a kind; use one of \(kinds)", field: "kind"))
            }
            return .failure(
                PushRejection(
                    error: "invalid_observation", message: "kind: '\(kindText)' is reported by the agent itself; push one of \(kinds)", field: "kind")
            )
        }
        // Unknown fields (a `seq`, say) are ignored, as everywhere in the protocol.
        let observation: ObservationBody
        do {
            observation = try decodeBody(ObservationBody.self, body)
        } catch {
            return .failure(error)
        }
        do {
            try observation.validate(path: "")
        } catch {
            let field = error.field.hasPrefix(".") ? String(error.field.dropFirst()) : error.field
            return .failure(PushRejection(error: "invalid_observation", message: "\(field): \(error.message)", field: field))
        }
        if let t = envelope.observedAt, t < FieldLimits.earliestTime || t >= FieldLimits.latestTime {
            return .failure(
                PushRejection(
                    error: "invalid_observation",
                    message: "observed_at: \(t) is not a time in milliseconds since 1970 between the years 2000 and 2100",
                    field: "observed_at"))
        }
        return .success((observation, envelope.observedAt))
    }

    /// `body` as `T`. A decoding error names its field; any other error is `bad_json` with
    /// `message`, or with the error's own text when there is none.
    static func decodeBody<T: Decodable>(_ type: T.Type, _ body: [UInt8], otherwise message: String? = nil) throws(PushRejection) -> T {
        do {
            return try ReportCodec.decodeJSON(type, from: body)
        } catch let e as DecodingError {
            throw PushRejection(describe(e))
        } catch {
            throw PushRejection(error: "bad_json", message: message ?? "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> ErrorBody {
        let message = ReportCodec.describe(error)
        var field: String? = nil
        if let colon = message.firstRange(of: ": ") {
            let prefix = String(message[..<colon.lowerBound])
            if prefix != "body" { field = prefix }
        }
        return ErrorBody(error: "bad_json", message: message, field: field)
    }

    func error(_ status: Int, _ code: String, _ message: String, field: String? = nil) -> ServerResponse {
        ServerResponse(status: status, body: ReportCodec.encode(ErrorBody(error: code, message: message, field: field)))
    }
}

/// Why a push body was refused: the `ErrorBody` answered with 400.
public struct PushRejection: Error, Sendable, Equatable {
    public var body: ErrorBody
    public init(_ body: ErrorBody) { self.body = body }
    public init(error: String, message: String, field: String? = nil) {
        body = ErrorBody(error: error, message: message, field: field)
    }
}

/// The push body's kind and time, read before the full decode.
struct PushEnvelope: Decodable {
    var kind: String?
    var observedAt: Millis?

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        kind = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "kind"))
        observedAt = try c.decodeIfPresent(Millis.self, forKey: AnyKey(stringValue: "observed_at"))
    }
}

/// `POST /v1/counts` answers this once every count of the batch (and every zero) is spooled.
public struct CountBatchResponse: Codable, Sendable, Equatable {
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    /// Observations spooled: the batch's counts plus the zeros.
    public var stored: Int
    /// Partitions pushed before, covered by the batch and not in it: recorded as 0.
    public var zeroed: [String]
    public var spoolID: String

    enum CodingKeys: String, SnakeCaseKey {
        case stored, zeroed, firstSeq, lastSeq, spoolID
    }
}

/// A batch of counts as `POST /v1/counts` takes it:
/// `{"dataset": "d", "covers": "3d" | "all" | "none" | {"from": "2026-01-20", "to": "2026-01-22"},
///   "timezone": "UTC", "counts": [{"partition": "2026-01-22", "count": 282}], "observed_at": ms}`.
public struct CountBatch: Sendable {
    public var dataset: String
    public var coverage: CountCoverage
    public var zone: ZoneRules
    public var rows: [Count]
    public var observedAt: Millis?

    /// At most this many counts per batch (the body is also at most 64 KiB).
    public static let maxRows = 10_000

    struct Wire: Decodable {
        var dataset: String?
        var covers: Covers?
        var timezone: String?
        var counts: [Row]?
        var observedAt: Millis?

        enum CodingKeys: String, SnakeCaseKey {
            case dataset, covers, timezone, counts, observedAt
        }

        struct Row: Decodable {
            var partition: String
            var count: Int64
        }

        enum Covers: Decodable {
            case text(String)
            case range(from: String, to: String)

            struct Range: Decodable {
                var from: String
                var to: String
            }

            init(from decoder: any Decoder) throws {
                if let text = try? decoder.singleValueContainer().decode(String.self) {
                    self = .text(text)
                } else {
                    let r = try Range(from: decoder)
                    self = .range(from: r.from, to: r.to)
                }
            }
        }
    }

    public static func decode(_ body: [UInt8]) -> Result<CountBatch, PushRejection> {
        if body.isEmpty {
            return .failure(PushRejection(error: "bad_json", message: "the body is empty; send {\"dataset\", \"covers\", \"counts\"}"))
        }
        let wire: Wire
        do {
            wire = try PushAPI.decodeBody(Wire.self, body, otherwise: "body is not valid JSON")
        } catch {
            return .failure(error)
        }
        func invalid(_ field: String, _ message: String) -> Result<CountBatch, PushRejection> {
            .failure(PushRejection(error: "invalid_observation", message: "\(field): \(message)", field: field))
        }
        guard let dataset = wire.dataset else { return invalid("dataset", "required") }
        guard let rows = wire.counts else { return invalid("counts", "required (an empty list is allowed: nothing is left)") }
        guard rows.count <= maxRows else { return invalid("counts", "\(rows.count) counts; at most \(maxRows) per batch") }
        let coverage: CountCoverage
        switch wire.covers {
        case nil:
            return invalid("covers", "required: which partitions the batch is complete for (3d, 48h, all, none, or {\"from\", \"to\"})")
        case .text(let text)?:
            guard let parsed = CountCoverage.parse(text) else {
                return invalid("covers", "'\(excerpt(text))' is not all, none, a window (3d, 48h) or {\"from\", \"to\"}")
            }
            coverage = parsed
        case .range(let from, let to)?:
            for (field, value) in [("covers.from", from), ("covers.to", to)] {
                do {
                    try ObservationBody.count(Count(dataset: "d", partition: value, count: 0)).validate(path: "")
                } catch {
                    return invalid(field, error.message)
                }
            }
            guard from <= to || (PartitionKey.period(of: from, .day) ?? 0) <= (PartitionKey.period(of: to, .day) ?? -1) else {
                return invalid("covers", "the range is reversed: from \(from) is after to \(to)")
            }
            coverage = .range(from: from, to: to)
        }
        var zone = ZoneRules.utc
        if let name = wire.timezone {
            do {
                zone = try ZoneRules.load(name)
            } catch {
                return invalid("timezone", error.message)
            }
        }
        var seen: Set<String> = []
        var counts: [Count] = []
        for (i, row) in rows.enumerated() {
            let count = Count(dataset: dataset, partition: row.partition, count: row.count)
            do {
                try ObservationBody.count(count).validate(path: "")
            } catch {
                let field = error.field == ".dataset" ? "dataset" : "counts[\(i)]\(error.field)"
                return invalid(field, error.message)
            }
            guard seen.insert(row.partition).inserted else { return invalid("counts[\(i)].partition", "'\(excerpt(row.partition))' is listed twice") }
            counts.append(count)
        }
        if rows.isEmpty {
            do {
                try ObservationBody.count(Count(dataset: dataset, partition: "p", count: 0)).validate(path: "")
            } catch {
                return invalid("dataset", error.message)
            }
        }
        if let t = wire.observedAt, t < FieldLimits.earliestTime || t >= FieldLimits.latestTime {
            return invalid("observed_at", "\(t) is not a time in milliseconds since 1970 between the years 2000 and 2100")
        }
        return .success(CountBatch(dataset: dataset, coverage: coverage, zone: zone, rows: counts, observedAt: wire.observedAt))
    }
}

/// One `CountSnapshot` per pushed dataset, kept in the spool folder (`pushed-<dataset>.json`), at
/// most `maxDatasets`; a batch and single counts of one dataset are handled one at a time.
final class PushedCounts: @unchecked Sendable {
    static let maxDatasets = 1_000
    let dir: String
    let logger: Logger
    private let lock = ConditionLock()
    private var snapshots: [String: (CountSnapshot, ConditionLock)] = [:]

    init(dir: String, logger: Logger) {
        self.dir = dir
        self.logger = logger
    }

    func serially<T>(_ dataset: String, _ body: (CountSnapshot) -> T) -> T {
        let (snapshot, serial) = lock.withLock {
            if let known = snapshots[dataset] { return known }
            if snapshots.count >= Self.maxDatasets, let evict = snapshots.keys.sorted().first { snapshots.removeValue(forKey: evict) }
            let made = (CountSnapshot(statePath: dir + "/pushed-" + CountSnapshot.safeName(dataset) + ".json", logger: logger), ConditionLock())
            snapshots[dataset] = made
            return made
        }
        return serial.withLock { body(snapshot) }
    }
}
