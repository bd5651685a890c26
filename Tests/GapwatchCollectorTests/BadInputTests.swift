import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// What schemathesis (faults/suite-api-schema.sh) found the collector answering against
/// protocol/openapi.yaml, each kept as a test over real HTTP.
final class BadInputTests: XCTestCase {
    var collector: TestCollector!

    override func setUp() async throws {
        collector = try await TestCollector.start()
    }

    override func tearDown() async throws {
        collector.stop()
    }

    /// Was 404 for every method the router did not know, though the README promises 405 for
    /// `GET /v1/reports`; RFC 9110 also wants the Allow header.
    func testAKnownPathWithAnotherMethodIs405WithAllow() async throws {
        for (method, path, allow) in [
            ("GET", "/v1/reports", "POST"), ("TRACE", "/v1/reports", "POST"), ("DELETE", "/healthz", "GET"),
            ("GET", "/v1/tokens/tok_x", "DELETE"), ("PUT", "/v1/checks/nightly/pause", "POST"), ("PATCH", "/v1/tokens", "GET, POST"),
        ] {
            let response = try await collector.send(method, path, token: collector.adminToken)
            XCTAssertEqual(response.status, 405, "\(method) \(path): \(response.bodyText)")
            XCTAssertEqual(response.headers["allow"], allow, "\(method) \(path)")
            let error = try decodeError(response)
            XCTAssertEqual(error.error, "method_not_allowed")
            XCTAssertTrue(error.message.contains("allowed: \(allow)"), error.message)
        }
        // An unknown path stays 404, and so does a 404 the handler itself answers.
        let unknown = try await collector.send("TRACE", "/v1/nothing-here", token: collector.adminToken)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertNil(unknown.headers["allow"])
        let noSuchToken = try await collector.send("DELETE", "/v1/tokens/tok_nope", token: collector.adminToken)
        XCTAssertEqual(noSuchToken.status, 404)
        XCTAssertEqual(try decodeError(noSuchToken).error, "not_found")
    }

    /// Was 200 with an empty page: an id no agent can have is a mistake the caller should hear of.
    func testTimelineRefusesAMalformedAgentID() async throws {
        for agent in ["has%20space", "%C3%A9", String(repeating: "a", count: 129)] {
            let response = try await collector.send("GET", "/v1/timeline?agent=\(agent)", token: collector.adminToken)
            XCTAssertEqual(response.status, 400, agent)
            let error = try decodeError(response)
            XCTAssertEqual(error.field, "agent")
            XCTAssertLessThan(error.message.utf8.count, 200, error.message)
        }
        let fine = try await collector.send("GET", "/v1/timeline?agent=nba-scrapers.1:a_b", token: collector.adminToken)
        XCTAssertEqual(fine.status, 200, fine.bodyText)
    }

    /// Was 200 for `incident=0` and `incident=-5`; the spec says an incident id is 1 or more.
    func testActionsRefuseAnIncidentIDBelowOne() async throws {
        for incident in ["0", "-5", "99999999999999999999"] {
            let response = try await collector.send("GET", "/v1/actions?incident=\(incident)", token: collector.adminToken)
            XCTAssertEqual(response.status, 400, incident)
            XCTAssertEqual(try decodeError(response).field, "incident")
        }
        let fine = try await collector.send("GET", "/v1/actions?incident=1", token: collector.adminToken)
        XCTAssertEqual(fine.status, 200, fine.bodyText)
    }

    /// A too-long agent_id was called "may hold only letters..." and echoed whole; it now says
    /// what is wrong (the length) with the same rule as reports.
    func testATokenRequestWithALongAgentIDSaysItIsTooLong() async throws {
        let long = String(repeating: "a", count: 5000)
        let body = Array(#"{"kind":"agent","agent_id":"\#(long)"}"#.utf8)
        let response = try await collector.send(
            "POST", "/v1/tokens", token: collector.adminToken, headers: [("Content-Type", "application/json")], body: body)
        XCTAssertEqual(response.status, 400, response.bodyText)
        let error = try decodeError(response)
        XCTAssertEqual(error.field, "agent_id")
        XCTAssertTrue(error.message.contains("5000 bytes; at most 128"), error.message)
        XCTAssertLessThan(error.message.utf8.count, 200)
        // Optional fields may be null (protocol/README.md, Conventions): the spec now says so too.
        let withNull = try await collector.send(
            "POST", "/v1/tokens", token: collector.adminToken, headers: [("Content-Type", "application/json")],
            body: Array(#"{"kind":"read","name":null,"agent_id":null}"#.utf8))
        XCTAssertEqual(withNull.status, 201, withNull.bodyText)
    }
}
