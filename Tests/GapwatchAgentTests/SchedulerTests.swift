import Foundation
import GapwatchAgent
import GapwatchProtocol
import GapwatchSubprocess
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// Looks once and commits, as the agent's loop does once the observations are spooled.
func observeAndCommit(_ observer: any Observer) -> [ObservationBody] {
    let bodies = observer.observe(cancel: Wakeup())
    observer.committed()
    return bodies
}

func jobSightings(_ bodies: [ObservationBody]) -> [JobSighting] {
    bodies.compactMap { if case .job(let j) = $0 { j } else { nil } }
}

func lockSightings(_ bodies: [ObservationBody]) -> [LockSighting] {
    bodies.compactMap { if case .lock(let l) = $0 { l } else { nil } }
}

func heartbeats(_ bodies: [ObservationBody]) -> [Heartbeat] {
    bodies.compactMap { if case .heartbeat(let h) = $0 { h } else { nil } }
}

/// The job inventory (diff, listing shapes, state across restarts), target probes and lock
/// listings, with real scripts run by argv and real HTTP on 127.0.0.1.
final class SchedulerTests: XCTestCase {
    // MARK: - Pure diffs

    func testInventoryDiffReportsAddedChangedAndRemovedWithLastSeenFields() {
        let a = JobSighting(name: "a", change: .added, enabled: true, target: "https://a.example/run", schedule: "5 * * * *")
        let b = JobSighting(name: "b", change: .added, enabled: true, target: "https://b.example/run")
        let c = JobSighting(name: "c", change: .added, enabled: false, target: "https://c.example/run", lastResult: "failure")
        var b2 = b
        b2.enabled = false
        let d = JobSighting(name: "d", change: .added, enabled: true)
        XCTAssertEqual(
            InventoryDiff.diff(previous: [a, b, c], current: [d, b2, a]),
            [b2.with(.changed), d.with(.added), c.with(.removed)])
        XCTAssertEqual(c.with(.removed).enabled, false, "removed carries the last-seen fields")
        XCTAssertEqual(c.with(.removed).target, "https://c.example/run")
        XCTAssertEqual(InventoryDiff.diff(previous: [a, b], current: [b, a]), [], "same jobs in another order: nothing")
        var a2 = a
        a2.lastAttemptAt = 1_769_108_700_000
        XCTAssertEqual(InventoryDiff.diff(previous: [a], current: [a2]).map(\.change), [.changed], "any field differs")
        XCTAssertEqual(InventoryDiff.diff(previous: [a], current: []).map(\.change), [.removed])
    }

    func testInventoryDiffWithoutAPreviousReadReportsEveryJobAdded() {
        let jobs = [JobSighting(name: "z", change: .added, enabled: true), JobSighting(name: "a", change: .added, enabled: true)]
        XCTAssertEqual(InventoryDiff.diff(previous: nil, current: jobs).map { "\($0.name):\($0.change.rawValue)" }, ["a:added", "z:added"])
        XCTAssertEqual(InventoryDiff.diff(previous: [], current: []), [])
    }

    func testLockDiffReportsNewChangedFreedAndVanishedLocks() {
        let held = LockSighting(name: "workflow_controller", holder: "orchestrator-1", acquiredAt: 1_769_108_400_000, expiresAt: 1_769_108_700_000)
        let other = LockSighting(name: "backfill", holder: "worker-2", acquiredAt: 1_769_108_400_000)
        let free = LockSighting(name: "export", holder: nil)
        XCTAssertEqual(LockDiff.diff(previous: nil, current: [held, free]), [free, held], "first listing: every lock")
        XCTAssertEqual(LockDiff.diff(previous: [held, free], current: [held, free]), [])
        var renewed = held
        renewed.expiresAt = 1_769_109_000_000
        XCTAssertEqual(LockDiff.diff(previous: [held], current: [renewed]), [renewed], "expires_at changed")
        let released = LockSighting(name: "workflow_controller", holder: nil)
        XCTAssertEqual(LockDiff.diff(previous: [held], current: [released]), [LockSighting(name: "workflow_controller", holder: nil)], "became free")
        XCTAssertEqual(
            LockDiff.diff(previous: [held, other], current: [other]), [LockSighting(name: "workflow_controller", holder: nil)],
            "a lock gone from the listing is seen free")
        XCTAssertEqual(LockDiff.diff(previous: [held], current: [held, other]), [other], "a new lock")
    }

    // MARK: - Listing shapes

    static let ourShape = """
        {"jobs": [
          {"name": "execute-workflows", "target": "https://orchestrator.example/execute", "health_url": "https://orchestrator.example/health",
           "schedule": "5 * * * *", "timezone": "America/New_York", "enabled": true,
           "last_attempt_at": 1769108700000, "last_result": "success", "last_success_at": "2026-01-22T19:05:00Z"},
          {"name": ""},
          {"target": "https://x.example"},
          {"name": "b", "enabled": "yes"},
          {"name": "c", "last_attempt_at": "yesterday"},
          {"name": "execute-workflows"},
          "not an object"
        ]}
        """

    static let gcloudShape = """
        [
          {"name": "projects/nba-props/locations/us-west2/jobs/execute-workflows", "schedule": "5 * * * *", "timeZone": "America/New_York",
           "httpTarget": {"uri": "https://orchestrator.example/execute", "httpMethod": "POST"}, "state": "ENABLED",
           "lastAttemptTime": "2026-01-22T19:05:00.123456Z", "status": {}, "userUpdateTime": "2025-12-01T00:00:00Z"},
          {"name": "projects/nba-props/locations/us-west2/jobs/scrape-boxscores", "schedule": "*/15 * * * *", "timeZone": "UTC",
           "httpTarget": {"uri": "https://scrapers.example/run"}, "state": "PAUSED",
           "lastAttemptTime": "2026-01-22T18:45:00Z", "status": {"code": 5, "message": "NOT_FOUND"}},
          {"name": "projects/nba-props/locations/us-west2/jobs/never-ran", "schedule": "0 3 * * *", "timeZone": "UTC",
           "pubsubTarget": {"topicName": "projects/nba-props/topics/x"}, "state": "DISABLED"}
        ]
        """

    func testOurShapeIsReadAndInvalidEntriesAreSkippedWithTheReason() throws {
        let listing = try JobListing.parse(Array(Self.ourShape.utf8), scheduler: "cron/host-1")
        XCTAssertEqual(
            listing.items,
            [
                JobSighting(
                    name: "execute-workflows", change: .added, enabled: true, target: "https://orchestrator.example/execute",
                    healthURL: "https://orchestrator.example/health",
                    schedule: "5 * * * *", timeZone: "America/New_York", scheduler: "cron/host-1", lastAttemptAt: 1_769_108_700_000,
                    lastResult: "success",
                    lastSuccessAt: 1_769_108_700_000)
            ])
        XCTAssertEqual(listing.skipped.count, 6, "\(listing.skipped)")
        XCTAssertEqual(listing.skipped[0], "jobs[1].name: required")
        XCTAssertEqual(listing.skipped[1], "jobs[2].name: required")
        XCTAssertEqual(listing.skipped[2], "jobs[3].enabled: expected true or false")
        XCTAssertTrue(listing.skipped[3].hasPrefix("jobs[4].last_attempt_at: 'yesterday' is not a time"), listing.skipped[3])
        XCTAssertTrue(listing.skipped[4].contains("listed twice"), listing.skipped[4])
        XCTAssertEqual(listing.skipped[5], "jobs[6]: expected an object")
        // A bare array works as well as {"jobs": [...]}.
        XCTAssertEqual(
            try JobListing.parse(Array(#"[{"name": "a"}]"#.utf8), scheduler: nil).items, [JobSighting(name: "a", change: .added, enabled: true)])
    }

    func testGcloudShapeIsRead() throws {
        let listing = try JobListing.parse(Array(Self.gcloudShape.utf8), scheduler: "cloud-scheduler/us-west2")
        XCTAssertEqual(listing.skipped, [])
        XCTAssertEqual(
            listing.items,
            [
                JobSighting(
                    name: "execute-workflows", change: .added, enabled: true, target: "https://orchestrator.example/execute", schedule: "5 * * * *",
                    timeZone: "America/New_York", scheduler: "cloud-scheduler/us-west2", lastAttemptAt: 1_769_108_700_123, lastResult: "success"),
                JobSighting(
                    name: "scrape-boxscores", change: .added, enabled: false, target: "https://scrapers.example/run", schedule: "*/15 * * * *",
                    timeZone: "UTC",
                    scheduler: "cloud-scheduler/us-west2", lastAttemptAt: 1_769_107_500_000, lastResult: "failure"),
                JobSighting(
                    name: "never-ran", change: .added, enabled: false, schedule: "0 3 * * *", timeZone: "UTC", scheduler: "cloud-scheduler/us-west2"),
            ])
    }

    func testUnusableOutputFailsTheWholeListing() {
        for (text, expected) in [("not json", "not JSON"), (#"{"items": []}"#, "without a \"jobs\" array"), ("42", "must be a JSON array")] {
            XCTAssertThrowsError(try JobListing.parse(Array(text.utf8), scheduler: nil)) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }

    // MARK: - Inventory through a real command

    /// A `scheduler:` reading its jobs from `/bin/sh <dir>/list.sh`, whose output `setOutput` sets.
    struct ScriptedInventory {
        let dir: String
        let config: AgentConfig.Scheduler
        let catalog = JobCatalog()

        init(_ test: XCTestCase, timeoutMs: Int64 = 5_000) {
            dir = makeTempDir(test)
            try? FileIO.makeDirectories(dir + "/spool")
            config = AgentConfig.Scheduler(
                name: "cloud-scheduler/us-west2", source: .command(.init(argv: ["/bin/sh", dir + "/list.sh"], timeoutMs: timeoutMs)))
        }

        /// The script prints `json` and exits with `exit`.
        func setOutput(_ json: String, exit: Int = 0, stderr: String = "") {
            writeFile(dir + "/out.json", Array(json.utf8))
            writeFile(dir + "/list.sh", Array("cat '\(dir)/out.json'\necho '\(stderr)' >&2\nexit \(exit)\n".utf8))
        }

        func setScript(_ script: String) { writeFile(dir + "/list.sh", Array(script.utf8)) }

        /// A fresh observer, as after an agent restart.
        func observer() -> ListingObserver<JobSighting> {
            ListingObserver.inventory(config, spoolDir: dir + "/spool", catalog: catalog, logger: quietLogger)
        }
    }

    /// The prober sees a read only once its sightings are spooled: a probe of a new job spooled
    /// ahead of the job's `added` sighting would reach the collector about a job it does not know.
    func testTheProberSeesAReadOnlyOnceItIsSpooled() throws {
        let inventory = ScriptedInventory(self)
        inventory.setOutput(Self.gcloudShape)
        let observer = inventory.observer()
        XCTAssertEqual(jobSightings(observer.observe(cancel: Wakeup())).count, 3)
        XCTAssertEqual(inventory.catalog.current.count, 0, "not spooled yet")
        observer.committed()
        XCTAssertEqual(inventory.catalog.current.count, 3)
    }

    func testJobsCommandInBothShapesReportsChangesAndAHeartbeat() throws {
        let inventory = ScriptedInventory(self)
        inventory.setOutput(Self.gcloudShape)
        let observer = inventory.observer()
        let first = observeAndCommit(observer)
        XCTAssertEqual(jobSightings(first).map(\.name), ["execute-workflows", "never-ran", "scrape-boxscores"])
        XCTAssertTrue(jobSightings(first).allSatisfy { $0.change == .added && $0.scheduler == "cloud-scheduler/us-west2" })
        XCTAssertEqual(heartbeats(first).map(\.status), [.ok])
        XCTAssertEqual(heartbeats(first).first?.name, "scheduler-inventory")
        XCTAssertEqual(heartbeats(first).first?.message, "3 jobs")
        for body in first { XCTAssertNoThrow(try body.validate(path: "o")) }
        XCTAssertEqual(inventory.catalog.current.count, 3, "the prober sees the read")

        // Our shape, same scheduler: one job stays (with other fields: changed). The two others
        // are not listed, but entries without a readable name are invalid and may be them: no
        // removal is reported, and the read is a failed one for the collector (issue 13 §3).
        inventory.setOutput(Self.ourShape)
        let second = observeAndCommit(observer)
        XCTAssertEqual(jobSightings(second).map { "\($0.name):\($0.change.rawValue)" }, ["execute-workflows:changed"])
        let hb = try XCTUnwrap(heartbeats(second).first)
        XCTAssertEqual(hb.status, .fail)
        XCTAssertEqual(hb.probe, true)
        XCTAssertTrue(hb.message?.hasPrefix("1 jobs; skipped 6 invalid: jobs[1].name: required") == true, hb.message ?? "nil")

        // A clean read without them: now they are gone, reported removed with their last-seen fields.
        inventory.setOutput(#"{"jobs": [\#(Self.ourShape.split(separator: "\n")[1...3].joined(separator: "\n").dropLast())]}"#)
        let third = observeAndCommit(observer)
        XCTAssertEqual(jobSightings(third).map { "\($0.name):\($0.change.rawValue)" }, ["never-ran:removed", "scrape-boxscores:removed"])
        let removed = try XCTUnwrap(jobSightings(third).first { $0.name == "scrape-boxscores" })
        XCTAssertEqual(removed.enabled, false)
        XCTAssertEqual(removed.target, "https://scrapers.example/run", "removed carries the last-seen fields")
        XCTAssertEqual(heartbeats(third).first?.status, .ok)

        // Nothing changed: only the heartbeat.
        XCTAssertEqual(observeAndCommit(observer).map(\.kind), [.heartbeat])
    }

    func testAnInvalidEntryIsNeverReportedRemovedAndMakesTheReadFail() throws {
        let inventory = ScriptedInventory(self)
        inventory.setOutput(Self.gcloudShape)
        let observer = inventory.observer()
        XCTAssertEqual(jobSightings(observeAndCommit(observer)).count, 3)
        // scrape-boxscores now carries a time without an offset (no timezone configured); never-ran is gone.
        inventory.setOutput(
            """
            [{"name": "projects/p/locations/l/jobs/execute-workflows", "schedule": "5 * * * *", "timeZone": "America/New_York",
              "httpTarget": {"uri": "https://orchestrator.example/execute"}, "state": "ENABLED", "lastAttemptTime": "2026-01-22T19:05:00.123456Z", "status": {}},
             {"name": "projects/p/locations/l/jobs/scrape-boxscores", "state": "PAUSED", "lastAttemptTime": "2026-01-22 18:45:00"}]
            """)
        let bodies = observeAndCommit(observer)
        XCTAssertEqual(jobSightings(bodies).map { "\($0.name):\($0.change.rawValue)" }, ["never-ran:removed"], "scrape-boxscores stands as last read")
        let hb = try XCTUnwrap(heartbeats(bodies).first)
        XCTAssertEqual(hb.status, .fail)
        XCTAssertTrue(
            hb.message?.contains("jobs[1].lastAttemptTime: '2026-01-22 18:45:00' has no UTC offset; set scheduler.jobs_command.timezone") == true,
            hb.message ?? "nil")
    }

    func testAFailedReadReportsNoRemovalsAndAFailHeartbeat() throws {
        let inventory = ScriptedInventory(self, timeoutMs: 500)
        inventory.setOutput(Self.gcloudShape)
        let observer = inventory.observer()
        XCTAssertEqual(jobSightings(observeAndCommit(observer)).count, 3)

        func assertFails(_ why: String, file: StaticString = #filePath, line: UInt = #line) {
            let bodies = observeAndCommit(observer)
            XCTAssertEqual(bodies.count, 1, "only the heartbeat: \(bodies)", file: file, line: line)
            let hb = heartbeats(bodies).first
            XCTAssertEqual(hb?.name, "scheduler-inventory", file: file, line: line)
            XCTAssertEqual(hb?.status, .fail, file: file, line: line)
            XCTAssertTrue(hb?.message?.contains(why) == true, "'\(hb?.message ?? "nil")' lacks '\(why)'", file: file, line: line)
            XCTAssertEqual(inventory.catalog.current.count, 3, "the prober keeps the last good read", file: file, line: line)
        }
        inventory.setOutput("[]", exit: 1, stderr: "ERROR: (gcloud) You do not currently have an active account selected.")
        assertFails("exit code 1: ERROR: (gcloud) You do not currently have an active account selected.")
        inventory.setOutput("[{\"name\": \"a\"")
        assertFails("not JSON")
        inventory.setScript("exec sleep 5\n")
        assertFails("timed out after 500ms")
        try FileIO.remove(inventory.dir + "/list.sh")
        assertFails("exit code")

        // Working again with the same jobs: nothing to report, nothing was ever removed.
        inventory.setOutput(Self.gcloudShape)
        XCTAssertEqual(jobSightings(observeAndCommit(observer)), [])
    }

    func testARestartWithTheStateFileDoesNotReAddAndARemovalIsReportedOnce() throws {
        let inventory = ScriptedInventory(self)
        inventory.setOutput(Self.gcloudShape)
        XCTAssertEqual(jobSightings(observeAndCommit(inventory.observer())).count, 3)
        let statePath = inventory.dir + "/spool/jobs-inventory.json"
        XCTAssertTrue(FileIO.exists(statePath))
        XCTAssertFalse(FileIO.exists(statePath + ".tmp"), "written atomically: temp file renamed")

        // Restart: a new observer over the same spool folder.
        let restarted = inventory.observer()
        XCTAssertEqual(restarted.lastRead?.count, 3)
        XCTAssertEqual(jobSightings(observeAndCommit(restarted)), [], "nothing re-added")

        // One job disappears: removed once, not again on later reads or after another restart.
        let withoutNeverRan = String(
            Self.gcloudShape.split(separator: "\n").filter { !$0.contains("never-ran") && !$0.contains("pubsubTarget") }.joined(separator: "\n")
        )
        .replacingOccurrences(of: "},\n]", with: "}\n]")
        inventory.setOutput(withoutNeverRan)
        XCTAssertEqual(jobSightings(observeAndCommit(restarted)).map { "\($0.name):\($0.change.rawValue)" }, ["never-ran:removed"])
        XCTAssertEqual(jobSightings(observeAndCommit(restarted)), [])
        XCTAssertEqual(jobSightings(observeAndCommit(inventory.observer())), [])

        // An observation not committed (the spool failed) is reported again by the next read.
        inventory.setOutput("[]")
        let uncommitted = inventory.observer()
        XCTAssertEqual(jobSightings(uncommitted.observe(cancel: Wakeup())).count, 2)
        XCTAssertEqual(jobSightings(observeAndCommit(uncommitted)).count, 2, "reported again: the first was never committed")
        XCTAssertEqual(jobSightings(observeAndCommit(uncommitted)), [])
    }

    func testStaticJobsAreAnInventoryToo() throws {
        let dir = makeTempDir(self)
        let config = try AgentConfig.parse(
            yaml: """
                scheduler:
                  jobs:
                    - name: nightly-export
                      target: https://exports.example/run
                      schedule: "0 3 * * *"
                      timezone: UTC
                    - {name: paused-job, enabled: false}
                """
        ).scheduler!
        let catalog = JobCatalog()
        let bodies = observeAndCommit(ListingObserver.inventory(config, spoolDir: dir, catalog: catalog, logger: quietLogger))
        XCTAssertEqual(
            jobSightings(bodies),
            [
                JobSighting(
                    name: "nightly-export", change: .added, enabled: true, target: "https://exports.example/run", schedule: "0 3 * * *",
                    timeZone: "UTC"),
                JobSighting(name: "paused-job", change: .added, enabled: false),
            ])
        XCTAssertEqual(jobSightings(observeAndCommit(ListingObserver.inventory(config, spoolDir: dir, catalog: catalog, logger: quietLogger))), [])
    }

    // MARK: - Target probes

    func testProbesClassifyStatusesAndErrors() throws {
        let server = TinyHTTPResponder { request in
            switch request.path {
            case "/ok": .init(status: 200)
            case "/gone": .init(status: 404)
            case "/fail": .init(status: 500)
            case "/auth": .init(status: 401)
            default: .init(status: 405)
            }
        }
        defer { server.stop() }
        let closed = TinyHTTPResponder { _ in .init(status: 200) }
        let closedPort = closed.port
        closed.stop()
        let catalog = JobCatalog()
        catalog.update([
            JobSighting(name: "ok", change: .added, enabled: true, target: server.url + "/ok"),
            JobSighting(name: "gone", change: .added, enabled: true, target: server.url + "/gone"),
            JobSighting(name: "fail", change: .added, enabled: true, target: server.url + "/fail"),
            JobSighting(name: "auth", change: .added, enabled: true, target: server.url + "/auth"),
            // health_url wins over target; credentials are not reported.
            JobSighting(
                name: "post-only", change: .added, enabled: true, target: server.url + "/fail",
                healthURL: "http://user:secret@127.0.0.1:\(server.port)/run"),
            JobSighting(name: "paused", change: .added, enabled: false, target: server.url + "/ok"),
            JobSighting(name: "refused", change: .added, enabled: true, target: "http://127.0.0.1:\(closedPort)/run"),
            JobSighting(name: "no-target", change: .added, enabled: true),
            JobSighting(name: "pubsub", change: .added, enabled: true, target: "pubsub://topic"),
        ])
        var config = AgentConfig.Scheduler(source: .jobs([]))
        config.probeTimeoutMs = 2_000
        let prober = JobTargetProber(config: config, catalog: catalog)
        let probes: [String: TargetProbe] = Dictionary(
            uniqueKeysWithValues: prober.observe(cancel: Wakeup()).compactMap {
                if case .probe(let p) = $0 { (p.job ?? "", p) } else { nil }
            })
        XCTAssertEqual(
            Set(probes.keys), ["ok", "gone", "fail", "auth", "post-only", "paused", "refused"], "every job with an http(s) URL, disabled too")
        XCTAssertEqual(probes["ok"]?.healthy, true)
        XCTAssertEqual(probes["ok"]?.httpStatus, 200)
        XCTAssertEqual(probes["ok"]?.target, server.url + "/ok")
        XCTAssertEqual(probes["gone"]?.healthy, false)
        XCTAssertEqual(probes["gone"]?.httpStatus, 404)
        XCTAssertEqual(probes["fail"]?.healthy, false)
        XCTAssertEqual(probes["auth"]?.healthy, true, "a 401 still proves the service is there")
        XCTAssertEqual(probes["post-only"]?.httpStatus, 405)
        XCTAssertEqual(probes["post-only"]?.healthy, true)
        XCTAssertEqual(probes["post-only"]?.target, "http://127.0.0.1:\(server.port)/run")
        XCTAssertEqual(probes["paused"]?.healthy, true)
        let refused = try XCTUnwrap(probes["refused"])
        XCTAssertFalse(refused.healthy)
        XCTAssertNil(refused.httpStatus)
        XCTAssertNotNil(refused.error)
        for probe in probes.values { XCTAssertNoThrow(try ObservationBody.probe(probe).validate(path: "p")) }
        XCTAssertFalse(server.received.contains { $0.method != "GET" })

        // expect_status: exactly that status, nothing else.
        config.expectStatus = 200
        let strict = JobTargetProber(config: config, catalog: catalog)
        let strictHealth = Dictionary(
            uniqueKeysWithValues: strict.observe(cancel: Wakeup()).compactMap {
                if case .probe(let p) = $0 { (p.job ?? "", p.healthy) } else { nil }
            })
        XCTAssertEqual(strictHealth, ["ok": true, "paused": true, "gone": false, "fail": false, "auth": false, "post-only": false, "refused": false])
        XCTAssertTrue(JobTargetProber.isHealthy(status: 302, expect: nil))
        XCTAssertFalse(JobTargetProber.isHealthy(status: 503, expect: nil))
    }

    func testProbesRunConcurrentlyAndAreBoundedByTheTimeout() throws {
        // A target that never answers: each probe ends at the timeout, several at a time.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(listen(listener, 64), 0)
        defer { close(listener) }
        var bound = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = UInt16(bigEndian: bound.sin_port)
        let catalog = JobCatalog()
        catalog.update((1...8).map { JobSighting(name: "slow-\($0)", change: .added, enabled: true, target: "http://127.0.0.1:\(port)/run") })
        var config = AgentConfig.Scheduler(source: .jobs([]))
        config.probeTimeoutMs = 600
        let started = WallClock.monotonicMillis()
        let bodies = JobTargetProber(config: config, catalog: catalog).observe(cancel: Wakeup())
        let elapsed = WallClock.monotonicMillis() - started
        XCTAssertEqual(bodies.count, 8)
        for case .probe(let p) in bodies {
            XCTAssertFalse(p.healthy)
            XCTAssertTrue(p.error?.hasPrefix("timeout") == true, p.error ?? "nil")
        }
        XCTAssertLessThan(elapsed, 8 * 600, "8 probes ran at the same time, not one after another")
    }

    // MARK: - Locks

    func testAnEmptyLockListingIsNoLocksAndNaiveTimesNeedATimezone() throws {
        let dir = makeTempDir(self)
        let script = dir + "/locks.sh"
        // sqlite3 -json prints datetime() values without an offset, and nothing at all for an empty table.
        writeFile(
            script,
            Array(
                #"echo '[{"name": "workflow_controller", "holder": "orch-1", "acquired_at": "2026-01-22 19:00:00", "expires_at": "2026-01-22 19:05:00"}]'"#
                    .utf8))
        let plain = ListingObserver.locks(
            AgentConfig.Locks(command: .init(argv: ["/bin/sh", script], timeoutMs: 5_000)), spoolDir: dir + "/a", logger: quietLogger)
        let refused = observeAndCommit(plain)
        XCTAssertEqual(lockSightings(refused), [], "a naive time without a timezone is never guessed")
        XCTAssertEqual(heartbeats(refused).first?.status, .fail)
        XCTAssertEqual(heartbeats(refused).first?.probe, true)
        XCTAssertTrue(
            heartbeats(refused).first?.message?.contains("locks[0].acquired_at: '2026-01-22 19:00:00' has no UTC offset; set locks.timezone") == true,
            "\(heartbeats(refused))")

        let zoned = ListingObserver.locks(
            AgentConfig.Locks(command: .init(argv: ["/bin/sh", script], timeoutMs: 5_000, timeZone: try ZoneRules.load("America/New_York"))),
            spoolDir: dir + "/b", logger: quietLogger)
        let read = observeAndCommit(zoned)
        XCTAssertEqual(
            lockSightings(read),
            [
                LockSighting(name: "workflow_controller", holder: "orch-1", acquiredAt: 1_769_126_400_000, expiresAt: 1_769_126_700_000)
            ], "19:00 in New York is 00:00Z the next day")
        XCTAssertEqual(heartbeats(read).first?.status, .ok)

        // The table is emptied: sqlite3 -json prints nothing. That is a listing with no locks, so
        // the held lock is seen free (and a release can be verified).
        writeFile(script, Array("exit 0\n".utf8))
        let emptied = observeAndCommit(zoned)
        XCTAssertEqual(lockSightings(emptied), [LockSighting(name: "workflow_controller", holder: nil)])
        XCTAssertEqual(heartbeats(emptied).first?.status, .ok)
        XCTAssertEqual(heartbeats(emptied).first?.message, "0 locks")
    }

    func testLockListingReportsChangesAndAFreeSightingWhenALockDisappears() throws {
        let dir = makeTempDir(self)
        let script = dir + "/locks.sh"
        func setLocks(_ json: String) { writeFile(script, Array("cat <<'EOF'\n\(json)\nEOF\n".utf8)) }
        let config = AgentConfig.Locks(command: .init(argv: ["/bin/sh", script], timeoutMs: 5_000))
        func observer() -> ListingObserver<LockSighting> { ListingObserver.locks(config, spoolDir: dir, logger: quietLogger) }
        setLocks(
            """
            {"locks": [
              {"name": "workflow_controller", "holder": "orchestrator-1", "acquired_at": "2026-01-22T19:00:00Z", "expires_at": 1769108700000},
              {"name": "export", "holder": null},
              {"name": "bad", "acquired_at": "soon"}
            ]}
            """)
        let locks = observer()
        let first = observeAndCommit(locks)
        XCTAssertEqual(
            lockSightings(first),
            [
                LockSighting(name: "export", holder: nil),
                LockSighting(name: "workflow_controller", holder: "orchestrator-1", acquiredAt: 1_769_108_400_000, expiresAt: 1_769_108_700_000),
            ])
        XCTAssertEqual(heartbeats(first).first?.name, "lock-listing")
        XCTAssertEqual(heartbeats(first).first?.status, .fail, "an invalid lock fails the read for the collector")
        XCTAssertTrue(heartbeats(first).first?.message?.contains("skipped 1 invalid: locks[2].acquired_at") == true, "\(heartbeats(first))")
        XCTAssertTrue(FileIO.exists(dir + "/locks-seen.json"))

        // A failed listing: nothing but a fail heartbeat, and no lock is taken for free.
        writeFile(script, Array("echo 'redis: connection refused' >&2\nexit 2\n".utf8))
        let failed = observeAndCommit(locks)
        XCTAssertEqual(lockSightings(failed), [])
        XCTAssertEqual(heartbeats(failed).map(\.status), [.fail])
        XCTAssertTrue(heartbeats(failed).first?.message?.contains("redis: connection refused") == true)

        // The held lock disappears (a bare array this time): seen free, once, also across a restart.
        setLocks(#"[{"name": "export"}]"#)
        XCTAssertEqual(lockSightings(observeAndCommit(locks)), [LockSighting(name: "workflow_controller", holder: nil)])
        XCTAssertEqual(lockSightings(observeAndCommit(locks)), [])
        XCTAssertEqual(lockSightings(observeAndCommit(observer())), [])
        // Taken again, then released in place (holder "").
        setLocks(#"[{"name": "export", "holder": "job-9"}]"#)
        XCTAssertEqual(lockSightings(observeAndCommit(locks)), [LockSighting(name: "export", holder: "job-9")])
        setLocks(#"[{"name": "export", "holder": ""}]"#)
        XCTAssertEqual(lockSightings(observeAndCommit(locks)), [LockSighting(name: "export", holder: nil)])
    }

    // MARK: - Config

    func testSchedulerAndLocksConfig() throws {
        let c = try AgentConfig.parse(
            yaml: """
                scheduler:
                  name: cloud-scheduler/us-west2
                  jobs_command:
                    argv: [gcloud, scheduler, jobs, list, --location=us-west2, --format=json]
                    timeout: 90s
                  inventory_interval: 2m
                  probe_interval: 30s
                  probe_timeout: 3s
                  expect_status: 200
                locks:
                  argv: [redis-cli, --json, get, locks]
                  interval: 10s
                """)
        let s = try XCTUnwrap(c.scheduler)
        XCTAssertEqual(s.name, "cloud-scheduler/us-west2")
        guard case .command(let command) = s.source else { return XCTFail("not a command source") }
        XCTAssertEqual(
            command,
            AgentConfig.ListingCommand(argv: ["gcloud", "scheduler", "jobs", "list", "--location=us-west2", "--format=json"], timeoutMs: 90_000))
        XCTAssertEqual(s.inventoryIntervalMs, 120_000)
        XCTAssertEqual(s.probeIntervalMs, 30_000)
        XCTAssertEqual(s.probeTimeoutMs, 3_000)
        XCTAssertEqual(s.expectStatus, 200)
        XCTAssertEqual(c.locks?.command, AgentConfig.ListingCommand(argv: ["redis-cli", "--json", "get", "locks"], timeoutMs: 30_000))
        XCTAssertEqual(c.locks?.intervalMs, 10_000)
        XCTAssertTrue(c.needsTLS, "job targets are known only at run time")

        let defaults = try XCTUnwrap(try AgentConfig.parse(yaml: "scheduler:\n  jobs_command: {argv: [list-jobs]}\n").scheduler)
        XCTAssertNil(defaults.name)
        XCTAssertEqual(defaults.inventoryIntervalMs, 300_000)
        XCTAssertEqual(defaults.probeIntervalMs, 60_000)
        XCTAssertEqual(defaults.probeTimeoutMs, 5_000)
        XCTAssertNil(defaults.expectStatus)
        guard case .command(let defaultCommand) = defaults.source else { return XCTFail("not a command source") }
        XCTAssertEqual(defaultCommand.timeoutMs, 60_000)
        XCTAssertNil(try AgentConfig.parse(yaml: "").scheduler)
        XCTAssertNil(try AgentConfig.parse(yaml: "").locks)

        // check-config's output is itself a config with the same settings.
        let again = try AgentConfig.parse(yaml: c.render())
        XCTAssertEqual(again.scheduler?.inventoryIntervalMs, 120_000)
        XCTAssertEqual(again.scheduler?.expectStatus, 200)
        XCTAssertEqual(again.locks?.command, c.locks?.command)
        let staticJobs = try AgentConfig.parse(yaml: "scheduler:\n  jobs:\n    - {name: a, target: \"https://a.example/x\", enabled: false}\n")
        let rendered = staticJobs.render()
        guard case .jobs(let jobs)? = try AgentConfig.parse(yaml: rendered).scheduler?.source else { return XCTFail(rendered) }
        XCTAssertEqual(jobs, [JobSighting(name: "a", change: .added, enabled: false, target: "https://a.example/x")])
    }

    func testSchedulerConfigErrorsNameTheKey() {
        func assertError(_ yaml: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
            assertConfigError(yaml, contains: parts, file: file, line: line)
        }
        assertError(
            "scheduler:\n  jobs:\n    - name: a\n    - name: b\n    - target: https://x.example\n", ["line 5", "scheduler.jobs[2].name: required"])
        assertError("scheduler:\n  jobs: [{name: a}]\n  jobs_command: {argv: [x]}\n", ["line 3", "scheduler.jobs_command", "not both"])
        assertError("scheduler:\n  name: x\n", ["line 2", "scheduler: needs a job source"])
        assertError("scheduler:\n  jobs:\n    - {name: a}\n    - {name: a}\n", ["line 4", "scheduler.jobs[1].name", "already used"])
        assertError("scheduler:\n  jobs:\n    - {name: a, target: ftp://x}\n", ["scheduler.jobs[0].target", "http://"])
        assertError("scheduler:\n  jobs:\n    - {name: a, enabled: yes}\n", ["scheduler.jobs[0].enabled", "true or false"])
        assertError(
            "scheduler:\n  jobs:\n    - {name: a, shedule: x}\n",
            ["unknown key 'scheduler.jobs[0].shedule'", "did you mean 'scheduler.jobs[0].schedule'"])
        assertError("scheduler:\n  jobs_command: {argv: []}\n", ["scheduler.jobs_command.argv", "non-empty"])
        assertError("scheduler:\n  jobs_command: {argv: [x], timeout: 0}\n", ["scheduler.jobs_command.timeout", "more than 0"])
        assertError("scheduler:\n  jobs_command: {argv: [x], interval: 5m}\n", ["unknown key 'scheduler.jobs_command.interval'"])
        assertError("scheduler:\n  jobs: []\n  probe_interval: 30\n", ["line 3", "scheduler.probe_interval", "not a duration"])
        assertError("scheduler:\n  jobs: []\n  expect_status: 99\n", ["scheduler.expect_status", "out of range"])
        assertError("scheduler:\n  jobs: []\n  inventory_intervall: 5m\n", ["did you mean 'scheduler.inventory_interval'"])
        assertError("locks:\n  interval: 5s\n", ["locks.argv", "non-empty argv"])
        assertError("locks:\n  argv: [x]\n  timeout: 1\n", ["line 3", "locks.timeout"])
        assertError("locks: [x]\n", ["line 1", "locks"])
        assertError("heartbeat: {name: lock-listing}\nlocks: {argv: [x]}\n", ["heartbeat.name", "'lock-listing'"])
    }

    func testTheExampleConfigDocumentsSchedulerAndLocks() throws {
        let path = exampleConfigPath
        let config = try AgentConfig.load(path: path, environment: [:])
        XCTAssertNotNil(config.scheduler)
        XCTAssertNotNil(config.locks)
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        for key in [
            "scheduler:", "  name:", "  jobs_command:", "  # jobs:", "health_url:", "timezone:", "enabled:", "inventory_interval:", "probe_interval:",
            "probe_timeout:", "expect_status:", "locks:", "  interval:",
        ] {
            XCTAssertTrue(text.contains(key), "the example documents \(key)")
        }
    }

    // MARK: - In the agent

    func testAnActionTriggersAnEarlyInventoryAndLockReRead() throws {
        let dir = makeTempDir(self)
        writeFile(dir + "/jobs.json", Array(#"[{"name": "execute-workflows", "target": "http://127.0.0.1:9/x", "enabled": true}]"#.utf8))
        writeFile(dir + "/paused.json", Array(#"[{"name": "execute-workflows", "target": "http://127.0.0.1:9/x", "enabled": false}]"#.utf8))
        writeFile(dir + "/locks.json", Array(#"[{"name": "workflow_controller", "holder": "orchestrator-1"}]"#.utf8))
        let command = AgentCommand(actionID: "act-pause", name: "pause-and-release")
        let collector = TinyHTTPResponder { request in
            guard let report = ShipperTests.report(request) else { return .init(status: 400, body: #"{"error":"bad_gzip","message":"x"}"#) }
            let answer = ReportResponse(
                ackedSeq: report.observations.last?.seq ?? 0, stored: report.observations.count, duplicates: 0, commands: [command])
            return .init(status: 200, body: String(decoding: ReportCodec.encode(answer), as: UTF8.self))
        }
        defer { collector.stop() }
        let yaml = """
            agent: {id: scheduler-agent}
            collector: {url: "\(collector.url)", ship_interval: 50ms}
            heartbeat: {interval: 0}
            spool: {dir: "\(dir)/spool"}
            listen: 127.0.0.1:0
            scheduler:
              name: test-scheduler
              jobs_command: {argv: [/bin/cat, "\(dir)/jobs.json"], timeout: 5s}
              inventory_interval: 1h
              probe_interval: 1h
              probe_timeout: 1s
            locks: {argv: [/bin/cat, "\(dir)/locks.json"], interval: 1h}
            actions:
              - name: pause-and-release
                argv: [/bin/sh, -c, 'sleep 0.3; cp "\(dir)/paused.json" "\(dir)/jobs.json"; echo "[]" > "\(dir)/locks.json"']
            """
        let agent = try Agent(config: AgentConfig.parse(yaml: yaml), logger: quietLogger)
        agent.start()
        defer { agent.stop() }
        func shipped() -> [ObservationBody] { collector.received.compactMap(ShipperTests.report).flatMap(\.observations).map(\.body) }
        XCTAssertTrue(waitFor(10_000) { jobSightings(shipped()).contains { $0.change == .changed } }, "\(shipped())")
        let jobs = jobSightings(shipped())
        XCTAssertEqual(jobs.map(\.change), [.added, .changed])
        XCTAssertEqual(jobs.last?.enabled, false)
        XCTAssertEqual(jobs.last?.scheduler, "test-scheduler")
        XCTAssertTrue(waitFor(5_000) { lockSightings(shipped()).count == 2 })
        XCTAssertEqual(
            lockSightings(shipped()),
            [
                LockSighting(name: "workflow_controller", holder: "orchestrator-1"), LockSighting(name: "workflow_controller", holder: nil),
            ])
        // The new job's target was probed at once (refused: port 9), not an hour later.
        XCTAssertTrue(
            waitFor(5_000) { shipped().contains { if case .probe(let p) = $0 { p.job == "execute-workflows" && !p.healthy } else { false } } })
        func inventoryHeartbeats() -> [Heartbeat.Status] { heartbeats(shipped()).filter { $0.name == "scheduler-inventory" }.map(\.status) }
        XCTAssertTrue(waitFor(5_000) { inventoryHeartbeats().count >= 2 })
        XCTAssertEqual(inventoryHeartbeats(), [.ok, .ok], "the first read and the early re-read only")
        XCTAssertTrue(FileIO.exists(dir + "/spool/jobs-inventory.json"))
        XCTAssertTrue(FileIO.exists(dir + "/spool/locks-seen.json"))
    }
}
