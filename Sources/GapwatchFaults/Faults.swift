import ArgumentParser
import Foundation
import GapwatchProcessHarness

/// `gapwatch-faults SUITE`: drives our real binaries (`gapwatch collector`, `gapwatch-agent run`)
/// as processes on 127.0.0.1 with real SQLite files, injects one kind of fault, and prints the
/// figures it measured and `N passed, N failed` last. See faults/README.md.
@main
struct Faults: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gapwatch-faults",
        abstract: "The fault suite: SIGKILLs, a long outage, a full disk and a hostile agent, against our own binaries.",
        subcommands: [CollectorKill.self, AgentKill.self, Outage.self, DiskFull.self, Hostile.self])
}

/// Options every suite has.
struct CommonOptions: ParsableArguments {
    @Flag(help: "Keep the suite's folder (logs, spools, database) even when everything passed.")
    var keep = false
}

/// What must be undone even when the suite is stopped from outside (an unmount).
let stopActions = Locked<[@Sendable () -> Void]>([])

/// On SIGTERM, SIGINT or SIGHUP (e.g. `timeout` in faults/suite.sh): SIGKILL our children (each in
/// its own process group, they would outlive us), undo `stopActions`, and exit failed.
func endChildrenOnStop() {
    for sig in [SIGTERM, SIGINT, SIGHUP] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            FileHandle.standardOutput.write(Data("FAIL stopped by signal \(sig); ending the collector and agents\n".utf8))
            LiveChildren.shared.killAll()
            for action in stopActions.read({ $0 }) { action() }
            FileHandle.standardOutput.write(Data("0 passed, 1 failed\n".utf8))
            exit(1)
        }
        source.resume()
        signalSources.write { $0.append(source) }
    }
}
private let signalSources = Locked<[any DispatchSourceSignal]>([])

/// Runs `body` with a fresh workspace; any error it throws is one failure. Always ends the process.
func runSuite(_ name: String, common: CommonOptions, _ body: (SuiteReport, Workspace) throws -> Void) -> Never {
    let report = SuiteReport(name)
    signal(SIGPIPE, SIG_IGN)
    endChildrenOnStop()
    let workspace: Workspace
    do {
        try Binaries.check()
        workspace = try Workspace(name, prefix: "gapwatch-faults")
    } catch {
        report.broken("setting up", error)
        report.finish(workspace: nil, keep: false)
    }
    do {
        try body(report, workspace)
    } catch {
        report.broken("the suite could not run to its end", error)
    }
    report.finish(workspace: workspace, keep: common.keep)
}

/// `runSuite` with a fleet in the workspace whose collector is started; the fleet is stopped at the end.
func runFleetSuite(_ name: String, common: CommonOptions, _ body: (SuiteReport, Fleet) throws -> Void) -> Never {
    runSuite(name, common: common) { report, workspace in
        let fleet = Fleet(workspace)
        defer { fleet.stopAll() }
        try fleet.startCollector()
        try body(report, fleet)
    }
}
