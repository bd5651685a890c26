import ArgumentParser
import GapwatchProtocol

@main
struct Gapwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gapwatch",
        abstract: "Keeps scheduled data pipelines whole: the Gapwatch collector and its query CLI.",
        discussion: """
            Start a collector on the embedded default (127.0.0.1:7070, ./gapwatch.db):
              gapwatch collector
            Its first start writes an admin token and an agent token to ./gapwatch.tokens (mode 0600);
            the query commands read the admin token from there, or from --token / GAPWATCH_TOKEN.

            During an incident, one command per question:
              gapwatch status                          # the whole system on one screen
              gapwatch gaps --days 7                   # per date: source, derived, gap, ratio, state
              gapwatch decisions --workflow 'post_game*' --since 24h
              gapwatch stale --days 3                  # items past their deadline, by status
              gapwatch timeline dataset:nba_analytics.player_game_summary   # one subject's story

            See what is arriving:
              gapwatch agents
              gapwatch timeline --since 1h
              gapwatch timeline --subject dataset:nba_raw.bdl_player_boxscores --json

            See what is missing (checks and expectations come from the collector config):
              gapwatch checks
              gapwatch incidents --state open
              gapwatch incidents show 42
              gapwatch silence add --subject 'check:nightly-*' --duration 2h --comment "db migration"
              gapwatch workflows gaps --since 24h

            Heal what is missing (completeness:, stale_items: and actions: in the collector config):
              gapwatch actions --state awaiting_approval
              gapwatch actions approve act-7-Xy3kQ9aZ
              gapwatch backfill backfill-analytics --from 2026-01-20 --to 2026-01-22 --wait
              gapwatch catch-up

            Keep schedulers and locks honest (scheduler_targets:, stuck_locks: in the collector config):
              gapwatch audit jobs --flagged
              gapwatch audit service nba-phase1-scrapers
              gapwatch locks
              gapwatch locks release workflow_controller

            Who may say what (owners: and agents: in the collector config, service and labels on tokens):
              gapwatch owners                          # owned facts and the refused claims
              gapwatch owners reassign job:nightly-export scheduler-2
              gapwatch tokens create --kind fleet --label role=scraper
            """,
        version: GapwatchVersion.description,
        subcommands: [
            CollectorCommand.self, DemoCommand.self, StatusCommand.self, GapsCommand.self, StaleCommand.self, DecisionsCommand.self,
            AgentsCommand.self, TimelineCommand.self, ChecksCommand.self,
            IncidentsCommand.self, SilenceCommand.self, WorkflowsCommand.self, ActionsCommand.self, BackfillCommand.self,
            CatchUpCommand.self, AuditCommand.self, LocksCommand.self, TokensCommand.self, OwnersCommand.self,
        ])
}
