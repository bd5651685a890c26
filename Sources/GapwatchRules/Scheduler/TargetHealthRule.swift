import GapwatchProtocol

/// One scheduler job as the target-health rule sees it.
public struct JobHealth: Sendable, Equatable {
    public var name: String
    /// The service the job's probed URL belongs to (see `serviceOf(url:)`); nil: nothing probed.
    public var service: String?
    public var enabled: Bool
    /// Probes in a row that failed, and that succeeded (one of the two is 0).
    public var consecutiveFailures: Int
    public var consecutiveSuccesses: Int
    /// Gapwatch disabled this job (and may re-enable it).
    public var disabledByGapwatch: Bool

    public init(name: String, service: String?, enabled: Bool, consecutiveFailures: Int, consecutiveSuccesses: Int, disabledByGapwatch: Bool) {
        self.name = name
        self.service = service
        self.enabled = enabled
        self.consecutiveFailures = consecutiveFailures
        self.consecutiveSuccesses = consecutiveSuccesses
        self.disabledByGapwatch = disabledByGapwatch
    }
}

/// A job whose target fails `failuresToOpen` probes in a row points at an unhealthy target.
/// Failing jobs are grouped by service, so nine jobs on one deleted service are one finding.
/// Enabled failing jobs are to be disabled; jobs Gapwatch disabled whose target has passed
/// `successesToReenable` probes in a row are to be re-enabled (0: never).
public struct TargetHealthRule: Sendable {
    public var failuresToOpen: Int
    public var successesToReenable: Int

    public static let defaultFailures = 3
    public static let defaultReenableAfter = 3

    public init(failuresToOpen: Int = TargetHealthRule.defaultFailures, successesToReenable: Int = TargetHealthRule.defaultReenableAfter) {
        self.failuresToOpen = max(1, failuresToOpen)
        self.successesToReenable = max(0, successesToReenable)
    }

    public struct Verdict: Sendable, Equatable {
        /// Service → the names of its failing jobs, sorted.
        public var failingServices: [String: [String]] = [:]
        /// Failing jobs still enabled, sorted.
        public var toDisable: [String] = []
        /// Jobs Gapwatch disabled whose target is healthy again, sorted.
        public var toReenable: [String] = []
    }

    public func evaluate(_ jobs: [JobHealth]) -> Verdict {
        var verdict = Verdict()
        for job in jobs.sorted(by: { $0.name < $1.name }) {
            guard let service = job.service else { continue }
            if job.consecutiveFailures >= failuresToOpen {
                verdict.failingServices[service, default: []].append(job.name)
                if job.enabled { verdict.toDisable.append(job.name) }
            } else if job.disabledByGapwatch && !job.enabled && successesToReenable > 0 && job.consecutiveSuccesses >= successesToReenable {
                verdict.toReenable.append(job.name)
            }
        }
        return verdict
    }
}

/// The service a URL belongs to: `scheme://host[:port]`, scheme and host lower-cased, the
/// scheme's default port dropped, no user info, path or query. nil: not an http(s) URL.
public func serviceOf(url: String) -> String? {
    guard let schemeEnd = url.range(of: "://") else { return nil }
    let scheme = url[..<schemeEnd.lowerBound].lowercased()
    guard scheme == "http" || scheme == "https" else { return nil }
    let rest = url[schemeEnd.upperBound...]
    var authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex)]
    if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
    var host = authority.lowercased()
    if (scheme == "http" && host.hasSuffix(":80")) || (scheme == "https" && host.hasSuffix(":443")) {
        host = String(host[..<host.lastIndex(of: ":")!])
    }
    guard !host.isEmpty else { return nil }
    return "\(scheme)://\(host)"
}

/// Where jobs on a dead service go instead: `service` (`scheme://host[:port]`, see `serviceOf`)
/// is replaced by `replacement`, a base URL, keeping each job's path and query
/// (`http://old-svc/run/a` → `https://new-svc/run/a`).
public struct TargetReplacement: Sendable, Equatable {
    public var service: String
    /// The base URL, without a trailing slash.
    public var replacement: String

    /// nil when `target` is not an http(s) service without a path, or `replacement` is not an
    /// http(s) URL on another service.
    public init?(target: String, replacement: String) {
        guard let service = serviceOf(url: target), Self.hasNoPath(target),
            let other = serviceOf(url: replacement), other != service,
            !replacement.contains(where: { $0 == " " || $0 == "?" || $0 == "#" || $0.isNewline })
        else { return nil }
        self.service = service
        self.replacement = replacement.trimmingSuffix("/")
    }

    private static func hasNoPath(_ url: String) -> Bool {
        guard let schemeEnd = url.range(of: "://") else { return false }
        let rest = url[schemeEnd.upperBound...].trimmingSuffix("/")
        return !rest.contains { $0 == "/" || $0 == "?" || $0 == "#" }
    }

    /// The URL a job that calls `url` should call instead; nil if `url` is not on `service`.
    public func rewrite(_ url: String) -> String? {
        guard serviceOf(url: url) == service, let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        return replacement + rest[pathStart...]
    }
}

extension StringProtocol {
    fileprivate func trimmingSuffix(_ suffix: Character) -> String {
        var text = String(self)
        while text.last == suffix { text.removeLast() }
        return text
    }
}

/// An enabled job whose scheduler reports its runs should succeed at least once every `periods`
/// scheduled fires: with no success since `reference` (its last success, or when it was first
/// seen) and `periods` fires passed more than `graceMs` ago, it is overdue.
public struct NoSuccessRule: Sendable {
    public var periods: Int
    public var graceMs: Millis

    public init(periods: Int = 2, graceMs: Millis = 600_000) {
        self.periods = periods
        self.graceMs = graceMs
    }

    /// The instant the job became overdue, if it is overdue at `now`; nil otherwise (or if
    /// `periods` is 0: the rule is off).
    public func overdueSince(schedule: CronSchedule, reference: Millis, now: Millis) -> Millis? {
        guard periods > 0 else { return nil }
        var fire = reference
        for _ in 0..<periods {
            guard let next = schedule.next(after: fire), next <= now else { return nil }
            fire = next
        }
        let due = fire + graceMs
        return due <= now ? due : nil
    }
}
