import GapwatchProtocol
import Logging

/// What `GET /v1/status` answers: the fields the protocol README requires (`agent_id`,
/// `spool_id`, `boot_id`, `last_seq`, `acked_seq`, `pending`, `dropped`, `last_ship_at`,
/// `last_error`) and a few more. Never holds the token.
public struct AgentStatus: Codable, Sendable, Equatable {
    public struct Dropped: Codable, Sendable, Equatable {
        public var overflow: Int64
        public var corrupt: Int64

        public init(overflow: Int64, corrupt: Int64) {
            self.overflow = overflow
            self.corrupt = corrupt
        }
    }

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
    public var collectorURL: String
    public var lastShipAt: Millis?
    public var lastShipOKAt: Millis?
    /// The last error from the collector or the transport, or null after a success.
    public var lastError: String?

    public init(
        agentID: String, service: String, version: String, bootID: String, spoolID: String, lastSeq: UInt64, nextSeq: UInt64,
        ackedSeq: UInt64, pending: Int, pendingBytes: Int, spoolBytes: Int, dropped: Dropped, rejected: Int64,
        collectorURL: String, lastShipAt: Millis?, lastShipOKAt: Millis?, lastError: String?
    ) {
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

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id"
        case service, version, dropped, rejected, pending
        case bootID = "boot_id"
        case spoolID = "spool_id"
        case lastSeq = "last_seq"
        case nextSeq = "next_seq"
        case ackedSeq = "acked_seq"
        case pendingBytes = "pending_bytes"
        case spoolBytes = "spool_bytes"
        case collectorURL = "collector_url"
        case lastShipAt = "last_ship_at"
        case lastShipOKAt = "last_ship_ok_at"
        case lastError = "last_error"
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

    enum CodingKeys: String, CodingKey {
        case seq
        case spoolID = "spool_id"
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

    public init(spool: Spool, logger: Logger, status: @escaping @Sendable () -> AgentStatus) {
        self.spool = spool
        self.logger = logger
        self.status = status
    }

    /// The kinds a local service may push; `dropped` and `action_result` are the agent's own.
    static let pushableKinds: [ObservationKind] = [.heartbeat, .probe, .count, .itemStatus, .decision, .lock, .job]

    public func handle(_ request: ServerRequest) -> ServerResponse {
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
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            if let problem = spool.problem {
                return error(503, "unavailable", "the spool is not writable: \(problem)")
            }
            return ServerResponse(status: 200, body: Array(#"{"status":"ok"}"#.utf8))
        case ("GET", "/v1/status"):
            return ServerResponse(status: 200, body: ReportCodec.encode(status()))
        case (_, "/v1/observations"):
            return error(405, "method_not_allowed", "\(request.method) is not allowed on /v1/observations; allowed: POST")
        case (_, "/healthz"), (_, "/v1/status"):
            return error(405, "method_not_allowed", "\(request.method) is not allowed on \(request.path); allowed: GET")
        default:
            return error(404, "not_found", "no route \(request.method) \(request.path); see POST /v1/observations, GET /v1/status, GET /healthz")
        }
    }

    func push(_ body: [UInt8]) -> ServerResponse {
        let parsed: (ObservationBody, Millis?)
        switch Self.decode(body) {
        case .success(let value): parsed = value
        case .failure(let e): return error(400, e.body.error, e.body.message, field: e.body.field)
        }
        do {
            let observation = try spool.append(parsed.0, observedAt: parsed.1 ?? WallClock.nowMillis())
            return ServerResponse(status: 200, body: ReportCodec.encode(PushResponse(seq: observation.seq, spoolID: spool.spoolID)))
        } catch {
            logger.error("cannot spool a pushed observation", metadata: ["error": "\(error)"])
            var response = self.error(503, "unavailable", "the observation was not recorded: \(error.message); retry later")
            response.headers.append(("Retry-After", "1"))
            return response
        }
    }

    /// Decodes and validates a push body into an observation body and its optional time.
    public static func decode(_ body: [UInt8]) -> Result<(ObservationBody, Millis?), PushRejection> {
        if body.isEmpty { return .failure(PushRejection(error: "bad_json", message: "the body is empty; send an observation as JSON")) }
        let envelope: PushEnvelope
        do {
            envelope = try ReportCodec.decodeJSON(PushEnvelope.self, from: body)
        } catch let e as DecodingError {
            return .failure(PushRejection(describe(e)))
        } catch {
            return .failure(PushRejection(error: "bad_json", message: "body is not valid JSON"))
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
                PushRejection(error: "invalid_observation", message: "kind: '\(kindText)' is reported by the agent itself; push one of \(kinds)", field: "kind"))
        }
        // Unknown fields (a `seq`, say) are ignored, as everywhere in the protocol.
        let observation: ObservationBody
        do {
            observation = try ReportCodec.decodeJSON(ObservationBody.self, from: body)
        } catch let e as DecodingError {
            return .failure(PushRejection(describe(e)))
        } catch {
            return .failure(PushRejection(error: "bad_json", message: "\(error)"))
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
