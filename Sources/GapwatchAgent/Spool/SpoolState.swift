/// The spool's small durable state, kept in `<dir>/state` as `key=value` lines and replaced
/// atomically on every change.
struct SpoolState: Equatable {
    /// Made when the folder is first used; a new folder means a new spool and seqs from 1.
    var spoolID: String
    /// The spool id this one replaced when the spool rotated (`Spool.rotate`); sent with every
    /// report so the collector can move the agent's commands to the new id at once.
    var previousSpoolID: String?
    /// Every record at or below this seq is stored by the collector (or deliberately skipped).
    var ackedSeq: UInt64 = 0
    /// Cumulative records dropped because the spool passed its size cap.
    var overflow: Int64 = 0
    /// Cumulative corrupt or truncated records skipped.
    var corrupt: Int64 = 0
    /// The totals last put in a `dropped` observation.
    var reportedOverflow: Int64 = 0
    var reportedCorrupt: Int64 = 0

    static let fileName = "state"

    func encoded() -> [UInt8] {
        let text = """
            # gapwatch-agent spool state; replaced atomically, do not edit while the agent runs
            version=1
            spool_id=\(spoolID)
            acked_seq=\(ackedSeq)
            overflow=\(overflow)
            corrupt=\(corrupt)
            reported_overflow=\(reportedOverflow)
            reported_corrupt=\(reportedCorrupt)

            """
        return Array((text + (previousSpoolID.map { "previous_spool_id=\($0)\n" } ?? "")).utf8)
    }

    /// Parses a state file; nil when it is not one this agent wrote.
    static func decode(_ bytes: [UInt8]) -> SpoolState? {
        var values: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("#") || line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else { return nil }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard values["version"] == "1", let id = values["spool_id"], isSpoolID(id),
            let acked = values["acked_seq"].flatMap({ UInt64($0) })
        else { return nil }
        var state = SpoolState(spoolID: id, ackedSeq: acked)
        state.previousSpoolID = values["previous_spool_id"].flatMap { isSpoolID($0) ? $0 : nil }
        state.overflow = values["overflow"].flatMap { Int64($0) } ?? 0
        state.corrupt = values["corrupt"].flatMap { Int64($0) } ?? 0
        state.reportedOverflow = values["reported_overflow"].flatMap { Int64($0) } ?? 0
        state.reportedCorrupt = values["reported_corrupt"].flatMap { Int64($0) } ?? 0
        return state
    }

    private static func isSpoolID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") })
    }
}
