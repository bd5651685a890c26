import ArgumentParser
import GapwatchProtocol

@main
struct GapwatchAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gapwatch-agent",
        abstract: "The Gapwatch agent: spools what a service sees and ships it to the collector.",
        discussion: """
            Run the agent beside a service:
              gapwatch-agent run --config /etc/gapwatch/agent.yaml
              gapwatch-agent check-config --config /etc/gapwatch/agent.yaml

            Push observations to the running agent (they are on disk when the command exits 0):
              gapwatch-agent ping nightly-export --start
              gapwatch-agent ping nightly-export --exit-code $? --duration-ms 5230
              gapwatch-agent count nba_raw.boxscores 2026-01-22 282
              psql -At -c "select day, count(*) ..." | gapwatch-agent counts nba_raw.boxscores --covers 3d
              gapwatch-agent decision post_game_window_1 SKIP --reason "games not Final"
              gapwatch-agent item game 0022500634 Final --reference-time 2026-01-22T19:00Z
              gapwatch-agent lock backfill --holder worker-3 --ttl 30m
              gapwatch-agent lock backfill --released
              gapwatch-agent status

            Push commands talk to http://127.0.0.1:7071 unless --agent-url, --config (its
            `listen`) or GAPWATCH_AGENT_URL says otherwise.
            """,
        version: GapwatchVersion.description,
        subcommands: [
            Run.self, CheckConfig.self, Ping.self, CountCommand.self, CountsCommand.self, DecisionCommand.self, ItemCommand.self,
            LockCommand.self, StatusCommand.self,
        ]
    )

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let problem = CountCommand.negativeCountProblem(arguments) {
            printError(problem)
            exit(withError: ExitCode(2))
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
