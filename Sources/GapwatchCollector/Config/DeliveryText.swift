import Foundation

/// The text of delivery details, which reach the timeline, logs and the API: one line, bounded,
/// and never a secret (header values, a URL's path, query or credentials).
enum DeliveryText {
    static func hasLineBreak(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" }
    }

    /// Control characters and runs of whitespace become one space; trimmed; at most `limit`
    /// characters (then "…").
    static func oneLine(_ text: String, limit: Int = .max) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace { out.unicodeScalars.append(" ") }
            pendingSpace = false
            out.unicodeScalars.append(scalar)
        }
        if out.count > limit { out = String(out.prefix(limit)) + "…" }
        return out
    }

    /// Values that must never reach a detail string: header values (and their long words, such as
    /// the token in "Bearer <token>") and the URL beyond its host.
    static func secrets(url: String?, headers: [String: String]) -> [String] {
        var secrets: [String] = []
        for value in headers.values {
            secrets.append(value)
            secrets += value.split(whereSeparator: \.isWhitespace).map(String.init).filter { $0.count >= 8 }
        }
        if let url {
            secrets.append(url)
            if let components = URLComponents(string: url) {
                let path = components.percentEncodedPath
                if path.count > 1 { secrets.append(path) }
                if let query = components.percentEncodedQuery, !query.isEmpty { secrets.append(query) }
                if let user = components.percentEncodedUser, !user.isEmpty { secrets.append(user) }
                if let password = components.percentEncodedPassword, !password.isEmpty { secrets.append(password) }
            }
        }
        // Longest first, so a value is replaced whole before any of its parts; tiny values would
        // only mangle the text.
        return Array(Set(secrets.filter { $0.count >= 4 })).sorted { $0.count > $1.count }
    }

    static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return result
    }

    /// `https://hooks.example.com/…`: scheme, host and port only.
    static func redactedURL(_ text: String) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme, let host = components.host else {
            return "<redacted>"
        }
        var shown = "\(scheme)://\(host)"
        if let port = components.port { shown += ":\(port)" }
        let rest = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        if !rest.isEmpty && rest != "/" { shown += "/…" }
        return shown
    }
}
