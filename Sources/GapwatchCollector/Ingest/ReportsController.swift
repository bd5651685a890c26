import GapwatchProtocol
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/reports`: authenticate, bound, inflate, decode, validate, store, acknowledge.
struct ReportsController {
    let writer: IngestWriter
    let limits: ReportLimits
    var rejections: RejectedAgents? = nil

    func register(on group: RouterGroup<CollectorContext>) {
        group.post("reports", use: receive)
    }

    @Sendable func receive(request: Request, context: CollectorContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type must be application/json (got '\(contentType.isEmpty ? "none" : contentType)')")
        }
        let gzip: Bool
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity": gzip = false
        case "gzip": gzip = true
        case let other?:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type", "Content-Encoding must be gzip or identity (got '\(other)')")
        }
        let body = try await collect(request.body, limit: limits.maxBodyBytes)
        let report: Report
        do {
            report = try ReportCodec.decodeReport(body: body, gzip: gzip, limits: limits)
        } catch {
            let status: HTTPResponse.Status = if case .tooLarge = error { .contentTooLarge } else { .badRequest }
            throw APIError(status: status, body: error.body)
        }
        guard identity.mayReport(as: report.agent.id) else {
            rejections?.record(
                claimedAgentID: report.agent.id, tokenID: identity.tokenID, source: context.remoteAddress,
                reason: identity.kind == .agent ? .wrongAgentID : .readToken, at: WallClock.nowMillis())
            throw APIError.forbidden(
                identity.kind == .agent
                    ? "this agent token is bound to agent id '\(identity.agentID ?? "")', not '\(report.agent.id)'"
                    : "a \(identity.kind.rawValue) token may not send reports")
        }
        let result: IngestResult
        do {
            result = try await writer.ingest(report, receivedAt: WallClock.nowMillis(), token: identity)
        } catch let refused as NewAgentRefused {
            // Bounded like every refusal: shown by `gapwatch agents`, counted in the metric.
            rejections?.record(
                claimedAgentID: report.agent.id, tokenID: identity.tokenID, source: context.remoteAddress, reason: .newAgentRate,
                at: WallClock.nowMillis())
            throw APIError(
                .tooManyRequests, "too_many_new_agents", refused.message, field: "agent.id",
                retryAfterSeconds: Int((refused.retryAfterMs + 999) / 1000))
        } catch {
            // Nothing of this report was committed; the agent keeps it spooled and retries.
            throw APIError.unavailable("storage unavailable, nothing was stored: \(error)")
        }
        if let first = result.refused.first {
            // Acknowledged, so the agent does not resend them: say so here too.
            context.logger.warning(
                "observations refused one by one",
                metadata: [
                    "agent.id": "\(report.agent.id)", "refused": "\(result.refused.count)", "seq": "\(first.seq)", "field": "\(first.field)",
                    "reason": "\(first.reason)",
                ])
        }
        return jsonResponse(
            ReportResponse(
                ackedSeq: result.ackedSeq, stored: result.stored, duplicates: result.duplicates, commands: result.commands,
                conflictingSeq: result.conflictingSeq, refused: result.refused))
    }
}

/// Reads a request body, refusing (413) as soon as it passes `limit` bytes.
public func collect(_ body: RequestBody, limit: Int) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    for try await buffer in body {
        if bytes.count + buffer.readableBytes > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "the body is larger than \(limit) bytes as sent")
        }
        bytes.append(contentsOf: buffer.readableBytesView)
    }
    return bytes
}
