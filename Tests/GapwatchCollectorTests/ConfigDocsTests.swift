import Foundation
import GapwatchCollector
import XCTest

/// Collector config errors carry lines and "did you mean"; the example config documents every key
/// the parser reads.
final class ConfigDocsTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var examplePath: String { package.appendingPathComponent("collector/collector.example.yaml").path }

    func error(_ yaml: String) -> ConfigError? {
        do {
            _ = try CollectorConfig.parse(yaml: yaml)
            return nil
        } catch {
            return error
        }
    }

    func testATypoedKeyNamesItsLineAndTheKeyMeant() throws {
        let yaml = """
            listen: 127.0.0.1:7070
            storage:
              synchronous: normal
              retension: 90d
            """
        let e = try XCTUnwrap(error(yaml))
        XCTAssertEqual(e.line, 4)
        XCTAssertEqual(e.column, 3)
        XCTAssertTrue(
            e.description.hasPrefix("line 4: storage.retension: unknown key; did you mean 'retention'? (known keys here: "), e.description)
        XCTAssertEqual(e.message.hasPrefix("storage.retension: unknown key; did you mean 'retention'?"), true, e.message)

        // Deep in a list: the item's key, on its own line.
        let nested = try XCTUnwrap(
            error("checks:\n  - name: a\n    ping: a\n    every: 1h\n  - name: b\n    ping: b\n    cron: '0 6 * * *'\n    evry: 2h\n"))
        XCTAssertEqual(nested.description.components(separatedBy: " (known")[0], "line 8: checks[1].evry: unknown key; did you mean 'every'?")
        // Top level, nothing close: no guess, but the known keys.
        let far = try XCTUnwrap(error("listen: 127.0.0.1:7070\nzzzzzz: 1\n"))
        XCTAssertEqual(far.line, 2)
        XCTAssertFalse(far.message.contains("did you mean"), far.message)
        XCTAssertTrue(far.message.contains("known keys here:") && far.message.contains("catch_up"), far.message)
    }

    func testValueErrorsCarryTheLineOfTheirKey() throws {
        let bad = try XCTUnwrap(error("log_level: info\nliveness:\n  every: 0s\n"))
        XCTAssertEqual(bad.description, "line 3: liveness.every: must be longer than 0")
        // A missing required key points at the map that lacks it.
        let missing = try XCTUnwrap(error("checks:\n  - {name: a, ping: a, every: 1h}\n  - {name: b, every: 1h}\n"))
        XCTAssertEqual(missing.line, 3)
        XCTAssertTrue(missing.description.hasPrefix("line 3: checks[1].ping: required"), missing.description)
        let channel = try XCTUnwrap(error("notify:\n  channels:\n    - name: ops\n      kind: webhook\n      url: ftp://x\n"))
        XCTAssertEqual(channel.description, "line 5: notify.channels[0].url: must be an http:// or https:// URL")
    }

    /// `gapwatch collector --config FILE` says the file, the line and what is wrong, and stops.
    func testLoadNamesTheFileAndLine() throws {
        let dir = NSTemporaryDirectory() + "gapwatch-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/collector.yaml"
        try "log_level: info\nguardrails:\n  max_per_huor: 3\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try CollectorConfig.load(path: path)) { error in
            XCTAssertTrue(
                "\(error)".hasPrefix("\(path): line 3: guardrails.max_per_huor: unknown key; did you mean 'max_per_hour'?"), "\(error)")
        }
    }

    // MARK: - The example documents every key

    /// Every section with each kind of item: parsing it asks for every key the parser knows there.
    static let everySection = """
        listen: 127.0.0.1:7070
        database: ./x.db
        token_file: ./x.tokens
        bootstrap_agent_id: h
        log_level: info
        storage: {synchronous: normal}
        limits: {max_observations: 10}
        listen_limits: {header_timeout: 5s}
        checks:
          - {name: c, ping: c, every: 1h}
        expectations:
          - {name: e, workflow: w, window: {cron: '0 19 * * *', duration: 6h}, only_when: {dataset: d}}
        liveness: {enabled: true}
        probe_failures: {after: 3, forget_after: 7d}
        clock_skew: {tolerance: 5m, incidents: true}
        notify:
          channels:
            - {name: n, kind: webhook, url: 'http://127.0.0.1:9/x'}
          group: {window: 10s}
        fleet: {new_agents_per_hour: 5}
        actions:
          - {name: a, kind: webhook, url: 'http://127.0.0.1:9/x'}
          - {name: b, kind: agent, agent: x, command: y}
        completeness:
          - {name: cp, source: s, derived: d, partition: hour, lookback: 48h, due_after: 15m}
        stale_items:
          - {name: st, item_kind: game, final: [Final], deadline: 4h}
        freshness:
          - {name: f, dataset: d, max_age: 6h}
        scheduler_targets: {audit_report: {cron: '0 8 * * 1'}, breaker: {max_share: 50%, window: 1h}}
        stuck_locks:
          - {name: l}
        guardrails: {max_per_hour: 3, per_rule: {max_per_hour: 2, max_concurrent: 1}, per_target: {max_per_hour: 2, max_concurrent: 1}}
        agents:
          - {id: x, service: s, labels: {role: r}}
        owners:
          - {facts: ['job:*'], agents: [x], service: s, labels: {role: r}}
        recheck_interval: 60s
        catch_up: {cron: '0 7 * * *'}
        """

    func testTheExampleParses() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        XCTAssertNoThrow(try CollectorConfig.parse(yaml: text))
    }

    func testTheExampleDocumentsEveryKeyTheParserReads() throws {
        let example = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        // The top level: every key the parser asks for, even of a file with one key.
        let top = KeyRecorder()
        _ = try top.recording { try CollectorConfig.parse(yaml: "log_level: info") }
        let topKeys = top.recorded
        XCTAssertTrue(topKeys.isSuperset(of: ["listen", "storage", "checks", "freshness", "stuck_locks", "catch_up"]), "\(topKeys.sorted())")
        let fixtureTop = Set(Self.everySection.split(separator: "\n").filter { !$0.hasPrefix(" ") }.map { String($0.prefix { $0 != ":" }) })
        XCTAssertEqual(topKeys.subtracting(fixtureTop), [], "add these sections to everySection (and document them in the example)")

        let recorder = KeyRecorder()
        _ = try recorder.recording { try CollectorConfig.parse(yaml: Self.everySection) }
        let asked = recorder.recorded
        XCTAssertTrue(
            asked.isSuperset(of: ["freshness[].max_age", "notify.channels[].headers", "actions[].parameters", "expectations[].window.cron"]))

        // Each top-level key's block in the example: from its line (live or commented out) to the next one's.
        let lines = example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func topKey(_ line: String) -> String? {
            let body = line.hasPrefix("# ") ? String(line.dropFirst(2)) : line
            guard let colon = body.firstIndex(of: ":") else { return nil }
            let key = String(body[..<colon])
            let after = body[body.index(after: colon)...]
            return topKeys.contains(key) && (after.isEmpty || after.first == " ") ? key : nil
        }
        var blocks: [String: String] = [:]
        var current: String?
        for line in lines {
            if let key = topKey(line) {
                XCTAssertNil(blocks[key], "\(key) is documented twice at the top level")
                current = key
                blocks[key] = ""
            }
            if let current { blocks[current, default: ""] += line + "\n" }
        }
        var undocumented: [String] = []
        for path in asked.sorted() {
            let parts = path.replacingOccurrences(of: "[]", with: "").split(separator: ".").map(String.init)
            guard let block = blocks[parts[0]] else {
                undocumented.append(path)
                continue
            }
            for part in parts.dropFirst() where block.range(of: #"(^|[\s{,#-])\#(part):(\s|$)"#, options: .regularExpression) == nil {
                undocumented.append(path)
            }
        }
        XCTAssertEqual(undocumented, [], "keys the parser reads that collector/collector.example.yaml does not show")
    }
}
