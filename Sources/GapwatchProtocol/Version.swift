#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one place the Gapwatch version is defined: `gapwatch --version`, `gapwatch-agent --version`
/// and the version an agent reports in its identity.
public enum GapwatchVersion {
    public static let number = "0.1.0"

    /// `0.1.0`, or `0.1.0 (commit 22f9d18c1a2b)` for a binary installed by `make install` from a git
    /// checkout.
    public static var description: String {
        guard let commit = BuildStamp.commit() else { return number }
        return "\(number) (commit \(commit))"
    }
}

/// The git commit that `make install` writes into each installed binary as a non-loaded ELF section
/// (`objcopy --add-section .gapwatch.commit=...`). Stamping the installed copy, not the build, keeps
/// the build independent of git and avoids a rebuild per commit; `swift build` binaries have none.
enum BuildStamp {
    static let sectionName = ".gapwatch.commit"

    /// The stamped commit, or nil (not stamped, not ELF, unreadable). Reads only this process's own
    /// executable, with every size bounded.
    static func commit(executable: String = "/proc/self/exe") -> String? {
        guard let text = readSection(sectionName, of: executable) else { return nil }
        let trimmed = String(decoding: text, as: UTF8.self).filter { !$0.isWhitespace }
        // A hex commit, optionally with "-dirty": anything else is not ours to print.
        let hex = trimmed.hasSuffix("-dirty") ? trimmed.dropLast(6) : Substring(trimmed)
        guard (7...64).contains(hex.count), hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        return trimmed
    }

    /// The contents of a section of a 64-bit little-endian ELF file, up to 256 bytes.
    static func readSection(_ name: String, of path: String) -> [UInt8]? {
        #if os(Linux)
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            func read(_ offset: UInt64, _ count: Int) -> [UInt8]? {
                guard count > 0, count <= 1 << 20, offset < UInt64(Int64.max) else { return nil }
                var bytes = [UInt8](repeating: 0, count: count)
                let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
                return n == count ? bytes : nil
            }
            func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
            func u32(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<4).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
            func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }

            // ELF64 (class 2), little-endian (data 1), section header entries of 64 bytes.
            guard let header = read(0, 64), header[0...3] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2, header[5] == 1 else { return nil }
            let sectionTable = u64(header, 0x28)
            let entrySize = u16(header, 0x3a)
            let count = u16(header, 0x3c)
            let namesIndex = u16(header, 0x3e)
            guard entrySize == 64, count > 0, count <= 4096, namesIndex < count,
                let table = read(sectionTable, count * entrySize)
            else { return nil }
            func field(_ index: Int, _ at: Int, _ size: Int) -> UInt64 {
                size == 4 ? u32(table, index * 64 + at) : u64(table, index * 64 + at)
            }
            let namesSize = field(namesIndex, 0x20, 8)
            guard namesSize <= 1 << 20, let names = read(field(namesIndex, 0x18, 8), Int(namesSize)) else { return nil }
            let wanted = Array(name.utf8)
            for index in 0..<count {
                let nameAt = Int(field(index, 0x00, 4))
                guard nameAt + wanted.count < names.count, names[nameAt + wanted.count] == 0,
                    Array(names[nameAt..<(nameAt + wanted.count)]) == wanted
                else { continue }
                let size = field(index, 0x20, 8)
                guard size > 0, size <= 256 else { return nil }
                return read(field(index, 0x18, 8), Int(size))
            }
            return nil
        #else
            return nil
        #endif
    }
}
