import GapwatchProtocol

/// Turns a command probe's standard output into observations.
///
/// Each line holds fields separated by a tab, `|`, `,` or runs of whitespace (the first of these
/// the line contains), so `psql -At`, `sqlite3`, `bq --format=csv` and `mysql -B` output all work.
/// Blank lines are skipped, and so is a first line that does not parse (a header).
public enum ProbeOutput {
    public struct Parsed: Sendable, Equatable {
        public var bodies: [ObservationBody] = []
        /// Lines that did not parse (not counting a header), with their 1-based line numbers.
        public var badLines: [Int] = []
    }

    /// `PARTITION<sep>COUNT` lines → `count` observations of `dataset`.
    public static func counts(_ text: String, dataset: String) -> Parsed {
        parse(text) { fields in
            guard fields.count == 2, !fields[0].isEmpty, let n = Int64(fields[1]), n >= 0 else { return nil }
            return .count(Count(dataset: dataset, partition: fields[0], count: n))
        }
    }

    /// `ID<sep>STATUS[<sep>REFERENCE_TIME]` lines → `item_status` observations of `itemKind`.
    /// The reference time is milliseconds since the epoch or RFC 3339.
    public static func itemStatuses(_ text: String, itemKind: String) -> Parsed {
        parse(text, whitespaceJoin: true) { fields in
            guard fields.count == 2 || fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty else { return nil }
            var reference: Millis? = nil
            if fields.count == 3, !fields[2].isEmpty {
                guard let t = TimeParsing.parse(fields[2]) else { return nil }
                reference = t
            }
            return .itemStatus(ItemStatus(itemKind: itemKind, itemID: fields[0], status: fields[1], referenceTime: reference))
        }
    }

    /// Splits one line into trimmed fields, unquoting `"..."` fields as CSV writes them.
    public static func fields(_ line: Substring) -> [String] {
        let separator: Character?
        if line.contains("\t") {
            separator = "\t"
        } else if line.contains("|") {
            separator = "|"
        } else if line.contains(",") {
            separator = ","
        } else {
            separator = nil
        }
        let parts: [Substring]
        if let separator {
            parts = line.split(separator: separator, omittingEmptySubsequences: false)
        } else {
            parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        }
        return parts.map { part in
            var f = part.trimmed
            if f.count >= 2, f.hasPrefix("\""), f.hasSuffix("\"") {
                f = String(f.dropFirst().dropLast()).replacingOccurrences("\"\"", with: "\"")
            }
            return f
        }
    }

    private static func parse(_ text: String, whitespaceJoin: Bool = false, _ make: ([String]) -> ObservationBody?) -> Parsed {
        var result = Parsed()
        var sawLine = false
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            var fields = fields(line)
            // With whitespace separators a status may hold spaces: "ID In Progress 2026-01-22T19:00:00Z".
            if whitespaceJoin, !line.contains("\t"), !line.contains("|"), !line.contains(","), fields.count > 2 {
                if let last = fields.last, TimeParsing.parse(last) != nil, fields.count > 3 {
                    fields = [fields[0], fields[1..<(fields.count - 1)].joined(separator: " "), last]
                } else if TimeParsing.parse(fields.last!) == nil {
                    fields = [fields[0], fields[1...].joined(separator: " ")]
                }
            }
            let first = !sawLine
            sawLine = true
            if let body = make(fields), (try? body.validate(path: "line")) != nil {
                result.bodies.append(body)
            } else if !first {
                result.badLines.append(number)
            }
        }
        return result
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
