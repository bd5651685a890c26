import GapwatchRules
import XCTest

@testable import GapwatchCollector

/// The rule registry is the one list of rule kinds: each `checks.kind` and each incident rule
/// belongs to exactly one kind.
final class RuleRegistryTests: XCTestCase {
    func testEachCheckKindAndRuleBelongsToOneKind() {
        let checkKinds = RuleRegistry.kinds.map(\.checkKind)
        XCTAssertEqual(Set(checkKinds).count, checkKinds.count, "a checks.kind claimed by two kinds: \(checkKinds)")
        for kind in RuleRegistry.kinds {
            XCTAssertEqual(RuleRegistry.kind(of: kind.checkKind)?.checkKind, kind.checkKind)
            XCTAssertFalse(kind.rules.isEmpty, "\(kind.checkKind) opens no incident rule")
        }
        let rules = RuleRegistry.kinds.flatMap(\.rules)
        XCTAssertEqual(Set(rules).count, rules.count, "a rule opened by two kinds")
        XCTAssertEqual(Set(rules), Set(IncidentRule.allCases))
        XCTAssertNil(RuleRegistry.kind(of: "no_such_kind"))
    }
}
