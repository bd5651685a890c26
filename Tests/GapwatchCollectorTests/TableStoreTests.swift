import GRDB
import GapwatchProtocol
import XCTest

@testable import GapwatchCollector

/// The stores (through their protocols, `Storage/Stores/`) on an in-memory database: the methods that choose rows
/// (by kind, by subject prefix, by state) touch exactly the rows they name.
final class TableStoreTests: XCTestCase {
    let now: Millis = 1_769_100_000_000

    func testMarkingKindsDueSkipsPausedChecksAndOtherKinds() throws {
        try SQLiteStores.inMemory().write { tx in
            let checks = tx.checks
            let probe = try XCTUnwrap(try checks.createAutomatic(name: "probe:a/x", kind: "probe", reason: "first run", now: 1))
            let paused = try checks.create(name: "box", kind: "completeness", judgedThrough: nil, now: 1)
            try checks.pause(id: paused, now: 2)
            let stale = try checks.create(name: "items", kind: "stale_items", judgedThrough: nil, now: 1)
            try checks.clearDue(id: probe)
            try checks.clearDue(id: stale)

            XCTAssertEqual(try checks.markDue(kinds: ["completeness", "stale_items"], now: now), 1, "the paused check is not made due")
            let due = try checks.due(now: now, limit: 10).map(\.name)
            XCTAssertEqual(due, ["items"])
            XCTAssertEqual(Set(try checks.existing(kinds: ["completeness", "probe"]).map(\.name)), ["box", "probe:a/x"])
            XCTAssertEqual(try checks.existing(kinds: []).count, 0, "no kinds, no checks")
            XCTAssertEqual(try checks.createAutomatic(name: "probe:a/x", kind: "probe", reason: "again", now: 3), probe, "made once")
        }
    }

    func testListingOpenIncidentsKeepsToThePrefixAndTheOpeningCheck() throws {
        try SQLiteStores.inMemory().write { tx in
            let incidents = tx.incidents(notifyWaitMs: 0, hasChannels: false)
            try incidents.open(rule: "completeness", subject: "box:1", reason: "r", labels: ["check": "box"], feederAgent: nil, at: now)
            try incidents.open(rule: "completeness", subject: "box:2", reason: "r", labels: ["check": "other"], feederAgent: nil, at: now)
            try incidents.open(rule: "completeness", subject: "boxes:1", reason: "r", labels: ["check": "box"], feederAgent: nil, at: now)
            try incidents.open(rule: "completeness", subject: "box:3", reason: "r", labels: ["check": "box"], feederAgent: nil, at: now)
            try incidents.resolve(rule: "completeness", subject: "box:3", reason: "fixed", at: now + 1)

            func subjects(_ check: String?) throws -> [String] {
                try tx.incidentReads.open(rule: "completeness", subjectPrefix: "box:", check: check).map(\.subject).sorted()
            }
            XCTAssertEqual(try subjects(nil), ["box:1", "box:2"])
            XCTAssertEqual(try subjects("box"), ["box:1"])
            XCTAssertEqual(try tx.incidentReads.openCountByRule(), ["completeness": 3])
            XCTAssertEqual(try tx.incidentReads.count(state: "resolved"), 1)
        }
    }

    func testGivingUpOnDeliveriesTouchesOnlyTheNamedEventsAndChannels() throws {
        try SQLiteStores.inMemory().write { tx in
            let incidents = tx.incidents(notifyWaitMs: 0, hasChannels: true)
            try incidents.open(rule: "heartbeat", subject: "a", reason: "r", labels: [:], feederAgent: nil, at: now)
            try incidents.open(rule: "heartbeat", subject: "b", reason: "r", labels: [:], feederAgent: nil, at: now)
            let events = try incidents.dueEvents(now: now, limit: 10)
            XCTAssertEqual(events.count, 2)
            let deliveries = tx.deliveries
            for channel in ["slack", "hook"] {
                try deliveries.recordAttempt(eventIDs: events, channel: channel, state: .retrying, detail: "503", at: now)
            }
            try deliveries.markFailed(eventIDs: [events[0]], channels: ["hook"])
            try deliveries.markFailed(eventIDs: [], channels: ["slack"])
            XCTAssertEqual(try deliveries.failedChannels(eventID: events[0]), ["hook"])
            XCTAssertEqual(try deliveries.failedChannels(eventID: events[1]), [])
            try deliveries.recordAttempt(eventIDs: [events[1]], channel: "slack", state: .sent, detail: "ok", at: now + 1)
            XCTAssertEqual(try deliveries.doneChannels(eventID: events[1]), ["slack"])
            XCTAssertEqual(try deliveries.sentCount(eventID: events[1]), 1)
            XCTAssertEqual(
                try Int.fetchOne(
                    SQLiteStores.sqlite(tx), sql: "SELECT attempts FROM deliveries WHERE event_id = ? AND channel = 'slack'", arguments: [events[1]]),
                2)
        }
    }

    func testListingSilencesLeavesOutEndedOnesUnlessAsked() throws {
        try SQLiteStores.inMemory().write { tx in
            let silences = tx.silences
            let live = try silences.insert(
                rule: "heartbeat", subject: nil, labelsJSON: "{}", startsAt: now, endsAt: now + 60_000, comment: "", createdBy: "t", now: now)
            let ended = try silences.insert(
                rule: nil, subject: "x", labelsJSON: "{}", startsAt: now, endsAt: now + 60_000, comment: "", createdBy: "t", now: now)
            _ = try silences.insert(
                rule: nil, subject: "y", labelsJSON: "{}", startsAt: now - 2, endsAt: now - 1, comment: "", createdBy: "t", now: now - 3)
            XCTAssertTrue(try silences.end(id: ended, now: now))
            XCTAssertFalse(try silences.end(id: ended, now: now), "already ended")
            XCTAssertEqual(try silences.list(includeEnded: false, now: now).map(\.silence.id), [live])
            XCTAssertEqual(try silences.list(includeEnded: true, now: now).count, 3)
            XCTAssertEqual(try silences.active(now: now).map(\.id), [live])
        }
    }
}
