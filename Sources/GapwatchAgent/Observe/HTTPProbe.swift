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
        self.client = Self.client(timeoutMs: config.timeoutMs)
    }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let expect = config.expectStatus
        return [.probe(Self.probe(client, url: config.url, job: config.job) { $0 == expect })]
    }

    /// GETs `url` once: the status (or the transport error), the latency, and whether `healthy`
    /// accepts the status. The reported target has no user:password part.
    static func probe(_ client: HTTPClient, url: String, job: String?, healthy: (Int) -> Bool) -> TargetProbe {
        let started = WallClock.monotonicNanos()
        var probe = TargetProbe(job: job, target: redactUserInfo(url), latencyMs: 0, healthy: false)
        do {
            let response = try client.send(HTTPRequest(method: "GET", url: url, headers: [("User-Agent", "gapwatch-agent/\(AgentConfig.version)")]))
            probe.httpStatus = (100...599).contains(response.status) ? response.status : nil
            if let status = probe.httpStatus {
                probe.healthy = healthy(status)
            } else {
                probe.error = "invalid HTTP status \(response.status)"
            }
        } catch {
            let message = error.message.isEmpty ? "request failed" : error.message
            probe.error = (error.isTimeout ? "timeout: " : "") + message.truncatedUTF8(FieldLimits.text)
        }
        probe.latencyMs = Int64((WallClock.monotonicNanos() - started) / 1_000_000)
        return probe
    }

    /// A client for probes: connect timeout at most 5 s, responses at most 1 MiB.
    static func client(timeoutMs: Int64) -> HTTPClient {
        let client = HTTPClient(connectTimeoutMs: Int(min(timeoutMs, 5_000)), timeoutMs: Int(timeoutMs))
        client.maxResponseBytes = 1 << 20
        return client
    }

    static func redactUserInfo(_ url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + rest[rest.index(after: at)...]
    }
}
