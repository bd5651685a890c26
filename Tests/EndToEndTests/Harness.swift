import Foundation
import GapwatchHTTPClient
import GapwatchProcessHarness
import XCTest

// The process-driving code (Binaries, Workspace, ChildProcess, CollectorProcess, AgentProcess,
// waitFor) lives in GapwatchProcessHarness, shared with the fault suite (`gapwatch-faults`).

typealias HTTPResponse = GapwatchHTTPClient.HTTPResponse

extension Workspace {
    /// Removes the folder when `test` has recorded no failure; otherwise says where the logs are.
    func finish(_ test: XCTestCase) {
        if let run = test.testRun, run.failureCount + run.unexpectedExceptionCount == 0 {
            remove()
        } else {
            print("kept logs in \(path)")
        }
    }
}
