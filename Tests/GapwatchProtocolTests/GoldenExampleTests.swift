import Foundation
import GapwatchProtocol
import XCTest

/// The payloads in protocol/examples are the wire format's golden copies: both sides' tests and
/// third-party agents rely on them, so they must decode with the Swift types and re-encode to the
/// very same bytes.
final class GoldenExampleTests: XCTestCase {
    /// Decodes `bytes` as `T` and re-encodes it with `encodePretty`; fails unless the bytes are identical.
    private func assertRoundTrip<T: Codable>(_ type: T.Type, _ name: String, file: StaticString = #filePath, line: UInt = #line)
        throws
    {
        let bytes = try exampleBytes(name, file: file, line: line)
        XCTAssertEqual(bytes.last, UInt8(ascii: "\n"), "\(name) should end with one newline", file: file, line: line)
        let value = try ReportCodec.decode(T.self, from: bytes)
        let again = ReportCodec.encodePretty(value)
        if again != withoutTrailingNewline(bytes) {
            XCTFail(
                "\(name) does not re-encode byte-identically as \(T.self); encodePretty gives:\n"
                    + String(decoding: again, as: UTF8.self), file: file, line: line)
        }
    }

    func testEveryExampleRoundTripsByteIdentically() throws {
        let names = try exampleNames()
        var checked = 0
        for name in names {
            switch name {
            case let n where n.hasPrefix("report-"): try assertRoundTrip(Report.self, n)
            case let n where n.hasPrefix("response-"): try assertRoundTrip(ReportResponse.self, n)
            case let n where n.hasPrefix("error-"): try assertRoundTrip(ErrorBody.self, n)
            case "push-response.json": try assertRoundTrip(PushResponse.self, name)
            case let n where n.hasPrefix("push-"): try assertRoundTrip(PushObservation.self, n)
            default:
                XCTFail("\(name): unknown example family (expected report-, response-, error- or push-)")
                continue
            }
            checked += 1
        }
        // Guards against a wrong path or an emptied folder making the loop above vacuous.
        XCTAssertGreaterThanOrEqual(checked, 20, "examples found: \(names)")
        for required in ["report-minimal.json", "report-all-kinds.json", "response-ok.json", "push-response.json"] {
            XCTAssertTrue(names.contains(required), "missing protocol/examples/\(required)")
        }
    }

    func testEveryReportExamplePassesValidation() throws {
        let reports = try exampleNames().filter { $0.hasPrefix("report-") }
        XCTAssertGreaterThanOrEqual(reports.count, 2)
        for name in reports {
            let bytes = try exampleBytes(name)
            XCTAssertNoThrow(try ReportCodec.decodeReport(body: bytes, gzip: false), name)
            XCTAssertNoThrow(try ReportCodec.decodeReport(body: Gzip.compress(bytes), gzip: true), name)
        }
    }

    func testEveryPushExampleIsAValidObservation() throws {
        let pushes = try exampleNames().filter { $0.hasPrefix("push-") && $0 != "push-response.json" }
        XCTAssertGreaterThanOrEqual(pushes.count, 2)
        for name in pushes {
            let push = try ReportCodec.decode(PushObservation.self, from: try exampleBytes(name))
            XCTAssertNoThrow(try push.body.validate(path: "body"), name)
            XCTAssertNil(try? ReportCodec.decode(Observation.self, from: try exampleBytes(name)), "\(name) must not carry a seq")
        }
    }

    func testAllKindsExampleHoldsEveryObservationKindOnce() throws {
        let report = try ReportCodec.decode(Report.self, from: try exampleBytes("report-all-kinds.json"))
        let kinds = report.observations.map(\.body.kind)
        XCTAssertEqual(Set(kinds), Set(ObservationKind.allCases))
        XCTAssertEqual(kinds.count, ObservationKind.allCases.count, "one observation of each kind")
    }

    func testAllKindsExampleCarriesTheJan22Incident() throws {
        let report = try ReportCodec.decode(Report.self, from: try exampleBytes("report-all-kinds.json"))
        let bodies = report.observations.map(\.body)
        XCTAssertTrue(
            bodies.contains(.count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: "2026-01-22", count: 282))))
        XCTAssertTrue(bodies.contains { if case .itemStatus(let s) = $0 { s.status == "In Progress" } else { false } })
        XCTAssertTrue(bodies.contains { if case .decision(let d) = $0 { d.decision == .skip && d.reason != nil } else { false } })
        XCTAssertTrue(bodies.contains { if case .probe(let p) = $0 { p.httpStatus == 404 && !p.healthy } else { false } })
        XCTAssertTrue(bodies.contains { if case .lock(let l) = $0 { l.name == "workflow_controller" } else { false } })
        XCTAssertTrue(
            bodies.contains {
                if case .job(let j) = $0 {
                    j.change == .changed && j.enabled && j.healthURL?.hasSuffix("/health") == true && j.timeZone == "America/New_York"
                        && j.lastSuccessAt == 1_769_054_400_000
                } else {
                    false
                }
            })
    }

    /// Each kind's timeline subject, as protocol/README.md documents it.
    func testSubjectsOfTheAllKindsExample() throws {
        let report = try ReportCodec.decode(Report.self, from: try exampleBytes("report-all-kinds.json"))
        let subjects = report.observations.map { $0.body.subject(agentID: report.agent.id) }
        XCTAssertEqual(
            subjects,
            [
                "ping:execute-workflows",
                "job:execute-workflows",
                "lock:workflow_controller",
                "workflow:post_game_window_1",
                "item:game/0022500634",
                "dataset:nba_raw.bdl_player_boxscores",
                "action:act-20260123-0007",
                "agent:nba-orchestrator-prod",
                "job:execute-workflows",
            ])
        let bare = ObservationBody.probe(TargetProbe(target: "https://nba-scrapers.example/health", httpStatus: 200, latencyMs: 12, healthy: true))
        XCTAssertEqual(bare.subject(agentID: "a"), "target:https://nba-scrapers.example/health")
    }

    /// The error examples that the codec itself produces must match it byte for byte.
    func testErrorExamplesMatchTheCodec() throws {
        func assertGolden(_ body: ErrorBody, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let golden = withoutTrailingNewline(try exampleBytes(name, file: file, line: line))
            let produced = ReportCodec.encodePretty(body)
            XCTAssertEqual(
                String(decoding: produced, as: UTF8.self), String(decoding: golden, as: UTF8.self), name, file: file, line: line)
        }
        try assertGolden(ReportDecodeError.unsupportedVersion(2).body, "error-unsupported-version.json")
        try assertGolden(ReportDecodeError.tooLarge(limit: ReportLimits.default.maxInflatedBytes).body, "error-payload-too-large.json")

        let minimal = try exampleBytes("report-minimal.json")
        let missingSeq = edited(minimal, replacing: "\"seq\" : 1,", with: "")
        try assertGolden(XCTUnwrap(decodeError(missingSeq)).body, "error-bad-json.json")

        var repeated = try ReportCodec.decode(Report.self, from: try exampleBytes("report-all-kinds.json"))
        repeated.observations[1].seq = repeated.observations[0].seq
        try assertGolden(XCTUnwrap(decodeError(ReportCodec.encode(repeated))).body, "error-invalid-report.json")

        try assertGolden(XCTUnwrap(decodeError(minimal, gzip: true)).body, "error-bad-gzip.json")
    }

    func testErrorExamplesUseOnlyDocumentedCodes() throws {
        let documented: Set<String> = [
            "bad_gzip", "bad_json", "invalid_report", "unsupported_version", "bad_request", "unauthorized", "forbidden",
            "not_found", "method_not_allowed", "payload_too_large", "unsupported_media_type", "unavailable", "too_many_new_agents",
        ]
        var seen: Set<String> = []
        for name in try exampleNames() where name.hasPrefix("error-") {
            let body = try ReportCodec.decode(ErrorBody.self, from: try exampleBytes(name))
            XCTAssertTrue(documented.contains(body.error), "\(name): undocumented code \(body.error)")
            XCTAssertEqual(name, "error-" + body.error.replacingOccurrences(of: "_", with: "-") + ".json")
            seen.insert(body.error)
        }
        XCTAssertEqual(seen, documented, "one error example per documented code")
    }
}
