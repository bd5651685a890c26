import Foundation
import GapwatchCollector
import GapwatchProtocol
import XCTest

/// The dashboard's Story page over real HTTP with a logged-in session: a dataset re-reporting its
/// counts every minute for a day folds into a few rows; kind and time filters narrow it.
final class StoryPageTests: XCTestCase {
    var collector: TestCollector!
    var cookie = ""
    let base = WallClock.nowMillis() - 26 * 3_600_000

    override func setUp() async throws {
        // The dashboard's live-socket test: the login form, its cookie and a page over the wire.
        collector = try await TestCollector.start(transport: transport(socketFor: "testADayOfRepeatedCountsFoldsIntoAFewRows"))
        let login = try await collector.send(
            "POST", "/login", token: nil, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("token=\(DashboardHTML.percentEncode(collector.adminToken))".utf8))
        XCTAssertEqual(login.status, 303)
        cookie = String((login.headers["set-cookie"] ?? "").prefix { $0 != ";" })
        // Partition 2026-01-22 counted 100 every minute for 1,500 minutes, then 120 ten times;
        // 2026-01-23 counted 5 every minute alongside: 3,010 observations.
        var observations: [Observation] = []
        for minute in 0..<1510 {
            let at = base + Millis(minute) * 60_000
            observations.append(
                Observation(
                    seq: UInt64(observations.count + 1), observedAt: at,
                    body: .count(Count(dataset: "raw.boxscores", partition: "2026-01-22", count: minute < 1500 ? 100 : 120))))
            if minute < 1500 {
                observations.append(
                    Observation(
                        seq: UInt64(observations.count + 1), observedAt: at + 1,
                        body: .count(Count(dataset: "raw.boxscores", partition: "2026-01-23", count: 5))))
            }
        }
        for start in stride(from: 0, to: observations.count, by: 500) {
            let batch = Array(observations[start..<min(start + 500, observations.count)])
            let report = Report(
                agent: AgentIdentity(id: "agent-1", service: "scrapers", host: "h", version: "t", labels: [:]), bootID: "b", spoolID: "s",
                sentAt: WallClock.nowMillis(), observations: batch)
            let r = try await collector.post(report)
            XCTAssertEqual(r.status, 200, r.bodyText)
        }
    }

    override func tearDown() {
        collector.stop()
    }

    func page(_ query: String) async throws -> (status: Int, html: String) {
        let r = try await collector.send("GET", "/story?" + query, token: nil, headers: [("Cookie", cookie)])
        XCTAssertTrue(r.headers["content-security-policy"]?.hasPrefix("default-src 'none'") ?? false)
        return (r.status, r.bodyText)
    }

    /// The rows of the page's table.
    func rows(_ html: String) -> [String] {
        guard let body = html.range(of: "<tbody>"), let end = html.range(of: "</tbody>") else { return [] }
        return html[body.upperBound..<end.lowerBound].components(separatedBy: "<tr>").dropFirst().map { $0 }
    }

    func testADayOfRepeatedCountsFoldsIntoAFewRows() async throws {
        let (status, html) = try await page("subject=dataset:raw.boxscores")
        XCTAssertEqual(status, 200, html)
        let shown = rows(html)
        XCTAssertEqual(shown.count, 3, "one row per partition and value:\n\(shown.joined(separator: "\n"))")
        XCTAssertTrue(shown[0].contains("2026-01-22 = 100 rows") && shown[0].contains("×1500, first "), shown[0])
        XCTAssertTrue(shown[1].contains("2026-01-23 = 5 rows") && shown[1].contains("×1500"), shown[1])
        XCTAssertTrue(shown[2].contains("2026-01-22 = 120 rows") && shown[2].contains("×10"), shown[2])
        XCTAssertTrue(shown[0].contains("last \(TimeParsing.formatForPeople(base + 1499 * 60_000))"), shown[0])
        XCTAssertTrue(html.contains("3010 entries in 3 rows (3007 repeats folded)"), html)
        XCTAssertFalse(html.lowercased().contains("<script"))

        // Unfolded, the same range is a thousand rows and says so.
        let all = try await page("subject=dataset:raw.boxscores&repeats=all")
        XCTAssertEqual(rows(all.html).count, 1000)
        XCTAssertTrue(all.html.contains("more than 1000 observations"), all.html)
    }

    func testKindAndTimeFiltersNarrowTheStory() async throws {
        let none = try await page("subject=dataset:raw.boxscores&kind=heartbeat&kind=incident")
        XCTAssertEqual(rows(none.html).count, 0)
        XCTAssertTrue(none.html.contains("in this range of these kinds"), none.html)
        XCTAssertTrue(none.html.contains(#"value="heartbeat" checked"#), "the form keeps the choice")
        let countsOnly = try await page("subject=dataset:raw.boxscores&kind=count").html
        XCTAssertEqual(rows(countsOnly).count, 3)

        // A window of 100 minutes inside the day: each partition's row counts only those.
        let from = TimeParsing.format(base + 100 * 60_000)
        let to = TimeParsing.format(base + 200 * 60_000)
        let window = try await page("subject=dataset:raw.boxscores&from=\(from)&to=\(to)")
        let shown = rows(window.html)
        XCTAssertEqual(shown.count, 2, shown.joined(separator: "\n"))
        XCTAssertTrue(shown.allSatisfy { $0.contains("×100,") }, shown.joined(separator: "\n"))
        // A duration ago: the last hour holds only the tail of the day (no 2026-01-23 counts).
        let lastHour = rows(try await page("subject=dataset:raw.boxscores&from=1h").html)
        XCTAssertFalse(lastHour.contains { $0.contains("2026-01-23") }, lastHour.joined(separator: "\n"))

        let bad = try await page("subject=dataset:raw.boxscores&kind=counts")
        XCTAssertEqual(bad.status, 400)
        XCTAssertTrue(bad.html.contains("kind: &#39;counts&#39; is not one of"), bad.html)
        let badTime = try await page("subject=dataset:raw.boxscores&from=yesterday-ish").status
        XCTAssertEqual(badTime, 400)
    }
}
