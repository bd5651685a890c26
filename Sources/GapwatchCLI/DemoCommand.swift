import ArgumentParser
import Foundation
import GapwatchCommandSupport

/// `make demo`'s command, kept in the shipping binary as a thin door: the demo (its simulated
/// services and world) is `gapwatch-demo`, built beside this binary, which this command replaces
/// itself with (exec: same process, so Ctrl-C, SIGTERM, the output and the exit status are the demo's).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Replay the Jan 22-23 incident and watch Gapwatch detect and heal every part of it.",
        discussion: "Runs gapwatch-demo from beside this binary with the same arguments; `gapwatch demo --help` shows its options.",
        // --help goes to the demo itself, which knows the options.
        helpNames: [])

    @Argument(parsing: .captureForPassthrough, help: "The demo's options (--dir, --port, --exit, --timeout).")
    var arguments: [String] = []

    func run() throws {
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let demo = binDir.appendingPathComponent("gapwatch-demo").path
        guard FileManager.default.isExecutableFile(atPath: demo) else {
            throw CLIError("gapwatch-demo is not beside this binary (\(demo)); build it with `swift build` (make demo does)")
        }
        let argv = [demo, "run"] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        execv(demo, &cArguments)
        throw CLIError("cannot run \(demo): \(String(cString: strerror(errno)))")
    }
}
