import GapwatchProtocol

/// The latest count of one partition of a dataset (partition = a date "YYYY-MM-DD").
public struct PartitionCount: Sendable, Equatable {
    public var partition: String
    public var count: Int64
    /// When the partition's count took this value: the first report of it since a different
    /// value (re-reports of an unchanged count do not move it, so a probe that re-reads a table
    /// every minute does not keep its partitions from settling).
    public var updatedAt: Millis

    public init(partition: String, count: Int64, updatedAt: Millis) {
        self.partition = partition
        self.count = count
        self.updatedAt = updatedAt
    }
}

public enum PartitionGapKind: String, Sendable, Codable {
    /// The source has rows for the partition, the derived dataset has none (absent or count 0).
    case derivedMissing = "derived_missing"
    /// derived / source is below the rule's minimum ratio.
    case incomplete
    /// The partition was expected to have source rows (e.g. a date with games) and has none.
    case sourceMissing = "source_missing"
}

/// One partition that needs healing, with the counts that show why.
public struct PartitionGap: Sendable, Equatable, Codable {
    public var partition: String
    public var kind: PartitionGapKind
    /// nil: the source reported no count for the partition.
    public var sourceCount: Int64?
    /// nil: the derived dataset reported no count for the partition.
    public var derivedCount: Int64?
    /// derived/source when both known (and the source count is above 0); 0 when the derived
    /// dataset reported a count of 0.
    public var ratio: Double?

    public init(
        partition: String, kind: PartitionGapKind, sourceCount: Int64? = nil, derivedCount: Int64? = nil,
        ratio: Double? = nil
    ) {
        self.partition = partition
        self.kind = kind
        self.sourceCount = sourceCount
        self.derivedCount = derivedCount
        self.ratio = ratio
    }
}

/// Adjacent gap dates of the same heal (derived gaps: backfill; source gaps: scrape) merged into one range.
public struct GapRange: Sendable, Equatable, Codable {
    /// First partition of the range (`YYYY-MM-DD`).
    public var start: String
    /// Last partition of the range, inclusive.
    public var end: String
    public var heal: Heal
    /// The gaps of the range, oldest first.
    public var partitions: [PartitionGap]

    public enum Heal: String, Sendable, Codable {
        /// Recompute the derived dataset from the source (derived_missing, incomplete).
        case backfill
        /// Fetch the source data again (source_missing).
        case scrape
    }

    public init(start: String, end: String, heal: Heal, partitions: [PartitionGap]) {
        self.start = start
        self.end = end
        self.heal = heal
        self.partitions = partitions
    }
}

/// Groups gaps into ranges of consecutive calendar dates, all with `heal`, sorted by date.
///
/// Gaps are sorted by partition first (input order does not matter; gaps of the same partition
/// keep their input order and stay in the same range). A date follows another if it is the next
/// calendar day (`2026-01-31` → `2026-02-01`, `2028-02-28` → `2028-02-29`). A partition that is not
/// a valid `YYYY-MM-DD` date gets a range of its own.
public func mergeGapRanges(_ gaps: [PartitionGap], heal: GapRange.Heal) -> [GapRange] {
    let sorted = gaps.enumerated().sorted {
        $0.element.partition != $1.element.partition ? $0.element.partition < $1.element.partition : $0.offset < $1.offset
    }
    var ranges: [GapRange] = []
    var lastDay: Int64?  // day of the current range's end; nil: the range cannot be extended
    for (_, gap) in sorted {
        let day = CompletenessSupport.day(ofPartition: gap.partition)
        if let day, let last = lastDay, day == last || day == last + 1, !ranges.isEmpty {
            ranges[ranges.count - 1].end = gap.partition
            ranges[ranges.count - 1].partitions.append(gap)
        } else {
            ranges.append(GapRange(start: gap.partition, end: gap.partition, heal: heal, partitions: [gap]))
        }
        lastDay = day
    }
    return ranges
}

/// Dataset `derived` must hold (nearly) as many rows per date partition as `source`, and dates
/// expected to have source data must have it.
///
/// **Window.** The rule looks at `lookbackDays` partitions: today's date in `timeZone` and the
/// `lookbackDays - 1` dates before it, inclusive (lookback 3 at 2026-01-22T12:00 UTC: 2026-01-20,
/// 2026-01-21, 2026-01-22). Counts of other partitions are ignored.
///
/// **Derived gaps (heal: backfill)**, for a partition whose source count is above 0, once the
/// source count has settled (`now - source updatedAt >= settleMs`), also for today's partition:
/// - derived count absent or 0 → `derivedMissing`;
/// - derived / source < `minRatio` → `incomplete` (a ratio exactly at `minRatio`, or a derived
///   count above the source count, is complete).
///
/// **Source gaps (heal: scrape)**, for a partition in `expected` whose source count is absent or 0
/// (`sourceMissing`): judged once the partition's day is over in `timeZone` and settled, i.e.
/// `now >= (next local midnight after the partition's date) + settleMs`, and, if a source count of
/// 0 was reported, `now - its updatedAt >= settleMs` as well. Today's partition is therefore never
/// source-missing. A source count of 0 on a date that is not expected is no gap (no games, no rows).
///
/// If a dataset reports several counts for one partition, the one with the latest `updatedAt`
/// counts (on a tie, the later one in the array).
public struct CompletenessRule: Sendable {
    public var source: String
    public var derived: String
    /// Smallest acceptable derived/source ratio, in (0, 1]. Default 0.9.
    public var minRatio: Double
    /// Number of partitions judged: today and the `lookbackDays - 1` dates before it. Default 3.
    public var lookbackDays: Int
    /// A partition is judged only when `now - (latest source updatedAt) >= settleMs`.
    /// Default 10 minutes.
    public var settleMs: Millis
    /// IANA zone that decides "today" and when a partition's day is over. Default "UTC".
    /// (Set to an unknown zone after `init`, the rule falls back to UTC; `init` rejects one.)
    public var timeZone: String {
        didSet { zone = Self.zone(named: timeZone) ?? Self.utc }
    }
    /// `timeZone` resolved; the cron expression is unused, only the zone's offsets.
    private var zone: CronSchedule

    public static let defaultMinRatio = 0.9
    public static let defaultLookbackDays = 3
    public static let defaultSettleMs: Millis = 600_000

    public init(
        source: String, derived: String, minRatio: Double = CompletenessRule.defaultMinRatio,
        lookbackDays: Int = CompletenessRule.defaultLookbackDays, settleMs: Millis = CompletenessRule.defaultSettleMs,
        timeZone: String = "UTC"
    ) throws(ScheduleError) {
        let name = "completeness rule \(source) -> \(derived)"
        guard minRatio > 0, minRatio <= 1 else {  // also rejects NaN
            throw ScheduleError("\(name): min_ratio must be greater than 0 and at most 1 (got \(minRatio))")
        }
        guard lookbackDays >= 1, lookbackDays <= 366 else {
            throw ScheduleError("\(name): lookback_days must be between 1 and 366 (got \(lookbackDays))")
        }
        guard settleMs >= 0 else {
            throw ScheduleError("\(name): settle must not be negative (got \(settleMs) ms)")
        }
        guard let zone = Self.zone(named: timeZone) else {
            throw ScheduleError(
                "\(name): unknown time zone '\(timeZone)' (expected an IANA name such as 'UTC' or 'America/New_York')")
        }
        self.source = source
        self.derived = derived
        self.minRatio = minRatio
        self.lookbackDays = lookbackDays
        self.settleMs = settleMs
        self.timeZone = timeZone
        self.zone = zone
    }

    private static func zone(named name: String) -> CronSchedule? {
        try? CronSchedule("0 0 * * *", timeZone: name)
    }

    private static let utc = try! CronSchedule("0 0 * * *", timeZone: "UTC")

    /// Partitions in the lookback window at `now`, oldest first.
    public func partitions(at now: Millis) -> [String] {
        windowDays(at: now).map(CivilCalendar.isoDate(ofDay:))
    }

    /// Day numbers of the window, oldest first.
    private func windowDays(at now: Millis) -> [Int64] {
        let s = CivilCalendar.floorDiv(now, 1000)
        let today = CivilCalendar.floorDiv(s + zone.offset(at: s), CivilCalendar.secondsPerDay)
        let n = Int64(Swift.max(0, lookbackDays))
        return (0..<n).map { today - (n - 1) + $0 }
    }

    /// The instant a date's day is over in `timeZone`: the next local midnight (if that midnight
    /// is skipped by a clock change, the instant of the change).
    private func dayEnd(ofDay day: Int64) -> Millis {
        zone.instant(ofLocal: (day + 1) * CivilCalendar.secondsPerDay) * 1000
    }

    private func settled(_ updatedAt: Millis, now: Millis) -> Bool {
        CompletenessSupport.subtract(now, updatedAt) >= settleMs
    }

    /// Gaps at `now`, as ranges sorted by start date (see the type's documentation for the rules).
    /// `expected`: partitions that should have source data (e.g. dates with games in the schedule);
    /// nil = no source expectation (no `sourceMissing` gaps).
    public func gaps(source: [PartitionCount], derived: [PartitionCount], expected: Set<String>?, now: Millis)
        -> [GapRange]
    {
        let sources = Self.latest(source)
        let deriveds = Self.latest(derived)
        var backfill: [PartitionGap] = []
        var scrape: [PartitionGap] = []
        for day in windowDays(at: now) {
            let p = CivilCalendar.isoDate(ofDay: day)
            let s = sources[p]
            let d = deriveds[p]
            if let s, s.count > 0 {
                guard settled(s.updatedAt, now: now) else { continue }
                let ratio = d.map { Double($0.count) / Double(s.count) }
                if d == nil || d!.count <= 0 {
                    backfill.append(
                        PartitionGap(partition: p, kind: .derivedMissing, sourceCount: s.count, derivedCount: d?.count, ratio: ratio))
                } else if let ratio, ratio < minRatio {
                    backfill.append(
                        PartitionGap(partition: p, kind: .incomplete, sourceCount: s.count, derivedCount: d?.count, ratio: ratio))
                }
            } else if let expected, expected.contains(p) {
                guard now >= CompletenessSupport.add(dayEnd(ofDay: day), settleMs) else { continue }
                if let s, !settled(s.updatedAt, now: now) { continue }
                scrape.append(PartitionGap(partition: p, kind: .sourceMissing, sourceCount: s?.count, derivedCount: d?.count))
            }
        }
        return (mergeGapRanges(backfill, heal: .backfill) + mergeGapRanges(scrape, heal: .scrape)).sorted {
            $0.start != $1.start ? $0.start < $1.start : $0.heal.rawValue < $1.heal.rawValue
        }
    }

    /// Which of `partitions` a heal has fixed, for verifying an action over a range: after a
    /// backfill, derived reaches `minRatio` of source (a partition with no source rows has nothing
    /// to backfill and counts as fixed); after a scrape, source has rows. Settle and the lookback
    /// window do not apply: the action names its partitions.
    public func healed(_ partitions: [String], heal: GapRange.Heal, source: [PartitionCount], derived: [PartitionCount]) -> [String] {
        let sources = Self.latest(source)
        let deriveds = Self.latest(derived)
        return partitions.filter { p in
            let s = sources[p]?.count ?? 0
            switch heal {
            case .scrape:
                return s > 0
            case .backfill:
                guard s > 0 else { return true }
                guard let d = deriveds[p]?.count, d > 0 else { return false }
                return Double(d) / Double(s) >= minRatio
            }
        }
    }

    /// The count with the latest `updatedAt` per partition (ties: the later one in the array).
    private static func latest(_ counts: [PartitionCount]) -> [String: PartitionCount] {
        var result: [String: PartitionCount] = [:]
        for c in counts {
            if let seen = result[c.partition], seen.updatedAt > c.updatedAt { continue }
            result[c.partition] = c
        }
        return result
    }
}
