import Foundation
import GapwatchAPI
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

/// Detection with our binaries as processes: a real agent stops and returns, a real collector is
/// SIGKILLed, and a webhook receiver on 127.0.0.1 counts what reaches it.
final class DetectionEndToEndTests: CollectorTestCase {
    var receiver: NotifyReceiver!

    override func setUp() async throws {
        try await super.setUp()
        receiver = try await NotifyReceiver.start()
        // The agent heartbeats every second; its liveness is due 2 s after the last one and
        // down 4 s later. `fed` listens to the same heartbeat (so only this agent feeds it)
        // with a shorter grace: it goes down first, and must not page on its own.
        agent.heartbeatInterval = "1s"
        collector.extraConfig = """
            liveness: {every: 2s, grace: 4s}
            checks:
              - {name: fed, ping: "agent:e2e-agent", every: 2s, grace: 2s}
            notify:
              channels:
                - {name: hook, kind: webhook, url: "\(receiver.base)/ok"}
            """
    }

    override func tearDown() {
        receiver.stop()
        super.tearDown()
    }

    func received() throws -> [NotificationMessage] {
        try receiver.requests.map { try ReportCodec.decode(NotificationMessage.self, from: $0.body) }
    }

    func incidents(_ query: String = "") throws -> [IncidentInfo] {
        struct List: Decodable { var incidents: [IncidentInfo] }
        let response = try collector.get("/v1/incidents" + query)
        guard response.status == 200 else { throw NSError(domain: response.bodyText, code: response.status) }
        return try ReportCodec.decode(List.self, from: response.body).incidents
    }

    func testAgentStopsOnePageForItsLivenessNoneForItsChecksAndOneResolution() throws {
        try collector.start()
        try agent.start()
        try waitFor("the agent's liveness and the fed check to be up", timeout: 30) {
            struct List: Decodable { var checks: [CheckInfo] }
            let checks = try ReportCodec.decode(List.self, from: try collector.get("/v1/checks").body).checks
            return checks.filter { $0.state == "up" }.map(\.name).sorted() == ["agent:e2e-agent", "fed"]
        }
        XCTAssertEqual(agent.child?.terminate(), 0)
        try waitFor("a notification", timeout: 30) { !receiver.requests.isEmpty }
        sleep(4)  // anything else (the dependent check's page) would arrive by now
        var got = try received()
        XCTAssertEqual(got.map(\.event), ["opened"])
        XCTAssertEqual(got.map(\.subject), ["agent:e2e-agent"])
        XCTAssertEqual(got.first?.rule, "liveness")
        let fed = try XCTUnwrap(try incidents().first { $0.subject == "check:fed" }, "the dependent check's incident is recorded")
        struct One: Decodable { var events: [IncidentEventInfo] }
        let history = try ReportCodec.decode(One.self, from: try collector.get("/v1/incidents/\(fed.id)").body).events
        XCTAssertEqual(history.first?.notify, "suppressed")

        try agent.start()
        try waitFor("the resolution", timeout: 30) { try received().count >= 2 }
        sleep(3)
        got = try received()
        XCTAssertEqual(got.map(\.event), ["opened", "resolved"])
        XCTAssertEqual(got.map(\.subject), ["agent:e2e-agent", "agent:e2e-agent"])
        XCTAssertEqual(Set(got.map(\.incidentID)).count, 1)
        XCTAssertEqual(try incidents("?state=open").count, 0, "both incidents resolved")
    }

    func testCollectorKilledBetweenStateChangeAndNotificationSendsItOnce() throws {
        // Hold notifications 3 s after an opening, so the test can kill the collector in between.
        collector.extraConfig += "\n  wait: 3s\n"
        try collector.start()
        try agent.start()
        try waitFor("the agent's liveness to be up", timeout: 30) {
            try incidents().isEmpty && (try collector.get("/v1/checks").bodyText.contains("\"state\":\"up\""))
        }
        XCTAssertEqual(agent.child?.terminate(), 0)
        try waitFor("the liveness incident to open", timeout: 30) {
            try incidents("?state=open").contains { $0.subject == "agent:e2e-agent" }
        }
        collector.child?.kill9()
        XCTAssertEqual(receiver.requests.count, 0, "killed before the notification was sent")
        try collector.start()
        try waitFor("the notification after the restart", timeout: 30) { !receiver.requests.isEmpty }
        sleep(3)
        let got = try received()
        XCTAssertEqual(got.map(\.event), ["opened"], "sent once, not twice and not zero times")
        XCTAssertEqual(got.first?.subject, "agent:e2e-agent")
        XCTAssertEqual(try incidents().filter { $0.subject == "agent:e2e-agent" }.count, 1, "the restart did not open it again")
    }

    func testCLIListsChecksAndIncidentsAndManagesSilences() throws {
        collector.extraConfig = """
            liveness: {enabled: false}
            checks:
              - {name: nightly-export, ping: nightly, every: 1s, grace: 0s, labels: {env: prod}}
            """
        try collector.start()
        let env = ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN": try collector.token("GAPWATCH_ADMIN_TOKEN")]
        try waitFor("the never-pinged check to go down", timeout: 30) {
            try runCommand(Binaries.gapwatch, ["checks"], environment: env).output.contains("down")
        }
        var out = try runCommand(Binaries.gapwatch, ["checks"], environment: env)
        XCTAssertEqual(out.status, 0, out.output)
        XCTAssertTrue(out.output.contains("nightly-export"), out.output)
        out = try runCommand(Binaries.gapwatch, ["incidents", "--state", "open"], environment: env)
        XCTAssertEqual(out.status, 0, out.output)
        XCTAssertTrue(out.output.contains("check:nightly-export"), out.output)
        out = try runCommand(Binaries.gapwatch, ["incidents", "--state", "closed"], environment: env)
        XCTAssertNotEqual(out.status, 0, "a bad state is refused")
        XCTAssertTrue(out.output.contains("closed"), out.output)

        out = try runCommand(
            Binaries.gapwatch, ["silence", "add", "--label", "env=prod", "--duration", "2h", "--comment", "maintenance", "--json"], environment: env)
        XCTAssertEqual(out.status, 0, out.output)
        let silence = try ReportCodec.decode(SilenceInfo.self, from: Array(out.output.utf8))
        XCTAssertEqual(silence.labels, ["env": "prod"])
        out = try runCommand(Binaries.gapwatch, ["silence", "list"], environment: env)
        XCTAssertTrue(out.output.contains("maintenance"), out.output)
        out = try runCommand(Binaries.gapwatch, ["silence", "remove", "\(silence.id)"], environment: env)
        XCTAssertEqual(out.status, 0, out.output)
        out = try runCommand(Binaries.gapwatch, ["silence", "remove", "\(silence.id)"], environment: env)
        XCTAssertNotEqual(out.status, 0, "removing it twice is an error")

        out = try runCommand(Binaries.gapwatch, ["checks", "pause", "nightly-export"], environment: env)
        XCTAssertEqual(out.status, 0, out.output)
        out = try runCommand(Binaries.gapwatch, ["checks", "--json"], environment: env)
        XCTAssertTrue(out.output.contains("\"state\":\"paused\""), out.output)
        // A read-only token cannot pause.
        var readEnv = env
        readEnv["GAPWATCH_TOKEN"] = "not-a-token"
        out = try runCommand(Binaries.gapwatch, ["checks", "resume", "nightly-export"], environment: readEnv)
        XCTAssertNotEqual(out.status, 0)
        XCTAssertTrue(out.output.contains("unknown or revoked token"), out.output)
    }
}
