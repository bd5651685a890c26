import Foundation
import GapwatchProtocol

extension ChannelConfig {
    /// Headers gapwatch sets itself or libcurl manages; configuring them would send two.
    static let reservedHeaders: Set<String> = ["idempotency-key", "content-length", "transfer-encoding", "expect"]
    /// The longest timeout a channel may have: one slow channel holds up the notifier.
    static let maxTimeoutMs: Int64 = 3_600_000
    static let maxNameLength = 64

    /// Parses one entry of the collector config's `notify.channels` list (a YAML map already loaded
    /// by Yams). Keys: `name`, `kind` (webhook | slack | command), `url` (webhook, slack),
    /// `headers` (webhook), `argv` (command), `timeout` (a duration, default 10s).
    ///
    /// A header value (or the url) written `env:VAR` is read from `environment` now, so a missing
    /// secret stops the collector at start rather than failing each delivery. Unknown keys, missing
    /// url/argv, a bad URL scheme, an empty argv and duplicate header names are errors whose
    /// message names `path` and the key, e.g. "notify.channels[0].url: required for a webhook
    /// channel". Messages never quote a header value or a URL: they may be secrets.
    public static func parse(
        _ map: [String: Any], path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> ChannelConfig {
        var reader = MapReader(map, path: path)
        func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        let channelName = try reader.string("name")
        let kindText = try reader.string("kind")
        let urlText = try reader.string("url")
        let rawHeaders = reader.raw("headers")
        let rawArgv = reader.raw("argv")
        let timeoutMs = try reader.duration("timeout")
        try reader.finish()

        guard let channelName else { throw ConfigError("\(name("name")): required") }
        guard !channelName.isEmpty, channelName.count <= maxNameLength,
            channelName.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) })
        else {
            throw ConfigError(
                "\(name("name")): '\(channelName)' must be 1 to \(maxNameLength) letters, digits, '.', '_' or '-'")
        }
        let allKinds = ChannelKind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let kindText else { throw ConfigError("\(name("kind")): required (one of \(allKinds))") }
        guard let kind = ChannelKind(rawValue: kindText.lowercased()) else {
            throw ConfigError("\(name("kind")): '\(kindText)' is not one of \(allKinds)")
        }
        var config = ChannelConfig(name: channelName, kind: kind)

        if let timeoutMs {
            guard timeoutMs > 0, timeoutMs <= maxTimeoutMs else {
                throw ConfigError("\(name("timeout")): must be more than 0 and at most \(Units.formatDuration(maxTimeoutMs))")
            }
            config.timeoutMs = timeoutMs
        }

        switch kind {
        case .webhook, .slack:
            guard let urlText else { throw ConfigError("\(name("url")): required for a \(kind.rawValue) channel") }
            let url = try resolve(urlText, key: name("url"), environment: environment)
            try checkURL(url, key: name("url"))
            config.url = url
            if rawArgv != nil { throw ConfigError("\(name("argv")): only for command channels") }
        case .command:
            if urlText != nil { throw ConfigError("\(name("url")): not used by a command channel (it runs argv)") }
            guard let rawArgv else { throw ConfigError("\(name("argv")): required for a command channel") }
            config.argv = try parseArgv(rawArgv, key: name("argv"))
        }

        if let rawHeaders {
            guard kind == .webhook else { throw ConfigError("\(name("headers")): only for webhook channels") }
            config.headers = try parseHeaders(rawHeaders, key: name("headers"), environment: environment)
        }
        return config
    }

    /// `env:VAR` → the variable's value (which must be set and not empty); anything else as is.
    static func resolve(_ text: String, key: String, environment: [String: String]) throws(ConfigError) -> String {
        guard text.hasPrefix("env:") else { return text }
        let variable = String(text.dropFirst(4)).trimmingCharacters(in: .whitespaces)
        guard !variable.isEmpty else { throw ConfigError("\(key): 'env:' needs a variable name, e.g. env:GAPWATCH_WEBHOOK_TOKEN") }
        guard let value = environment[variable], !value.isEmpty else {
            throw ConfigError("\(key): environment variable \(variable) is not set")
        }
        return value
    }

    static func checkURL(_ url: String, key: String) throws(ConfigError) {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw ConfigError("\(key): must be an http:// or https:// URL")
        }
        guard !url.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }),
            let components = URLComponents(string: url), let host = components.host, !host.isEmpty
        else {
            throw ConfigError("\(key): not a valid URL (it needs a host, and no spaces)")
        }
    }

    static func parseArgv(_ raw: Any, key: String) throws(ConfigError) -> [String] {
        guard let items = raw as? [Any] else {
            throw ConfigError("\(key): expected a list: the program, then one item per argument (there is no shell)")
        }
        guard !items.isEmpty else { throw ConfigError("\(key): must not be empty: the first item is the program") }
        var argv: [String] = []
        for (index, item) in items.enumerated() {
            let text: String
            if let s = item as? String {
                text = s
            } else if let i = item as? Int {
                text = String(i)
            } else {
                throw ConfigError("\(key)[\(index)]: expected a string")
            }
            if text.unicodeScalars.contains("\0") { throw ConfigError("\(key)[\(index)]: contains a NUL character") }
            argv.append(text)
        }
        if argv[0].isEmpty { throw ConfigError("\(key)[0]: the program must not be empty") }
        return argv
    }

    static func parseHeaders(_ raw: Any, key: String, environment: [String: String]) throws(ConfigError) -> [String: String] {
        guard let map = raw as? [String: Any] else { throw ConfigError("\(key): expected a map of header names to values") }
        var headers: [String: String] = [:]
        var seen: [String: String] = [:]  // lowercased → as written
        for headerName in map.keys.sorted() {
            let headerKey = "\(key).\(headerName)"
            guard !headerName.isEmpty, headerName.unicodeScalars.allSatisfy(isTokenCharacter) else {
                throw ConfigError("\(headerKey): not a valid header name")
            }
            let lower = headerName.lowercased()
            if let earlier = seen[lower] {
                throw ConfigError("\(headerKey): duplicate header name (same as \(earlier); header names ignore case)")
            }
            seen[lower] = headerName
            if reservedHeaders.contains(lower) { throw ConfigError("\(headerKey): set by gapwatch, cannot be configured") }
            let text: String
            if let s = map[headerName] as? String {
                text = s
            } else if let i = map[headerName] as? Int {
                text = String(i)
            } else {
                throw ConfigError("\(headerKey): expected a string value")
            }
            let value = try resolve(text, key: headerKey, environment: environment)
            if DeliveryText.hasLineBreak(value) { throw ConfigError("\(headerKey): the value must be one line") }
            headers[headerName] = value
        }
        return headers
    }

    /// RFC 9110 token characters.
    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        if ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) { return true }
        return "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar)
    }
}
