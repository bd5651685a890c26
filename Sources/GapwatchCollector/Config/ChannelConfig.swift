import Foundation
import GapwatchProtocol

public enum ChannelKind: String, Sendable, CaseIterable {
    case webhook, slack, command
}

/// One configured notification channel (`notify.channels[i]` in the collector config).
public struct ChannelConfig: Sendable, Equatable {
    /// Unique among the channels; appears in the timeline and in the webhook `Idempotency-Key`.
    public var name: String
    public var kind: ChannelKind
    /// Where webhook and slack channels POST (http or https).
    public var url: String?
    /// Extra request headers, webhook only (e.g. Authorization). Values are final: `env:VAR` is
    /// resolved when the config is parsed.
    public var headers: [String: String] = [:]
    /// Command only: argv[0] is the program (PATH lookup), the rest its arguments; never a shell.
    public var argv: [String] = []
    /// For one whole attempt: connect + request + response, or the command's run.
    public var timeoutMs: Int64 = 10_000

    public init(
        name: String, kind: ChannelKind, url: String? = nil, headers: [String: String] = [:], argv: [String] = [],
        timeoutMs: Int64 = 10_000
    ) {
        self.name = name
        self.kind = kind
        self.url = url
        self.headers = headers
        self.argv = argv
        self.timeoutMs = timeoutMs
    }
}

extension ChannelConfig: CustomStringConvertible {
    /// Without header values or the URL's path: both often carry secrets (Slack webhook URLs do).
    public var description: String {
        var parts = ["name: \(name)", "kind: \(kind.rawValue)"]
        if let url { parts.append("url: \(DeliveryText.redactedURL(url))") }
        if !headers.isEmpty { parts.append("headers: [\(headers.keys.sorted().map { "\($0): <redacted>" }.joined(separator: ", "))]") }
        if !argv.isEmpty { parts.append("argv: \(argv)") }
        parts.append("timeout: \(Units.formatDuration(timeoutMs))")
        return "ChannelConfig(\(parts.joined(separator: ", ")))"
    }
}
