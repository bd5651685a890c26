import Foundation
import GapwatchProtocol
import XCTest

/// The ingest path parses reports with a hand-written parser; the Codable conformances are the
/// reference. These tests hold the two to the same answers.
final class ReportParserTests: XCTestCase {
    func testEveryGoldenReportParsesExactlyAsJSONDecoderDecodesIt() throws {
        let names = try exampleNames().filter { $0.hasPrefix("report-") }
        XCTAssertFalse(names.isEmpty)
        for name in names {
            let bytes = try exampleBytes(name)
            let reference = try JSONDecoder().decode(Report.self, from: Data(bytes))
            XCTAssertEqual(try ReportCodec.decodeReport(body: bytes, gzip: false), reference, name)
        }
    }

    func testEscapesUnicodeAndAllKindsRoundTrip() throws {
        let text = "quote \" backslash \\ slash / newline \n tab \t é ü 日本 😀 \u{7F}"
        let observations: [ObservationBody] = [
            .heartbeat(Heartbeat(name: "nightly \"export\"", status: .fail, durationMs: 0, exitCode: -2, message: text)),
            .probe(TargetProbe(job: "job/ü", target: "https://x.example/a?b=c&d=é", error: "connection refused", latencyMs: 3, healthy: false)),
            .probe(TargetProbe(target: "http://x/", httpStatus: 503, latencyMs: 9_000, healthy: false)),
            .count(Count(dataset: "nba_raw.bdl_player_boxscores", partition: "2026-01-22", count: FieldLimits.maxCount)),
            .itemStatus(ItemStatus(itemKind: "game", itemID: "0022500612", status: "In Progress", referenceTime: 1_769_108_400_000)),
            .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .skip, reason: text)),
            .lock(LockSighting(name: "workflow_controller", holder: nil)),
            .lock(LockSighting(name: "workflow_controller", holder: "orchestrator-1", acquiredAt: 1_769_108_400_000, expiresAt: 1_769_108_700_000)),
            .actionResult(ActionResult(actionID: "act-1", outcome: .timeout, exitCode: nil, outputTail: text)),
            .dropped(DroppedRecords(overflow: 0, corrupt: 12)),
            .job(JobSighting(name: "execute-workflows", change: .removed, enabled: false)),
            .job(
                JobSighting(
                    name: "same-day-phase3", change: .added, enabled: true, target: "https://x.example/run?d=é",
                    healthURL: "https://x.example/health",
                    schedule: "30 10 * * *", timeZone: "America/New_York", scheduler: "cloud-scheduler/us-west2", lastAttemptAt: 1_769_108_400_000,
                    lastResult: "failure", lastSuccessAt: 1_769_022_000_000)),
        ]
        let report = Report(
            agent: AgentIdentity(id: "a.b_c:d-e", service: "svc é", host: "h", version: "1.0", labels: ["env": "prod", "team": "data ü"]),
            bootID: "boot", spoolID: "spool", sentAt: 1_769_108_400_000,
            observations: observations.enumerated().map {
                Observation(seq: UInt64($0.offset) + UInt64(Int64.max) - 20, observedAt: 1_769_108_400_000 + Int64($0.offset), body: $0.element)
            })
        for bytes in [ReportCodec.encode(report), ReportCodec.encodePretty(report)] {
            XCTAssertEqual(try ReportCodec.decodeReport(body: bytes, gzip: false), report)
        }
    }

    func testUnicodeEscapesAndSurrogatePairsAreDecoded() throws {
        var json = String(decoding: ReportCodec.encode(minimalReport(name: "PLACEHOLDER")), as: UTF8.self)
        json = json.replacingOccurrences(of: "PLACEHOLDER", with: #"caf\u00e9 \ud83d\ude00 \/"#)
        let report = try ReportCodec.decodeReport(body: Array(json.utf8), gzip: false)
        guard case .heartbeat(let h) = report.observations[0].body else { return XCTFail("not a heartbeat") }
        XCTAssertEqual(h.name, "café 😀 /")
    }

    func testMalformedStringsAreBadJSONNotACrash() {
        for bad in [#"\ud83d"#, #"\u12"#, #"\x"#, "\u{01}"] {
            var json = String(decoding: ReportCodec.encode(minimalReport(name: "PLACEHOLDER")), as: UTF8.self)
            json = json.replacingOccurrences(of: "PLACEHOLDER", with: bad)
            guard case .badJSON? = decodeError(Array(json.utf8)) else { return XCTFail("accepted \(bad)") }
        }
        var invalidUTF8 = ReportCodec.encode(minimalReport(name: "PLACEHOLDER"))
        let at = try! XCTUnwrap(String(decoding: invalidUTF8, as: UTF8.self).range(of: "PLACEHOLDER")).lowerBound.utf16Offset(
            in: String(decoding: invalidUTF8, as: UTF8.self))
        invalidUTF8[at] = 0xFF
        guard case .badJSON? = decodeError(invalidUTF8) else { return XCTFail("accepted invalid UTF-8") }
    }

    func testHostileNestingInAnUnknownFieldIsRefusedNotOverflowed() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        var json = String(decoding: ReportCodec.encode(minimalReport(name: "n")), as: UTF8.self)
        json = json.replacingOccurrences(of: #""protocol":1"#, with: #""protocol":1,"extra":\#(deep)"#)
        guard case .badJSON(let message)? = decodeError(Array(json.utf8)) else { return XCTFail("accepted deep nesting") }
        XCTAssertTrue(message.contains("nested deeper"), message)
    }

    func testTrailingGarbageIsBadJSON() {
        let json = ReportCodec.encode(minimalReport(name: "n")) + Array(" x".utf8)
        guard case .badJSON(let message)? = decodeError(json) else { return XCTFail("accepted trailing data") }
        XCTAssertTrue(message.contains("after the report"), message)
    }

    private func minimalReport(name: String) -> Report {
        Report(
            agent: AgentIdentity(id: "a", service: "s", host: "h", version: "v"), bootID: "b", spoolID: "s", sentAt: 1_769_108_400_000,
            observations: [Observation(seq: 1, observedAt: 1_769_108_400_000, body: .heartbeat(Heartbeat(name: name, status: .ok)))])
    }
}
