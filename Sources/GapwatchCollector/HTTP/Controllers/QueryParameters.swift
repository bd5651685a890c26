import GapwatchProtocol
import Hummingbird

// Decoding helpers the controllers share.

/// `limit=` of a list endpoint: 1 to 1000.
func limitParameter(_ query: Parameters) throws -> Int? {
    guard let limit = query["limit"] else { return nil }
    guard let n = Int(limit), (1...1000).contains(n) else {
        throw APIError.badRequest("limit: '\(limit)' must be a whole number from 1 to 1000", field: "limit")
    }
    return n
}

func rejectUnknown(_ query: Parameters, known: Set<String>) throws {
    for (key, _) in query where !known.contains(String(key)) {
        let list = known.isEmpty ? "this endpoint takes none" : "known: \(known.sorted().joined(separator: ", "))"
        throw APIError.badRequest("unknown query parameter '\(key)'; \(list)", field: String(key))
    }
}

/// YYYY-MM-DD and a real calendar date.
func isDate(_ text: String) -> Bool {
    guard text.utf8.count == 10, let t = TimeParsing.parse(text) else { return false }
    return TimeParsing.format(t).hasPrefix(text)
}
