import GapwatchProtocol
import GapwatchSubprocess
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the spool could not do what was asked.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Numbers about the spool, for `/v1/status` and logs.
public struct SpoolStats: Sendable, Equatable {
    public var spoolID: String
    public var nextSeq: UInt64
    public var ackedSeq: UInt64
    public var backlogRecords: Int
    public var backlogBytes: Int
    public var totalBytes: Int
    public var segments: Int
    public var overflow: Int64
    public var corrupt: Int64
}

/// A durable, append-only queue of observations in a folder of segment files.
///
/// - Every record is framed with a magic, its length and a CRC-32 (`SpoolRecord`).
/// - `append` gives the next seq and returns only after `fdatasync`.
/// - `ack(upTo:)` records what the collector has stored and deletes fully acked segments.
/// - Past `maxBytes`, the oldest segments are deleted and their unacked records counted as overflow.
/// - On open, torn tails are truncated and garbage is skipped; the records it destroyed are counted
///   as corrupt (`DamageCount`). The spool always opens, whatever the files hold. Count changes
///   are spooled as a `dropped` observation.
/// - One process at a time: a `flock` on `<dir>/lock` refuses a second agent on the same folder.
///
/// Thread-safe: every method takes the spool's lock.
public final class Spool: @unchecked Sendable {
    struct Segment {
        var path: String
        var firstSeq: UInt64
        var lastSeq: UInt64
        var count: Int
        var bytes: Int
    }

    public let dir: String
    public let maxBytes: Int64
    public let segmentBytes: Int64
    public var spoolID: String { lock.withLock { state.spoolID } }
    /// The spool id this one replaced at its last rotation; nil if it never rotated.
    public var previousSpoolID: String? { lock.withLock { state.previousSpoolID } }
    /// The highest seq this spool has given out (0: none yet).
    public var lastWrittenSeq: UInt64 { lock.withLock { nextSeq - 1 } }

    private let lock = ConditionLock()
    private let logger: Logger
    private var state: SpoolState
    private var segments: [Segment] = []
    private var nextSeq: UInt64 = 1
    private var activeFD: Int32 = -1  // open for append on segments.last, when it is the active one
    private var lockFD: Int32 = -1
    private var closed = false
    private var listeners: [@Sendable () -> Void] = []
    private var writeError: String?

    /// Opens (creating if needed) the spool in `dir`.
    public init(dir: String, maxBytes: Int64 = 64 << 20, segmentBytes: Int64 = 1 << 20, logger: Logger) throws(SpoolError) {
        self.dir = dir
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        self.logger = logger
        do {
            try FileIO.makeDirectories(dir)
        } catch {
            throw SpoolError("cannot create the spool folder: \(error)")
        }
        lockFD = open(dir + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else { throw SpoolError("cannot open \(dir)/lock: \(Errno.current)") }
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            Glibc.close(lockFD)
            if code == EWOULDBLOCK {
                throw SpoolError("the spool folder \(dir) is in use by another gapwatch-agent process")
            }
            throw SpoolError("cannot lock \(dir)/lock: \(Errno.describe(code))")
        }
        state = SpoolState(spoolID: RandomID.make())
        do {
            try recover()
        } catch {
            Glibc.close(lockFD)
            throw error
        }
    }

    deinit {
        if activeFD >= 0 { Glibc.close(activeFD) }
        if lockFD >= 0 { Glibc.close(lockFD) }
    }

    /// Calls `listener` (outside the lock) after each append, e.g. to wake the shipper.
    public func addAppendListener(_ listener: @escaping @Sendable () -> Void) {
        lock.withLock { listeners.append(listener) }
    }

    /// Closes the files. Later calls fail; an append in progress finishes first.
    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            if activeFD >= 0 { Glibc.close(activeFD) }
            activeFD = -1
            if lockFD >= 0 { Glibc.close(lockFD) }
            lockFD = -1
        }
    }

    // MARK: - Opening

    private var statePath: String { dir + "/" + SpoolState.fileName }

    private static func segmentName(_ firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return "seg-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    private static func isSegmentName(_ name: String) -> Bool {
        name.hasPrefix("seg-") && name.hasSuffix(".log") && name.count == 28
            && name.dropFirst(4).dropLast(4).allSatisfy { $0.isASCII && $0.isNumber }
    }

    private func recover() throws(SpoolError) {
        let names: [String]
        do {
            names = try FileIO.list(dir)
        } catch {
            throw SpoolError("cannot list the spool folder: \(error)")
        }
        var stateIsNew = false
        if names.contains(SpoolState.fileName) {
            let bytes = (try? FileIO.read(statePath, limit: 64 * 1024)) ?? []
            if let loaded = SpoolState.decode(bytes) {
                state = loaded
            } else {
                stateIsNew = true
                logger.warning(
                    "spool state file is unreadable; starting a new spool id, unacked records will be re-sent",
                    metadata: ["spool.dir": "\(dir)"])
            }
        } else {
            stateIsNew = true
            if names.contains(where: Self.isSegmentName) {
                logger.warning(
                    "spool state file is missing; starting a new spool id, unacked records will be re-sent",
                    metadata: ["spool.dir": "\(dir)"])
            }
        }
        for name in names where name.hasSuffix(".tmp") {
            try? FileIO.remove(dir + "/" + name)
        }

        var losses = DamageCount(ackedSeq: state.ackedSeq)
        var lastSeq: UInt64 = 0
        for name in names where Self.isSegmentName(name) {
            let path = dir + "/" + name
            losses.segmentStarts(firstSeq: UInt64(name.dropFirst(4).dropLast(4)) ?? 0)
            let bytes: [UInt8]
            do {
                bytes = try FileIO.read(path, limit: Int(max(segmentBytes * 4, 16 << 20)))
            } catch {
                logger.error("spool segment is unreadable or too large; moved aside", metadata: ["file": "\(path)", "error": "\(error)"])
                rename(path, path + ".corrupt")
                losses.damage()
                continue
            }
            let scan = SpoolRecord.scan(bytes, after: lastSeq)
            for record in scan.records { losses.good(record) }
            if scan.badTail { losses.damage() }
            if scan.records.isEmpty {
                if !bytes.isEmpty {
                    logger.warning("spool segment holds no valid record; deleted", metadata: ["file": "\(path)", "bytes": "\(bytes.count)"])
                }
                try? FileIO.remove(path)
                continue
            }
            var size = bytes.count
            if scan.badMiddle {
                // Rewrite with the valid records only, so the same garbage is not counted again.
                var clean: [UInt8] = []
                clean.reserveCapacity(bytes.count)
                for r in scan.records { clean.append(contentsOf: bytes[r.offset..<(r.offset + r.length)]) }
                do {
                    try FileIO.writeAtomically(path, clean)
                } catch {
                    throw SpoolError("cannot rewrite a corrupt spool segment: \(error)")
                }
                size = clean.count
                logger.warning("skipped corrupt records in a spool segment", metadata: ["file": "\(path)", "regions": "\(scan.corruptRegions)"])
            } else if scan.badTail {
                if truncate(path, off_t(scan.validEnd)) != 0 {
                    throw SpoolError("cannot truncate a torn spool segment \(path): \(Errno.current)")
                }
                size = scan.validEnd
                logger.warning("truncated a torn write at the end of a spool segment", metadata: ["file": "\(path)", "at": "\(scan.validEnd)"])
            }
            let first = scan.records.first!.seq
            let last = scan.records.last!.seq
            lastSeq = last
            segments.append(Segment(path: path, firstSeq: first, lastSeq: last, count: scan.records.count, bytes: size))
        }
        nextSeq = max(lastSeq, state.ackedSeq) + 1
        let corruptFound = losses.finish()
        if corruptFound > 0 {
            logger.warning("spool records lost to damage on disk", metadata: ["records.lost": "\(corruptFound)", "spool.dir": "\(dir)"])
        }
        state.corrupt += corruptFound
        if stateIsNew || corruptFound > 0 {
            try saveState(state)
        }
        // Fully acked segments left over from a crash between the state write and the deletes.
        try deleteAckedSegments()
        try reportDropsLocked()
        do { try FileIO.fsyncDirectory(dir) } catch { throw SpoolError("\(error)") }
    }

    private func saveState(_ new: SpoolState) throws(SpoolError) {
        do {
            try FileIO.writeAtomically(statePath, new.encoded())
        } catch {
            throw SpoolError("cannot write the spool state: \(error)")
        }
        state = new
    }

    // MARK: - Writing

    /// Appends one observation, durably, and returns it with its seq.
    @discardableResult
    public func append(_ body: ObservationBody, observedAt: Millis = WallClock.nowMillis()) throws(SpoolError) -> Observation {
        guard let observation = try appendAll([body], observedAt: observedAt).first else { throw SpoolError("the spool recorded nothing") }
        return observation
    }

    /// Appends several observations with one sync at the end (and one before each new segment):
    /// a batch costs one fsync, not one per record. On an error the records before the failing one
    /// are kept (synced) and the error says how many.
    @discardableResult
    public func appendAll(_ bodies: [ObservationBody], observedAt: Millis = WallClock.nowMillis()) throws(SpoolError) -> [Observation] {
        guard !bodies.isEmpty else { return [] }
        let (observations, listeners) = try lock.withLock { () throws(SpoolError) -> ([Observation], [@Sendable () -> Void]) in
            guard !closed else { throw SpoolError("the spool is closed") }
            var written: [Observation] = []
            do throws(SpoolError) {
                for (i, body) in bodies.enumerated() {
                    written.append(try appendLocked(body, observedAt: observedAt, sync: i == bodies.count - 1))
                }
                writeError = nil
            } catch {
                if !written.isEmpty, activeFD >= 0 { _ = fdatasync(activeFD) }
                writeError = error.message
                throw bodies.count == 1 ? error : SpoolError("\(error.message) (\(written.count) of \(bodies.count) recorded)")
            }
            do {
                try reportDropsLocked()
            } catch {
                logger.error("cannot spool the dropped-records count", metadata: ["error": "\(error)"])
            }
            return (written, self.listeners)
        }
        for listener in listeners { listener() }
        return observations
    }

    private func appendLocked(_ body: ObservationBody, observedAt: Millis, sync: Bool = true) throws(SpoolError) -> Observation {
        let observation = Observation(seq: nextSeq, observedAt: observedAt, body: body)
        let record = SpoolRecord.encode(payload: ReportCodec.encode(observation))
        if activeFD < 0 || Int64(segments.last!.bytes) >= segmentBytes {
            // Records of a batch written unsynced to the segment being closed are synced first.
            if activeFD >= 0 { _ = fdatasync(activeFD) }
            try startSegment(firstSeq: observation.seq)
        }
        let path = segments[segments.count - 1].path
        let before = segments[segments.count - 1].bytes
        do {
            try FileIO.writeAll(fd: activeFD, record, path: path)
            guard !sync || fdatasync(activeFD) == 0 else { throw FileError("cannot sync", path) }
        } catch {
            // Leave no partial record behind (e.g. on a full disk).
            _ = ftruncate(activeFD, off_t(before))
            throw SpoolError("cannot append to the spool: \(error)")
        }
        segments[segments.count - 1].bytes += record.count
        segments[segments.count - 1].lastSeq = observation.seq
        segments[segments.count - 1].count += 1
        nextSeq += 1
        try enforceCap()
        return observation
    }

    private func startSegment(firstSeq: UInt64) throws(SpoolError) {
        if activeFD >= 0 {
            Glibc.close(activeFD)
            activeFD = -1
        }
        let path = dir + "/" + Self.segmentName(firstSeq)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError("cannot create spool segment \(path): \(Errno.current)") }
        // An empty leftover with this name is fine; anything else would break seq order.
        var st = stat()
        fstat(fd, &st)
        if st.st_size != 0 {
            Glibc.close(fd)
            throw SpoolError("spool segment \(path) already exists and is not empty")
        }
        do {
            try FileIO.fsyncDirectory(dir)
        } catch {
            Glibc.close(fd)
            throw SpoolError("\(error)")
        }
        activeFD = fd
        segments.append(Segment(path: path, firstSeq: firstSeq, lastSeq: firstSeq - 1, count: 0, bytes: 0))
    }

    private var totalBytes: Int { segments.reduce(0) { $0 + $1.bytes } }

    /// Deletes the oldest segments while the spool is over its cap, counting unacked records lost.
    private func enforceCap() throws(SpoolError) {
        var dropped: Int64 = 0
        while Int64(totalBytes) > maxBytes && segments.count > 1 {
            let oldest = segments.removeFirst()
            var lost = oldest.count
            if oldest.firstSeq <= state.ackedSeq {
                // Partly acked: count exactly what was not.
                let bytes = (try? FileIO.read(oldest.path, limit: Int(max(segmentBytes * 4, 16 << 20)))) ?? []
                lost = SpoolRecord.scan(bytes, after: state.ackedSeq).records.count
            }
            try? FileIO.remove(oldest.path)
            dropped += Int64(lost)
            logger.warning(
                "spool is over its size cap; deleted the oldest segment",
                metadata: ["spool.max_bytes": "\(maxBytes)", "records.dropped": "\(lost)"])
        }
        if dropped > 0 {
            var new = state
            new.overflow += dropped
            try saveState(new)
        }
    }

    /// Spools a `dropped` observation when the overflow/corrupt totals moved since the last one.
    private func reportDropsLocked() throws(SpoolError) {
        var rounds = 0
        while (state.overflow, state.corrupt) != (state.reportedOverflow, state.reportedCorrupt) && rounds < 3 {
            rounds += 1
            let totals = (state.overflow, state.corrupt)
            _ = try appendLocked(.dropped(DroppedRecords(overflow: totals.0, corrupt: totals.1)), observedAt: WallClock.nowMillis())
            var new = state
            new.reportedOverflow = totals.0
            new.reportedCorrupt = totals.1
            try saveState(new)
        }
    }

    // MARK: - Reading and acking

    /// The oldest records after the acked seq: at most `maxRecords`, and at most `maxBytes` of JSON
    /// (but always at least one record when there is one).
    public func readBatch(maxRecords: Int, maxBytes: Int = 4 << 20) throws(SpoolError) -> [Observation] {
        try lock.withLock { () throws(SpoolError) -> [Observation] in
            guard !closed else { throw SpoolError("the spool is closed") }
            var out: [Observation] = []
            var budget = maxBytes
            for segment in segments where segment.lastSeq > state.ackedSeq {
                let bytes: [UInt8]
                do {
                    bytes = try FileIO.read(segment.path, limit: Int(max(segmentBytes * 4, 16 << 20)))
                } catch {
                    throw SpoolError("cannot read the spool: \(error)")
                }
                for found in SpoolRecord.scan(bytes, after: state.ackedSeq).records {
                    if out.count >= maxRecords || (!out.isEmpty && found.length > budget) { return out }
                    do {
                        out.append(try ReportCodec.decode(Observation.self, from: Array(bytes[found.payload])))
                        budget -= found.length
                    } catch {
                        logger.error("skipping an undecodable spool record", metadata: ["seq": "\(found.seq)", "error": "\(error)"])
                    }
                }
            }
            return out
        }
    }

    /// Records that everything up to `seq` is stored, and deletes the segments that held only that.
    public func ack(upTo seq: UInt64) throws(SpoolError) {
        try lock.withLock { () throws(SpoolError) in
            guard !closed else { throw SpoolError("the spool is closed") }
            let target = min(seq, nextSeq - 1)
            guard target > state.ackedSeq else { return }
            var new = state
            new.ackedSeq = target
            try saveState(new)
            try deleteAckedSegments()
        }
    }

    /// Skips the oldest unacked record, `seq`, which the collector refuses, and counts it as corrupt.
    public func skipRefused(seq: UInt64) throws(SpoolError) {
        try lock.withLock { () throws(SpoolError) in
            guard !closed else { throw SpoolError("the spool is closed") }
            guard seq > state.ackedSeq, seq < nextSeq else { return }
            var new = state
            new.ackedSeq = seq
            new.corrupt += 1
            try saveState(new)
            try deleteAckedSegments()
            try reportDropsLocked()
        }
    }

    /// Gives the spool a new id, keeping its records and seqs: the collector holds seqs of the old
    /// id that this spool never wrote, or other content under seqs it reuses (the folder was
    /// restored from a copy, e.g. a VM or disk snapshot). Under the new id the unacked records are
    /// new to the collector, so none of them is dropped as a duplicate. The drop totals start over
    /// from what the old id's stream was not told yet (it keeps what it was told).
    @discardableResult
    public func rotate() throws(SpoolError) -> (old: String, new: String) {
        try lock.withLock { () throws(SpoolError) -> (old: String, new: String) in
            guard !closed else { throw SpoolError("the spool is closed") }
            var new = state
            new.previousSpoolID = state.spoolID
            new.spoolID = RandomID.make()
            new.overflow = max(0, state.overflow - state.reportedOverflow)
            new.corrupt = max(0, state.corrupt - state.reportedCorrupt)
            new.reportedOverflow = 0
            new.reportedCorrupt = 0
            try saveState(new)
            try reportDropsLocked()
            return (new.previousSpoolID ?? "", new.spoolID)
        }
    }

    private func deleteAckedSegments() throws(SpoolError) {
        var deleted = false
        while let first = segments.first, first.lastSeq <= state.ackedSeq {
            if segments.count == 1 && activeFD >= 0 {
                Glibc.close(activeFD)
                activeFD = -1
            }
            try? FileIO.remove(first.path)
            segments.removeFirst()
            deleted = true
        }
        if deleted {
            do { try FileIO.fsyncDirectory(dir) } catch { throw SpoolError("\(error)") }
        }
    }

    // MARK: - Status

    /// Why the spool cannot take records now (closed, or the last append failed); nil when it can.
    public var problem: String? {
        lock.withLock { closed ? "the spool is closed" : writeError }
    }

    public var stats: SpoolStats {
        lock.withLock {
            var records = 0
            var bytes = 0
            for s in segments where s.lastSeq > state.ackedSeq {
                if s.firstSeq > state.ackedSeq {
                    records += s.count
                    bytes += s.bytes
                } else {
                    let unacked = min(s.count, Int(s.lastSeq - state.ackedSeq))
                    records += unacked
                    bytes += s.count == 0 ? 0 : s.bytes * unacked / s.count
                }
            }
            return SpoolStats(
                spoolID: state.spoolID, nextSeq: nextSeq, ackedSeq: state.ackedSeq, backlogRecords: records,
                backlogBytes: bytes, totalBytes: totalBytes, segments: segments.count,
                overflow: state.overflow, corrupt: state.corrupt)
        }
    }
}

/// How many records damage on disk destroyed, found while a spool opens. Seqs are consecutive, so
/// where damage lies between two valid records the seqs between them are what it destroyed (less
/// those the collector had already stored). Damage after the last valid record (a torn write, the
/// usual case, or a lost end of the newest segment) has no record after it to tell how far it
/// went: it counts as one. Each damage site is removed once counted (rewritten, truncated, moved
/// aside), so a reopen does not count it again.
struct DamageCount {
    /// Records up to here are stored at the collector: losing their copy loses nothing.
    let ackedSeq: UInt64
    private var lastGood: UInt64?
    /// Where the current segment's records begin (from its name), for damage at its very start.
    private var segmentFirstSeq: UInt64 = 1
    /// Damage seen since `lastGood` whose extent is not known yet.
    private var openDamage = false
    private var lost: Int64 = 0

    init(ackedSeq: UInt64) {
        self.ackedSeq = ackedSeq
    }

    mutating func segmentStarts(firstSeq: UInt64) {
        segmentFirstSeq = max(firstSeq, 1)
    }

    mutating func damage() {
        openDamage = true
    }

    mutating func good(_ record: SpoolRecord.Found) {
        if record.afterDamage || openDamage {
            // The seqs strictly between the last valid record (or the start of this segment) and this one.
            let before = lastGood ?? (segmentFirstSeq - 1)
            let from = max(before, ackedSeq)
            if record.seq > from + 1 { lost += Int64(clamping: record.seq - from - 1) }
        }
        openDamage = false
        lastGood = record.seq
    }

    /// The records lost; damage with no valid record after it counts as one.
    mutating func finish() -> Int64 {
        if openDamage {
            lost += 1
            openDamage = false
        }
        return lost
    }
}
