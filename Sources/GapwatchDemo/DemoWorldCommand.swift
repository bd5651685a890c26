import ArgumentParser
import Foundation
import GapwatchCommandSupport
import GapwatchProtocol

/// What the demo's agents run (command probes, listings and allow-listed actions) against the
/// simulated world: the stand-ins for `psql`, `gcloud scheduler jobs list` and the like.
struct DemoWorldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "world", abstract: "Read or edit the demo's simulated pipeline (used by the demo's agents).",
        subcommands: [Counts.self, Games.self, Jobs.self, Locks.self, PauseJob.self, ResumeJob.self, ReleaseLock.self])

    struct WorldOption: ParsableArguments {
        @Option(help: "The demo's world folder (holds world.json).") var world: String
        var state: DemoWorld { DemoWorld(dir: world) }
    }

    struct Counts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rows per date of a table: DATE|COUNT lines (like psql -At).")
        @Argument(help: "raw, analytics or schedule.") var table: String
        @OptionGroup var options: WorldOption

        func run() throws {
            let world = try options.state.read()
            let counts: [String: Int64]
            switch table {
            case "raw": counts = world.raw
            case "analytics": counts = world.analytics
            case "schedule": counts = Dictionary(grouping: world.games, by: \.date).mapValues { Int64($0.count) }
            default: throw ValidationError("unknown table '\(table)'; known: raw, analytics, schedule")
            }
            for (date, count) in counts.sorted(by: { $0.key < $1.key }) { print("\(date)|\(count)") }
        }
    }

    struct Games: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Game statuses of the schedule table: ID|STATUS|START lines.")
        @OptionGroup var options: WorldOption

        func run() throws {
            for game in try options.state.read().games { print("\(game.id)|\(game.status)|\(TimeParsing.format(game.startTime))") }
        }
    }

    struct Jobs: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The scheduler's jobs as JSON (like gcloud scheduler jobs list).")
        @OptionGroup var options: WorldOption

        func run() throws {
            print(String(decoding: try JSONEncoder().encode(try options.state.read().jobs), as: UTF8.self))
        }
    }

    struct Locks: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The lock store as JSON.")
        @OptionGroup var options: WorldOption

        func run() throws {
            print(String(decoding: try JSONEncoder().encode(try options.state.read().locks), as: UTF8.self))
        }
    }

    struct PauseJob: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pause-job", abstract: "Pause a scheduler job.")
        @Argument var job: String
        @OptionGroup var options: WorldOption
        func run() throws { try setJob(job, enabled: false, world: options.state) }
    }

    struct ResumeJob: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "resume-job", abstract: "Resume a scheduler job.")
        @Argument var job: String
        @OptionGroup var options: WorldOption
        func run() throws { try setJob(job, enabled: true, world: options.state) }
    }

    struct ReleaseLock: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "release-lock", abstract: "Force-release a lock.")
        @Argument var lock: String
        @OptionGroup var options: WorldOption

        func run() throws {
            let holder = try options.state.update { world -> String? in
                let holder = world.locks.first { $0.name == lock }?.holder
                world.locks.removeAll { $0.name == lock }
                return holder
            }
            print(holder.map { "released \(lock) (was held by \($0))" } ?? "\(lock) was not held")
        }
    }
}

private func setJob(_ name: String, enabled: Bool, world: DemoWorld) throws {
    let found = try world.update { state -> Bool in
        guard let i = state.jobs.firstIndex(where: { $0.name == name }) else { return false }
        state.jobs[i].enabled = enabled
        return true
    }
    guard found else { throw CLIError("no scheduler job named '\(name)'") }
    print("\(enabled ? "resumed" : "paused") \(name)")
}
