/// Durations ("500ms", "30s", "5m", "1h", "1h30m") and sizes ("64MiB", "512KiB", "1048576") in config
/// files and CLI flags; one parser so the agent and the collector accept the same spellings.
public enum Units {
    /// Milliseconds for a duration such as `500ms`, `30s`, `5m`, `1h`, `2d` or `1m30s`; `0` alone is
    /// allowed. A bare number other than 0 is refused: `30` could mean seconds or milliseconds.
    public static func parseDuration(_ text: String) -> Int64? {
        let s = text.trimmed
        if s == "0" { return 0 }
        var total: Int64 = 0
        var rest = Substring(s)
        if rest.isEmpty { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isASCII && $0.isLetter }
            guard !unit.isEmpty else { return nil }
            rest = rest.dropFirst(unit.count)
            let scale: Int64
            switch unit {
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            case "d": scale = 86_400_000
            default: return nil
            }
            let (product, o1) = value.multipliedReportingOverflow(by: scale)
            let (sum, o2) = total.addingReportingOverflow(product)
            if o1 || o2 { return nil }
            total = sum
        }
        return total
    }

    /// Bytes for a size such as `64MiB`, `512KiB`, `1GiB`, `10MB` (SI), `100B` or a plain integer.
    public static func parseSize(_ text: String) -> Int64? {
        let s = text.trimmed
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int64(digits) else { return nil }
        let unit = s.dropFirst(digits.count).trimmed
        let scale: Int64
        switch unit {
        case "", "B": scale = 1
        case "KiB": scale = 1 << 10
        case "MiB": scale = 1 << 20
        case "GiB": scale = 1 << 30
        case "KB", "kB": scale = 1000
        case "MB": scale = 1_000_000
        case "GB": scale = 1_000_000_000
        default: return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }

    /// The shortest exact spelling: `1h30m`, `500ms`, `0`.
    public static func formatDuration(_ ms: Int64) -> String {
        if ms == 0 { return "0" }
        var rest = ms
        var out = ""
        for (unit, scale) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if rest >= scale {
                out += "\(rest / scale)\(unit)"
                rest %= scale
            }
        }
        return out
    }

    /// `64MiB` when exact in a binary unit, else the plain number of bytes.
    public static func formatSize(_ bytes: Int64) -> String {
        for (unit, scale) in [("GiB", Int64(1 << 30)), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if bytes >= scale && bytes % scale == 0 { return "\(bytes / scale)\(unit)" }
        }
        return "\(bytes)"
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, CR and LF.
    public var trimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
