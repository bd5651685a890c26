import GapwatchProtocol

/// The dashboard's HTML building blocks. Every piece of text that did not come from this file goes
/// through `escape` (element text and attribute values alike); URLs are built by `link`, which
/// percent-encodes each path segment and query value before escaping the whole.
public enum DashboardHTML {
    /// `text` safe inside an element or a double- or single-quoted attribute value.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            // Control characters other than tab and newline have no business in a page.
            case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}", "\u{7F}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` percent-encoded for a path segment or a query value: everything but unreserved
    /// characters (RFC 3986) is encoded, so `/`, `?`, `&`, `#` and `+` stay data.
    public static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return out
    }

    /// Undoes `percentEncode` (and a browser form's `+` for a space when `plusIsSpace`); nil when
    /// the result is not UTF-8.
    public static func percentDecode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "%"), utf8.count >= 2, let hi = hexValue(utf8[utf8.startIndex]), let lo = hexValue(utf8[utf8.startIndex + 1]) {
                bytes.append(hi << 4 | lo)
                utf8 = utf8.dropFirst(2)
            } else if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// An escaped `href` value: `path` (its segments given as they are, each percent-encoded)
    /// followed by the query items that are not nil.
    public static func link(_ segments: [String], _ query: [(String, String?)] = []) -> String {
        // A segment of only dots would be resolved away by the browser ("/locks/../release").
        let path =
            "/"
            + segments.map { $0.allSatisfy { $0 == "." } ? String(repeating: "%2E", count: $0.count) : percentEncode($0) }
            .joined(separator: "/")
        let items = query.compactMap { key, value in value.map { "\(percentEncode(key))=\(percentEncode($0))" } }
        return escape(items.isEmpty ? path : path + "?" + items.joined(separator: "&"))
    }

    /// The fields of an `application/x-www-form-urlencoded` body; a repeated field keeps its first value.
    static func formFields(_ body: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = percentDecode(parts[0], plusIsSpace: true), fields[key] == nil else { continue }
            fields[key] = parts.count > 1 ? percentDecode(parts[1], plusIsSpace: true) ?? "" : ""
        }
        return fields
    }
}

/// Shorthand for `DashboardHTML.escape`.
func esc(_ text: String) -> String { DashboardHTML.escape(text) }

/// A time for people: `2026-01-22 19:00:05 UTC`.
func dashTime(_ ms: Millis?) -> String {
    guard let ms else { return "–" }
    return TimeParsing.formatForPeople(ms)
}

/// `<time>` with the absolute time as its title and the age as its text (`5m ago`, `in 3m`).
func dashAgo(_ ms: Millis?, now: Millis) -> String {
    guard let ms else { return "–" }
    let text = ms <= now ? Units.formatAge(ClampedTime.subtract(now, ms)) + " ago" : "in " + Units.formatAge(ClampedTime.subtract(ms, now))
    return "<time title=\"\(esc(dashTime(ms)))\">\(esc(text))</time>"
}

/// A coloured label for a state word (its CSS class is the word itself, for the known ones).
func badge(_ state: String) -> String {
    let known: Set = [
        "up", "down", "new", "paused", "unknown", "open", "resolved", "ok", "gap", "healing", "escalated", "pending", "awaiting_approval",
        "running", "verifying", "verified", "failed", "cancelled", "free", "held", "stuck", "healthy", "degraded", "failing", "observation",
        "incident", "action", "RUN", "SKIP", "FAIL", "enabled", "disabled",
    ]
    let cls = known.contains(state) ? "b-\(state.lowercased())" : "b-other"
    return "<span class=\"badge \(cls)\">\(esc(state))</span>"
}

/// A table: `head` are plain column titles; `rows` hold cells that are already HTML.
func table(_ head: [String], _ rows: [[String]], empty: String, cls: String = "") -> String {
    guard !rows.isEmpty else { return "<p class=\"empty\">\(esc(empty))</p>" }
    var html = "<table\(cls.isEmpty ? "" : " class=\"\(cls)\"")><thead><tr>"
    for title in head { html += "<th>\(esc(title))</th>" }
    html += "</tr></thead><tbody>"
    for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
    return html + "</tbody></table>"
}

/// "N more ... not shown" under a list that was cut; `how` says which ones were kept.
func leftOut(shown: Int, total: Int, what: String, how: String = "") -> String {
    guard total > shown else { return "" }
    return "<p class=\"more\">\(total - shown) more \(esc(what)) not shown\(how.isEmpty ? "" : " (" + esc(how) + ")").</p>"
}
