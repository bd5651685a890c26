import GapwatchProtocol

extension JobSighting {
    /// This job with another `change`. An inventory keeps each job as its `added` sighting (in
    /// memory and in `<spool.dir>/jobs-inventory.json`), so `change` never makes two reads differ.
    public func with(_ change: Change) -> JobSighting {
        var copy = self
        copy.change = change
        return copy
    }

    /// The URL to probe for the target's health: `health_url`, else `target`; only http(s).
    public var probeURL: String? {
        guard let url = healthURL ?? target, url.hasPrefix("http://") || url.hasPrefix("https://") else { return nil }
        return url
    }
}

/// What changed between two reads of an inventory. Pure: no I/O, no clock.
public enum InventoryDiff {
    /// One `job` sighting per job added, changed (any field differs) or removed (with its last-seen
    /// fields), by name. `previous == nil` (no earlier read) reports every job as added.
    public static func diff(previous: [JobSighting]?, current: [JobSighting]) -> [JobSighting] {
        let before = Dictionary((previous ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let now = Set(current.map(\.name))
        var out: [JobSighting] = []
        for job in current.sorted(by: { $0.name < $1.name }) {
            if let old = before[job.name] {
                if old.with(.added) != job.with(.added) { out.append(job.with(.changed)) }
            } else {
                out.append(job.with(.added))
            }
        }
        for name in before.keys.sorted() where !now.contains(name) {
            out.append(before[name]!.with(.removed))
        }
        return out
    }
}

/// Reads a job listing printed by `scheduler.jobs_command`.
///
/// stdout is a JSON array of jobs, or an object with a `jobs` array. Each job is in our shape
/// (`name`, `target`, `health_url`, `schedule`, `timezone`, `enabled`, `last_attempt_at`,
/// `last_result`, `last_success_at`) or in the shape of `gcloud scheduler jobs list --format=json`
/// (`name: projects/P/locations/L/jobs/NAME`, `schedule`, `timeZone`, `httpTarget.uri`,
/// `state`, `lastAttemptTime`, `status`). Unknown fields are ignored.
public enum JobListing {
    /// The jobs of one listing; an entry that is not a valid job is skipped, with the reason.
    /// Throws only when the output as a whole is unusable (not JSON, wrong shape).
    public static func parse(
        _ bytes: [UInt8], scheduler: String?, times: ProbeTimeReader = ProbeTimeReader(zone: nil, setting: "scheduler.jobs_command.timezone")
    ) throws(ListingError) -> Listing<JobSighting> {
        try Listing.parse(bytes, key: "jobs", name: \.name) { (item, path) throws(ListingError) in
            try job(item, path: path, scheduler: scheduler, times: times)
        }
    }

    static func job(_ value: JSONValue, path: String, scheduler: String?, times: ProbeTimeReader) throws(ListingError) -> JobSighting {
        let f = try JSONFields(value, path: path, times: times)
        guard var name = try f.string("name"), !name.isEmpty else { throw ListingError("\(path).name: required") }
        // Cloud Scheduler: projects/P/locations/L/jobs/NAME.
        if name.hasPrefix("projects/"), name.contains("/jobs/"), let last = name.split(separator: "/").last { name = String(last) }
        var job = JobSighting(name: name, change: .added, enabled: true, scheduler: scheduler)
        job.target = try f.string("target")
        if job.target == nil { job.target = try f.object("httpTarget")?.string("uri") }
        job.healthURL = try f.string("health_url")
        job.schedule = try f.string("schedule")
        job.timeZone = try f.string("timezone", "timeZone", "time_zone")
        if let enabled = try f.bool("enabled") {
            job.enabled = enabled
        } else if let state = try f.string("state") {
            job.enabled = state == "ENABLED"
        }
        job.lastAttemptAt = try f.time("last_attempt_at", "lastAttemptTime")
        job.lastSuccessAt = try f.time("last_success_at")
        job.lastResult = try f.string("last_result")
        if job.lastResult == nil, f.has("lastAttemptTime") {
            // Cloud Scheduler's `status` is the last attempt's google.rpc.Status: {} when it worked.
            let code = try f.object("status")?.int("code") ?? 0
            job.lastResult = code == 0 ? "success" : "failure"
        }
        try ListingError.check(.job(job), path: path)
        return job
    }
}
