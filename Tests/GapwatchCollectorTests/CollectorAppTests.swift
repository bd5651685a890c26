import Foundation
import GapwatchProtocol
import Logging
import XCTest

@testable import GapwatchCollector

/// `CollectorApp` is the one façade of use cases the API, the dashboard and in-process callers
/// share: called directly (no HTTP, no request context), it refuses with `UseCaseError`s that the
/// API answers as its documented error bodies.
final class CollectorAppTests: XCTestCase {
    func testUseCasesRefuseWithKindsTheAPIMapsToItsErrors() async throws {
        let dir = NSTemporaryDirectory() + "gapwatch-app-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = CollectorConfig()
        config.databasePath = dir + "/gapwatch.db"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = CollectorApp(runtime: try Collector.open(config: config, logger: logger))
        let now = WallClock.nowMillis()

        func refusal(_ body: () async throws -> Void) async -> UseCaseError? {
            do {
                try await body()
                return nil
            } catch {
                return error as? UseCaseError
            }
        }
        let lock = await refusal { _ = try await app.releaseLock(name: "nightly", requestedBy: "tok_x", now: now) }
        XCTAssertEqual(lock?.kind, .notFound)
        XCTAssertEqual(lock?.message, "no lock 'nightly' has been seen (GET /v1/locks lists them)")
        let approve = await refusal { _ = try app.approveAction(id: "act_none", approvedBy: "tok_x", now: now) }
        XCTAssertEqual(approve?.kind, .notFound)
        let pause = await refusal { _ = try app.setCheckPaused(name: "nope", paused: true, now: now) }
        XCTAssertEqual(pause?.kind, .notFound)
        let gaps = await refusal { _ = try app.gaps(days: 7, check: "nope", now: now) }
        XCTAssertEqual(gaps?.kind, .notFound)
        XCTAssertEqual(try app.gaps(days: 7, now: now).checks.count, 0, "no rule named: every rule, here none")
        let backfill = await refusal {
            _ = try await app.backfill(BackfillRequest(action: "rebuild", start: "2024-01-01", end: "2024-01-02"), requestedBy: "tok_x", now: now)
        }
        XCTAssertEqual(backfill?.kind, .invalid(field: "action"))
        XCTAssertEqual(try app.overview(now: now).agents.count, 0)

        let conflict = APIError(UseCaseError(.conflict, "busy"))
        let notFound = APIError(try XCTUnwrap(lock))
        let invalid = APIError(try XCTUnwrap(backfill))
        XCTAssertEqual([conflict.status.code, notFound.status.code, invalid.status.code], [409, 404, 400])
        XCTAssertEqual([conflict.body.error, notFound.body.error, invalid.body.error], ["conflict", "not_found", "bad_request"])
        XCTAssertEqual(invalid.body.field, "action")
    }
}
