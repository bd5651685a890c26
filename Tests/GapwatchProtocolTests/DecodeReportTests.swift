import GapwatchProtocol
import XCTest

/// Every way `ReportCodec.decodeReport` refuses a body, and what it tells the sender.
final class DecodeReportTests: XCTestCase {
    /// The compact, key-sorted encoding of a one-heartbeat report, for byte-level edits.
    private let minimalJSON: [UInt8] = ReportCodec.encode(report([heartbeat(seq: 1)]))

    func testFixtureShape() {
        // The edits below rely on this exact compact form.
        XCTAssertEqual(
            String(decoding: minimalJSON, as: UTF8.self),
            #"{"agent":{"host":"scrapers-vm-1","id":"nba-scrapers-1","labels":{"env":"prod"},"service":"nba-scrapers","version":"0.1.0"},"#
                + #""boot_id":"0c8d2f4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","observations":[{"kind":"heartbeat","name":"gapwatch-agent","#
                + #""observed_at":1769140800000,"seq":1,"status":"ok"}],"protocol":1,"sent_at":1769140860000,"#
                + #""spool_id":"6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"}"#)
    }

    // MARK: - Accepted

    func testGzipAndIdentityBodiesDecodeToTheSameReport() throws {
        let json = try exampleBytes("report-all-kinds.json")
        let plain = try ReportCodec.decodeReport(body: json, gzip: false)
        let packed = try ReportCodec.decodeReport(body: Gzip.compress(json), gzip: true)
        XCTAssertEqual(plain, packed)
        XCTAssertEqual(plain.observations.map(\.seq), Array(41...49))
    }

    func testAnEmptyReportIsValid() {
        assertValid(report([]))
    }

    func testUnknownFieldsAreIgnoredEverywhere() throws {
        var body = edited(minimalJSON, replacing: #"{"agent":{"#, with: #"{"future":{"nested":[1,2]},"agent":{"zone":"b","#)
        body = edited(body, replacing: #"{"kind":"heartbeat","#, with: #"{"kind":"heartbeat","priority":3,"trace":null,"#)
        let decoded = try ReportCodec.decodeReport(body: body, gzip: false)
        XCTAssertEqual(decoded, report([heartbeat(seq: 1)]))
    }

    func testAgentFieldsOtherThanIDDefaultToEmpty() throws {
        let body = edited(
            minimalJSON,
            replacing: #"{"host":"scrapers-vm-1","id":"nba-scrapers-1","labels":{"env":"prod"},"service":"nba-scrapers","version":"0.1.0"}"#,
            with: #"{"id":"nba-scrapers-1"}"#)
        let decoded = try ReportCodec.decodeReport(body: body, gzip: false)
        XCTAssertEqual(decoded.agent, AgentIdentity(id: "nba-scrapers-1", service: "", host: "", version: ""))
    }

    func testNullOptionalFieldsMeanAbsent() throws {
        let body = edited(minimalJSON, replacing: #""status":"ok"}"#, with: #""status":"ok","message":null,"exit_code":null}"#)
        XCTAssertEqual(try ReportCodec.decodeReport(body: body, gzip: false), report([heartbeat(seq: 1)]))
        // A lock seen free: no holder, on the wire the key is simply left out.
        let free = report(with: .lock(LockSighting(name: "workflow_controller", holder: nil)))
        XCTAssertFalse(String(decoding: ReportCodec.encode(free), as: UTF8.self).contains("holder"))
        assertValid(free)
    }

    // MARK: - bad_gzip

    func testPlainJSONSentAsGzipIsBadGzip() {
        guard case .badGzip? = decodeError(minimalJSON, gzip: true) else {
            return XCTFail("expected bad_gzip, got \(String(describing: decodeError(minimalJSON, gzip: true)))")
        }
        XCTAssertEqual(decodeError(minimalJSON, gzip: true)?.body.error, "bad_gzip")
    }

    func testTruncatedGzipIsBadGzip() {
        let packed = Gzip.compress(minimalJSON)
        for cut in [1, 8, packed.count / 2] {
            let error = decodeError(Array(packed.dropLast(cut)), gzip: true)
            guard case .badGzip? = error else { return XCTFail("cut \(cut): expected bad_gzip, got \(String(describing: error))") }
        }
    }

    // MARK: - payload_too_large

    func testGzipBombIsTooLargeAndStopsEarly() {
        XCTAssertEqual(decodeError(GzipTests.bomb, gzip: true), .tooLarge(limit: 8 << 20))
        // A broken checksum at the end of the bomb would be found by a full inflation;
        // still answering tooLarge shows decodeReport stopped at 8 MiB.
        var broken = GzipTests.bomb
        broken[broken.count - 8] ^= 0xFF
        XCTAssertEqual(decodeError(broken, gzip: true), .tooLarge(limit: 8 << 20))
        XCTAssertEqual(ReportDecodeError.tooLarge(limit: 8 << 20).body.error, "payload_too_large")
    }

    func testInflatedLimitComesFromTheLimitsArgument() {
        var limits = ReportLimits()
        limits.maxInflatedBytes = minimalJSON.count - 1
        XCTAssertEqual(decodeError(Gzip.compress(minimalJSON), gzip: true, limits: limits), .tooLarge(limit: minimalJSON.count - 1))
        limits.maxInflatedBytes = minimalJSON.count
        XCTAssertNil(decodeError(Gzip.compress(minimalJSON), gzip: true, limits: limits))
    }

    /// An identity body is held to the inflated limit too (its size as sent is the HTTP layer's 1 MiB check).
    func testIdentityBodyOverTheInflatedLimitIsTooLarge() {
        var limits = ReportLimits()
        limits.maxInflatedBytes = minimalJSON.count + 100
        let atLimit = minimalJSON + [UInt8](repeating: UInt8(ascii: " "), count: 100)
        XCTAssertNil(decodeError(atLimit, limits: limits), "a body of exactly the limit is accepted")
        XCTAssertEqual(decodeError(atLimit + [0x20], limits: limits), .tooLarge(limit: minimalJSON.count + 100))

        let defaultLimit = ReportLimits.default.maxInflatedBytes
        let huge = minimalJSON + [UInt8](repeating: UInt8(ascii: " "), count: defaultLimit + 1 - minimalJSON.count)
        XCTAssertEqual(huge.count, defaultLimit + 1)
        XCTAssertEqual(decodeError(huge), .tooLarge(limit: defaultLimit))
    }

    // MARK: - bad_json

    func testNotJSONIsBadJSON() {
        assertBadJSON(Array("not json".utf8), messagePrefix: "body is not valid JSON")
        assertBadJSON([], messagePrefix: "body is not valid JSON")
        assertBadJSON(Array(minimalJSON.dropLast()), messagePrefix: "body is not valid JSON")
        assertBadJSON(Array("[1,2]".utf8), messagePrefix: "body")
    }

    func testMissingFieldNamesItsPath() {
        assertBadJSON(edited(minimalJSON, replacing: #""seq":1,"#, with: ""), messagePrefix: "observations[0].seq: required field is missing")
        assertBadJSON(edited(minimalJSON, replacing: #""id":"nba-scrapers-1","#, with: ""), messagePrefix: "agent.id: required field is missing")
        assertBadJSON(edited(minimalJSON, replacing: #""sent_at":1769140860000,"#, with: ""), messagePrefix: "sent_at: required field is missing")
        assertBadJSON(
            edited(minimalJSON, replacing: #""status":"ok""#, with: #""x":1"#), messagePrefix: "observations[0].status: required field is missing")
        assertBadJSON(
            edited(minimalJSON, replacing: #""kind":"heartbeat","#, with: ""), messagePrefix: "observations[0].kind: required field is missing")
        assertBadJSON(edited(minimalJSON, replacing: #""protocol":1,"#, with: ""), messagePrefix: "protocol: required field is missing")
    }

    func testMissingFieldInALaterObservationNamesItsIndex() {
        var two = report([
            heartbeat(seq: 1), Observation(seq: 2, observedAt: t0, body: .count(Count(dataset: "d", partition: "2026-01-22", count: 282))),
        ])
        two.agent.labels = [:]
        let body = edited(ReportCodec.encode(two), replacing: #""count":282,"#, with: "")
        assertBadJSON(body, messagePrefix: "observations[1].count: required field is missing")
    }

    func testWrongTypeNamesItsPath() {
        assertBadJSON(edited(minimalJSON, replacing: #""seq":1"#, with: #""seq":"1""#), messagePrefix: "observations[0].seq: expected an integer")
        // swift-foundation's JSONDecoder reports a fractional, negative-for-unsigned or overflowing number as
        // "not valid JSON" without a path, so only the code is asserted for these.
        assertBadJSON(edited(minimalJSON, replacing: #""sent_at":1769140860000"#, with: #""sent_at":1769140860000.5"#), messagePrefix: "")
        assertBadJSON(
            edited(minimalJSON, replacing: #""observations":["#, with: #""observations":{"x":["#), messagePrefix: "observations: expected an array")
        assertBadJSON(
            edited(minimalJSON, replacing: #""name":"gapwatch-agent""#, with: #""name":7"#), messagePrefix: "observations[0].name: expected a string")
        assertBadJSON(edited(minimalJSON, replacing: #""seq":1"#, with: #""seq":-1"#), messagePrefix: "")
        assertBadJSON(edited(minimalJSON, replacing: #""seq":1"#, with: #""seq":18446744073709551616"#), messagePrefix: "")
        assertBadJSON(
            edited(minimalJSON, replacing: #""seq":1"#, with: #""seq":null"#), messagePrefix: "observations[0].seq: expected an integer, found null")
        assertBadJSON(edited(minimalJSON, replacing: #""status":"ok""#, with: #""status":"OK""#), messagePrefix: "observations[0].status")
    }

    func testUnknownKindIsBadJSON() {
        // A kind this version does not know refuses the whole report (see README, "Versioning").
        assertBadJSON(edited(minimalJSON, replacing: #""kind":"heartbeat""#, with: #""kind":"metric""#), messagePrefix: "observations[0].kind")
    }

    // MARK: - unsupported_version

    func testUnsupportedVersionListsSupportedVersions() {
        for version in [0, 2, 99] {
            let body = edited(minimalJSON, replacing: #""protocol":1"#, with: #""protocol":\#(version)"#)
            XCTAssertEqual(decodeError(body), .unsupportedVersion(version))
            XCTAssertEqual(decodeError(Gzip.compress(body), gzip: true), .unsupportedVersion(version))
        }
        let body = ReportDecodeError.unsupportedVersion(2).body
        XCTAssertEqual(body.error, "unsupported_version")
        XCTAssertEqual(body.supported, [1])
        XCTAssertEqual(body.supported, ProtocolVersion.supported)
        XCTAssertEqual(body.field, "protocol")
    }

    /// A v2 body may look nothing like v1; its sender must still learn which versions to speak.
    func testUnsupportedVersionWinsOverAnUnreadableBody() {
        XCTAssertEqual(decodeError(Array(#"{"protocol":2,"batches":[{"x":1}]}"#.utf8)), .unsupportedVersion(2))
    }

    // MARK: - invalid_report: seq

    func testSeqZeroIsInvalid() {
        assertInvalid(report([heartbeat(seq: 0)]), field: "observations[0].seq")
    }

    /// Collectors store seq as a signed 64-bit integer; one past it must be refused, not crash.
    func testSeqAboveTwoToTheSixtyThreeIsInvalid() {
        assertInvalid(report([heartbeat(seq: UInt64(Int64.max) + 1)]), field: "observations[0].seq")
    }

    func testSeqsMustStrictlyIncrease() {
        assertInvalid(report([heartbeat(seq: 5), heartbeat(seq: 5)]), field: "observations[1].seq")
        assertInvalid(report([heartbeat(seq: 5), heartbeat(seq: 6), heartbeat(seq: 4)]), field: "observations[2].seq")
        assertValid(report([heartbeat(seq: 5), heartbeat(seq: 9), heartbeat(seq: UInt64(Int64.max))]))  // gaps are allowed
    }

    // MARK: - invalid_report: sizes

    func testTooManyObservations() {
        let limit = ReportLimits.default.maxObservations
        XCTAssertEqual(limit, 1000)
        assertValid(report((1...UInt64(limit)).map { heartbeat(seq: $0) }))
        assertInvalid(report((1...UInt64(limit + 1)).map { heartbeat(seq: $0) }), field: "observations")

        var small = ReportLimits()
        small.maxObservations = 2
        assertInvalid(report((1...3).map { heartbeat(seq: $0) }), field: "observations", limits: small)
    }

    func testTooManyLabels() {
        var agent = testAgent
        agent.labels = Dictionary(uniqueKeysWithValues: (0..<32).map { ("k\($0)", "v") })
        assertValid(report([heartbeat(seq: 1)], agent: agent))
        agent.labels["k32"] = "v"
        assertInvalid(report([heartbeat(seq: 1)], agent: agent), field: "agent.labels")
    }

    func testOverLongStringsAreCountedInUTF8Bytes() {
        func agent(_ edit: (inout AgentIdentity) -> Void) -> Report {
            var a = testAgent
            edit(&a)
            return report([heartbeat(seq: 1)], agent: a)
        }
        assertValid(agent { $0.service = String(repeating: "s", count: 256) })
        assertInvalid(agent { $0.service = String(repeating: "s", count: 257) }, field: "agent.service")
        assertInvalid(agent { $0.host = String(repeating: "é", count: 129) }, field: "agent.host")  // 129 characters, 258 bytes
        assertInvalid(agent { $0.version = String(repeating: "1", count: 65) }, field: "agent.version")
        assertValid(agent { $0.id = String(repeating: "a", count: 128) })
        assertInvalid(agent { $0.id = String(repeating: "a", count: 129) }, field: "agent.id")
        assertInvalid(agent { $0.labels = ["env": String(repeating: "v", count: 257)] }, field: "agent.labels.env")
        assertInvalid(agent { $0.labels = [String(repeating: "k", count: 65): "v"] }, field: "agent.labels")
        assertInvalid(report([heartbeat(seq: 1)], bootID: String(repeating: "b", count: 65)), field: "boot_id")
        assertInvalid(report([heartbeat(seq: 1)], spoolID: String(repeating: "s", count: 65)), field: "spool_id")

        assertInvalid(report([heartbeat(seq: 1, name: String(repeating: "n", count: 257))]), field: "observations[0].name")
        assertValid(report(with: .heartbeat(Heartbeat(name: "n", status: .fail, message: String(repeating: "m", count: 1024)))))
        assertInvalid(
            report(with: .heartbeat(Heartbeat(name: "n", status: .fail, message: String(repeating: "m", count: 1025)))),
            field: "observations[0].message")
        let longURL = "https://nba-scrapers.example/" + String(repeating: "p", count: 2048)
        assertInvalid(
            report(with: .probe(TargetProbe(target: longURL, httpStatus: 200, latencyMs: 1, healthy: true))), field: "observations[0].target")
        assertValid(report(with: .actionResult(ActionResult(actionID: "a", outcome: .ok, outputTail: String(repeating: "o", count: 4096)))))
        assertInvalid(
            report(with: .actionResult(ActionResult(actionID: "a", outcome: .ok, outputTail: String(repeating: "o", count: 4097)))),
            field: "observations[0].output_tail")
        assertInvalid(
            report(with: .decision(WorkflowDecision(workflow: "w", decision: .skip, reason: String(repeating: "r", count: 1025)))),
            field: "observations[0].reason")
    }

    // MARK: - invalid_report: characters

    func testControlCharactersAreRefused() {
        assertInvalid(report([heartbeat(seq: 1, name: "post_game\u{01}window")]), field: "observations[0].name")
        assertInvalid(
            report(with: .count(Count(dataset: "nba_raw.boxscores\r", partition: "2026-01-22", count: 1))), field: "observations[0].dataset")
        assertInvalid(report(with: .heartbeat(Heartbeat(name: "n", status: .fail, message: "exit\u{1B}[31m"))), field: "observations[0].message")
        var agent = testAgent
        agent.host = "vm\u{0}1"
        assertInvalid(report([heartbeat(seq: 1)], agent: agent), field: "agent.host")
        // Tab and line feed are text, not control characters, in free text.
        assertValid(report(with: .heartbeat(Heartbeat(name: "n", status: .fail, message: "line 1\n\tline 2"))))
    }

    func testEmptyNamesAreRefused() {
        assertInvalid(report([heartbeat(seq: 1, name: "")]), field: "observations[0].name")
        assertInvalid(report(with: .itemStatus(ItemStatus(itemKind: "game", itemID: "", status: "Final"))), field: "observations[0].item_id")
        assertInvalid(report(with: .lock(LockSighting(name: "l", holder: ""))), field: "observations[0].holder")
    }

    func testIdentifiersAllowOnlyTheirCharacters() {
        for bad in ["nba scrapers", "nba/scrapers", "naïve", "a+b", ""] {
            var agent = testAgent
            agent.id = bad
            XCTAssertEqual(decodeError(ReportCodec.encode(report([heartbeat(seq: 1)], agent: agent)))?.body.field, "agent.id", bad)
        }
        for good in ["nba-scrapers-1", "prod:nba.scrapers_1", "A9"] {
            var agent = testAgent
            agent.id = good
            assertValid(report([heartbeat(seq: 1)], agent: agent))
        }
        assertInvalid(report([heartbeat(seq: 1)], spoolID: "spool.1"), field: "spool_id")
        assertInvalid(report([heartbeat(seq: 1)], bootID: "boot:1"), field: "boot_id")
        var agent = testAgent
        agent.labels = ["team:data": "x"]
        assertInvalid(report([heartbeat(seq: 1)], agent: agent), field: "agent.labels")
        assertInvalid(report(with: .actionResult(ActionResult(actionID: "act 7", outcome: .ok))), field: "observations[0].action_id")
    }

    // MARK: - invalid_report: times

    func testTimesMustBeMillisecondsBetween2000And2100() {
        let seconds: Millis = 1_769_140_800
        assertInvalid(report([heartbeat(seq: 1, at: seconds)]), field: "observations[0].observed_at")
        assertInvalid(report([heartbeat(seq: 1, at: seconds * 1_000_000)]), field: "observations[0].observed_at")  // microseconds
        assertInvalid(report([heartbeat(seq: 1)], sentAt: seconds), field: "sent_at")
        assertInvalid(report([heartbeat(seq: 1, at: -1)]), field: "observations[0].observed_at")
        assertValid(report([heartbeat(seq: 1, at: 946_684_800_000)]))  // 2000-01-01T00:00:00Z
        assertInvalid(report([heartbeat(seq: 1, at: 946_684_799_999)]), field: "observations[0].observed_at")
        assertValid(report([heartbeat(seq: 1, at: 4_102_444_799_999)]))
        assertInvalid(report([heartbeat(seq: 1, at: 4_102_444_800_000)]), field: "observations[0].observed_at")  // 2100-01-01

        assertInvalid(
            report(with: .itemStatus(ItemStatus(itemKind: "game", itemID: "1", status: "Final", referenceTime: seconds))),
            field: "observations[0].reference_time")
        assertInvalid(report(with: .lock(LockSighting(name: "l", holder: "h", acquiredAt: seconds))), field: "observations[0].acquired_at")
        assertInvalid(report(with: .lock(LockSighting(name: "l", holder: "h", expiresAt: seconds))), field: "observations[0].expires_at")
    }

    // MARK: - invalid_report: per kind

    func testProbeRules() {
        assertValid(
            report(
                with: .probe(
                    TargetProbe(job: "execute-workflows", target: "https://x.example/", error: "connection refused", latencyMs: 3, healthy: false))))
        assertInvalid(
            report(with: .probe(TargetProbe(target: "https://x.example/", latencyMs: 3, healthy: false))), field: "observations[0].http_status")
        assertInvalid(
            report(with: .probe(TargetProbe(target: "https://x.example/", httpStatus: 600, latencyMs: 3, healthy: false))),
            field: "observations[0].http_status")
        assertInvalid(
            report(with: .probe(TargetProbe(target: "https://x.example/", httpStatus: 99, latencyMs: 3, healthy: false))),
            field: "observations[0].http_status")
        assertInvalid(
            report(with: .probe(TargetProbe(target: "https://x.example/", httpStatus: 200, latencyMs: -1, healthy: true))),
            field: "observations[0].latency_ms")
        assertInvalid(
            report(with: .probe(TargetProbe(job: "", target: "https://x.example/", httpStatus: 200, latencyMs: 1, healthy: true))),
            field: "observations[0].job")
    }

    /// `/` separates kind and id in the item subject (`item:game/0022500634`), so a kind may not hold one.
    func testItemKindMayNotContainASlash() {
        assertInvalid(report(with: .itemStatus(ItemStatus(itemKind: "nba/game", itemID: "1", status: "Final"))), field: "observations[0].item_kind")
        assertValid(report(with: .itemStatus(ItemStatus(itemKind: "game", itemID: "2026-01-22/LAL@BOS", status: "Final"))))
    }

    func testNegativeNumbersAreRefused() {
        assertInvalid(report(with: .heartbeat(Heartbeat(name: "n", status: .ok, durationMs: -1))), field: "observations[0].duration_ms")
        assertInvalid(report(with: .count(Count(dataset: "d", partition: "p", count: -1))), field: "observations[0].count")
        assertValid(report(with: .count(Count(dataset: "d", partition: "p", count: 0))))
        assertInvalid(report(with: .dropped(DroppedRecords(overflow: -1, corrupt: 0))), field: "observations[0].overflow")
        assertInvalid(report(with: .dropped(DroppedRecords(overflow: 0, corrupt: -1))), field: "observations[0].corrupt")
    }

    func testValidationNamesTheOffendingObservationIndex() {
        let bad = Observation(seq: 3, observedAt: t0, body: .count(Count(dataset: "", partition: "2026-01-22", count: 1)))
        assertInvalid(report([heartbeat(seq: 1), heartbeat(seq: 2), bad]), field: "observations[2].dataset")
    }

    func testInvalidReportBodyCarriesTheField() {
        let error = ReportDecodeError.invalid(ValidationError(field: "observations[3].seq", message: "must be 1 or more"))
        XCTAssertEqual(
            error.body, ErrorBody(error: "invalid_report", message: "observations[3].seq: must be 1 or more", field: "observations[3].seq"))
    }
}
