import Foundation

// What the `gapwatch`, `gapwatch-bench` and `gapwatch-demo` executables share: small command-line
// helpers with no server dependency, so the benchmarks and the demo can leave the shipping binary.

/// A command's failure, printed as its message.
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A token file is either one bare token or KEY=VALUE lines; `key` picks the line.
public func readToken(fileText: String, key: String) -> String? {
    var bare: String?
    for line in fileText.split(whereSeparator: \.isNewline) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
        if let eq = trimmed.firstIndex(of: "=") {
            if trimmed[..<eq] == key { return String(trimmed[trimmed.index(after: eq)...]) }
        } else if bare == nil {
            bare = trimmed
        }
    }
    return bare
}

/// Renders rows as an aligned text table.
public func renderTable(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

/// Writes a line to stdout at once (print is block-buffered when piped, and the demo is live).
/// A closed stdout (`gapwatch demo | head`) ends the demo like Ctrl-C does, so its children are
/// still stopped rather than orphaned.
public func say(_ line: String) {
    do {
        try FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
    } catch {
        outputClosed.withLock { $0 = true }
    }
}

/// Set once a write to stdout failed (see `say`).
public let outputClosed = LockedBox(false)

/// A value shared between threads, read and changed under a lock.
public final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ value: T) { self.value = value }
    public func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
