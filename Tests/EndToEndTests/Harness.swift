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

/// What most end-to-end test classes start from: a fresh workspace named after the test, a
/// collector in it and an agent beside it (created, not started: a test sets their config first),
/// and `agents` for any more. After each test all of them are stopped, and the workspace is
/// removed when the test passed. A subclass's async `setUp` calls `super.setUp()` first; its
/// `setUpWithError` runs after this one anyway (XCTest calls the async one first).
class CollectorTestCase: XCTestCase {
    var workspace: Workspace!
    var collector: CollectorProcess!
    var agent: AgentProcess!
    var agents: [AgentProcess] = []

    override func setUp() async throws {
        try await super.setUp()
        try Binaries.check()
        workspace = try Workspace(name)
        collector = CollectorProcess(workspace: workspace)
        agent = AgentProcess(workspace: workspace, collectorURL: collector.url, tokenFile: collector.tokenFile)
    }

    override func tearDown() {
        for agent in agents { agent.child?.terminate() }
        agent?.child?.terminate()
        collector?.child?.terminate()
        workspace?.finish(self)
        super.tearDown()
    }
}
