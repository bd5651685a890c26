import Foundation
import GapwatchCollector
import GapwatchProtocol
import GapwatchRules
import XCTest
import Yams

/// One list of rule names (`IncidentRule`) drives silences, metrics and the OpenAPI file.
final class RuleNameTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testOpenAPIRuleNameEnumIsTheCollectorsList() throws {
        let text = try String(contentsOf: Self.package.appendingPathComponent("protocol/openapi.yaml"), encoding: .utf8)
        let spec = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any])
        let schemas = try XCTUnwrap((spec["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let ruleName = try XCTUnwrap(schemas["RuleName"] as? [String: Any])
        XCTAssertEqual(ruleName["enum"] as? [String], IncidentRule.names)
        XCTAssertEqual(knownRuleNames, IncidentRule.names)
        XCTAssertEqual(RuleRegistry.ruleNames, IncidentRule.names, "every rule belongs to one kind in RuleRegistry")
    }

    /// Every rule name the detector opens incidents under is in the list: the rule kinds declare
    /// theirs (`RuleRegistry`), and no string constant in Sources/GapwatchCollector/Rules
    /// (`static let …Rule = "…"`, `rule: "…"`, `enum RuleName`) names another.
    func testEveryRuleTheDetectorUsesIsInTheList() throws {
        let folder = Self.package.appendingPathComponent("Sources/GapwatchCollector/Rules")
        var found = Set<String>(RuleRegistry.ruleNames)
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: folder.path)).compactMap { $0 as? String }
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for pattern in [#"static let \w*[Rr]ule = "([a-z_]+)""#, #"rule: "([a-z_]+)""#] {
                let regex = try NSRegularExpression(pattern: pattern)
                for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    found.insert(String(text[Range(match.range(at: 1), in: text)!]))
                }
            }
            if let start = text.range(of: "enum RuleName {"), let end = text[start.upperBound...].range(of: "}") {
                let body = String(text[start.upperBound..<end.lowerBound])
                let regex = try NSRegularExpression(pattern: #"= "([a-z_]+)""#)
                for match in regex.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                    found.insert(String(body[Range(match.range(at: 1), in: body)!]))
                }
            }
        }
        XCTAssertTrue(found.isSuperset(of: ["heartbeat", "stuck_lock", "target_unhealthy"]), "the scan found \(found.sorted())")
        XCTAssertEqual(found.subtracting(IncidentRule.names), [], "rules used by the detector but missing from IncidentRule")
    }

    /// A silence on every rule name is accepted over the API (a silence on stuck_lock used to be refused).
    func testASilenceOnEveryRuleIsAccepted() async throws {
        let collector = try await TestCollector.start()
        defer { collector.stop() }
        for rule in IncidentRule.names {
            let r = try await collector.send(
                "POST", "/v1/silences", token: collector.adminToken, headers: [("Content-Type", "application/json")],
                body: Array(#"{"rule":"\#(rule)","duration":"1h","comment":"maintenance"}"#.utf8))
            XCTAssertEqual(r.status, 201, "\(rule): \(r.bodyText)")
        }
        let refused = try await collector.send(
            "POST", "/v1/silences", token: collector.adminToken, headers: [("Content-Type", "application/json")],
            body: Array(#"{"rule":"stuck_locks","duration":"1h"}"#.utf8))
        XCTAssertEqual(refused.status, 400, "a typo is still refused")
        XCTAssertTrue(refused.bodyText.contains("stuck_lock"), refused.bodyText)
    }

    /// Every rule has an `incidents_open` series from the start.
    func testMetricsReportEveryRule() async throws {
        let collector = try await TestCollector.start()
        defer { collector.stop() }
        let text = try await collector.send("GET", "/metrics", token: collector.adminToken).bodyText
        for rule in IncidentRule.names {
            XCTAssertTrue(text.contains(#"gapwatch_incidents_open{rule="\#(rule)"} 0"#), "\(rule) missing:\n\(text)")
        }
    }
}
