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
}

/// Where one partition stands at `now`, as the completeness rule judges it.
public enum PartitionState: String, Sendable, Codable, CaseIterable {
    /// Its period has not ended (plus `due_after`): still filling, never judged, backfilled or
    /// verified.
    case notDue = "not_due"
    /// Due, but the source count changed less than `settle` ago (or a reported 0 is that fresh).
    case settling
    /// Neither dataset has rows, and no source rows were expected: nothing to judge.
    case noRows = "no_rows"
    /// Derived holds at least `min_ratio` of the source rows (or the source has none to copy).
    case complete
    case derivedMissing = "derived_missing"
    case incomplete
    case sourceMissing = "source_missing"

    /// The gap kind of a state that needs healing.
    public var gapKind: PartitionGapKind? {
        switch self {
        case .derivedMissing: .derivedMissing
        case .incomplete: .incomplete
        case .sourceMissing: .sourceMissing
        default: nil
        }
    }
}

/// One partition of a rule's window, judged.
public struct PartitionVerdict: Sendable, Equatable, Codable {
    public var partition: String
    public var state: PartitionState
    public var sourceCount: Int64?
    public var derivedCount: Int64?
    /// derived/source when both are known and the source count is above 0.
    public var ratio: Double?
    /// When the partition is (or was) due: its period's end in the rule's time zone plus `due_after`.
    public var dueAt: Millis

    /// The gap this verdict is, if it is one.
    public var gap: PartitionGap? {
        state.gapKind.map { kind in
            PartitionGap(
                partition: partition, kind: kind, sourceCount: sourceCount, derivedCount: derivedCount,
                ratio: kind == .sourceMissing ? nil : ratio)
        }
    }
}

/// Adjacent gap partitions of the same heal (derived gaps: backfill; source gaps: scrape) merged into one range.
public struct GapRange: Sendable, Equatable, Codable {
    /// First partition of the range (`YYYY-MM-DD`, or `YYYY-MM-DDTHH` for hourly rules).
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
}

/// Groups gaps into ranges of consecutive periods, all with `heal`, sorted by partition.
///
/// Gaps are sorted by partition first (input order does not matter; gaps of the same partition
/// keep their input order and stay in the same range). A partition follows another if it is the
/// next period (`2026-01-31` → `2026-02-01`, `2028-02-28` → `2028-02-29`; hourly `2026-01-22T23`
/// → `2026-01-23T00`). A partition that is not a key of `granularity` gets a range of its own.
public func mergeGapRanges(_ gaps: [PartitionGap], heal: GapRange.Heal, granularity: PartitionGranularity = .day) -> [GapRange] {
    let sorted = gaps.enumerated().sorted {
        $0.element.partition != $1.element.partition ? $0.element.partition < $1.element.partition : $0.offset < $1.offset
    }
    var ranges: [GapRange] = []
    var lastPeriod: Int64?  // period of the current range's end; nil: the range cannot be extended
    for (_, gap) in sorted {
        let period = PartitionKey.period(of: gap.partition, granularity)
        if let period, let last = lastPeriod, period == last || period == last + 1, !ranges.isEmpty {
            ranges[ranges.count - 1].end = gap.partition
            ranges[ranges.count - 1].partitions.append(gap)
        } else {
            ranges.append(GapRange(start: gap.partition, end: gap.partition, heal: heal, partitions: [gap]))
        }
        lastPeriod = period
    }
    return ranges
}

/// Dataset `derived` must hold (nearly) as many rows per partition as `source`, and partitions
/// expected to have source data must have it.
///
/// **Window.** The rule looks at `lookback` partitions of its granularity (days or hours of
/// `timeZone`): the current one and the `lookback - 1` before it (daily, lookback 3 at
/// 2026-01-22T12:00 UTC: 2026-01-20, 2026-01-21, 2026-01-22). Counts of other partitions are
/// ignored.
///
/// **Due.** A partition is judged only once it is due: when its period has ended in `timeZone`,
/// plus `dueAfterMs` (daily 2026-01-22 with due_after 1h in UTC: 2026-01-23T01:00Z). Before that
/// it is `notDue`: a day still receiving hourly data is never a gap, never backfilled, never
/// verified.
///
/// **Derived gaps (heal: backfill)**, for a due partition whose source count is above 0, once the
/// source count has settled (`now - source updatedAt >= settleMs`):
/// - derived count absent or 0 → `derivedMissing`;
/// - derived / source < `minRatio` → `incomplete` (a ratio exactly at `minRatio`, or a derived
///   count above the source count, is complete).
///
/// **Source gaps (heal: scrape)**, for a due partition in `expected` whose source count is absent
/// or 0 (`sourceMissing`): judged once `now >= period end + settleMs` as well, and, if a source
/// count of 0 was reported, `now - its updatedAt >= settleMs`.
///
/// **No rows.** Source and derived both 0 (or absent), and no source rows expected: `noRows`,
/// neither complete nor a gap.
///
/// If a dataset reports several counts for one partition, the one with the latest `updatedAt`
/// counts (on a tie, the later one in the array).
public struct CompletenessRule: Sendable {
    public var source: String
    public var derived: String
    /// Smallest acceptable derived/source ratio, in (0, 1]. Default 0.9.
    public var minRatio: Double
    /// Number of partitions judged: the current one and the `lookback - 1` before it. Default 3.
    public var lookback: Int
    /// A partition is judged only when `now - (latest source updatedAt) >= settleMs`.
    /// Default 10 minutes.
    public var settleMs: Millis
    /// How long after its period ends a partition is due. Default 1 hour.
    public var dueAfterMs: Millis
    public var granularity: PartitionGranularity
    /// IANA zone that decides the current partition and when a partition's period is over.
    /// Default "UTC". (Set to an unknown zone after `init`, the rule falls back to UTC; `init`
    /// rejects one.)
    public var timeZone: String {
        didSet { zone = Self.zone(named: timeZone) ?? Self.utc }
    }
    /// `timeZone` resolved; the cron expression is unused, only the zone's offsets.
    private var zone: CronSchedule

    public static let defaultMinRatio = 0.9
    public static let defaultLookback = 3
    public static let defaultSettleMs: Millis = 600_000
    public static let defaultDueAfterMs: Millis = 3_600_000

    public init(
        source: String, derived: String, minRatio: Double = CompletenessRule.defaultMinRatio,
        lookback: Int = CompletenessRule.defaultLookback, settleMs: Millis = CompletenessRule.defaultSettleMs,
        dueAfterMs: Millis = CompletenessRule.defaultDueAfterMs, granularity: PartitionGranularity = .day, timeZone: String = "UTC"
    ) throws(ScheduleError) {
        let name = "completeness rule \(source) -> \(derived)"
        guard minRatio > 0, minRatio <= 1 else {  // also rejects NaN
            throw ScheduleError("\(name): min_ratio must be greater than 0 and at most 1 (got \(minRatio))")
        }
        let maxLookback = granularity == .day ? 366 : 24 * 93
        guard lookback >= 1, lookback <= maxLookback else {
            throw ScheduleError("\(name): lookback must be between 1 and \(maxLookback) \(granularity.noun)s (got \(lookback))")
        }
        guard settleMs >= 0 else {
            throw ScheduleError("\(name): settle must not be negative (got \(settleMs) ms)")
        }
        guard dueAfterMs >= 0, dueAfterMs <= 31 * 86_400_000 else {
            throw ScheduleError("\(name): due_after must be between 0 and 31 days (got \(dueAfterMs) ms)")
        }
        guard let zone = Self.zone(named: timeZone) else {
            throw ScheduleError(
                "\(name): unknown time zone '\(timeZone)' (expected an IANA name such as 'UTC' or 'America/New_York')")
        }
        self.source = source
        self.derived = derived
        self.minRatio = minRatio
        self.lookback = lookback
        self.settleMs = settleMs
        self.dueAfterMs = dueAfterMs
        self.granularity = granularity
        self.timeZone = timeZone
        self.zone = zone
    }

    private static func zone(named name: String) -> CronSchedule? {
        try? CronSchedule("0 0 * * *", timeZone: name)
    }

    private static let utc = try! CronSchedule("0 0 * * *", timeZone: "UTC")

    /// Partitions in the lookback window at `now`, oldest first (canonical keys).
    public func partitions(at now: Millis) -> [String] {
        windowPeriods(at: now).map { PartitionKey.key(ofPeriod: $0, granularity) }
    }

    /// The canonical key of `partition` for this rule, or nil when it is not one of its keys.
    public func canonical(_ partition: String) -> String? {
        PartitionKey.canonical(partition, granularity)
    }

    /// Every partition from `start` through `end` inclusive (canonical), at most `limit`.
    public func partitions(from start: String, through end: String, limit: Int = 10_000) -> [String] {
        PartitionKey.keys(from: start, through: end, granularity, limit: limit)
    }

    /// Period numbers of the window, oldest first.
    private func windowPeriods(at now: Millis) -> [Int64] {
        let s = CivilCalendar.floorDiv(now, 1000)
        let current = CivilCalendar.floorDiv(s + zone.offset(at: s), granularity.seconds)
        let n = Int64(Swift.max(0, lookback))
        return (0..<n).map { current - (n - 1) + $0 }
    }

    /// The instant a period is over in `timeZone`: the local start of the next one (if that local
    /// time is skipped by a clock change, the instant of the change).
    private func periodEnd(_ period: Int64) -> Millis {
        zone.instant(ofLocal: (period + 1) * granularity.seconds) * 1000
    }

    /// When `partition` is due (its period's end plus `due_after`); nil when it is not a key of
    /// this rule's granularity.
    public func dueAt(_ partition: String) -> Millis? {
        PartitionKey.period(of: partition, granularity).map { ClampedTime.add(periodEnd($0), dueAfterMs) }
    }

    /// Whether `partition` is due at `now` (a key of another granularity never is).
    public func isDue(_ partition: String, now: Millis) -> Bool {
        dueAt(partition).map { now >= $0 } ?? false
    }

    private func settled(_ updatedAt: Millis, now: Millis) -> Bool {
        ClampedTime.subtract(now, updatedAt) >= settleMs
    }

    /// Every partition of the window at `now`, oldest first, with its state (see the type's
    /// documentation). `expected`: partitions that should have source data (e.g. dates with games
    /// in the schedule); nil = no source expectation (no `sourceMissing` gaps).
    public func judge(source: [PartitionCount], derived: [PartitionCount], expected: Set<String>?, now: Millis) -> [PartitionVerdict] {
        let sources = Self.latest(source)
        let deriveds = Self.latest(derived)
        return windowPeriods(at: now).map { period in
            let p = PartitionKey.key(ofPeriod: period, granularity)
            let end = periodEnd(period)
            let due = ClampedTime.add(end, dueAfterMs)
            let s = sources[p]
            let d = deriveds[p]
            let ratio: Double? = s.flatMap { s in s.count > 0 ? d.map { Double($0.count) / Double(s.count) } : nil }
            func verdict(_ state: PartitionState) -> PartitionVerdict {
                PartitionVerdict(partition: p, state: state, sourceCount: s?.count, derivedCount: d?.count, ratio: ratio, dueAt: due)
            }
            guard now >= due else { return verdict(.notDue) }
            if let s, s.count > 0 {
                guard settled(s.updatedAt, now: now) else { return verdict(.settling) }
                guard let d, d.count > 0 else { return verdict(.derivedMissing) }
                return verdict((ratio ?? 0) < minRatio ? .incomplete : .complete)
            }
            if let expected, expected.contains(p) {
                if now < ClampedTime.add(end, settleMs) { return verdict(.settling) }
                if let s, !settled(s.updatedAt, now: now) { return verdict(.settling) }
                return verdict(.sourceMissing)
            }
            return verdict((d?.count ?? 0) > 0 ? .complete : .noRows)
        }
    }

    /// Gaps at `now`, as ranges sorted by start partition (see the type's documentation).
    public func gaps(source: [PartitionCount], derived: [PartitionCount], expected: Set<String>?, now: Millis) -> [GapRange] {
        Self.ranges(of: judge(source: source, derived: derived, expected: expected, now: now), granularity: granularity)
    }

    /// The gap ranges of judged partitions.
    public static func ranges(of verdicts: [PartitionVerdict], granularity: PartitionGranularity) -> [GapRange] {
        let gaps = verdicts.compactMap(\.gap)
        let backfill = gaps.filter { $0.kind != .sourceMissing }
        let scrape = gaps.filter { $0.kind == .sourceMissing }
        return (mergeGapRanges(backfill, heal: .backfill, granularity: granularity) + mergeGapRanges(scrape, heal: .scrape, granularity: granularity))
            .sorted { $0.start != $1.start ? $0.start < $1.start : $0.heal.rawValue < $1.heal.rawValue }
    }

    /// Which of `partitions` a heal has fixed, for verifying an action over a range. Only a due
    /// partition can be fixed: a period still filling proves nothing. After a backfill, derived
    /// reaches `minRatio` of source (a partition with no source rows has nothing to backfill and
    /// counts as fixed); after a scrape, source has rows. Settle and the lookback window do not
    /// apply: the action names its partitions.
    public func healed(_ partitions: [String], heal: GapRange.Heal, source: [PartitionCount], derived: [PartitionCount], now: Millis) -> [String] {
        let sources = Self.latest(source)
        let deriveds = Self.latest(derived)
        return partitions.filter { p in
            guard isDue(p, now: now) else { return false }
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
