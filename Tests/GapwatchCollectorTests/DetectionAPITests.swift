import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// The detection endpoints over real HTTP: tokens, validation, and that refused calls change nothing.
final class DetectionAPITests: XCTestCase {
    var collector: TestCollector!
    var readToken = ""

    override func setUp() async throws {
        collector = try await TestCollector.start { config in
            config.detection = try! CollectorConfig.parse(
                yaml: """
                    checks:
                      - {name: nightly, ping: nightly, every: 1h, grace: 5m}
                    expectations:
                      - {name: post-game, workflow: post_game_window_2, window: {cron: "0 19 * * *", duration: 6h, timezone: America/New_York}}
                    """
            ).detection
        }
        readToken = try collector.runtime.tokens.issue(kind: .read, agentID: nil, name: "viewer", now: 0).token
    }

    override func tearDown() {
        collector.stop()
    }

    func json(_ method: String, _ path: String, token: String?, body: String? = nil) async throws -> HTTPResponse {
        try await collector.send(
            method, path, token: token, headers: body == nil ? [] : [("Content-Type", "application/json")], body: body.map { Array($0.utf8) })
    }

    func testChecksListAndPauseResumeNeedTheRightTokens() async throws {
        var r = try await json("GET", "/v1/checks", token: nil)
        XCTAssertEqual(r.status, 401)
        r = try await json("GET", "/v1/checks", token: readToken)
        XCTAssertEqual(r.status, 200)
        struct List: Decodable { var checks: [CheckInfo] }
        let checks = try ReportCodec.decode(List.self, from: r.body).checks
        XCTAssertEqual(checks.map(\.name).sorted(), ["nightly", "post-game"])
        XCTAssertEqual(checks.first { $0.name == "nightly" }?.expects, "a ping 'nightly' every 1h (grace 5m)")

        r = try await json("POST", "/v1/checks/nightly/pause", token: readToken)
        XCTAssertEqual(r.status, 403)
        r = try await json("POST", "/v1/checks/nightly/pause", token: collector.agentToken)
        XCTAssertEqual(r.status, 403)
        r = try await json("POST", "/v1/checks/nightly/pause", token: collector.adminToken)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(try ReportCodec.decode(CheckInfo.self, from: r.body).state, "paused")
        r = try await json("POST", "/v1/checks/nightly/pause", token: collector.adminToken)
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(try decodeError(r).message, "check 'nightly' is already paused")
        r = try await json("POST", "/v1/checks/nope/resume", token: collector.adminToken)
        XCTAssertEqual(r.status, 404)
        r = try await json("POST", "/v1/checks/nightly/resume", token: collector.adminToken)
        XCTAssertEqual(try ReportCodec.decode(CheckInfo.self, from: r.body).state, "new")
        r = try await json("GET", "/v1/checks?verbose=1", token: readToken)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(try decodeError(r).field, "verbose")
    }

    func testSilencesCreateListDeleteAndRefuseBadInput() async throws {
        var r = try await json("POST", "/v1/silences", token: readToken, body: #"{"rule":"heartbeat","duration":"1h"}"#)
        XCTAssertEqual(r.status, 403)
        for (body, field) in [
            (#"{"rule":"heartbeat","starts_at":"2030-01-02T00:00:00Z","ends_at":"2030-01-01T00:00:00Z"}"#, "ends_at"),
            (#"{"duration":"1h"}"#, "rule"),
            (#"{"rule":"nope","duration":"1h"}"#, "rule"),
            (#"{"rule":"heartbeat","ends_at":"yesterday"}"#, "ends_at"),
            (#"{"rule":"heartbeat","duration":"1h","ends_at":"2030-01-01T00:00:00Z"}"#, "duration"),
        ] {
            r = try await json("POST", "/v1/silences", token: collector.adminToken, body: body)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertEqual(try decodeError(r).field, field, body)
        }
        r = try await json("POST", "/v1/silences", token: collector.adminToken, body: "{not json")
        XCTAssertEqual(r.status, 400)
        r = try await json("POST", "/v1/silences", token: collector.adminToken, body: #"{"rule":5,"duration":"1h"}"#)
        XCTAssertEqual(r.status, 400)
        let typeError = try decodeError(r).message
        XCTAssertTrue(typeError.contains("rule"), typeError)
        r = try await json("GET", "/v1/silences?all=true", token: readToken)
        struct List: Decodable { var silences: [SilenceInfo] }
        XCTAssertEqual(try ReportCodec.decode(List.self, from: r.body).silences.count, 0, "nothing refused was stored")

        r = try await json(
            "POST", "/v1/silences", token: collector.adminToken,
            body: #"{"subject":"check:nightly*","labels":{"env":"prod"},"duration":"2h","comment":"db maintenance"}"#)
        XCTAssertEqual(r.status, 201)
        let created = try ReportCodec.decode(SilenceInfo.self, from: r.body)
        XCTAssertEqual(created.status, "active")
        XCTAssertEqual(created.endsAt - created.startsAt, 7_200_000)
        r = try await json("GET", "/v1/silences", token: readToken)
        XCTAssertEqual(try ReportCodec.decode(List.self, from: r.body).silences.map(\.id), [created.id])
        r = try await json("DELETE", "/v1/silences/\(created.id)", token: readToken)
        XCTAssertEqual(r.status, 403)
        r = try await json("DELETE", "/v1/silences/\(created.id)", token: collector.adminToken)
        XCTAssertEqual(r.status, 204)
        r = try await json("DELETE", "/v1/silences/\(created.id)", token: collector.adminToken)
        XCTAssertEqual(r.status, 404)
        r = try await json("GET", "/v1/silences", token: readToken)
        XCTAssertEqual(try ReportCodec.decode(List.self, from: r.body).silences.count, 0)
        r = try await json("GET", "/v1/silences?all=true", token: readToken)
        XCTAssertEqual(try ReportCodec.decode(List.self, from: r.body).silences.map(\.status), ["deleted"])
        // An expired silence is history: it cannot be deleted.
        let expired = try collector.database.createSilence(
            SilenceRequest(rule: "heartbeat", duration: "1s"), createdBy: "t", now: WallClock.nowMillis() - 10_000 + 9_500)
        usleep(600_000)
        r = try await json("DELETE", "/v1/silences/\(expired.id)", token: collector.adminToken)
        XCTAssertEqual(r.status, 404)
    }

    func testIncidentsAndGapsValidateTheirQueries() async throws {
        for (path, field) in [
            ("/v1/incidents?state=closed", "state"), ("/v1/incidents?since=tomorrowish", "since"), ("/v1/incidents?limit=0", "limit"),
            ("/v1/incidents?sort=asc", "sort"), ("/v1/workflows/gaps?since=2020-01-01", "since"),
            ("/v1/workflows/gaps?since=2999-01-01T00:00:00Z", "since"),
        ] {
            let r = try await json("GET", path, token: readToken)
            XCTAssertEqual(r.status, 400, path)
            XCTAssertEqual(try decodeError(r).field, field, path)
        }
        var r = try await json("GET", "/v1/incidents/abc", token: readToken)
        XCTAssertEqual(r.status, 400)
        r = try await json("GET", "/v1/incidents/999", token: readToken)
        XCTAssertEqual(r.status, 404)
        r = try await json("GET", "/v1/incidents?state=open", token: readToken)
        XCTAssertEqual(r.status, 200)
        r = try await json("GET", "/v1/workflows/gaps", token: readToken)
        XCTAssertEqual(r.status, 200)
        let report = try ReportCodec.decode(WorkflowGapsReport.self, from: r.body)
        XCTAssertEqual(report.until - report.since, 86_400_000, "the default is the last 24 hours")
    }
}
