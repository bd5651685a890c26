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
        abstract: "The fault suite: SIGKILLs, a long outage and a full disk, against our own binaries.",
        subcommands: [CollectorKill.self, AgentKill.self, Outage.self, DiskFull.self])
}

/// Options every suite has.
struct CommonOptions: ParsableArguments {
    @Flag(help: "Keep the suite's folder (logs, spools, database) even when everything passed.")
    var keep = false
}

/// Runs `body` with a fresh workspace; any error it throws is one failure. Always ends the process.
func runSuite(_ name: String, common: CommonOptions, _ body: (SuiteReport, Workspace) throws -> Void) -> Never {
    let report = SuiteReport(name)
    signal(SIGPIPE, SIG_IGN)
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
