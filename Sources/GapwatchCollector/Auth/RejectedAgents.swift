import GapwatchProtocol
import Logging
import Synchronization

/// Refused reports, recorded so an operator can see an agent with a wrong, revoked or misbound
/// token. The claimed id is the caller's word, so everything here is bounded: refusals are
/// aggregated in memory (at most `maxPending` distinct keys between flushes; more are counted in
/// the metric only), written at most once per flush interval in one transaction, and the table
/// keeps the `maxRows` most recently seen rows.
public final class RejectedAgents: Sendable {
    public static let maxRows = 1000
    static let maxPending = 1000
    static let maxClaimedIDBytes = FieldLimits.id
    static let maxSourceBytes = 64

    struct Key: Hashable, Sendable {
        var claimedAgentID: String
        var tokenID: String
        var source: String
        var reason: RejectionReason
    }

    struct Tally: Sendable {
        var count: Int64
        var firstSeen: Millis
        var lastSeen: Millis

        /// Both tallies together (the count saturates).
        func merged(_ other: Tally) -> Tally {
            let (sum, overflow) = count.addingReportingOverflow(other.count)
            return Tally(count: overflow ? Int64.max : sum, firstSeen: min(firstSeen, other.firstSeen), lastSeen: max(lastSeen, other.lastSeen))
        }
    }

    private let database: AppDatabase
    private let metrics: CollectorMetrics
    private let pending = Mutex<[Key: Tally]>([:])

    public init(database: AppDatabase, metrics: CollectorMetrics) {
        self.database = database
        self.metrics = metrics
    }

    /// Notes one refused report. Never touches the database; cheap enough for a flood.
    public func record(claimedAgentID: String?, tokenID: String?, source: String?, reason: RejectionReason, at now: Millis) {
        metrics.ingestRejected(reason: reason)
        let key = Key(
            claimedAgentID: Self.sanitise(claimedAgentID ?? "", maxBytes: Self.maxClaimedIDBytes), tokenID: tokenID ?? "",
            source: Self.sanitise(source ?? "", maxBytes: Self.maxSourceBytes), reason: reason)
        pending.withLock { pending in
            let one = Tally(count: 1, firstSeen: now, lastSeen: now)
            if let tally = pending[key] {
                pending[key] = tally.merged(one)
            } else if pending.count < Self.maxPending {
                pending[key] = one
            }
        }
    }

    /// Writes what was noted since the last flush in one transaction and trims the table to the
    /// `maxRows` most recently seen. Returns the number of rows written. What cannot be written
    /// stays pending for the next flush.
    @discardableResult
    public func flush() throws -> Int {
        let batch = pending.withLock { pending in
            let taken = pending
            pending.removeAll()
            return taken
        }
        guard !batch.isEmpty else { return 0 }
        do {
            try database.write { tx in
                let table = tx.rejectedAgents
                try table.add(
                    batch.map { key, tally in
                        RejectedAgentRow(
                            claimedAgentID: key.claimedAgentID, tokenID: key.tokenID, source: key.source, reason: key.reason.rawValue,
                            count: tally.count,
                            firstSeen: tally.firstSeen, lastSeen: tally.lastSeen)
                    })
                try table.trim(keeping: Self.maxRows)
            }
        } catch {
            // Put it back (merged with anything noted meanwhile, still bounded) for the next flush.
            pending.withLock { pending in
                for (key, tally) in batch {
                    if let current = pending[key] {
                        pending[key] = current.merged(tally)
                    } else if pending.count < Self.maxPending {
                        pending[key] = tally
                    }
                }
            }
            throw error
        }
        return batch.count
    }

    /// The rejected callers, most recently seen first: the table plus what is not flushed yet.
    public func list(limit: Int = RejectedAgents.maxRows) throws -> [RejectedAgentInfo] {
        let snapshot = pending.withLock { $0 }
        var byKey: [Key: Tally] = [:]
        try database.read { tx in
            for row in try tx.rejectedAgents.recent(limit: Self.maxRows) {
                guard let reason = RejectionReason(rawValue: row.reason) else { continue }
                let key = Key(claimedAgentID: row.claimedAgentID, tokenID: row.tokenID, source: row.source, reason: reason)
                byKey[key] = Tally(count: row.count, firstSeen: row.firstSeen, lastSeen: row.lastSeen)
            }
        }
        for (key, tally) in snapshot { byKey[key] = byKey[key]?.merged(tally) ?? tally }
        return byKey.map { key, tally in
            RejectedAgentInfo(
                claimedAgentID: key.claimedAgentID, tokenID: key.tokenID.isEmpty ? nil : key.tokenID, source: key.source, reason: key.reason,
                count: tally.count, firstSeen: tally.firstSeen, lastSeen: tally.lastSeen)
        }
        .sorted { ($0.lastSeen, $0.claimedAgentID, $0.source) > ($1.lastSeen, $1.claimedAgentID, $1.source) }
        .prefix(max(0, limit)).map { $0 }
    }

    /// `text` with anything but letters, digits and `. _ : - [ ]` replaced by `?`, cut to `maxBytes`
    /// (the characters left are ASCII, so bytes are characters): safe in a table, a log and HTML.
    static func sanitise(_ text: String, maxBytes: Int) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(maxBytes) {
            let ok = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._:-[]".unicodeScalars.contains(scalar))
            out.unicodeScalars.append(ok ? scalar : "?")
        }
        return out
    }
}
