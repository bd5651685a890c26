/// Wording for people, shared by the CLI and the dashboard so both say the same thing the same way.

extension Units {
    /// A rounded age or wait: `45s`, `12m`, `3h 5m`, `2d 4h` (not exact; see `formatDuration`).
    public static func formatAge(_ ms: Int64) -> String {
        let s = max(0, ms) / 1000
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        return "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }
}

extension Units {
    /// `ratio` as a percentage for people: "90%", "99.5%", and "99.9%" for anything just below
    /// 100 % (never rounded up to a complete-looking "100%"). Any Double works, however large (a
    /// derived count far above its source), infinite or NaN: this never traps.
    public static func formatPercent(_ ratio: Double) -> String {
        let p = ratio * 100
        guard p.isFinite else { return p.isNaN ? "?%" : (p > 0 ? "inf%" : "-inf%") }
        if p >= 99.95 && p < 100 { return "99.9%" }
        let tenths = (p * 10).rounded() / 10
        if tenths == tenths.rounded(), let whole = Int64(exactly: tenths) { return "\(whole)%" }
        return "\(tenths)%"
    }
}

extension TimeParsing {
    /// `2026-01-22 19:00:05 UTC`: RFC 3339 without the milliseconds, easier to read in a table.
    public static func formatForPeople(_ ms: Millis) -> String {
        let text = format(ms)
        return text.prefix(10) + " " + text.dropFirst(11).prefix(8) + " UTC"
    }
}

extension ObservationBody {
    /// One line of an observation's kind-specific fields.
    public var summary: String {
        switch self {
        case .heartbeat(let h):
            return ([h.status.rawValue] + [h.durationMs.map { "\($0) ms" }, h.exitCode.map { "exit \($0)" }, h.message].compactMap { $0 }).joined(
                separator: ", ")
        case .probe(let p):
            return
                "\(p.healthy ? "healthy" : "UNHEALTHY"): \(p.httpStatus.map { "HTTP \($0)" } ?? p.error ?? "no answer") in \(p.latencyMs) ms from \(p.target)"
        case .count(let c): return "\(c.partition) = \(c.count) rows"
        case .itemStatus(let i): return i.status + (i.referenceTime.map { " (reference time \(TimeParsing.formatForPeople($0)))" } ?? "")
        case .decision(let d): return d.decision.rawValue + (d.reason.map { ": \($0)" } ?? "")
        case .lock(let l):
            guard let holder = l.holder else { return "free" }
            return "held by \(holder)" + (l.expiresAt.map { " until \(TimeParsing.formatForPeople($0))" } ?? "")
        case .actionResult(let a): return a.outcome.rawValue + (a.exitCode.map { " (exit \($0))" } ?? "") + (a.outputTail.map { ": \($0)" } ?? "")
        case .dropped(let d): return "dropped records: \(d.overflow) over the spool's size cap, \(d.corrupt) corrupt"
        case .job(let j):
            return "\(j.change.rawValue), \(j.enabled ? "enabled" : "DISABLED")" + (j.target.map { ", target \($0)" } ?? "")
                + (j.lastResult.map { ", last result \($0)" } ?? "")
        }
    }
}
