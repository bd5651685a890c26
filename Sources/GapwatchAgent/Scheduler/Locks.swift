import GapwatchProtocol

/// What changed between two lock listings. Pure: no I/O, no clock.
public enum LockDiff {
    /// A sighting for each lock that is new or whose holder, acquired_at or expires_at changed
    /// (a lock that became free is seen free), and a free sighting for each lock that left the
    /// listing. `previous == nil` (no earlier listing) reports every lock.
    public static func diff(previous: [LockSighting]?, current: [LockSighting]) -> [LockSighting] {
        let before = Dictionary((previous ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let now = Set(current.map(\.name))
        var out: [LockSighting] = []
        for lock in current.sorted(by: { $0.name < $1.name }) where before[lock.name] != lock {
            out.append(lock)
        }
        for name in before.keys.sorted() where !now.contains(name) {
            out.append(LockSighting(name: name, holder: nil))
        }
        return out
    }
}

/// Reads the output of `locks.argv`: a JSON array of locks, or an object with a `locks` array,
/// each `{name, holder, acquired_at, expires_at}`; times in ms, RFC 3339, or without an offset in
/// `locks.timezone`; a null, absent or empty holder means free. Empty output is no locks (as
/// `sqlite3 -json` prints for an empty table).
public enum LockListing {
    /// The locks of one listing; an entry that is not a valid lock is skipped, with the reason.
    public static func parse(_ bytes: [UInt8], times: ProbeTimeReader = ProbeTimeReader(zone: nil, setting: "locks.timezone")) throws(ListingError)
        -> Listing<LockSighting>
    {
        try Listing.parse(bytes, key: "locks", emptyIsNone: true, name: \.name) { (item, path) throws(ListingError) in
            let f = try JSONFields(item, path: path, times: times)
            guard let name = try f.string("name"), !name.isEmpty else { throw ListingError("\(path).name: required") }
            var holder = try f.string("holder")
            if holder?.isEmpty == true { holder = nil }
            let lock = LockSighting(name: name, holder: holder, acquiredAt: try f.time("acquired_at"), expiresAt: try f.time("expires_at"))
            try ListingError.check(.lock(lock), path: path)
            return lock
        }
    }
}
