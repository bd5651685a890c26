import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchSubprocess

/// GETs a URL (typically a scheduler job's target) and reports a `probe` observation.
public final class HTTPProbeObserver: Observer, @unchecked Sendable {
    public let config: AgentConfig.HTTPProbe
    public var name: String { config.name }
    public var intervalMs: Int64 { config.intervalMs }
    /// The URL as reported: without any user:password part.
    public let target: String
    private let client: HTTPClient  // used only from the probe's own thread

    public init(config: AgentConfig.HTTPProbe) {
        self.config = config
        self.target = Self.redactUserInfo(config.url)
        self.client = HTTPClient(connectTimeoutMs: Int(min(config.timeoutMs, 5_000)), timeoutMs: Int(config.timeoutMs))
        client.maxResponseBytes = 1 << 20
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let started = WallClock.monotonicNanos()
        var probe = TargetProbe(job: config.job, target: target, latencyMs: 0, healthy: false)
        do {
            let response = try client.send(HTTPRequest(method: "GET", url: config.url, headers: [("User-Agent", "gapwatch-agent/\(AgentConfig.version)")]))
            probe.httpStatus = (100...599).contains(response.status) ? response.status : nil
            if probe.httpStatus == nil { probe.error = "invalid HTTP status \(response.status)" }
            probe.healthy = response.status == config.expectStatus
        } catch {
            let message = error.message.isEmpty ? "request failed" : error.message
            probe.error = (error.isTimeout ? "timeout: " : "") + message.truncatedUTF8(FieldLimits.text)
        }
        probe.latencyMs = Int64((WallClock.monotonicNanos() - started) / 1_000_000)
        return [.probe(probe)]
    }

    static func redactUserInfo(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + rest[rest.index(after: at)...]
    }
}
