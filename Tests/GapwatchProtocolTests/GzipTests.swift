import GapwatchProtocol
import XCTest

final class GzipTests: XCTestCase {
    /// 64 MiB of zeros, compressed: about 64 KiB on the wire. Built once; it takes a moment.
    static let bomb: [UInt8] = Gzip.compress([UInt8](repeating: 0, count: 64 << 20), level: 9)

    func testRoundTripOfAReport() throws {
        let json = try exampleBytes("report-all-kinds.json")
        let packed = Gzip.compress(json)
        XCTAssertEqual(Array(packed.prefix(2)), [0x1F, 0x8B], "gzip magic")
        XCTAssertLessThan(packed.count, json.count)
        XCTAssertEqual(try Gzip.decompress(packed, limit: json.count), json)
    }

    func testRoundTripOfEmptyAndIncompressibleInput() throws {
        XCTAssertEqual(try Gzip.decompress(Gzip.compress([]), limit: 0), [])
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        XCTAssertEqual(try Gzip.decompress(Gzip.compress(noise, level: 1), limit: noise.count), noise)
    }

    func testTheLimitIsInclusive() throws {
        let data = [UInt8](repeating: 7, count: 100_000)
        let packed = Gzip.compress(data)
        XCTAssertEqual(try Gzip.decompress(packed, limit: 100_000), data)
        XCTAssertThrowsError(try Gzip.decompress(packed, limit: 99_999)) { error in
            XCTAssertEqual(error as? GzipError, .tooLarge(limit: 99_999))
        }
    }

    func testNotGzipIsCorrupt() {
        for input: [UInt8] in [[], Array("{\"protocol\":1}".utf8), [0x1F, 0x8B], Array(repeating: 0xFF, count: 64)] {
            XCTAssertThrowsError(try Gzip.decompress(input, limit: 1 << 20), "\(input.prefix(8))") { error in
                guard case .corrupt? = error as? GzipError else { return XCTFail("expected corrupt, got \(error)") }
            }
        }
    }

    func testTruncatedStreamIsCorrupt() {
        let packed = Gzip.compress(Array(String(repeating: "observation ", count: 10_000).utf8))
        for cut in [1, 4, 8, packed.count / 2, packed.count - 10] {
            XCTAssertThrowsError(try Gzip.decompress(Array(packed.dropLast(cut)), limit: 1 << 20), "cut \(cut)") { error in
                guard case .corrupt? = error as? GzipError else { return XCTFail("cut \(cut): expected corrupt, got \(error)") }
            }
        }
    }

    func testBadChecksumIsCorrupt() {
        var packed = Gzip.compress(Array("hello".utf8))
        packed[packed.count - 8] ^= 0xFF  // first byte of the CRC-32 trailer
        XCTAssertThrowsError(try Gzip.decompress(packed, limit: 1 << 20)) { error in
            guard case .corrupt? = error as? GzipError else { return XCTFail("expected corrupt, got \(error)") }
        }
    }

    /// One gzip member per body: bytes after it (including a second member) are refused.
    func testTrailingBytesAfterTheMemberAreCorrupt() {
        let one = Gzip.compress(Array("{}".utf8))
        for tail in [[0x00], one] {
            XCTAssertThrowsError(try Gzip.decompress(one + tail, limit: 1 << 20)) { error in
                XCTAssertEqual(error as? GzipError, .corrupt("trailing bytes after the gzip stream"))
            }
        }
    }

    func testBombIsRefusedAtTheLimit() {
        XCTAssertLessThan(Self.bomb.count, 128 << 10, "the bomb should be small on the wire")
        XCTAssertThrowsError(try Gzip.decompress(Self.bomb, limit: 8 << 20)) { error in
            XCTAssertEqual(error as? GzipError, .tooLarge(limit: 8 << 20))
        }
    }

    /// Proves inflation stops at the limit rather than inflating everything and measuring after:
    /// the bomb's checksum is broken, which only a full inflation can notice. With a generous
    /// limit the damage is reported; with the 8 MiB limit the decoder must stop before reaching it.
    func testBombStopsBeforeInflatingTheRest() {
        var broken = Self.bomb
        broken[broken.count - 8] ^= 0xFF  // CRC-32 trailer
        XCTAssertThrowsError(try Gzip.decompress(broken, limit: 128 << 20), "control: full inflation sees the damage") {
            error in
            guard case .corrupt? = error as? GzipError else { return XCTFail("expected corrupt, got \(error)") }
        }
        XCTAssertThrowsError(try Gzip.decompress(broken, limit: 8 << 20)) { error in
            XCTAssertEqual(error as? GzipError, .tooLarge(limit: 8 << 20), "inflated past the limit before stopping")
        }
        // The same with the second half of the stream missing altogether.
        let half = Array(Self.bomb.prefix(Self.bomb.count / 2))
        XCTAssertThrowsError(try Gzip.decompress(half, limit: 8 << 20)) { error in
            XCTAssertEqual(error as? GzipError, .tooLarge(limit: 8 << 20))
        }
    }
}
