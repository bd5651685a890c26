import CZlib
import Foundation
import GapwatchAPI
import GapwatchHTTPClient
import GapwatchProcessHarness
import GapwatchProtocol
import XCTest

final class CollectorProcessTests: CollectorTestCase {
    override func setUpWithError() throws {
        try collector.start()
    }

    /// Streams 1 GiB + of zeros through deflate in chunks, so the test itself stays small in memory.
    func gzipBomb(inflatedBytes: Int) -> [UInt8] {
        var out: [UInt8] = []
        let chunk = [UInt8](repeating: 0, count: 8 << 20)
        var compressor = StreamingGzip()
        var remaining = inflatedBytes
        while remaining > 0 {
            let n = min(remaining, chunk.count)
            out += compressor.feed(Array(chunk[0..<n]), finish: remaining == n)
            remaining -= n
        }
        return out
    }

    func testGzipBombIsRefusedWith413WithoutInflatingIntoMemory() throws {
        let bomb = gzipBomb(inflatedBytes: 1 << 30)  // 1 GiB: past 1 GB
        XCTAssertLessThanOrEqual(bomb.count, 1 << 20, "the bomb fits under the 1 MiB compressed limit")
        XCTAssertGreaterThan(bomb.count, 900_000, "about 1 MB")
        let child = try XCTUnwrap(collector.child)
        let before = child.rssBytes
        let response = try HTTPClient(timeoutMs: 60_000).send(
            .init(
                method: "POST", url: collector.url + "/v1/reports",
                headers: [
                    ("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                    ("Authorization", "Bearer \(try collector.token("GAPWATCH_AGENT_TOKEN"))"),
                ],
                body: bomb))
        XCTAssertEqual(response.status, 413, response.bodyText)
        let error = try ReportCodec.decode(ErrorBody.self, from: response.body)
        XCTAssertEqual(error.error, "payload_too_large")
        XCTAssertTrue(error.message.contains("inflates"), "refused while inflating, not for its compressed size: \(error.message)")
        let after = child.rssBytes
        XCTAssertGreaterThan(before, 0)
        XCTAssertLessThan(after - before, 64 << 20, "RSS grew by \((after - before) >> 20) MiB")
        print("gzip bomb: \(bomb.count) bytes compressed; collector RSS \(before >> 20) MiB -> \(after >> 20) MiB")
        // The collector still serves.
        XCTAssertEqual(try collector.get("/v1/agents").status, 200)
    }

    func testSIGTERMStopsTheCollectorCleanly() throws {
        let status = collector.child?.terminate(timeout: 20)
        XCTAssertEqual(status, 0, collector.child?.log ?? "")
        XCTAssertEqual(try collector.integrityCheck(), "ok")
    }

    func testFirstStartWritesAnOwnerOnlyTokenFileAndSaysWhere() throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: collector.tokenFile)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let log = try XCTUnwrap(collector.child).log
        XCTAssertTrue(log.contains("gapwatch.tokens"), log)
        XCTAssertFalse(log.contains(try collector.token("GAPWATCH_ADMIN_TOKEN")), "secrets never appear in logs")
        XCTAssertFalse(log.contains(try collector.token("GAPWATCH_AGENT_TOKEN")), "secrets never appear in logs")
    }

    func testCLIListsAgentsAndTimelineAndExplainsMissingTokens() throws {
        let report = Report(
            agent: AgentIdentity(id: "e2e-agent", service: "nba-analytics", host: "h", version: "1"), bootID: "b", spoolID: "s",
            sentAt: WallClock.nowMillis(),
            observations: [
                Observation(
                    seq: 1, observedAt: WallClock.nowMillis() - 1000,
                    body: .decision(WorkflowDecision(workflow: "post_game_window_1", decision: .skip, reason: "3 games In Progress")))
            ])
        let posted = try HTTPClient().send(
            .init(
                method: "POST", url: collector.url + "/v1/reports",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(try collector.token("GAPWATCH_AGENT_TOKEN"))")],
                body: ReportCodec.encode(report)))
        XCTAssertEqual(posted.status, 200)
        let env = ["GAPWATCH_URL": collector.url, "GAPWATCH_TOKEN_FILE": collector.tokenFile]
        let agents = try runCommand(Binaries.gapwatch, ["agents"], environment: env)
        XCTAssertEqual(agents.status, 0, agents.output)
        XCTAssertTrue(agents.output.contains("e2e-agent") && agents.output.contains("nba-analytics"), agents.output)
        let timeline = try runCommand(Binaries.gapwatch, ["timeline", "--since", "1h", "--kind", "decision"], environment: env)
        XCTAssertEqual(timeline.status, 0, timeline.output)
        XCTAssertTrue(
            timeline.output.contains("workflow:post_game_window_1") && timeline.output.contains("SKIP: 3 games In Progress"), timeline.output)
        let json = try runCommand(Binaries.gapwatch, ["timeline", "--subject", "workflow:post_game_window_1", "--json"], environment: env)
        let entries = try ReportCodec.decode([TimelineEntry].self, from: Array(json.output.utf8))
        XCTAssertEqual(entries.map(\.observation), report.observations)

        let noToken = try runCommand(Binaries.gapwatch, ["agents", "--url", collector.url, "--token-file", workspace.file("missing")])
        XCTAssertNotEqual(noToken.status, 0)
        XCTAssertTrue(noToken.output.contains("no token"), noToken.output)
        let badToken = try runCommand(Binaries.gapwatch, ["agents", "--url", collector.url], environment: ["GAPWATCH_TOKEN": "gw_admin_wrong"])
        XCTAssertNotEqual(badToken.status, 0)
        XCTAssertTrue(badToken.output.contains("401"), badToken.output)
        let reversed = try runCommand(Binaries.gapwatch, ["timeline", "--from", "2026-01-23", "--to", "2026-01-22"], environment: env)
        XCTAssertNotEqual(reversed.status, 0)
        XCTAssertTrue(reversed.output.contains("reversed"), reversed.output)
    }
}

/// gzip compression fed in chunks (for building large test bodies without holding them inflated).
struct StreamingGzip {
    private var stream: UnsafeMutablePointer<z_stream>

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        _ = gw_deflate_init2(stream, 9, 15 + 16, 9)
    }

    mutating func feed(_ input: [UInt8], finish: Bool) -> [UInt8] {
        var output: [UInt8] = []
        var input = input
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.pointee.next_in = inBuf.baseAddress
            stream.pointee.avail_in = UInt32(inBuf.count)
            repeat {
                let produced = buffer.withUnsafeMutableBufferPointer { outBuf -> Int in
                    stream.pointee.next_out = outBuf.baseAddress
                    stream.pointee.avail_out = UInt32(outBuf.count)
                    deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    return outBuf.count - Int(stream.pointee.avail_out)
                }
                output += buffer[0..<produced]
            } while stream.pointee.avail_out == 0 || (finish && stream.pointee.avail_in > 0)
        }
        if finish { deflateEnd(stream) }
        return output
    }
}
