import Foundation
import GapwatchProtocol
import XCTest

/// `SnakeCaseKey`: the wire name is the snake_case of the Swift name, acronyms as one word; a raw
/// value that is already a wire name stays; decoding takes the same names back.
final class SnakeCaseKeyTests: XCTestCase {
    private struct Sample: Codable, Equatable {
        var agentID: String
        var lastShipOKAt: Int
        var healthURL: String
        var clockSkewMs: Int
        var timeZone: String
        var labels: [String: String]

        enum CodingKeys: String, SnakeCaseKey {
            case agentID, lastShipOKAt, healthURL, clockSkewMs
            case timeZone = "timezone"
            case labels
        }
    }

    func testWireNamesAreSnakeCaseAndRoundTrip() throws {
        let sample = Sample(agentID: "a", lastShipOKAt: 1, healthURL: "u", clockSkewMs: 2, timeZone: "UTC", labels: ["envName": "prod"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(sample), as: UTF8.self)
        XCTAssertEqual(
            json, #"{"agent_id":"a","clock_skew_ms":2,"health_url":"u","labels":{"envName":"prod"},"last_ship_ok_at":1,"timezone":"UTC"}"#)
        XCTAssertEqual(try JSONDecoder().decode(Sample.self, from: Data(json.utf8)), sample)
        XCTAssertEqual(Sample.CodingKeys(stringValue: "last_ship_ok_at"), .lastShipOKAt)
        XCTAssertNil(Sample.CodingKeys(stringValue: "lastShipOKAt"))
    }
}
