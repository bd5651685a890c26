import Foundation
import GapwatchCollector
import GapwatchHTTPClient
import GapwatchProtocol
import GapwatchTestSupport
import XCTest

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one retry table shared by notification channels and webhook actions (`HTTPRetryClassifier`).
extension NotificationChannelTests {
    func testRetryClassifierTableOfStatuses() {
        let table: [(status: Int, verdict: HTTPRetryClassifier.Verdict)] = [
            (200, .delivered), (201, .delivered), (202, .delivered), (204, .delivered), (299, .delivered),
            (101, .final), (199, .final),
            (300, .final), (301, .final), (302, .final), (304, .final), (307, .final),
            (400, .final), (401, .final), (403, .final), (404, .final), (405, .final), (409, .final), (410, .final), (422, .final),
            (408, .retry(afterMs: nil)), (429, .retry(afterMs: nil)),
            (500, .retry(afterMs: nil)), (502, .retry(afterMs: nil)), (503, .retry(afterMs: nil)), (504, .retry(afterMs: nil)),
            (599, .retry(afterMs: nil)),
            (600, .final), (0, .final), (-1, .final),
        ]
        for (status, verdict) in table {
            XCTAssertEqual(HTTPRetryClassifier.classify(status: status, retryAfter: nil), verdict, "HTTP \(status)")
        }
    }

    func testRetryClassifierHonoursRetryAfterOnlyWhereItRetries() {
        let now: Millis = 1_795_842_300_000  // Sat, 28 Nov 2026 05:05:00 GMT
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 503, retryAfter: "7", now: now), .retry(afterMs: 7_000))
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 429, retryAfter: "120", now: now), .retry(afterMs: 120_000))
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 408, retryAfter: "1", now: now), .retry(afterMs: 1_000))
        XCTAssertEqual(
            HTTPRetryClassifier.classify(status: 503, retryAfter: "Sat, 28 Nov 2026 05:05:30 GMT", now: now), .retry(afterMs: 30_000))
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 503, retryAfter: "soon", now: now), .retry(afterMs: nil), "unreadable: ignored")
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 404, retryAfter: "7", now: now), .final, "a final answer stays final")
        XCTAssertEqual(HTTPRetryClassifier.classify(status: 200, retryAfter: "7", now: now), .delivered)
    }

    func testRetryAfterIsSecondsOrADateBoundedToADay() {
        let now: Millis = 1_795_842_300_000  // Sat, 28 Nov 2026 05:05:00 GMT
        let day: Int64 = 86_400_000
        let table: [(value: String?, ms: Int64?)] = [
            (nil, nil), ("", nil), ("   ", nil), ("soon", nil), ("-5", nil), ("1.5", nil),
            ("0", 0), ("7", 7_000), (" 7 ", 7_000), ("86400", day), ("86401", day), ("100000", day),
            ("99999999999999999999999", day),  // more digits than Int64 holds: very long, not unreadable
            ("Sat, 28 Nov 2026 05:06:00 GMT", 60_000),
            ("Sat, 28 Nov 2026 05:04:00 GMT", 0),  // in the past: at once
            ("Mon, 30 Nov 2026 05:05:00 GMT", day),  // two days ahead: capped
        ]
        for (value, ms) in table {
            XCTAssertEqual(HTTPRetryClassifier.retryAfterMs(value, now: now), ms, "Retry-After: \(value ?? "absent")")
        }
        XCTAssertEqual(HTTPRetryClassifier.maxRetryAfterMs, day)
    }

    /// Real transport failures on 127.0.0.1: a refused connection and a timeout are both worth
    /// another attempt (the receiver never answered).
    func testRetryClassifierRetriesConnectionErrorsAndTimeouts() async throws {
        let (fd, port) = try boundPortThatRefusesConnections()
        defer { close(fd) }
        let refusedError = await transportError(HTTPRequest(method: "POST", url: "http://127.0.0.1:\(port)/hook"), timeoutMs: 2_000)
        let refused = try XCTUnwrap(refusedError, "a bound port that does not listen refuses")
        XCTAssertFalse(refused.isTimeout, refused.message)
        XCTAssertEqual(HTTPRetryClassifier.classify(transportError: refused), .retry(afterMs: nil))

        let receiver = try await NotifyReceiver.start()
        defer { receiver.stop() }
        let timeoutError = await transportError(HTTPRequest(method: "POST", url: receiver.base + "/hang"), timeoutMs: 300)
        let timedOut = try XCTUnwrap(timeoutError, "/hang answers after 3 s")
        XCTAssertTrue(timedOut.isTimeout, timedOut.message)
        XCTAssertEqual(HTTPRetryClassifier.classify(transportError: timedOut), .retry(afterMs: nil))
    }

    /// The error of one request, sent from a thread of its own (libcurl blocks); nil if it was answered.
    private func transportError(_ request: HTTPRequest, timeoutMs: Int) async -> HTTPTransportError? {
        await withCheckedContinuation { (continuation: CheckedContinuation<HTTPTransportError?, Never>) in
            Thread {
                do throws(HTTPTransportError) {
                    _ = try HTTPClient(connectTimeoutMs: timeoutMs, timeoutMs: timeoutMs).send(request)
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }.start()
        }
    }
}
