/// A schedule that cannot be used: a malformed cron expression or an unknown time zone.
/// `message` says exactly what is wrong, quoting the offending input.
public struct ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}
