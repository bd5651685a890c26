import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

/// Delivery guarantees with our real binaries as processes: at-least-once delivery, exactly-once
/// effect, through collector outages, collector SIGKILLs and agent SIGKILLs.
final class DeliveryTests: CollectorTestCase {
    /// A count whose partition names the push, so each push is recognisable in the timeline.
    func push(_ i: Int, client: HTTPClient) throws -> UInt64 {
        try agent.push(.count(Count(dataset: "e2e.pushes", partition: "p\(i)", count: Int64(i))), client: client)
    }

    /// Asserts the collector holds exactly pushes 0..<n, once each, in seq order.
    func assertExactlyOnce(_ n: Int, acknowledgedSeqs: [UInt64], file: StaticString = #filePath, line: UInt = #line) throws {
        try waitFor("\(n) pushes to reach the collector", timeout: 90) {
            try collector.timeline("subject=dataset:e2e.pushes").count >= n
        }
        usleep(500_000)  // anything duplicated would arrive now
        let entries = try collector.timeline("subject=dataset:e2e.pushes")
        XCTAssertEqual(entries.count, n, "every push stored once, no duplicates", file: file, line: line)
        let partitions = entries.compactMap { e -> String? in
            if case .count(let c) = e.observation.body { return c.partition }
            return nil
        }
        XCTAssertEqual(Set(partitions), Set((0..<n).map { "p\($0)" }), "nothing lost", file: file, line: line)
        let seqs = entries.map(\.observation.seq)
        XCTAssertEqual(Set(seqs), Set(acknowledgedSeqs), "the stored seqs are the ones the agent acknowledged", file: file, line: line)
        // Pushes were made in order, so seq order must equal push order.
        let bySeq = entries.sorted { $0.observation.seq < $1.observation.seq }.compactMap { e -> Int64? in
            if case .count(let c) = e.observation.body { return c.count }
            return nil
        }
        XCTAssertEqual(bySeq, (0..<n).map(Int64.init), "seq order is push order", file: file, line: line)
    }

    func testThousandPushesWhileTheCollectorIsDownArriveExactlyOnceInSeqOrder() throws {
        try agent.start()  // the collector is not running yet: nothing listens on its port
        let client = HTTPClient()
        var seqs: [UInt64] = []
        for i in 0..<1000 { seqs.append(try push(i, client: client)) }
        XCTAssertEqual(seqs, seqs.sorted(), "seqs increase")
        XCTAssertEqual(Set(seqs).count, 1000)
        try collector.start()
        try assertExactlyOnce(1000, acknowledgedSeqs: seqs)
        XCTAssertEqual(try collector.integrityCheck(), "ok")
    }

    func testCollectorSIGKILLedMidStreamLosesAndDuplicatesNothing() throws {
        try collector.start()
        try agent.start()
        let client = HTTPClient()
        var seqs: [UInt64] = []
        let total = 600
        for i in 0..<total {
            seqs.append(try push(i, client: client))
            if i % 150 == 75 {
                // Kill the collector while the agent is shipping, then bring it back.
                usleep(UInt32.random(in: 0...40_000))
                collector.child?.kill9()
                XCTAssertEqual(try collector.integrityCheck(), "ok", "integrity after SIGKILL \(i)")
                try collector.start()
            }
        }
        try assertExactlyOnce(total, acknowledgedSeqs: seqs)
        collector.child?.terminate()
        XCTAssertEqual(try collector.integrityCheck(), "ok")
    }

    func testAgentSIGKILLedBetweenPushesLosesNothingItAcknowledged() throws {
        try collector.start()
        try agent.start()
        var seqs: [UInt64] = []
        var next = 0
        for round in 0..<4 {
            let client = HTTPClient()
            for _ in 0..<75 {
                seqs.append(try push(next, client: client))
                next += 1
            }
            agent.child?.kill9()
            if round == 1 { collector.child?.kill9() }  // one round with both down: the agent must spool
            try agent.start()
            if round == 1 { try collector.start() }
        }
        XCTAssertEqual(Set(seqs).count, seqs.count, "a restarted agent never reuses a seq")
        XCTAssertEqual(seqs, seqs.sorted(), "seqs keep increasing across restarts")
        try assertExactlyOnce(next, acknowledgedSeqs: seqs)
    }
}
