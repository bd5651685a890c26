import GapwatchProtocol

/// Turns a command probe's standard output into observations.
///
/// Each line holds fields separated by a tab, `|`, `,` or runs of whitespace (the first of these
/// the line contains), so `psql -At`, `sqlite3`, `bq --format=csv` and `mysql -B` output all work.
/// Blank lines are skipped, and so is a first line that does not parse (a header).
public enum ProbeOutput {
    public struct Parsed: Sendable, Equatable {
        public var bodies: [ObservationBody] = []
        /// Lines that did not parse (not counting a header), with their 1-based line numbers and why.
        public var problems: [Problem] = []

        public var badLines: [Int] { problems.map(\.line) }
    }

    /// A line of output that is not what the probe's `emit` expects.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// `PARTITION<sep>COUNT` lines → `count` observations of `dataset`.
    public static func counts(_ text: String, dataset: String) -> Parsed {
        parse(text) { (fields) throws(ParseError) -> ObservationBody in
            guard fields.count == 2, !fields[0].isEmpty else {
                throw ParseError("expected PARTITION<separator>COUNT, got \(fields.count) field(s)")
            }
            guard let n = Int64(fields[1]) else { throw ParseError("count '\(fields[1].truncatedUTF8(32))' is not a whole number") }
            guard n >= 0 else { throw ParseError("count \(n) is negative") }
            return .count(Count(dataset: dataset, partition: fields[0], count: n))
        }
    }

    /// `ID<sep>STATUS[<sep>REFERENCE_TIME]` lines → `item_status` observations of `itemKind`.
    /// The reference time is read by `times` (ms since 1970, RFC 3339, or a local time in the
    /// probe's time zone).
    public static func itemStatuses(_ text: String, itemKind: String, times: ProbeTimeReader = ProbeTimeReader(zone: nil, setting: "timezone"))
        -> Parsed
    {
        parse(text, whitespaceJoin: true) { (fields) throws(ParseError) -> ObservationBody in
            guard fields.count == 2 || fields.count == 3, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw ParseError("expected ID<separator>STATUS[<separator>REFERENCE_TIME], got \(fields.count) field(s)")
            }
            var reference: Millis? = nil
            if fields.count == 3, !fields[2].isEmpty {
                switch times.read(fields[2]) {
                case .success(let t): reference = t
                case .failure(let error): throw ParseError("reference time \(error.message)")
                }
            }
            return .itemStatus(ItemStatus(itemKind: itemKind, itemID: fields[0], status: fields[1], referenceTime: reference))
        }
    }

    struct ParseError: Error {
        var message: String
        init(_ message: String) { self.message = message }
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

    private static func parse(_ text: String, whitespaceJoin: Bool = false, _ make: ([String]) throws(ParseError) -> ObservationBody) -> Parsed {
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
            do throws(ParseError) {
                let body = try make(fields)
                do {
                    try body.validate(path: "line")
                } catch {
                    throw ParseError(error.description.hasPrefix("line.") ? String(error.description.dropFirst(5)) : error.description)
                }
                result.bodies.append(body)
            } catch {
                // A first line that does not parse is a header ("game_date|count") unless it looks
                // like data: a field that begins with a digit is a date, an id or a count.
                if first && !fields.contains(where: { $0.first?.isNumber == true }) { continue }
                result.problems.append(Problem(line: number, message: error.message))
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
