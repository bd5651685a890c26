/// Coding keys whose wire name is the snake_case of the Swift name: `agentID` is `agent_id`,
/// `lastShipOKAt` is `last_ship_ok_at`, `healthURL` is `health_url`. A case whose raw value is
/// already a wire name (`case timeZone = "timezone"`) keeps it, so only the exceptions are spelled
/// out; the protocol's and the API's key tables were all this rule written by hand.
public protocol SnakeCaseKey: CodingKey, RawRepresentable<String>, CaseIterable {}

extension SnakeCaseKey {
    public var stringValue: String { snakeCase(rawValue) }

    public init?(stringValue: String) {
        guard let key = Self.allCases.first(where: { $0.stringValue == stringValue }) else { return nil }
        self = key
    }
}

/// `lastShipOKAt` → `last_ship_ok_at`: an underscore before an upper-case letter that follows a
/// lower-case letter or digit, or that ends a run of capitals and starts a word (`OKAt`).
func snakeCase(_ name: String) -> String {
    guard name.utf8.contains(where: isUpper) else { return name }
    var name = name
    // At most one underscore per byte: twice the bytes always fit. Short names stay small strings.
    return name.withUTF8 { bytes in
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var n = 0
            for (i, byte) in bytes.enumerated() {
                if isUpper(byte) {
                    if i > 0 {
                        let previous = bytes[i - 1]
                        let startsWord = i + 1 < bytes.count && isUpper(previous) && !isUpper(bytes[i + 1]) && bytes[i + 1] != UInt8(ascii: "_")
                        if (!isUpper(previous) && previous != UInt8(ascii: "_")) || startsWord {
                            out[n] = UInt8(ascii: "_")
                            n += 1
                        }
                    }
                    out[n] = byte + 32
                } else {
                    out[n] = byte
                }
                n += 1
            }
            return n
        }
    }
}

private func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
