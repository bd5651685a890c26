import ArgumentParser
import Foundation
import GapwatchHTTPClient
import GapwatchProcessHarness

/// The collector SIGKILLed at random moments under steady load from several agents.
struct CollectorKill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collector-kill",
        abstract: "SIGKILL the collector N times under load: nothing acknowledged lost or duplicated, integrity_check ok each time.")

    @Option(help: "How many times to SIGKILL the collector.") var kills = 50
    @Option(help: "How many agents (each with its own pushers).") var agents = 3
    @Option(help: "Pushes per second to each agent.") var rate = 40
    @OptionGroup var common: CommonOptions

    func run() throws {
        runFleetSuite("collector-kill", common: common) { report, fleet in
            var pushers: [Pusher] = []
            for i in 0..<agents {
                let agent = try fleet.addAgent(i)
                agent.heartbeatInterval = "500ms"  // more load, and other kinds than the pushes
                // Ship every append at once: reports arrive continuously, so kills land mid-commit.
                agent.extraCollectorConfig = "ship_interval: 0s"
                try agent.start()
                let pusher = Pusher(agentID: agent.agentID, url: agent.localURL, perSecond: rate)
                pusher.start(threads: 2)
                pushers.append(pusher)
            }
            var killed = 0
            var integrityOK = 0
            var integrityBad: [String] = []
            var restartTimes: [Double] = []
            var uptimes: [Double] = []
            for k in 0..<kills {
                // A random moment: anywhere from just after /healthz answered to a couple of seconds in.
                let up = randomMicros(0, 1.5)
                usleep(up)
                uptimes.append(Double(up) / 1e6)
                guard let child = fleet.collector.child, child.isRunning else {
                    throw HarnessError("the collector was not running before kill \(k + 1):\n\(fleet.collector.child?.log.suffix(3000) ?? "")")
                }
                child.kill9()
                killed += 1
                let result = (try? fleet.collector.integrityCheck()) ?? "cannot open the database"
                if result == "ok" { integrityOK += 1 } else { integrityBad.append("after kill \(k + 1): \(result)") }
                let began = Date()
                try fleet.collector.start()
                restartTimes.append(Date().timeIntervalSince(began))
            }
            for pusher in pushers { pusher.stop() }
            let acks = pushers.flatMap(\.acknowledged)
            let drain = try waitForDrain(fleet.agents, acks: acks, timeout: 120)
            fleet.collector.child?.terminate()
            let finalIntegrity = (try? fleet.collector.integrityCheck()) ?? "cannot open the database"

            report.figure("agents", agents)
            report.figure("collector_sigkills", killed)
            report.figure("collector_restarts", restartTimes.count)
            report.figure("uptime_before_kill_s_mean", seconds(uptimes.reduce(0, +) / Double(max(1, uptimes.count))))
            report.figure("restart_to_healthz_s_max", seconds(restartTimes.max() ?? 0))
            report.figure("integrity_check_ok", "\(integrityOK)/\(killed)")
            report.figure("push_attempts_not_acknowledged", pushers.reduce(0) { $0 + $1.failures.read { $0 } })
            // Reports cut off or refused by a kill (the agents retried them): the kills hit ingest under load.
            report.figure("agent_ship_attempts_failed", fleet.agents.map(shipFailures).reduce(0, +))
            report.figure("drain_after_last_restart_s", seconds(drain))
            report.check(killed == kills, "the collector was SIGKILLed \(kills) times", "\(killed)")
            report.check(restartTimes.count == kills, "the collector restarted after every kill", "\(restartTimes.count)")
            report.check(integrityBad.isEmpty, "PRAGMA integrity_check is ok after every kill", integrityBad.prefix(3).joined(separator: "; "))
            report.check(finalIntegrity == "ok", "PRAGMA integrity_check is ok at the end", finalIntegrity)
            try Reconciliation.run(database: fleet.collector.database, acks: acks).report(to: report)
            try Reconciliation.reportStreams(database: fleet.collector.database, to: report)
        }
    }
}

/// The agent SIGKILLed while pushes are in flight; its spool tail scribbled on now and then.
struct AgentKill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-kill",
        abstract: "SIGKILL the agent N times mid-write: nothing it acknowledged lost, a corrupt tail skipped and counted, it restarts each time.")

    @Option(help: "How many times to SIGKILL the agent.") var kills = 50
    @Option(help: "Scribble a torn record onto the spool's tail after every Nth kill (0: never).") var scribbleEvery = 10
    @Option(help: "Pushes per second to the agent.") var rate = 150
    @OptionGroup var common: CommonOptions

    func run() throws {
        runFleetSuite("agent-kill", common: common) { report, fleet in
            let agent = try fleet.addAgent(0)
            try agent.start()
            let spoolID = try agentStatus(agent).spoolID
            // Several threads, so that pushes are in flight (being fsynced) when the kill lands.
            let pusher = Pusher(agentID: agent.agentID, url: agent.localURL, perSecond: rate)
            pusher.start(threads: 4)
            var killed = 0
            var restarts = 0
            var scribbles = 0
            var spoolIDs = Set([spoolID])
            var restartTimes: [Double] = []
            for k in 1...kills {
                usleep(randomMicros(0.05, 0.6))
                guard let child = agent.child, child.isRunning else {
                    throw HarnessError("the agent was not running before kill \(k):\n\(agent.child?.log.suffix(3000) ?? "")")
                }
                child.kill9()
                killed += 1
                if scribbleEvery > 0 && k % scribbleEvery == 0 && scribbleTornRecord(spoolDir: agent.spoolDir) { scribbles += 1 }
                let began = Date()
                try agent.start()
                restartTimes.append(Date().timeIntervalSince(began))
                restarts += 1
                spoolIDs.insert(try agentStatus(agent).spoolID)
            }
            pusher.stop()
            let acks = pusher.acknowledged
            let drain = try waitForDrain([agent], acks: acks, timeout: 120)
            // The `dropped` observation with the corrupt count is spooled at start; wait until it is shipped.
            var status = try agentStatus(agent)
            try waitFor("the agent to ship its dropped count", timeout: 30) {
                status = try agentStatus(agent)
                return status.ackedSeq + 1 >= status.nextSeq
            }
            fleet.stopAll()
            let stored = try storedCorruptCount(database: fleet.collector.database, agentID: agent.agentID, spoolID: spoolID)

            report.figure("agent_sigkills", killed)
            report.figure("agent_restarts", restarts)
            report.figure("restart_to_healthz_s_max", seconds(restartTimes.max() ?? 0))
            report.figure("push_attempts_not_acknowledged", pusher.failures.read { $0 })
            report.figure("torn_tails_scribbled", scribbles)
            report.figure("agent_corrupt_counter", status.dropped.corrupt)
            report.figure("collector_dropped_corrupt", stored)
            report.figure("drain_after_last_restart_s", seconds(drain))
            report.check(
                killed == kills && restarts == kills, "the agent was SIGKILLed \(kills) times and restarted every time",
                "\(killed) kills, \(restarts) restarts")
            report.check(spoolIDs.count == 1, "the spool survived every kill (one spool id)", "\(spoolIDs)")
            report.check(scribbleEvery == 0 || scribbles > 0, "a torn tail was written onto the spool at least once")
            report.check(
                status.dropped.corrupt == Int64(scribbles), "the agent counted each torn tail as corrupt once",
                "counted \(status.dropped.corrupt), scribbled \(scribbles)")
            report.check(stored == Int64(scribbles), "the collector received the corrupt count", "stored \(stored), scribbled \(scribbles)")
            try Reconciliation.run(database: fleet.collector.database, acks: acks).report(to: report)
            try Reconciliation.reportStreams(database: fleet.collector.database, to: report)
        }
    }

    /// Appends a torn record (the start of a record header and some bytes) to the newest non-empty
    /// segment, as a write cut short by a crash would leave it. Acknowledged records stay intact.
    func scribbleTornRecord(spoolDir: String) -> Bool {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: spoolDir)) ?? []).filter { $0.hasPrefix("seg-") && $0.hasSuffix(".log") }
            .sorted()
        for name in names.reversed() {
            let path = spoolDir + "/" + name
            guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0,
                let handle = FileHandle(forWritingAtPath: path)
            else { continue }
            handle.seekToEndOfFile()
            var garbage = (0..<48).map { _ in UInt8.random(in: 0...255) }
            garbage[0] = 0x47  // not a valid magic + CRC, whatever follows
            handle.write(Data(garbage))
            handle.closeFile()
            return true
        }
        return false
    }
}
