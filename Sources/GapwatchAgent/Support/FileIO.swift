import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed file operation: what was attempted, on which path, and the OS's reason.
public struct FileError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The errno behind it, when a system call failed.
    public var code: Int32?
    public var description: String { message }

    init(_ operation: String, _ path: String, errno code: Int32 = errno) {
        message = "\(operation) \(path): \(Errno.describe(code))"
        self.code = code
    }

    init(message: String, code: Int32? = nil) {
        self.message = message
        self.code = code
    }
}

/// Small POSIX file helpers: whole-file reads, atomic replacement, directory listing.
public enum FileIO {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Reads a whole file, refusing files larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(FileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("cannot open", path) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot read", path)
            }
            if n == 0 { break }
            if out.count + n > limit { throw FileError(message: "\(path) is larger than \(limit) bytes") }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Reads `count` bytes at `offset` (fewer at end of file).
    static func pread(fd: Int32, offset: Int, count: Int, path: String) throws(FileError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out.withUnsafeMutableBytes { buf in
                Glibc.pread(fd, buf.baseAddress! + got, count - got, off_t(offset + got))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot read", path)
            }
            if n == 0 { break }
            got += n
        }
        out.removeSubrange(got...)
        return out
    }

    /// Writes all of `bytes` to `fd`.
    static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                Glibc.write(fd, buf.baseAddress! + written, buf.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot write", path)
            }
            written += n
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, whole:
    /// write a temporary file, fsync it, rename it over `path`, fsync the directory.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(FileError) {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError("cannot create", temp) }
        do throws(FileError) {
            try writeAll(fd: fd, bytes, path: temp)
            guard fsync(fd) == 0 else { throw FileError("cannot fsync", temp) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw FileError("cannot rename \(temp) to", path, errno: code)
        }
        try fsyncDirectory(containing: path)
    }

    /// Makes a rename, create or unlink in the directory of `path` durable.
    public static func fsyncDirectory(containing path: String) throws(FileError) {
        try fsyncDirectory(directoryName(of: path))
    }

    public static func fsyncDirectory(_ dir: String) throws(FileError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("cannot open directory", dir) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw FileError("cannot fsync directory", dir) }
    }

    public static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// `mkdir -p`, with `mode` for the directories it creates.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(FileError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if !isDirectory(prefix) {
                if mkdir(prefix, mode) != 0 && errno != EEXIST { throw FileError("cannot create directory", prefix) }
            }
            prefix += "/"
        }
    }

    /// The names in a directory, without "." and "..", sorted.
    public static func list(_ dir: String) throws(FileError) -> [String] {
        guard let handle = opendir(dir) else { throw FileError("cannot list", dir) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func remove(_ path: String) throws(FileError) {
        if unlink(path) != 0 && errno != ENOENT { throw FileError("cannot delete", path) }
    }
}
