import CZlib

/// The on-disk framing of one spooled observation:
///
///     magic "GWSR" (4 bytes) | payload length (UInt32 LE) | CRC-32 of payload (UInt32 LE) | payload
///
/// The payload is the JSON of an `Observation`, which carries its seq.
enum SpoolRecord {
    static let magic: [UInt8] = [0x47, 0x57, 0x53, 0x52]  // "GWSR"
    static let headerSize = 12
    /// No observation comes near this; a larger length field is corruption.
    static let maxPayload = 1 << 20

    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { buf in
            UInt32(crc32(0, buf.baseAddress, UInt32(buf.count)))
        }
    }

    static func encode(payload: [UInt8]) -> [UInt8] {
        var out = magic
        out.reserveCapacity(headerSize + payload.count)
        appendLE(&out, UInt32(payload.count))
        appendLE(&out, crc(payload[...]))
        out.append(contentsOf: payload)
        return out
    }

    private static func appendLE(_ out: inout [UInt8], _ v: UInt32) {
        out.append(UInt8(v & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF))
        out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8(v >> 24))
    }

    private static func readLE(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    /// A record found in a segment: where it is and its seq.
    struct Found {
        var offset: Int
        var length: Int  // header + payload
        var seq: UInt64
        var payload: Range<Int>
        /// Whether bytes that held no valid record come right before this one in the segment.
        var afterDamage = false
    }

    /// The result of scanning one segment's bytes.
    struct Scan {
        var records: [Found] = []
        /// Runs of bytes that held no valid record.
        var corruptRegions = 0
        /// Whether the bytes after the last valid record are garbage or a torn write.
        var badTail = false
        /// Whether garbage sits between valid records.
        var badMiddle = false
        /// End of the last valid record: truncating here removes a torn tail.
        var validEnd = 0
    }

    /// Finds the valid records in `bytes`: good magic, sane length, matching CRC, a seq, and a seq
    /// greater than `after` and than the previous record's. Garbage between records is skipped by
    /// searching for the next valid record.
    static func scan(_ bytes: [UInt8], after: UInt64) -> Scan {
        var result = Scan()
        var last = after
        var pos = 0
        var inGarbage = false
        while pos < bytes.count {
            if var found = record(in: bytes, at: pos, after: last) {
                if inGarbage {
                    result.corruptRegions += 1
                    result.badMiddle = true
                    inGarbage = false
                    found.afterDamage = true
                }
                result.records.append(found)
                last = found.seq
                pos += found.length
                result.validEnd = pos
                continue
            }
            inGarbage = true
            pos = nextMagic(in: bytes, from: pos + 1) ?? bytes.count
        }
        if inGarbage {
            result.corruptRegions += 1
            result.badTail = true
        }
        return result
    }

    /// The valid record starting at `at`, if there is one.
    static func record(in bytes: [UInt8], at: Int, after: UInt64) -> Found? {
        guard bytes.count - at >= headerSize,
            bytes[at] == magic[0], bytes[at + 1] == magic[1], bytes[at + 2] == magic[2], bytes[at + 3] == magic[3]
        else { return nil }
        let length = Int(readLE(bytes, at + 4))
        guard length > 0, length <= maxPayload, bytes.count - at - headerSize >= length else { return nil }
        let payload = (at + headerSize)..<(at + headerSize + length)
        guard crc(bytes[payload]) == readLE(bytes, at + 8) else { return nil }
        guard let seq = seqOf(bytes[payload]), seq > after else { return nil }
        return Found(offset: at, length: headerSize + length, seq: seq, payload: payload)
    }

    private static func nextMagic(in bytes: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 4 <= bytes.count {
            if bytes[i] == magic[0] && bytes[i + 1] == magic[1] && bytes[i + 2] == magic[2] && bytes[i + 3] == magic[3] {
                return i
            }
            i += 1
        }
        return nil
    }

    /// The top-level `"seq":N` of an observation's JSON, read without a full decode.
    ///
    /// Observations are flat objects and quotes inside strings are escaped, so `"seq":` can only be
    /// the key. The full decode happens when a batch is read.
    static func seqOf(_ payload: ArraySlice<UInt8>) -> UInt64? {
        let key: [UInt8] = Array("\"seq\":".utf8)
        var i = payload.startIndex
        let end = payload.endIndex
        while i + key.count <= end {
            if payload[i] == key[0] && payload[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                while j < end, payload[j] == 0x20 { j += 1 }
                var value: UInt64 = 0
                var digits = 0
                while j < end, payload[j] >= 0x30, payload[j] <= 0x39 {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(payload[j] - 0x30))
                    if o1 || o2 { return nil }
                    value = s
                    digits += 1
                    j += 1
                }
                return digits > 0 && value > 0 ? value : nil
            }
            i += 1
        }
        return nil
    }
}
