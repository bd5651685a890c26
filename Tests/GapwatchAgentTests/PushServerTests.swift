import GapwatchAgent
import GapwatchHTTPClient
import GapwatchProtocol
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class PushServerTests: XCTestCase {
    var spool: Spool!
    var server: LocalHTTPServer!
    var base: String { "http://127.0.0.1:\(server.port)" }
    let client = HTTPClient(connectTimeoutMs: 2_000, timeoutMs: 5_000)

    override func setUpWithError() throws {
        spool = try Spool(dir: makeTempDir(self), logger: quietLogger)
        let spool = self.spool!
        let api = PushAPI(spool: spool, logger: quietLogger) {
            let s = spool.stats
            return AgentStatus(
                agentID: "test-agent", service: "", version: "t", bootID: "b", spoolID: s.spoolID, lastSeq: s.nextSeq - 1,
                nextSeq: s.nextSeq, ackedSeq: s.ackedSeq, pending: s.backlogRecords, pendingBytes: s.backlogBytes,
                spoolBytes: s.totalBytes, dropped: .init(overflow: s.overflow, corrupt: s.corrupt), rejected: 0,
                collectorURL: "http://x", lastShipAt: nil, lastShipOKAt: nil, lastError: nil)
        }
        server = try LocalHTTPServer(host: "127.0.0.1", port: 0, logger: quietLogger) { api.handle($0) }
        server.idleTimeoutMs = 500
        server.start()
    }

    override func tearDown() {
        server.stop()
        spool.close()
    }

    func post(_ json: String, headers: [(String, String)] = [("Content-Type", "application/json")]) throws -> HTTPResponse {
        try client.send(HTTPRequest(method: "POST", url: base + "/v1/observations", headers: headers, body: Array(json.utf8)))
    }

    func testPushIsOnDiskWhenAnswered200() throws {
        let response = try post(#"{"kind":"count","dataset":"d","partition":"2026-01-22","count":282}"#)
        XCTAssertEqual(response.status, 200, response.bodyText)
        let answer = try ReportCodec.decode(PushResponse.self, from: response.body)
        XCTAssertEqual(answer, PushResponse(seq: 1, spoolID: spool.spoolID))
        // The record is in the segment file already.
        let file = try FileIO.read(spool.dir + "/" + XCTUnwrap(segmentFiles(spool.dir).first))
        XCTAssertTrue(String(decoding: file, as: UTF8.self).contains(#""partition":"2026-01-22""#))
        XCTAssertEqual(try spool.readBatch(maxRecords: 10).first?.body, .count(Count(dataset: "d", partition: "2026-01-22", count: 282)))

        // Keep-alive: a second request on the same client works and gets the next seq.
        let second = try post(#"{"kind":"heartbeat","name":"job","status":"start","observed_at":1769108400000,"seq":99}"#)
        XCTAssertEqual(try ReportCodec.decode(PushResponse.self, from: second.body).seq, 2, "a seq in the body is ignored")
        let stored = try spool.readBatch(maxRecords: 10)
        XCTAssertEqual(stored.last?.observedAt, 1_769_108_400_000)
    }

    func testInvalidObservationGets400NamingTheField() throws {
        let cases: [(String, String, String)] = [
            (#"{"kind":"count","dataset":"d","partition":"","count":1}"#, "invalid_observation", "partition"),
            (#"{"kind":"count","dataset":"d","partition":"p","count":-1}"#, "invalid_observation", "count"),
            (#"{"kind":"count","dataset":"d","count":1}"#, "bad_json", "partition"),
            (#"{"kind":"count","dataset":"d","partition":"p","count":"many"}"#, "bad_json", "count"),
            (#"{"kind":"nope"}"#, "bad_json", "kind"),
            (#"{"kind":"dropped","overflow":1,"corrupt":0}"#, "invalid_observation", "kind"),
            (#"{"dataset":"d"}"#, "bad_json", "kind"),
            (#"{"kind":"heartbeat","name":"x","status":"ok","observed_at":5}"#, "invalid_observation", "observed_at"),
        ]
        for (body, code, field) in cases {
            let response = try post(body)
            XCTAssertEqual(response.status, 400, body)
            let error = try ReportCodec.decode(ErrorBody.self, from: response.body)
            XCTAssertEqual(error.error, code, body)
            XCTAssertEqual(error.field, field, "\(body): \(error.message)")
        }
        let notJSON = try post("{not json")
        XCTAssertEqual(notJSON.status, 400)
        XCTAssertEqual(try ReportCodec.decode(ErrorBody.self, from: notJSON.body).error, "bad_json")
        XCTAssertTrue(try spool.readBatch(maxRecords: 10).isEmpty, "nothing refused was spooled")
    }

    func testOversizedBodyGets413() throws {
        let big = #"{"kind":"heartbeat","name":"x","status":"ok","message":""# + String(repeating: "a", count: 70_000) + "\"}"
        let response = try post(big)
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(try ReportCodec.decode(ErrorBody.self, from: response.body).error, "payload_too_large")
        XCTAssertTrue(try spool.readBatch(maxRecords: 10).isEmpty)
    }

    func testRoutesMethodsAndMediaTypes() throws {
        XCTAssertEqual(try client.send(HTTPRequest(url: base + "/nope")).status, 404)
        XCTAssertEqual(try client.send(HTTPRequest(url: base + "/v1/observations")).status, 405)
        let health = try client.send(HTTPRequest(url: base + "/healthz"))
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.bodyText, #"{"status":"ok"}"#)
        let form = try post(
            #"{"kind":"count","dataset":"d","partition":"p","count":1}"#, headers: [("Content-Type", "application/x-www-form-urlencoded")])
        XCTAssertEqual(form.status, 415)
        let gz = try post(
            #"{"kind":"count","dataset":"d","partition":"p","count":1}"#,
            headers: [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
        XCTAssertEqual(gz.status, 415)

        _ = try post(#"{"kind":"count","dataset":"d","partition":"p","count":1}"#)
        let status = try ReportCodec.decode(AgentStatus.self, from: client.send(HTTPRequest(url: base + "/v1/status")).body)
        XCTAssertEqual(status.agentID, "test-agent")
        XCTAssertEqual(status.lastSeq, 1)
        XCTAssertEqual(status.pending, 1)
        XCTAssertEqual(status.spoolID, spool.spoolID)
    }

    /// Sends raw bytes on a new connection and returns everything the server answers.
    func raw(_ text: String) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = server.port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testMalformedRequestsGetClearErrors() {
        XCTAssertTrue(raw("POST /v1/observations HTTP/1.1\r\nContent-Type: application/json\r\n\r\n").hasPrefix("HTTP/1.1 411"))
        XCTAssertTrue(raw("POST /v1/observations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").hasPrefix("HTTP/1.1 411"))
        XCTAssertTrue(raw("GARBAGE\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        XCTAssertTrue(raw("GET /healthz HTTP/1.1\r\nX-Big: " + String(repeating: "x", count: 20_000) + "\r\n\r\n").hasPrefix("HTTP/1.1 431"))
        // HTTP/1.0 without keep-alive: one answer, then the server closes.
        let answer = raw("GET /healthz HTTP/1.0\r\n\r\n")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200"), answer)
        XCTAssertTrue(answer.hasSuffix(#"{"status":"ok"}"#), answer)
    }

    func testAStuckClientDoesNotBlockOthersAndIsTimedOut() throws {
        // A client that sends half a request and then nothing.
        let stuck = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(stuck) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = server.port.bigEndian
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(stuck, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(rc, 0)
        let partial = Array("POST /v1/observations HTTP/1.1\r\nContent-Length: 100\r\n".utf8)
        _ = partial.withUnsafeBytes { send(stuck, $0.baseAddress, $0.count, 0) }

        let started = WallClock.monotonicMillis()
        XCTAssertEqual(try post(#"{"kind":"count","dataset":"d","partition":"p","count":1}"#).status, 200)
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 400, "the other client was served at once")

        // The stuck client is cut off after the idle timeout (500 ms here).
        var buffer = [UInt8](repeating: 0, count: 4096)
        var total: [UInt8] = []
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(stuck, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(stuck, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            total.append(contentsOf: buffer[0..<n])
        }
        XCTAssertTrue(String(decoding: total, as: UTF8.self).hasPrefix("HTTP/1.1 408"), String(decoding: total, as: UTF8.self))
        XCTAssertLessThan(WallClock.monotonicMillis() - started, 2_500)
    }
}
