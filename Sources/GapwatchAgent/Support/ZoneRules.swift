import GapwatchProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IANA time zone's UTC offsets, read from the system's zoneinfo (TZif) files, for reading times
/// that a probe prints without an offset (`2026-01-22 19:00:00` from SQLite's `datetime()`).
///
/// The agent links FoundationEssentials only, whose `TimeZone` knows no IANA names, and ICU would
/// cost it megabytes; a TZif file is a few kilobytes. Times past the file's last transition follow
/// its footer rule (`EST5EDT,M3.2.0,M11.1.0`), as RFC 8536 says.
public struct ZoneRules: Sendable, Equatable {
    public let name: String
    /// Transition instants (seconds since 1970) and the offset (seconds east of UTC) from each on.
    private let transitions: [Int64]
    private let offsets: [Int64]
    /// The offset before the first transition.
    private let initialOffset: Int64
    /// The rule after the last transition, if the file has one.
    private let footer: PosixRule?

    public static let utc = ZoneRules(name: "UTC", transitions: [], offsets: [], initialOffset: 0, footer: nil)

    /// Where zone files live: `$TZDIR`, else /usr/share/zoneinfo.
    static var directory: String {
        guard let raw = getenv("TZDIR") else { return "/usr/share/zoneinfo" }
        let dir = String(cString: raw)
        return dir.isEmpty ? "/usr/share/zoneinfo" : dir
    }

    /// Loads the zone `name` (e.g. `America/New_York`); the error says what is wrong.
    public static func load(_ name: String) throws(ZoneError) -> ZoneRules {
        if name == "UTC" || name == "Etc/UTC" || name == "Z" { return .utc }
        let valid =
            !name.isEmpty && name.utf8.count <= 64 && !name.hasPrefix("/") && !name.contains("..")
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || "0123456789/_-+".unicodeScalars.contains($0)) }
        guard valid else { throw ZoneError("'\(name)' is not an IANA time zone name (e.g. UTC, America/New_York)") }
        let path = directory + "/" + name
        let bytes: [UInt8]
        do {
            bytes = try FileIO.read(path, limit: 1 << 20)
        } catch {
            throw ZoneError("unknown time zone '\(name)' (no \(path); expected an IANA name such as UTC or America/New_York)")
        }
        guard let zone = parse(bytes, name: name) else { throw ZoneError("cannot read \(path): not a TZif zone file") }
        return zone
    }

    /// Parses TZif version 1, 2 or 3 data (RFC 8536).
    static func parse(_ b: [UInt8], name: String) -> ZoneRules? {
        func u32(_ i: Int) -> Int64? {
            guard i + 4 <= b.count else { return nil }
            return Int64(b[i]) << 24 | Int64(b[i + 1]) << 16 | Int64(b[i + 2]) << 8 | Int64(b[i + 3])
        }
        func s32(_ i: Int) -> Int64? { u32(i).map { $0 >= 1 << 31 ? $0 - (1 << 32) : $0 } }
        func s64(_ i: Int) -> Int64? {
            guard let hi = u32(i), let lo = u32(i + 4) else { return nil }
            return Int64(bitPattern: UInt64(hi) << 32 | UInt64(lo))
        }
        struct Header {
            var isut, isstd, leap, time, type, char: Int
        }
        func header(_ at: Int) -> Header? {
            guard at + 44 <= b.count, b[at] == 0x54, b[at + 1] == 0x5A, b[at + 2] == 0x69, b[at + 3] == 0x66 else { return nil }
            var n: [Int] = []
            for k in 0..<6 {
                guard let v = u32(at + 20 + 4 * k), v < 1 << 20 else { return nil }
                n.append(Int(v))
            }
            return Header(isut: n[0], isstd: n[1], leap: n[2], time: n[3], type: n[4], char: n[5])
        }
        guard let h1 = header(0) else { return nil }
        let version = b[4]
        func blockSize(_ h: Header, _ timeSize: Int) -> Int {
            h.time * timeSize + h.time + h.type * 6 + h.char + h.leap * (timeSize + 4) + h.isstd + h.isut
        }
        var h = h1
        var start = 44
        var timeSize = 4
        if version >= 0x32 {  // '2' or later: use the 64-bit block
            let second = 44 + blockSize(h1, 4)
            guard let h2 = header(second) else { return nil }
            h = h2
            start = second + 44
            timeSize = 8
        }
        guard h.type >= 1, start + blockSize(h, timeSize) <= b.count else { return nil }
        var transitions: [Int64] = []
        var types: [Int] = []
        for k in 0..<h.time {
            guard let t = timeSize == 8 ? s64(start + 8 * k) : s32(start + 4 * k) else { return nil }
            transitions.append(t)
            types.append(Int(b[start + h.time * timeSize + k]))
        }
        let typeStart = start + h.time * timeSize + h.time
        var typeOffsets: [Int64] = []
        for k in 0..<h.type {
            guard let o = s32(typeStart + 6 * k) else { return nil }
            typeOffsets.append(o)
        }
        guard types.allSatisfy({ $0 < typeOffsets.count }) else { return nil }
        var footer: PosixRule?
        if timeSize == 8 {
            let end = start + blockSize(h, 8)
            if end < b.count, b[end] == 0x0A, let close = b[(end + 1)...].firstIndex(of: 0x0A) {
                footer = PosixRule(String(decoding: b[(end + 1)..<close], as: UTF8.self))
            }
        }
        return ZoneRules(name: name, transitions: transitions, offsets: types.map { typeOffsets[$0] }, initialOffset: typeOffsets[0], footer: footer)
    }

    private init(name: String, transitions: [Int64], offsets: [Int64], initialOffset: Int64, footer: PosixRule?) {
        self.name = name
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.footer = footer
    }

    public static func == (a: ZoneRules, b: ZoneRules) -> Bool { a.name == b.name }

    /// Seconds east of UTC in effect at instant `t` (seconds since 1970).
    public func offset(at t: Int64) -> Int64 {
        if let last = transitions.last, t >= last, let footer { return footer.offset(at: t) }
        if transitions.isEmpty { return footer?.offset(at: t) ?? initialOffset }
        guard t >= transitions[0] else { return initialOffset }
        // The last transition at or before t.
        var lo = 0
        var hi = transitions.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if transitions[mid] <= t { lo = mid } else { hi = mid - 1 }
        }
        return offsets[lo]
    }

    /// The instant (ms) of a wall-clock time (`local`: ms since 1970-01-01T00:00 local). A time that
    /// occurs twice (clocks go back) is its first occurrence; one that a clock change skips is read
    /// with the offset before the change (so it lands just after the change).
    public func instant(ofLocal local: Millis) -> Millis {
        let seconds = local >= 0 ? local / 1000 : (local - 999) / 1000
        let fraction = local - seconds * 1000
        let before = offset(at: seconds - 86_400)
        let after = offset(at: seconds + 86_400)
        var best: Int64?
        for o in [before, after] where offset(at: seconds - o) == o {
            best = min(best ?? .max, seconds - o)
        }
        return (best ?? seconds - before) * 1000 + fraction
    }
}

/// A zone name that cannot be used.
public struct ZoneError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// A POSIX TZ rule as TZif footers carry it: `EST5EDT,M3.2.0,M11.1.0`, `<+0330>-3:30`,
/// `CET-1CEST,M3.5.0,M10.5.0/3`, `IST-2IDT,M3.4.4/26,M10.5.0`.
struct PosixRule: Sendable {
    /// Seconds east of UTC (POSIX writes them west of UTC: the sign is flipped here).
    var standard: Int64
    var daylight: Int64?
    var start: DateRule?
    var end: DateRule?

    enum Day: Sendable {
        case julianNoLeap(Int)  // Jn: 1...365, February 29 never counted
        case zeroBased(Int)  // n: 0...365
        case monthWeek(month: Int, week: Int, weekday: Int)  // Mm.w.d
    }

    struct DateRule: Sendable {
        var day: Day
        /// Local seconds after midnight (may be negative or above 24 h in TZif v3).
        var time: Int64
    }

    init?(_ text: String) {
        var s = Substring(text)
        func name() -> Bool {
            if s.first == "<" {
                guard let close = s.firstIndex(of: ">") else { return false }
                s = s[s.index(after: close)...]
                return true
            }
            let letters = s.prefix(while: { $0.isLetter })
            guard letters.count >= 3 else { return false }
            s = s.dropFirst(letters.count)
            return true
        }
        func clock() -> Int64? {  // [+-]hh[:mm[:ss]]
            var sign: Int64 = 1
            if s.first == "+" || s.first == "-" {
                if s.first == "-" { sign = -1 }
                s = s.dropFirst()
            }
            var parts: [Int64] = []
            while parts.count < 3 {
                let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
                guard !digits.isEmpty, let v = Int64(digits) else { break }
                parts.append(v)
                s = s.dropFirst(digits.count)
                guard s.first == ":" else { break }
                s = s.dropFirst()
            }
            guard !parts.isEmpty else { return nil }
            let value = parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0)
            return sign * value
        }
        func dateRule() -> DateRule? {
            var day: Day
            if s.first == "M" {
                s = s.dropFirst()
                let fields = s.prefix(while: { $0 != "," && $0 != "/" }).split(separator: ".")
                s = s.dropFirst(fields.map(\.count).reduce(0, +) + max(0, fields.count - 1))
                guard fields.count == 3, let m = Int(fields[0]), let w = Int(fields[1]), let d = Int(fields[2]),
                    (1...12).contains(m), (1...5).contains(w), (0...6).contains(d)
                else { return nil }
                day = .monthWeek(month: m, week: w, weekday: d)
            } else if s.first == "J" {
                s = s.dropFirst()
                let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
                guard let n = Int(digits), (1...365).contains(n) else { return nil }
                s = s.dropFirst(digits.count)
                day = .julianNoLeap(n)
            } else {
                let digits = s.prefix(while: { $0.isASCII && $0.isNumber })
                guard let n = Int(digits), (0...365).contains(n) else { return nil }
                s = s.dropFirst(digits.count)
                day = .zeroBased(n)
            }
            var time: Int64 = 7200
            if s.first == "/" {
                s = s.dropFirst()
                guard let t = clock() else { return nil }
                time = t
            }
            return DateRule(day: day, time: time)
        }
        guard name(), let std = clock() else { return nil }
        standard = -std
        guard !s.isEmpty else { return }
        guard name() else { return nil }
        if let first = s.first, first != "," {
            guard let dst = clock() else { return nil }
            daylight = -dst
        } else {
            daylight = standard + 3600
        }
        guard s.first == "," else { return nil }
        s = s.dropFirst()
        guard let a = dateRule(), s.first == "," else { return nil }
        s = s.dropFirst()
        guard let b = dateRule(), s.isEmpty else { return nil }
        start = a
        end = b
    }

    func offset(at t: Int64) -> Int64 {
        guard let daylight, let start, let end else { return standard }
        let year = TimeParsing.civilFromDays(Int(floorDiv(t + standard, 86_400))).0
        // Daylight time starts at a local standard time and ends at a local daylight time.
        let begins = Self.localSeconds(start, year: year) - standard
        let ends = Self.localSeconds(end, year: year) - daylight
        if begins < ends { return t >= begins && t < ends ? daylight : standard }
        return t >= ends && t < begins ? standard : daylight
    }

    /// Local seconds since 1970 of a rule's moment in `year`.
    static func localSeconds(_ rule: DateRule, year: Int) -> Int64 {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let jan1 = Int64(TimeParsing.daysFromCivil(year: year, month: 1, day: 1))
        var day: Int64
        switch rule.day {
        case .julianNoLeap(let n):
            day = jan1 + Int64(n - 1) + (leap && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            day = jan1 + Int64(n)
        case .monthWeek(let month, let week, let weekday):
            let first = Int64(TimeParsing.daysFromCivil(year: year, month: month, day: 1))
            let firstWeekday = ((first % 7) + 7 + 4) % 7  // 1970-01-01 was a Thursday (4)
            day = first + (Int64(weekday) - firstWeekday + 7) % 7 + Int64(week - 1) * 7
            let monthEnd = first + Int64(TimeParsing.daysIn(month: month, year: year))
            while day >= monthEnd { day -= 7 }  // week 5: the last such weekday
        }
        return day * 86_400 + rule.time
    }

    private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// Reads the times a probe prints: milliseconds since 1970, RFC 3339 (also with a space for the
/// `T`, or `… UTC`), or, with a time zone configured, a date-time without an offset in that zone
/// (a date alone is its midnight there). Without a zone an offset-less time is an error that says
/// how to fix it: it is never guessed, and never dropped silently.
public struct ProbeTimeReader: Sendable, Equatable {
    public var zone: ZoneRules?
    /// Where to set the zone, for the error (e.g. `probes.commands[0].timezone`).
    public var setting: String

    public init(zone: ZoneRules?, setting: String) {
        self.zone = zone
        self.setting = setting
    }

    public func read(_ text: String) -> Result<Millis, TimeReadError> {
        let s = text.trimmed
        if let zone {
            if s.utf8.count == 10, let midnight = TimeParsing.parseNaive(s + "T00:00:00") { return .success(zone.instant(ofLocal: midnight)) }
            if let local = TimeParsing.parseNaive(s) { return .success(zone.instant(ofLocal: local)) }
        }
        if let t = TimeParsing.parse(s) { return .success(t) }
        if TimeParsing.parseNaive(s) != nil {
            return .failure(
                TimeReadError(
                    "'\(s.truncatedUTF8(64))' has no UTC offset; set \(setting) to the IANA zone it is written in (e.g. UTC, America/New_York), or print RFC 3339 (2026-01-22T19:00:00Z)"
                ))
        }
        return .failure(TimeReadError("'\(s.truncatedUTF8(64))' is not a time (ms since 1970, RFC 3339, or a date-time in \(setting))"))
    }
}

public struct TimeReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}
