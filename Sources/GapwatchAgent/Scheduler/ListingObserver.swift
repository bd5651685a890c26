import GapwatchProtocol
import GapwatchSubprocess
import Logging

/// Reads a listing (a scheduler's jobs, a lock table) on an interval, compares it with the
/// previous read, and reports what changed plus a heartbeat: `ok` with a count, or `fail` with
/// why the read failed.
///
/// - A failed read (the command failed or timed out, its output is not JSON) reports nothing but
///   the `fail` heartbeat and keeps the previous read, so nothing is ever reported removed for it.
/// - An entry that is not valid is skipped (and named in the heartbeat's message and the log);
///   the rest of the listing is used.
/// - The previous read is kept in the spool folder (JSON, replaced atomically) once the changes
///   are spooled (`committed`), so a restart reports only what changed meanwhile, and a crash
///   before spooling reports the changes again rather than never.
public final class ListingObserver<Item: Codable & Sendable & Equatable>: Observer, @unchecked Sendable {
    /// The heartbeat's name (and the observer's).
    public let name: String
    public let intervalMs: Int64
    /// The file holding the previous read.
    public let statePath: String
    private let noun: String
    private let read: @Sendable (Wakeup) -> Result<Listing<Item>, ListingError>
    private let diff: @Sendable ([Item]?, [Item]) -> [ObservationBody]
    private let onRead: @Sendable ([Item]) -> Void
    /// An item's name: what identifies it across reads.
    private let key: @Sendable (Item) -> String
    private let logger: Logger
    private let lock = ConditionLock()
    private var previous: [Item]?
    private var uncommitted: [Item]?

    /// Loads the previous read from `statePath` (none when the file is missing or unreadable).
    /// `onRead` gets every successful read's items once they are spooled, and the loaded ones at
    /// once. Not before: the target prober probes a new job as soon as the catalog holds it, and
    /// a probe spooled ahead of its job's `added` sighting would reach the collector first, about
    /// a job it does not know yet.
    public init(
        name: String, noun: String, intervalMs: Int64, statePath: String, logger: Logger, key: @escaping @Sendable (Item) -> String,
        read: @escaping @Sendable (Wakeup) -> Result<Listing<Item>, ListingError>,
        diff: @escaping @Sendable ([Item]?, [Item]) -> [ObservationBody],
        onRead: @escaping @Sendable ([Item]) -> Void = { _ in }
    ) {
        self.name = name
        self.noun = noun
        self.intervalMs = intervalMs
        self.statePath = statePath
        self.logger = logger
        self.read = read
        self.diff = diff
        self.onRead = onRead
        self.key = key
        previous = Self.load(statePath, logger: logger)
        if let previous { onRead(previous) }
    }

    /// The items of the last committed read; nil before the first.
    public var lastRead: [Item]? { lock.withLock { previous } }

    public func observe(cancel: Wakeup) -> [ObservationBody] {
        let started = WallClock.monotonicMillis()
        let result = read(cancel)
        let durationMs = WallClock.monotonicMillis() - started
        switch result {
        case .failure(let error):
            logger.warning("\(name): the listing could not be read; nothing reported from it", metadata: ["error": "\(error)"])
            return [
                .heartbeat(
                    Heartbeat(name: name, status: .fail, durationMs: durationMs, message: error.message.truncatedUTF8(FieldLimits.text), probe: true))
            ]
        case .success(let listing):
            let bodies = lock.withLock {
                // An invalid entry is not a removal: what was known of it stands (all of what was
                // known, when an invalid entry has no readable name).
                var items = listing.items
                if listing.invalid > 0, let previous {
                    let listed = Set(items.map(key))
                    items += previous.filter { !listed.contains(key($0)) && (listing.unnamedInvalid || listing.invalidNames.contains(key($0))) }
                }
                uncommitted = items
                return diff(previous, items)
            }
            var message = "\(listing.items.count) \(noun)"
            if !listing.skipped.isEmpty {
                message += "; skipped \(listing.skipped.count) invalid: \(listing.skipped[0])"
                if listing.invalid > 0 { message += "; an invalid entry is kept as last read, never reported removed" }
                logger.warning(
                    "\(name): skipped invalid entries",
                    metadata: ["count": "\(listing.skipped.count)", "first": "\(listing.skipped.prefix(5).joined(separator: " | "))"])
            }
            if !bodies.isEmpty { logger.info("\(name): changes reported", metadata: ["changes": "\(bodies.count)", noun: "\(listing.items.count)"]) }
            // Invalid entries make the read a failed one for the collector (an incident after a
            // few such runs); repeated names alone do not.
            let status: Heartbeat.Status = listing.invalid > 0 ? .fail : .ok
            return bodies + [
                .heartbeat(
                    Heartbeat(name: name, status: status, durationMs: durationMs, message: message.truncatedUTF8(FieldLimits.text), probe: true))
            ]
        }
    }

    public func committed() {
        let (read, save): ([Item]?, [Item]?) = lock.withLock {
            guard let items = uncommitted else { return (nil, nil) }
            uncommitted = nil
            defer { previous = items }
            return (items, previous == items && FileIO.exists(statePath) ? nil : items)
        }
        if let read { onRead(read) }
        guard let save else { return }
        do {
            try FileIO.writeAtomically(statePath, ReportCodec.encode(Snapshot(version: 1, items: save)))
        } catch {
            logger.error("\(name): cannot keep the last read; after a restart its changes are reported again", metadata: ["error": "\(error)"])
        }
    }

    struct Snapshot: Codable {
        var version: Int
        var items: [Item]
    }

    static func load(_ path: String, logger: Logger) -> [Item]? {
        guard FileIO.exists(path) else { return nil }
        do {
            return try ReportCodec.decode(Snapshot.self, from: try FileIO.read(path, limit: 64 << 20)).items
        } catch {
            logger.warning("cannot read \(path); the next read is reported as new", metadata: ["error": "\(error)"])
            return nil
        }
    }
}

extension AgentConfig.ListingCommand {
    /// Largest listing read; a longer output fails the read.
    static let maxOutputBytes = 8 << 20

    /// Runs the command (argv, no shell) and returns its stdout, or why the read failed: it could
    /// not start, exited non-zero, was killed, timed out or printed too much.
    func output(cancel: Wakeup) -> Result<[UInt8], ListingError> {
        var runner = CommandRunner(timeoutMs: timeoutMs)
        runner.maxStdoutBytes = Self.maxOutputBytes
        let result: CommandResult
        do {
            result = try runner.run(argv, cancel: cancel)
        } catch {
            return .failure(ListingError(error.message))
        }
        guard result.succeeded else { return .failure(ListingError(result.failureNotes(timeoutMs: timeoutMs).joined(separator: ": "))) }
        guard !result.stdoutTruncated else { return .failure(ListingError("stdout is larger than \(Units.formatSize(Int64(Self.maxOutputBytes)))")) }
        return .success(result.stdout)
    }

    /// Runs the command and parses its output with `parse`.
    func read<Item>(cancel: Wakeup, _ parse: ([UInt8]) throws(ListingError) -> Listing<Item>) -> Result<Listing<Item>, ListingError> {
        switch output(cancel: cancel) {
        case .failure(let error): return .failure(error)
        case .success(let bytes):
            do {
                return .success(try parse(bytes))
            } catch {
                return .failure(error)
            }
        }
    }
}

extension ListingObserver where Item == JobSighting {
    /// `scheduler:`'s inventory: `job` observations (added, changed, removed) and the
    /// `scheduler-inventory` heartbeat; previous read in `<spoolDir>/jobs-inventory.json`.
    public static func inventory(_ config: AgentConfig.Scheduler, spoolDir: String, catalog: JobCatalog, logger: Logger) -> ListingObserver {
        let scheduler = config.name
        let read: @Sendable (Wakeup) -> Result<Listing<JobSighting>, ListingError>
        switch config.source {
        case .jobs(let jobs): read = { _ in .success(Listing(items: jobs)) }
        case .command(let command):
            let times = command.times(setting: "scheduler.jobs_command.timezone")
            read = { cancel in
                command.read(cancel: cancel) { (bytes) throws(ListingError) in try JobListing.parse(bytes, scheduler: scheduler, times: times) }
            }
        }
        return ListingObserver(
            name: AgentConfig.inventoryHeartbeat, noun: "jobs", intervalMs: config.inventoryIntervalMs, statePath: spoolDir + "/jobs-inventory.json",
            logger: logger, key: { $0.name }, read: read, diff: { InventoryDiff.diff(previous: $0, current: $1).map { .job($0) } },
            onRead: { catalog.update($0) })
    }
}

extension ListingObserver where Item == LockSighting {
    /// `locks:`: `lock` sightings of what changed and the `lock-listing` heartbeat; previous
    /// listing in `<spoolDir>/locks-seen.json`.
    public static func locks(_ config: AgentConfig.Locks, spoolDir: String, logger: Logger) -> ListingObserver {
        let command = config.command
        return ListingObserver(
            name: AgentConfig.lockListingHeartbeat, noun: "locks", intervalMs: config.intervalMs, statePath: spoolDir + "/locks-seen.json",
            logger: logger,
            key: { $0.name },
            read: { cancel in
                command.read(cancel: cancel) { (bytes) throws(ListingError) in
                    try LockListing.parse(bytes, times: command.times(setting: "locks.timezone"))
                }
            },
            diff: { LockDiff.diff(previous: $0, current: $1).map { .lock($0) } })
    }
}
