import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Which partitions a listing of counts covers: a partition listed before and omitted by a later
/// listing that covers it reads as 0 from then on; one outside the coverage is simply not listed.
public enum CountCoverage: Sendable, Equatable, CustomStringConvertible {
    /// Not a snapshot: an omitted partition keeps its last count.
    case none
    /// Every partition (a query with no date filter).
    case all
    /// The current period and the `count - 1` before it, and any later one: days or hours of the
    /// listing's time zone (`3d` matches `WHERE day >= current_date - 2`).
    case window(count: Int64, PartitionGranularity)
    /// The partitions from `from` through `to` inclusive (dates or hours; other keys compare as text).
    case range(from: String, to: String)

    /// `all`, `none`, `Nd` or `Nh` (N from 1 to 3660 days, or as many hours).
    public static func parse(_ text: String) -> CountCoverage? {
        switch text {
        case "all": return .all
        case "none": return CountCoverage.none
        default:
            guard let unit = text.last, unit == "d" || unit == "h", let n = Int64(text.dropLast()), n >= 1 else { return nil }
            guard n <= (unit == "d" ? 3660 : 3660 * 24) else { return nil }
            return .window(count: n, unit == "d" ? .day : .hour)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .all: "all"
        case .window(let n, let g): "\(n)\(g == .day ? "d" : "h")"
        case .range(let from, let to): "\(from)..\(to)"
        }
    }

    /// Whether `partition` is covered at `now`; `zone` places a window's current period.
    public func covers(_ partition: String, now: Millis, zone: ZoneRules) -> Bool {
        switch self {
        case .none: return false
        case .all: return true
        case .window(let count, let unit):
            let seconds = now >= 0 ? now / 1000 : (now - 999) / 1000
            let local = now + zone.offset(at: seconds) * 1000
            let windowStart = (PartitionKey.period(ofLocal: local, unit) - (count - 1)) * unit.seconds  // local seconds
            for granularity in PartitionGranularity.allCases {
                if let period = PartitionKey.period(of: partition, granularity) { return period * granularity.seconds >= windowStart }
            }
            return false  // neither a date nor an hour: a window never zeroes it
        case .range(let from, let to):
            for granularity in PartitionGranularity.allCases {
                if let p = PartitionKey.period(of: partition, granularity), let a = PartitionKey.period(of: from, granularity),
                    let b = PartitionKey.period(of: to, granularity)
                {
                    return a <= p && p <= b
                }
            }
            // A date partition in an hourly range (or the other way round): compare the days.
            if let p = PartitionKey.period(of: String(partition.prefix(10)), .day), let a = PartitionKey.period(of: String(from.prefix(10)), .day),
                let b = PartitionKey.period(of: String(to.prefix(10)), .day), partition.utf8.count == 10 || from.utf8.count == 10
            {
                return a <= p && p <= b
            }
            return from <= partition && partition <= to
        }
    }
}

/// What a dataset's last complete listing held, to turn a partition that vanished from a later
/// listing into an explicit 0. Thread-safe; persisted as JSON (replaced atomically) when the
/// caller commits, i.e. once the listing's observations are in the spool.
public final class CountSnapshot: @unchecked Sendable {
    /// Where the memory is kept; nil: in memory only.
    public let statePath: String?
    /// At most this many remembered partitions (the newest keys are kept).
    public static let maxRemembered = 10_000
    private let logger: Logger
    private let lock = ConditionLock()
    private var remembered: [String: Int64]
    private var uncommitted: [String: Int64]?

    public init(statePath: String?, logger: Logger) {
        self.statePath = statePath
        self.logger = logger
        remembered = statePath.flatMap { Self.load($0, logger: logger) } ?? [:]
    }

    /// Records a complete listing (`counts`: partition → count) that covers `coverage`, and
    /// returns the partitions to report as 0, sorted: remembered, covered, not listed. The new
    /// memory takes effect at `commit()`; `merge: true` (a single pushed count) adds to it without
    /// zeroing anything. Callers serialise record → spool → commit (one listing at a time).
    public func record(_ counts: [String: Int64], coverage: CountCoverage, now: Millis, zone: ZoneRules, merge: Bool = false) -> [String] {
        lock.withLock {
            var next = merge ? remembered.merging(counts) { _, new in new } : counts
            var zeroed: [String] = []
            if !merge {
                for key in remembered.keys where counts[key] == nil && coverage.covers(key, now: now, zone: zone) {
                    next[key] = 0
                    zeroed.append(key)
                }
                // Outside a fixed range (or with no coverage) the remembered partitions stay: a later
                // listing may cover them. A window only moves on: what left it is forgotten.
                switch coverage {
                case .window, .all: break
                case .none, .range:
                    for (key, value) in remembered where next[key] == nil { next[key] = value }
                }
            }
            if next.count > Self.maxRemembered {
                for key in next.keys.sorted().prefix(next.count - Self.maxRemembered) { next.removeValue(forKey: key) }
            }
            uncommitted = next
            return zeroed.sorted()
        }
    }

    /// Keeps what the last `record` saw (and persists it): call once its observations are spooled.
    public func commit() {
        let save: [String: Int64]? = lock.withLock {
            guard let next = uncommitted else { return nil }
            uncommitted = nil
            defer { remembered = next }
            return next == remembered && statePath.map(FileIO.exists) == true ? nil : next
        }
        guard let save, let statePath else { return }
        do {
            try FileIO.writeAtomically(statePath, ReportCodec.encode(Stored(version: 1, partitions: save)))
        } catch {
            logger.error(
                "cannot keep the last listing of counts; after a restart partitions it dropped are not zeroed",
                metadata: ["path": "\(statePath)", "error": "\(error)"])
        }
    }

    /// Forgets what the last `record` saw (its observations were not spooled).
    public func discard() { lock.withLock { uncommitted = nil } }

    /// The remembered partitions and counts (committed).
    public var current: [String: Int64] { lock.withLock { remembered } }

    struct Stored: Codable {
        var version: Int
        var partitions: [String: Int64]
    }

    static func load(_ path: String, logger: Logger) -> [String: Int64]? {
        guard FileIO.exists(path) else { return nil }
        do {
            return try ReportCodec.decode(Stored.self, from: try FileIO.read(path, limit: 16 << 20)).partitions
        } catch {
            logger.warning(
                "cannot read the last listing of counts; partitions it held are not zeroed until listed again",
                metadata: ["path": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// A file name part made of characters safe in a path.
    static func safeName(_ text: String) -> String {
        String(
            text.unicodeScalars.prefix(100).map {
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789._-".unicodeScalars.contains($0)) ? Character($0) : "_"
            })
    }
}
