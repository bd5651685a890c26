/// Parsing of the human units used in config files and CLI flags, shared by agent and collector.
public enum ConfigUnits {
    /// "250ms", "30s", "5m", "1h", "2d" (or a bare number of seconds) → milliseconds.
    public static func duration(_ text: String) -> Millis? {
        let s = text.trimmingSpaces()
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count)
            // "5m" must not be read as "5" + "m" of "ms": the ms suffix is tried first above.
            if let value = Int64(number), value >= 0 { return value * factor }
            if let value = Double(number), value >= 0, value.isFinite { return Int64(value * Double(factor)) }
            return nil
        }
        if let seconds = Int64(s), seconds >= 0 { return seconds * 1000 }
        return nil
    }

    /// "64MiB", "512KiB", "1GiB", "100MB", "4096" → bytes.
    public static func byteSize(_ text: String) -> Int? {
        let s = text.trimmingSpaces()
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            guard let value = Int(s.dropLast(suffix.count).trimmingSpaces()), value >= 0 else { return nil }
            return value * factor
        }
        if let value = Int(s), value >= 0 { return value }
        return nil
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
