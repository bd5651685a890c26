/// Declared below `App/` (which throws it) so that `HTTP/`'s error mapping can name it without
/// a cycle between the folders (scripts/folder-cycles.py).
/// A use case refused: what kind of refusal, and the message for the person who asked.
struct UseCaseError: Error, Sendable {
    enum Kind: Sendable, Equatable {
        case notFound
        /// The request conflicts with the current state (a free lock, an action not awaiting approval).
        case conflict
        /// A value the caller gave is wrong; `field` names it.
        case invalid(field: String)
    }

    var kind: Kind
    var message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
