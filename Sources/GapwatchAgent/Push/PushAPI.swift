#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GapwatchProtocol
import Logging

/// What `GET /v1/status` answers. Never holds the token.
public struct AgentStatus: Codable, Sendable, Equatable {
    public var agentID: String
    public var service: String
    public var version: String
    public var bootID: String
    public var spoolID: String
    public var nextSeq: UInt64
    public var ackedSeq: UInt64
    public var backlogRecords: Int
    public var backlogBytes: Int
    public var spoolBytes: Int
    public var overflow: Int64
    public var corrupt: Int64
    public var collectorURL: String
    public var lastShipAt: Millis?
    public var lastShipOKAt: Millis?
    public var lastShipError: String?
    public var rejected: Int64

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id"
        case service, version, overflow, corrupt, rejected
        case bootID = "boot_id"
        case spoolID = "spool_id"
        case nextSeq = "next_seq"
        case ackedSeq = "acked_seq"
        case backlogRecords = "backlog_records"
        case backlogBytes = "backlog_bytes"
        case spoolBytes = "spool_bytes"
        case collectorURL = "collector_url"
        case lastShipAt = "last_ship_at"
        case lastShipOKAt = "last_ship_ok_at"
        case lastShipError = "last_ship_error"
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

    /// Fields each pushable kind may carry, besides `kind` and `observed_at`.
    static let allowedFields: [ObservationKind: Set<String>] = [
        .heartbeat: ["name", "status", "duration_ms", "exit_code", "message"],
        .probe: ["job", "target", "http_status", "error", "latency_ms", "healthy"],
        .count: ["dataset", "partition", "count"],
        .itemStatus: ["item_kind", "item_id", "status", "reference_time"],
        .decision: ["workflow", "decision", "reason"],
        .lock: ["name", "holder", "acquired_at", "expires_at"],
    ]

    public func handle(_ request: ServerRequest) -> ServerResponse {
        switch (request.method, request.path) {
        case ("POST", "/v1/observations"):
            return push(request.body)
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
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
            let observation = try spool.append(parsed.0, observedAt: parsed.1 ?? Clock.nowMillis())
            return ServerResponse(status: 200, body: ReportCodec.encode(PushResponse(seq: observation.seq, spoolID: spool.spoolID)))
        } catch {
            logger.error("cannot spool a pushed observation", metadata: ["error": "\(error)"])
            return self.error(503, "unavailable", "the observation was not stored: \(error.message); retry later")
        }
    }

    /// Decodes and validates a push body into an observation body and its optional time.
    public static func decode(_ body: [UInt8]) -> Result<(ObservationBody, Millis?), PushRejection> {
        if body.isEmpty { return .failure(PushRejection(error: "bad_json", message: "the body is empty; send an observation as JSON")) }
        let decoder = JSONDecoder()
        let keys: PushEnvelope
        do {
            keys = try decoder.decode(PushEnvelope.self, from: Data(body))
        } catch let e as DecodingError {
            return .failure(PushRejection(describe(e)))
        } catch {
            return .failure(PushRejection(error: "bad_json", message: "body is not valid JSON"))
        }
        guard let kindText = keys.kind else {
            return .failure(PushRejection(error: "bad_json", message: "kind: required field is missing", field: "kind"))
        }
        guard let kind = ObservationKind(rawValue: kindText), let allowed = allowedFields[kind] else {
            let kinds = allowedFields.keys.map(\.rawValue).sorted().joined(separator: ", ")
            let why = ObservationKind(rawValue: kindText) == nil ? "is not a kind" : "is reported by the agent itself"
            return .failure(PushRejection(error: "invalid_observation", message: "kind: '\(kindText)' \(why); use one of \(kinds)", field: "kind"))
        }
        for key in keys.keys.sorted() where key != "kind" && key != "observed_at" && !allowed.contains(key) {
            return .failure(
                PushRejection(
                    error: "invalid_observation",
                    message: "\(key): unknown field for kind \(kind.rawValue); allowed: \(allowed.sorted().joined(separator: ", "))",
                    field: key))
        }
        let observation: ObservationBody
        do {
            observation = try decoder.decode(ObservationBody.self, from: Data(body))
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
        if let t = keys.observedAt, t < FieldLimits.earliestTime || t >= FieldLimits.latestTime {
            return .failure(
                PushRejection(
                    error: "invalid_observation",
                    message: "observed_at: \(t) is not a time in milliseconds since 1970 between the years 2000 and 2100",
                    field: "observed_at"))
        }
        return .success((observation, keys.observedAt))
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

/// The push body's keys, its kind and its time, read before the full decode.
struct PushEnvelope: Decodable {
    var keys: [String]
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
        keys = c.allKeys.map(\.stringValue)
        kind = try c.decodeIfPresent(String.self, forKey: AnyKey(stringValue: "kind"))
        observedAt = try c.decodeIfPresent(Millis.self, forKey: AnyKey(stringValue: "observed_at"))
    }
}
