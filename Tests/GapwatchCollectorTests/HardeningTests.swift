import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// The collector's side of issue 14's low items that need no process of their own.
final class ListenLimitsConfigTests: XCTestCase {
    func testListenLimitsAreReadAndChecked() throws {
        let config = try CollectorConfig.parse(
            yaml: """
                listen_limits:
                  header_timeout: 5s
                  body_timeout: 1m
                  idle_timeout: 15s
                  max_connections: 500
                  max_connections_per_source: 50
                """)
        var expected = ListenLimits()
        expected.headerTimeoutMs = 5_000
        expected.bodyTimeoutMs = 60_000
        expected.idleTimeoutMs = 15_000
        expected.maxConnections = 500
        expected.maxConnectionsPerSource = 50
        XCTAssertEqual(config.listenLimits, expected)
        XCTAssertEqual(try CollectorConfig.parse(yaml: "log_level: info").listenLimits, ListenLimits(), "defaults without the section")

        for (yaml, message) in [
            ("listen_limits: {max_connections: 10, max_connections_per_source: 20}", "max_connections_per_source: 20 is above max_connections (10)"),
            ("listen_limits: {header_timeout: 0s}", "listen_limits.header_timeout: must be longer than 0"),
            ("listen_limits: {idle_timout: 5s}", "did you mean 'idle_timeout'?"),
            ("listen_limits: {max_connections: -1}", "listen_limits.max_connections: expected a positive whole number"),
        ] {
            XCTAssertThrowsError(try CollectorConfig.parse(yaml: yaml), yaml) { error in
                XCTAssertTrue("\(error)".contains(message), "\(yaml): \(error)")
            }
        }
    }

    /// The cap stays below the open-file limit, keeping 64 descriptors for the database and the rest.
    func testTheConnectionCapFitsUnderTheFileLimit() {
        let limits = ListenLimits()
        XCTAssertEqual(limits.effectiveMaxConnections(fileLimit: 200), 136)
        XCTAssertEqual(limits.effectiveMaxConnections(fileLimit: 1 << 20), 1024)
        XCTAssertEqual(limits.effectiveMaxConnections(fileLimit: nil), 1024)
        XCTAssertEqual(limits.effectiveMaxConnections(fileLimit: 10), 1, "never zero")
    }
}

final class DisplaySafeIngestTests: XCTestCase {
    /// A name that would forge a log line or reverse itself in a table is refused with 400 naming
    /// the field, and nothing of the report is stored.
    func testControlAndBidiCharactersInNamesAre400NamingTheField() async throws {
        let collector = try await TestCollector.start()
        defer { collector.stop() }
        let base = makeTestReport(seqs: 1...1)
        for (name, shown) in [("nightly\n2026-01-22 notice fake line", "U+000A"), ("report\u{202E}fdp.exe", "U+202E"), ("job\u{2066}x", "U+2066")] {
            var report = base
            report.observations[0] = Observation(
                seq: 1, observedAt: report.observations[0].observedAt, body: .heartbeat(Heartbeat(name: name, status: .ok)))
            let response = try await collector.post(report)
            XCTAssertEqual(response.status, 400, response.bodyText)
            let error = try decodeError(response)
            XCTAssertEqual(error.field, "observations[0].name")
            XCTAssertTrue(error.message.contains(shown), error.message)
        }
        var report = base
        report.agent.service = "scrapers\u{202E}"
        let response = try await collector.post(report)
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(try decodeError(response).field, "agent.service")
        XCTAssertEqual(try collector.storedCount(), 0)
        let plain = try await collector.post(base)
        XCTAssertEqual(plain.status, 200, "the same report with plain names is stored")
    }
}
