import Foundation
import GapwatchProcessHarness
import XCTest

/// The shipping `gapwatch` carries no benchmark program and no simulated demo service: those are
/// `gapwatch-bench` and `gapwatch-demo`, built beside it, and `gapwatch demo` runs the latter.
final class BinariesTests: XCTestCase {
    func binary(_ name: String) -> String { Binaries.directory.appendingPathComponent(name).path }

    func testBenchmarksAndDemoServicesAreNotInTheShippingBinary() throws {
        let help = try runCommand(Binaries.gapwatch, ["--help"])
        XCTAssertEqual(help.status, 0, help.output)
        XCTAssertTrue(help.output.contains("\n  demo "), help.output)
        XCTAssertFalse(help.output.contains("\n  bench "), help.output)
        for gone in ["bench", "demo-service", "demo-world"] {
            let result = try runCommand(Binaries.gapwatch, [gone])
            XCTAssertNotEqual(result.status, 0, result.output)
            XCTAssertTrue(result.output.contains("Unexpected argument '\(gone)'"), "gapwatch \(gone) is still there: \(result.output)")
        }
    }

    func testBenchAndDemoBinariesHoldWhatLeftIt() throws {
        let bench = try runCommand(binary("gapwatch-bench"), ["--help"])
        XCTAssertEqual(bench.status, 0, bench.output)
        for program in ["ingest", "decode", "store", "checks", "query"] {
            XCTAssertTrue(bench.output.contains("\n  \(program) "), "gapwatch-bench lacks \(program): \(bench.output)")
        }
        let demo = try runCommand(binary("gapwatch-demo"), ["--help"])
        XCTAssertEqual(demo.status, 0, demo.output)
        for command in ["run (default)", "service", "world"] {
            XCTAssertTrue(demo.output.contains("\n  \(command) "), "gapwatch-demo lacks \(command): \(demo.output)")
        }
        // `gapwatch demo` hands its arguments, --help included, to `gapwatch-demo run`.
        let forwarded = try runCommand(Binaries.gapwatch, ["demo", "--help"])
        XCTAssertEqual(forwarded.status, 0, forwarded.output)
        XCTAssertTrue(forwarded.output.contains("USAGE: gapwatch-demo run "), forwarded.output)
    }
}
