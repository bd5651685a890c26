import GapwatchAgent
import XCTest

final class YAMLTests: XCTestCase {
    func testBlockMapsNestedMapsListsAndComments() throws {
        let text = """
            # a comment
            agent:
              id: web-1   # trailing comment
              labels:
                env: prod
            url: http://host:7070/path#frag
            list:
              - a
              - "b c"
            same_indent_list:
            - x
            - 'it''s'
            """
        let root = try YAML.parse(text)
        XCTAssertEqual(root["agent"]?["id"]?.scalar, "web-1")
        XCTAssertEqual(root["agent"]?["labels"]?["env"]?.scalar, "prod")
        XCTAssertEqual(root["url"]?.scalar, "http://host:7070/path#frag")
        XCTAssertEqual(root["list"]?.list?.compactMap(\.scalar), ["a", "b c"])
        XCTAssertEqual(root["same_indent_list"]?.list?.compactMap(\.scalar), ["x", "it's"])
        XCTAssertEqual(root["agent"]?.line, 3)
        XCTAssertEqual(root.entries?.first { $0.key == "url" }?.line, 6)
    }

    func testListsOfMaps() throws {
        let text = """
            probes:
              http:
                - name: one
                  url: http://a
                - name: two
                  url: http://b
                  interval: 5s
            """
        let items = try XCTUnwrap(YAML.parse(text)["probes"]?["http"]?.list)
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items[0]["name"]?.scalar, "one")
        XCTAssertEqual(items[1]["url"]?.scalar, "http://b")
        XCTAssertEqual(items[1]["interval"]?.scalar, "5s")
        XCTAssertEqual(items[1]["interval"]?.line, 7)
    }

    func testFlowListsMapsAndQuotedStrings() throws {
        let text = #"""
            argv: [psql, -At, -c, "select d, count(*) from t # not a comment", 'x, y']
            labels: {env: prod, "team name": "data eng", empty: []}
            escaped: "tab\there \"quoted\" \u00e9"
            hash: "#1"
            empty_list: []
            nothing:
            """#
        let root = try YAML.parse(text)
        XCTAssertEqual(root["argv"]?.list?.compactMap(\.scalar), ["psql", "-At", "-c", "select d, count(*) from t # not a comment", "x, y"])
        XCTAssertEqual(root["labels"]?["env"]?.scalar, "prod")
        XCTAssertEqual(root["labels"]?["team name"]?.scalar, "data eng")
        XCTAssertEqual(root["labels"]?["empty"]?.list?.count, 0)
        XCTAssertEqual(root["escaped"]?.scalar, "tab\there \"quoted\" é")
        XCTAssertEqual(root["hash"]?.scalar, "#1")
        XCTAssertEqual(root["empty_list"]?.list?.count, 0)
        XCTAssertEqual(root["nothing"]?.isNull, true)
    }

    func testEmptyDocumentIsAnEmptyMap() throws {
        XCTAssertEqual(try YAML.parse("").entries?.count, 0)
        XCTAssertEqual(try YAML.parse("# only a comment\n\n---\n").entries?.count, 0)
    }

    func testErrorsNameTheLine() {
        assertError("a: 1\n\tb: 2\n", line: 2, contains: "tab")
        assertError("a:\n  b: 1\n    c: 2\n", line: 3, contains: "indentation")
        assertError("a: 1\na: 2\n", line: 2, contains: "duplicate key 'a'")
        assertError("a: 1\nb: \"open\n", line: 2, contains: "unterminated")
        assertError("a: [1, 2\n", line: 1, contains: "missing ']'")
        assertError("a: {x: 1\n", line: 1, contains: "missing '}'")
        assertError("a: 1\njust text\n", line: 2, contains: "expected 'key: value'")
        assertError("a: |\n  text\n", line: 1, contains: "block scalars")
        assertError("a: &anchor 1\n", line: 1, contains: "anchors")
        assertError("a:\n  - x\n  b: 1\n", line: 3, contains: "indentation")
        assertError("a: \"bad \\q escape\"\n", line: 1, contains: "escape")
    }

    private func assertError(_ text: String, line: Int, contains: String, file: StaticString = #filePath, lineNumber: UInt = #line) {
        do {
            let node = try YAML.parse(text)
            XCTFail("parsed \(node) but expected an error", file: file, line: lineNumber)
        } catch {
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: lineNumber)
            XCTAssertTrue(error.description.contains(contains), "\(error)", file: file, line: lineNumber)
            XCTAssertTrue(error.description.hasPrefix("line \(line):"), "\(error)", file: file, line: lineNumber)
        }
    }
}
