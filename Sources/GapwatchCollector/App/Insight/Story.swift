import GapwatchProtocol

extension CollectorRuntime {
    /// Observations of `subject` in [from, to) (the oldest `limit`), plus the incidents about it
    /// (same subject, or naming it in a label) and the actions about it (serving those incidents,
    /// or naming it in their key or parameters), each with every step, oldest first.
    ///
    /// `kinds`: only observations of these kinds (nil: every kind); each kind gets its own
    /// `limit`, so a rare kind is not crowded out by a frequent one.
    public func story(subject: String, from: Millis, to: Millis, limit: Int, kinds: Set<ObservationKind>? = nil) throws -> SubjectStory {
        var filter = TimelineFilter()
        filter.subject = subject
        filter.from = from
        filter.to = to
        filter.limit = limit
        var observations: [TimelineEntry] = []
        var truncated = false
        for kind in kinds.map({ $0.sorted { $0.rawValue < $1.rawValue }.map(Optional.some) }) ?? [nil] {
            filter.kind = kind
            let page = try database.timeline(filter)
            observations += page.observations
            truncated = truncated || page.nextCursor != nil
        }
        var entries = observations.map { SubjectStory.Entry(at: $0.observation.observedAt, source: "observation", observation: $0) }
        // The name without its type prefix: what labels, keys and parameters mention.
        let bare = subject.firstIndex(of: ":").map { String(subject[subject.index(after: $0)...]) } ?? subject
        let mentions = try database.storyMentions(subject: subject, bareName: bare, from: from, to: to)
        for id in mentions.incidentIDs {
            guard let incident = try database.incident(id: id) else { continue }
            for event in incident.events ?? [] where event.at >= from && event.at < to {
                entries.append(
                    SubjectStory.Entry(
                        at: event.at, source: "incident",
                        text: "incident \(id) (\(incident.rule) \(incident.subject)) \(event.event): \(event.reason)",
                        incidentID: id))
            }
        }
        for id in mentions.actionIDs {
            var steps = TimelineFilter()
            steps.subject = "action:\(id)"
            steps.from = from
            steps.to = to
            steps.limit = 1000
            for step in try database.timeline(steps).observations {
                guard case .actionResult(let result) = step.observation.body else { continue }
                let who = step.agentID == "@collector" ? "" : " (agent \(step.agentID): \(result.outcome.rawValue))"
                entries.append(
                    SubjectStory.Entry(
                        at: step.observation.observedAt, source: "action",
                        text: "action \(id)\(who): \(result.outputTail ?? result.outcome.rawValue)",
                        actionID: id))
            }
        }
        entries.sort { $0.at < $1.at }
        return SubjectStory(subject: subject, entries: entries, truncated: truncated)
    }
}

/// Story rows with repeats folded: one row stands for `count` entries that said the same thing.
public struct FoldedStoryEntry: Sendable, Equatable {
    /// The first of the entries.
    public var entry: SubjectStory.Entry
    public var count: Int
    /// When the last of them was observed (`entry.at` when count is 1).
    public var lastAt: Millis
}

extension SubjectStory {
    /// Folds repeated observations: one that says the same as the previous observation of its
    /// series (same agent, kind and thing: a dataset partition, a ping, a probe target, a lock…)
    /// is counted into that series' row instead of getting its own, until the series says
    /// something else. A count re-reported unchanged every minute, or a ping ok every 30 s, is one
    /// row "×N, first … last …", also when other series interleave with it. Incidents and actions
    /// are never folded. `entries` must be in time order; so is the result (by first entry).
    public static func fold(_ entries: [Entry]) -> [FoldedStoryEntry] {
        foldRepeats(entries, at: \.at, keys: { $0.observation.map(foldKeys) }).map {
            FoldedStoryEntry(entry: $0.item, count: $0.count, lastAt: $0.lastAt)
        }
    }

    /// The folding of `fold` over any rows: `keys` gives a row's series and what it says (nil:
    /// never folded). `items` must be in time order.
    public static func foldRepeats<Item>(
        _ items: [Item], at: (Item) -> Millis, keys: (Item) -> (series: String, value: String)?
    ) -> [(item: Item, count: Int, lastAt: Millis)] {
        var rows: [(item: Item, count: Int, lastAt: Millis)] = []
        var open: [String: (row: Int, value: String)] = [:]
        for item in items {
            guard let (series, value) = keys(item) else {
                rows.append((item, 1, at(item)))
                continue
            }
            if let current = open[series], current.value == value {
                rows[current.row].count += 1
                rows[current.row].lastAt = max(rows[current.row].lastAt, at(item))
            } else {
                open[series] = (rows.count, value)
                rows.append((item, 1, at(item)))
            }
        }
        return rows
    }

    /// Which series an observation belongs to, and what it says: durations and latencies differ
    /// from one ping or probe to the next without saying anything new, so they are left out.
    public static func foldKeys(_ entry: TimelineEntry) -> (series: String, value: String) {
        let body = entry.observation.body
        var series = "\(entry.agentID)\u{1}\(body.kind.rawValue)\u{1}\(body.subject(agentID: entry.agentID))"
        let value: String
        switch body {
        case .heartbeat(let h): value = "\(h.status.rawValue)\u{1}\(h.exitCode.map(String.init) ?? "")\u{1}\(h.message ?? "")"
        case .probe(let p):
            series += "\u{1}\(p.target)"
            value = "\(p.healthy)\u{1}\(p.httpStatus.map(String.init) ?? "")\u{1}\(p.error ?? "")"
        case .count(let c):
            series += "\u{1}\(c.partition)"
            value = String(c.count)
        default: value = body.summary
        }
        return (series, value)
    }
}
