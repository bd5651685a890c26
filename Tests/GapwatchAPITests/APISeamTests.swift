import Foundation
import XCTest

/// GapwatchAPI is the seam between the collector and its clients: the CLI's queries, the tests and
/// the process harness link it to decode answers. It must stay free of the server's modules
/// (Hummingbird, GRDB, NIO), or every client links the server again.
final class APISeamTests: XCTestCase {
    let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testTheAPITargetDependsOnTheProtocolAlone() throws {
        let manifest = try String(contentsOf: repoRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declaration = try XCTUnwrap(
            manifest.range(of: #"\.target\(\s*name:\s*"GapwatchAPI"\s*,\s*dependencies:\s*\[([^\]]*)\]"#, options: .regularExpression),
            "Package.swift declares no GapwatchAPI target with a dependency list")
        let list = String(manifest[declaration]).split(separator: "[", maxSplits: 1)[1]
        let dependencies = list.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \n\"])")) }.filter { !$0.isEmpty }
        XCTAssertEqual(dependencies, ["GapwatchProtocol"], "GapwatchAPI's dependencies in Package.swift")
    }

    func testTheAPISourcesImportNoServerModule() throws {
        let folder = repoRoot.appendingPathComponent("Sources/GapwatchAPI")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".swift") }
        XCTAssertFalse(files.isEmpty)
        let allowed: Set<String> = ["Foundation", "GapwatchProtocol"]
        for file in files {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@_exported import ") {
                let module = String(line.split(separator: " ").last ?? "")
                XCTAssertTrue(allowed.contains(module), "Sources/GapwatchAPI/\(file) imports \(module)")
            }
        }
    }
}
