import Foundation
import GapwatchCommandSupport
import GapwatchProtocol

/// The simulated sports-data pipeline's state: the raw and analytics tables, the schedule with
/// game statuses, the scheduler's jobs and the lock store. One JSON file that every simulated
/// service and every allow-listed agent command reads and edits under an exclusive `flock`, so
/// the processes never see half an edit.
struct WorldState: Codable, Sendable {
    struct Game: Codable, Sendable {
        var id: String
        var date: String
        var status: String
        var startTime: Millis
        /// What the league's API says: over or not. The schedule table only learns it on a refresh.
        var finished: Bool
        var players: Int64
    }

    struct Job: Codable, Sendable {
        var name: String
        var target: String
        var healthURL: String
        var schedule: String
        var enabled: Bool
        enum CodingKeys: String, SnakeCaseKey {
            case name, target, schedule, enabled, healthURL
        }
    }

    struct Lock: Codable, Sendable {
        var name: String
        var holder: String
        var acquiredAt: Millis
        var expiresAt: Millis?
        enum CodingKeys: String, SnakeCaseKey {
            case name, holder, acquiredAt, expiresAt
        }
    }

    /// nba_raw.bdl_player_boxscores rows per game date.
    var raw: [String: Int64]
    /// nba_analytics.player_game_summary rows per game date.
    var analytics: [String: Int64]
    /// nba_raw.nbac_schedule.
    var games: [Game]
    var jobs: [Job]
    var locks: [Lock]
    /// Workflow runs the orchestrator made (workflow, partition, decision), for the summary.
    var runs: [String] = []
    /// false while the replay's outage lasts: no post-game window runs unless asked (a rerun).
    /// Once Gapwatch has re-run the missed window the outage is over and the orchestrator runs
    /// each window itself again, so the demo does not keep paging for windows it made pass.
    var orchestratorOnSchedule = false

    enum CodingKeys: String, SnakeCaseKey {
        case raw, analytics, games, jobs, locks, runs, orchestratorOnSchedule
    }
}

/// What the demo's on-call pager received: each message as one JSON line in DIR/pager.jsonl,
/// appended with one write (O_APPEND), so concurrent deliveries never interleave.
struct DemoPager: Sendable {
    let dir: String
    var file: String { dir + "/pager.jsonl" }

    func record(_ body: String) throws {
        let line = body.replacingOccurrences(of: "\n", with: " ") + "\n"
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(file): \(Errno.current)") }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw CLIError("cannot append to \(file): \(Errno.current)") }
    }

    /// One received message, as far as the tally needs it.
    struct Message: Decodable {
        var event: String
        var rule: String
        var subject: String
    }

    /// The messages so far, in the order received (a line that is not a message is skipped).
    func messages() -> [Message] {
        guard let data = FileManager.default.contents(atPath: file) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONDecoder().decode(Message.self, from: Data($0)) }
    }

    struct Tally: Encodable, Equatable {
        var messages: Int
        /// Opening pages, and the distinct causes (rule and subject) they were for.
        var openings: Int
        var causesOpened: Int
        var byEvent: [String: Int]

        var line: String {
            let others = byEvent.filter { $0.key != "opened" }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            return "pager: \(messages) message(s) received: \(openings) opening(s) for \(causesOpened) cause(s)"
                + (others.isEmpty ? "" : "; " + others.joined(separator: ", "))
        }
    }

    func tally() -> Tally {
        let all = messages()
        let openings = all.filter { $0.event == "opened" }
        return Tally(
            messages: all.count, openings: openings.count, causesOpened: Set(openings.map { "\($0.rule) \($0.subject)" }).count,
            byEvent: Dictionary(grouping: all, by: \.event).mapValues(\.count))
    }
}

struct DemoWorld: Sendable {
    let dir: String
    var file: String { dir + "/world.json" }

    func create(_ state: WorldState) throws {
        try write(state)
    }

    func read() throws -> WorldState {
        try locked(LOCK_SH) { try load() }
    }

    @discardableResult
    func update<T>(_ body: (inout WorldState) throws -> T) throws -> T {
        try locked(LOCK_EX) {
            var state = try load()
            let result = try body(&state)
            try write(state)
            return result
        }
    }

    private func load() throws -> WorldState {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("no simulated world at \(file)") }
        return try JSONDecoder().decode(WorldState.self, from: data)
    }

    private func write(_ state: WorldState) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Write then rename: a reader outside the lock (a person's `cat`) never sees half a file.
        try encoder.encode(state).write(to: URL(fileURLWithPath: file + ".new"))
        guard rename(file + ".new", file) == 0 else { throw CLIError("cannot replace \(file): \(Errno.current)") }
    }

    private func locked<T>(_ operation: Int32, _ body: () throws -> T) throws -> T {
        let fd = open(dir + "/world.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(dir)/world.lock: \(Errno.current)") }
        defer { close(fd) }
        guard flock(fd, operation) == 0 else { throw CLIError("cannot lock \(dir)/world.lock: \(Errno.current)") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// The Jan 22-23 failure chain of the post-mortem, set up in a fresh world. "Jan 22" is
/// yesterday (UTC), so the collector's rules, which look back from today, see it.
struct DemoScenario: Sendable {
    let now: Millis
    let deadServiceURL: String
    let scrapersURL: String

    static let deadJobs = [
        "execute-workflows", "post-game-window-1", "post-game-window-2", "post-game-window-3", "morning-recovery",
        "bdl-boxscores", "nbac-schedule", "injury-report", "odds-lines",
    ]
    static let healthyJobs = ["schedule-refresh", "live-scores", "player-props"]
    static let staleGames = ["0022500612", "0022500614", "0022500615"]
    static let missingRecords: Int64 = 282
    static let lockName = "workflow_controller"
    static let lockHolder = "orchestrator-7f9c"
    /// The post-game windows: one opens each minute and stays open `windowSeconds` (on Jan 22:
    /// hourly at :05).
    static let workflow = "post_game_window_1"
    static let windowSeconds = 10

    func day(_ daysAgo: Int) -> String { String(TimeParsing.format(now - Millis(daysAgo) * 86_400_000).prefix(10)) }
    var incidentDate: String { day(1) }

    func world() -> WorldState {
        let hour: Millis = 3_600_000
        var games: [WorldState.Game] = []
        // Two nights ago: 7 games, all Final and processed.
        for i in 0..<7 {
            games.append(
                .init(
                    id: "00225006\(String(format: "%02d", i))", date: day(2), status: "Final", startTime: now - 29 * hour, finished: true,
                    players: i < 2 ? 35 : 34))
        }
        // "Jan 22": 8 games, 282 player records; the schedule still shows 3 of them In Progress.
        let players: [Int64] = [36, 35, 35, 35, 35, 35, 36, 35]
        for i in 0..<8 {
            let id = "00225006\(10 + i)"
            let stale = Self.staleGames.contains(id)
            games.append(
                .init(
                    id: id, date: day(1), status: stale ? "In Progress" : "Final", startTime: now - 5 * hour - Millis(i) * 600_000, finished: true,
                    players: players[i]))
        }
        // Tonight: 6 games scheduled, so tonight's post-game windows are expected to run.
        for i in 0..<6 {
            games.append(.init(id: "00225006\(20 + i)", date: day(0), status: "Scheduled", startTime: now + 2 * hour, finished: false, players: 0))
        }
        let raw = Dictionary(grouping: games.filter(\.finished), by: \.date).mapValues { $0.reduce(0) { $0 + $1.players } }
        let jobs =
            Self.deadJobs.map {
                WorldState.Job(
                    name: $0, target: "\(deadServiceURL)/\($0)", healthURL: "\(deadServiceURL)/health", schedule: "5 * * * *", enabled: true)
            }
            + Self.healthyJobs.map {
                WorldState.Job(name: $0, target: "\(scrapersURL)/\($0)", healthURL: "\(scrapersURL)/health", schedule: "*/15 * * * *", enabled: true)
            }
        return WorldState(
            raw: raw,
            analytics: [day(2): raw[day(2)] ?? 0],  // the incident date never reached analytics
            games: games, jobs: jobs,
            // Its holder died 3 h ago; the 5-minute TTL passed, yet the lock still reads as held.
            locks: [.init(name: Self.lockName, holder: Self.lockHolder, acquiredAt: now - 3 * hour, expiresAt: now - 3 * hour + 300_000)])
    }
}
