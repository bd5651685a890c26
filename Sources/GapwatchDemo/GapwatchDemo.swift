import ArgumentParser
import GapwatchProtocol

/// The demo, a binary of its own so the shipping `gapwatch` carries no simulated pipeline:
/// `gapwatch demo ARGS` runs `gapwatch-demo run ARGS` from beside itself.
@main
struct GapwatchDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gapwatch-demo",
        abstract: "The README's demo: the Jan 22-23 incident replayed and healed (`gapwatch demo` runs it).",
        version: GapwatchVersion.description,
        subcommands: [DemoCommand.self, DemoServiceCommand.self, DemoWorldCommand.self],
        defaultSubcommand: DemoCommand.self)
}
