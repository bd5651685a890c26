import Foundation
import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

final class CollectorUnitTests: XCTestCase {
    func testSHA256MatchesKnownVectors() {
        func hex(_ s: String) -> String { tokenHash(s).map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex(String(repeating: "a", count: 1000)).count, 64)
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(constantTimeEquals([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(constantTimeEquals([1, 2], [1, 2, 3]))
    }

    func testRandomTokensAreLongAndDistinct() {
        let a = randomToken(bytes: 32)
        let b = randomToken(bytes: 32)
        XCTAssertEqual(a.count, 43)
        XCTAssertNotEqual(a, b)
    }

    func testConfigDefaultsAreTheEmbeddedDefault() throws {
        let config = try CollectorConfig.parse(yaml: "")
        XCTAssertEqual(config.listenHost, "127.0.0.1")
        XCTAssertEqual(config.listenPort, 7070)
        XCTAssertEqual(config.databasePath, "./gapwatch.db")
        XCTAssertEqual(config.effectiveTokenFile, "./gapwatch.tokens")
        XCTAssertEqual(config.synchronous, .normal)
    }

    func testConfigParsesEveryKey() throws {
        let config = try CollectorConfig.parse(
            yaml: """
                listen: 0.0.0.0:8080
                database: /var/lib/gapwatch/gapwatch.db
                token_file: /etc/gapwatch/tokens
                bootstrap_agent_id: scrapers-1
                log_level: debug
                storage:
                  synchronous: full
                  busy_timeout: 2s
                  checkpoint_interval: 5m
                  journal_size_limit: 32MiB
                limits:
                  max_body_bytes: 512KiB
                  max_inflated_bytes: 4MiB
                  max_observations: 200
                """)
        XCTAssertEqual(config.listenHost, "0.0.0.0")
        XCTAssertEqual(config.listenPort, 8080)
        XCTAssertEqual(config.synchronous, .full)
        XCTAssertEqual(config.busyTimeoutMs, 2000)
        XCTAssertEqual(config.checkpointIntervalMs, 300_000)
        XCTAssertEqual(config.journalSizeLimitBytes, 32 << 20)
        XCTAssertEqual(config.limits.maxBodyBytes, 512 << 10)
        XCTAssertEqual(config.limits.maxInflatedBytes, 4 << 20)
        XCTAssertEqual(config.limits.maxObservations, 200)
        XCTAssertEqual(config.tokenFile, "/etc/gapwatch/tokens")
        XCTAssertEqual(config.bootstrapAgentID, "scrapers-1")
    }

    func testConfigRefusesUnknownKeysAndBadValuesByName() {
        for (yaml, expected) in [
            ("listne: 1.2.3.4:5", "listne"), ("storage:\n  synchronus: full", "storage.synchronus"),
            ("storage:\n  synchronous: sometimes", "storage.synchronous"), ("listen: nohost", "listen"),
            ("limits:\n  max_body_bytes: lots", "limits.max_body_bytes"), ("log_level: loud", "log_level"),
            ("- a\n- b", "top level"),
        ] {
            XCTAssertThrowsError(try CollectorConfig.parse(yaml: yaml), yaml) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) should name \(expected)")
            }
        }
    }

    func testParseTimeAcceptsMillisRFC3339AndDates() {
        XCTAssertEqual(TimeParsing.parse("1769100000000"), 1_769_100_000_000)
        XCTAssertEqual(TimeParsing.parse("2026-01-22T16:40:00Z"), 1_769_100_000_000)
        XCTAssertEqual(TimeParsing.parse("2026-01-22T16:40:00.250Z"), 1_769_100_000_250)
        XCTAssertEqual(TimeParsing.parse("2026-01-22T08:40:00-08:00"), 1_769_100_000_000)
        XCTAssertEqual(TimeParsing.parse("2026-01-22"), 1_769_040_000_000)
        XCTAssertNil(TimeParsing.parse("yesterday"))
    }
}

final class ExampleConfigTests: XCTestCase {
    /// The documented example must stay a valid config that equals the embedded default.
    func testCollectorExampleConfigParsesToTheDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("collector/collector.example.yaml"), encoding: .utf8)
        let parsed = try CollectorConfig.parse(yaml: text)
        let defaults = CollectorConfig()
        XCTAssertEqual(parsed.listenHost, defaults.listenHost)
        XCTAssertEqual(parsed.listenPort, defaults.listenPort)
        XCTAssertEqual(parsed.databasePath, defaults.databasePath)
        XCTAssertEqual(parsed.synchronous, defaults.synchronous)
        XCTAssertEqual(parsed.limits, defaults.limits)
        XCTAssertEqual(parsed.journalSizeLimitBytes, defaults.journalSizeLimitBytes)
        XCTAssertEqual(parsed.checkpointIntervalMs, defaults.checkpointIntervalMs)
    }
}
