import Foundation
import GapwatchProtocol
import XCTest

/// The repository root, found from this file's path (Tests/GapwatchProtocolTests/Support.swift).
let repoRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // GapwatchProtocolTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // repository root

let examplesDirectory = repoRoot.appendingPathComponent("protocol/examples")

/// The bytes of `protocol/examples/<name>`.
func exampleBytes(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
    let url = examplesDirectory.appendingPathComponent(name)
    do {
        return Array(try Data(contentsOf: url))
    } catch {
        XCTFail("cannot read \(url.path): \(error)", file: file, line: line)
        throw error
    }
}

/// The names of every example file, sorted.
func exampleNames() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: examplesDirectory.path)
        .filter { $0.hasSuffix(".json") }
        .sorted()
}

/// Drops one trailing newline: golden files end with one, `encodePretty` does not.
func withoutTrailingNewline(_ bytes: [UInt8]) -> [UInt8] {
    bytes.last == UInt8(ascii: "\n") ? Array(bytes.dropLast()) : bytes
}

/// Runs `decodeReport` and returns the error it threw, or nil when it accepted the body.
func decodeError(_ body: [UInt8], gzip: Bool = false, limits: ReportLimits = .default) -> ReportDecodeError? {
    do {
        _ = try ReportCodec.decodeReport(body: body, gzip: gzip, limits: limits)
        return nil
    } catch {
        return error
    }
}

/// Asserts that `body` is refused as `invalid_report` blaming exactly `field`.
func assertInvalid(
    _ body: [UInt8], field: String, gzip: Bool = false, limits: ReportLimits = .default,
    file: StaticString = #filePath, line: UInt = #line
) {
    switch decodeError(body, gzip: gzip, limits: limits) {
    case .invalid(let error)?:
        XCTAssertEqual(error.field, field, "wrong field in: \(error)", file: file, line: line)
        XCTAssertEqual(ReportDecodeError.invalid(error).body.field, field, file: file, line: line)
        XCTAssertEqual(ReportDecodeError.invalid(error).body.error, "invalid_report", file: file, line: line)
    case let other:
        XCTFail("expected invalid_report for \(field), got \(String(describing: other))", file: file, line: line)
    }
}

/// Asserts that `report` is refused by `validate()` and by `decodeReport`, blaming exactly `field`.
func assertInvalid(
    _ report: Report, field: String, limits: ReportLimits = .default,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        try report.validate(limits: limits)
        XCTFail("validate() accepted a report with a bad \(field)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.field, field, "wrong field in: \(error)", file: file, line: line)
    }
    assertInvalid(ReportCodec.encode(report), field: field, limits: limits, file: file, line: line)
}

/// Asserts that `report` passes `validate()` and survives an encode/decode round trip.
func assertValid(_ report: Report, limits: ReportLimits = .default, file: StaticString = #filePath, line: UInt = #line) {
    do {
        let decoded = try ReportCodec.decodeReport(body: ReportCodec.encode(report), gzip: false, limits: limits)
        XCTAssertEqual(decoded, report, file: file, line: line)
    } catch {
        XCTFail("expected a valid report, got \(error)", file: file, line: line)
    }
}

/// Asserts that `body` is refused as `bad_json` and that the message starts with `prefix` (usually a field path).
func assertBadJSON(_ body: [UInt8], messagePrefix prefix: String, file: StaticString = #filePath, line: UInt = #line) {
    switch decodeError(body) {
    case .badJSON(let message)?:
        XCTAssertTrue(message.hasPrefix(prefix), "message \"\(message)\" does not start with \"\(prefix)\"", file: file, line: line)
        XCTAssertEqual(ReportDecodeError.badJSON(message).body.error, "bad_json", file: file, line: line)
    case let other:
        XCTFail("expected bad_json (\(prefix)), got \(String(describing: other))", file: file, line: line)
    }
}

/// `json` with `needle` replaced by `replacement`; fails the test unless `needle` occurs exactly once,
/// so an edit that silently does nothing cannot make a test pass.
func edited(
    _ json: [UInt8], replacing needle: String, with replacement: String,
    file: StaticString = #filePath, line: UInt = #line
) -> [UInt8] {
    let text = String(decoding: json, as: UTF8.self)
    let count = text.components(separatedBy: needle).count - 1
    XCTAssertEqual(count, 1, "\"\(needle)\" occurs \(count) times in \(text)", file: file, line: line)
    return Array(text.replacingOccurrences(of: needle, with: replacement).utf8)
}

// MARK: - Fixtures

/// 2026-01-23T04:00:00Z, during the Jan 22 incident.
let t0: Millis = 1_769_140_800_000

let testAgent = AgentIdentity(
    id: "nba-scrapers-1", service: "nba-scrapers", host: "scrapers-vm-1", version: "0.1.0", labels: ["env": "prod"])

func heartbeat(seq: UInt64, at: Millis = t0, name: String = "gapwatch-agent") -> Observation {
    Observation(seq: seq, observedAt: at, body: .heartbeat(Heartbeat(name: name, status: .ok)))
}

func report(
    _ observations: [Observation], agent: AgentIdentity = testAgent, bootID: String = "0c8d2f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    spoolID: String = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d", sentAt: Millis = t0 + 60_000, protocolVersion: Int = 1
) -> Report {
    Report(
        protocolVersion: protocolVersion, agent: agent, bootID: bootID, spoolID: spoolID, sentAt: sentAt,
        observations: observations)
}

/// A report holding one observation with `body`.
func report(with body: ObservationBody) -> Report {
    report([Observation(seq: 1, observedAt: t0, body: body)])
}

/// The local push endpoint's request body (protocol/README.md, "Local push"): one observation without
/// `seq`, with an optional `observed_at`. GapwatchProtocol has no type for it, so the tests mirror it here.
struct PushObservation: Codable, Equatable {
    var observedAt: Millis?
    var body: ObservationBody

    enum CodingKeys: String, CodingKey { case observedAt = "observed_at" }

    init(from decoder: any Decoder) throws {
        observedAt = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Millis.self, forKey: .observedAt)
        body = try ObservationBody(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(observedAt, forKey: .observedAt)
        try body.encode(to: encoder)
    }
}

/// The local push endpoint's 200 body.
struct PushResponse: Codable, Equatable {
    var seq: UInt64
    var spoolID: String

    enum CodingKeys: String, CodingKey {
        case seq
        case spoolID = "spool_id"
    }
}
