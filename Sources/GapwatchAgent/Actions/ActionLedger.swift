import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The action ids this agent has accepted, kept durably so that an action runs at most once, even
/// across restarts.
///
/// The ids live in `<spool dir>/actions-handled`, one per line. `remember` appends a line and
/// returns only after `fdatasync`, so an id is on disk before its command starts. The file is
/// rewritten (atomically) with the most recent `capacity` ids when it is opened with more than
/// that, and while running whenever it reaches twice that. A torn last line (a crash during
/// `remember`) is dropped: its command never started.
///
/// Not thread-safe: `ActionRunner` calls it under its lock. The spool's `flock` keeps a second
/// agent off the folder, and so off this file.
final class ActionLedger {
    static let fileName = "actions-handled"

    let path: String
    let capacity: Int
    private var ids: [String] = []
    private var known: Set<String> = []
    private var fd: Int32 = -1
    private var linesInFile = 0

    init(dir: String, capacity: Int = 10_000) throws(FileError) {
        self.path = dir + "/" + Self.fileName
        self.capacity = max(1, capacity)
        var rewrite = false
        if FileIO.exists(path) {
            // 2 x capacity lines of at most 129 bytes each, with room to spare.
            let bytes = try FileIO.read(path, limit: max(1 << 20, self.capacity * 2 * 130 * 2))
            var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if bytes.last != UInt8(ascii: "\n") {
                lines.removeLast()  // a torn last line (or an empty file's one empty piece)
                rewrite = !bytes.isEmpty
            } else {
                lines.removeLast()  // the empty piece after the final newline
            }
            for line in lines {
                let id = String(decoding: line, as: UTF8.self)
                guard ActionParameterType.isIdentifier(id) else {
                    rewrite = true
                    continue
                }
                ids.append(id)
            }
            if ids.count > self.capacity {
                ids.removeFirst(ids.count - self.capacity)
                rewrite = true
            }
            known = Set(ids)
            linesInFile = ids.count
        }
        if rewrite {
            try compact()
        } else {
            try openForAppend()
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func contains(_ id: String) -> Bool { known.contains(id) }

    /// Records `id` durably. `id` must be an action id (`[A-Za-z0-9._:-]{1,128}`).
    func remember(_ id: String) throws(FileError) {
        precondition(ActionParameterType.isIdentifier(id), "not an action id")
        guard !known.contains(id) else { return }
        guard fd >= 0 else { throw FileError(message: "\(path) is closed") }
        try FileIO.writeAll(fd: fd, Array((id + "\n").utf8), path: path)
        guard fdatasync(fd) == 0 else { throw FileError("cannot sync", path) }
        ids.append(id)
        known.insert(id)
        linesInFile += 1
        if linesInFile >= 2 * capacity {
            ids.removeFirst(ids.count - capacity)
            known = Set(ids)
            try compact()
        }
    }

    /// How many ids are remembered now.
    var count: Int { ids.count }

    private func compact() throws(FileError) {
        close()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 40)
        for id in ids {
            bytes.append(contentsOf: id.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        try FileIO.writeAtomically(path, bytes)
        linesInFile = ids.count
        try openForAppend()
    }

    private func openForAppend() throws(FileError) {
        let existed = FileIO.exists(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileError("cannot open", path) }
        self.fd = fd
        if !existed {
            // The new file's directory entry must be durable before an id in it counts.
            guard fsync(fd) == 0 else { throw FileError("cannot fsync", path) }
            try FileIO.fsyncDirectory(containing: path)
        }
    }
}
