import CZlib

/// Why a gzip body could not be inflated.
public enum GzipError: Error, Sendable, Equatable {
    /// Not a valid gzip stream (bad header, bad checksum, truncated).
    case corrupt(String)
    /// The inflated size would pass `limit` bytes; inflation stopped there.
    case tooLarge(limit: Int)
}

/// gzip (RFC 1952) on byte arrays, with a hard cap on inflated size.
public enum Gzip {
    /// Compresses `input` as one gzip member.
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a 32 KiB window with a gzip header and trailer.
        guard gw_deflate_init2(&stream, level, 15 + 16, 8) == Z_OK else { fatalError("deflateInit2 failed: out of memory") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        precondition(status == Z_STREAM_END, "deflate did not finish within deflateBound")
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Inflates a gzip body, refusing to produce more than `limit` bytes.
    ///
    /// Memory stays bounded by `limit`: a 1 MB bomb that would inflate to 1 GB stops at the limit.
    public static func decompress(_ input: [UInt8], limit: Int) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        guard gw_inflate_init2(&stream, 15 + 16) == Z_OK else { throw .corrupt("inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(4096, input.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        var failure: GzipError?
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, outBuf.count - Int(stream.avail_out))
                }
                if output.count + produced > limit {
                    failure = .tooLarge(limit: limit)
                    return
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in != 0 { failure = .corrupt("trailing bytes after the gzip stream") }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { failure = .corrupt("gzip stream is truncated") }
                    if produced == 0 {
                        failure = failure ?? .corrupt("gzip stream made no progress")
                        return
                    }
                    if failure != nil { return }
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    failure = .corrupt("invalid gzip data: \(detail)")
                    return
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}
