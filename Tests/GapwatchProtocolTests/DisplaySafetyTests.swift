import GapwatchProtocol
import XCTest

/// Names and labels are one line of printable text: a line feed would start a forged log line, a
/// right-to-left override would make a table row read as something else. Free text may keep tabs
/// and line feeds, but no bidirectional control either.
final class DisplaySafetyTests: XCTestCase {
    /// Every character class a name must refuse.
    static let unsafeInNames: [(String, String)] = [
        ("\n", "a line feed (U+000A)"), ("\r", "a carriage return (U+000D)"), ("\t", "a tab (U+0009)"), ("\u{1B}", "U+001B"),
        ("\u{7F}", "U+007F"), ("\u{9B}", "U+009B"), ("\u{2028}", "a line separator (U+2028)"), ("\u{2029}", "U+2029"),
        ("\u{202A}", "U+202A"), ("\u{202B}", "U+202B"), ("\u{202C}", "U+202C"), ("\u{202D}", "U+202D"),
        ("\u{202E}", "a bidirectional control (U+202E)"), ("\u{2066}", "U+2066"), ("\u{2067}", "U+2067"), ("\u{2068}", "U+2068"),
        ("\u{2069}", "U+2069"), ("\u{200E}", "U+200E"), ("\u{200F}", "U+200F"), ("\u{061C}", "U+061C"),
    ]

    func testNamesRefuseControlLineBreakAndBidiCharactersNamingTheField() {
        for (character, described) in Self.unsafeInNames {
            let name = "nightly" + character + "gpj.exe"
            let cases: [(ObservationBody, String)] = [
                (.heartbeat(Heartbeat(name: name, status: .ok)), "name"),
                (.probe(TargetProbe(job: name, target: "http://x/run", httpStatus: 200, latencyMs: 1, healthy: true)), "job"),
                (.itemStatus(ItemStatus(itemKind: "game", itemID: name, status: "Final")), "item_id"),
                (.itemStatus(ItemStatus(itemKind: "game", itemID: "g1", status: name)), "status"),
                (.lock(LockSighting(name: "ctl", holder: name)), "holder"),
                (.job(JobSighting(name: name, change: .added, enabled: true)), "name"),
                (.count(Count(dataset: "raw.boxscores", partition: "2026-01-22" + character, count: 1)), "partition"),
            ]
            for (body, field) in cases {
                assertInvalid(report(with: body), field: "observations[0].\(field)")
                do {
                    try body.validate(path: "o")
                    XCTFail("accepted \(described) in \(field)")
                } catch {
                    XCTAssertTrue(error.message.contains(described), "\(described): \(error.message)")
                }
            }
        }
    }

    func testAgentIdentityTextIsOneLine() {
        for (character, _) in Self.unsafeInNames {
            var agent = testAgent
            agent.service = "scrapers" + character
            assertInvalid(report([], agent: agent), field: "agent.service")
            agent = testAgent
            agent.host = "vm-1" + character
            assertInvalid(report([], agent: agent), field: "agent.host")
            agent = testAgent
            agent.labels = ["env": "prod" + character]
            assertInvalid(report([], agent: agent), field: "agent.labels.env")
        }
        var agent = testAgent
        agent.service = ""
        assertValid(report([], agent: agent))
    }

    /// Free text keeps tabs and line feeds (a command's output has them), refuses the other C0
    /// controls and the bidirectional controls.
    func testFreeTextKeepsTabsAndLineFeedsButNoOtherControlOrBidi() {
        assertValid(report(with: .heartbeat(Heartbeat(name: "job", status: .fail, message: "line 1\n\tline 2 — ünïcode"))))
        assertValid(report(with: .actionResult(ActionResult(actionID: "a-1", outcome: .ok, outputTail: "ok\n\ttotal 3\n"))))
        for character in ["\r", "\u{1B}", "\u{0}", "\u{202E}", "\u{2066}", "\u{200F}", "\u{061C}"] {
            assertInvalid(report(with: .heartbeat(Heartbeat(name: "job", status: .fail, message: "m" + character))), field: "observations[0].message")
            assertInvalid(
                report(with: .actionResult(ActionResult(actionID: "a-1", outcome: .ok, outputTail: "o" + character))),
                field: "observations[0].output_tail")
            assertInvalid(
                report(with: .decision(WorkflowDecision(workflow: "w", decision: .skip, reason: "r" + character))), field: "observations[0].reason")
        }
    }

    func testPrintableUnicodeNamesStayValid() {
        assertValid(report(with: .heartbeat(Heartbeat(name: "ночной экспорт · 夜間", status: .ok))))
        assertValid(report(with: .itemStatus(ItemStatus(itemKind: "game", itemID: "שלום", status: "Final"))))
    }
}
