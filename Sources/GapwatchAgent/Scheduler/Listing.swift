import GapwatchProtocol

/// Any JSON value, for listings whose shape is not ours (a cloud CLI's job list, a lock table).
public enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int64.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode(String.self) {
            self = .string(v)
        } else if let v = try? c.decode([JSONValue].self) {
            self = .array(v)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// Parses JSON text. The error says what is wrong, for a heartbeat message.
    public static func parse(_ bytes: [UInt8]) throws(ListingError) -> JSONValue {
        do {
            return try ReportCodec.decodeJSON(JSONValue.self, from: bytes)
        } catch let error as DecodingError {
            throw ListingError("stdout is not JSON: \(ReportCodec.describe(error))")
        } catch {
            throw ListingError("stdout is not JSON")
        }
    }

    /// The items of a listing: a top-level array, or the array under `key` of a top-level object
    /// (`{"jobs": [...]}`).
    public static func listItems(_ bytes: [UInt8], key: String) throws(ListingError) -> [JSONValue] {
        switch try parse(bytes) {
        case .array(let items): return items
        case .object(let object):
            guard case .array(let items)? = object[key] else {
                throw ListingError("stdout is a JSON object without a \"\(key)\" array; print an array, or {\"\(key)\": [...]}")
            }
            return items
        default:
            throw ListingError("stdout must be a JSON array, or an object with a \"\(key)\" array")
        }
    }
}

/// A listing (job inventory, locks) could not be read at all: nothing of it is trusted.
public struct ListingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// One object of a listing, read field by field. Each accessor throws a message naming the field
/// when the value has the wrong type; absent and `null` fields are nil.
struct JSONFields {
    let path: String
    let object: [String: JSONValue]
    /// Reads time strings (a zone for times without an offset, if the listing has one).
    let times: ProbeTimeReader

    init(_ value: JSONValue, path: String, times: ProbeTimeReader = ProbeTimeReader(zone: nil, setting: "timezone")) throws(ListingError) {
        guard case .object(let object) = value else { throw ListingError("\(path): expected an object") }
        self.path = path
        self.object = object
        self.times = times
    }

    func has(_ key: String) -> Bool { object[key].map { $0 != .null } ?? false }

    /// The first of `keys` that is present, as a string.
    func string(_ keys: String...) throws(ListingError) -> String? {
        for key in keys {
            switch object[key] {
            case nil, .null?: continue
            case .string(let s)?: return s
            default: throw ListingError("\(path).\(key): expected a string")
            }
        }
        return nil
    }

    func bool(_ key: String) throws(ListingError) -> Bool? {
        switch object[key] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw ListingError("\(path).\(key): expected true or false")
        }
    }

    /// The first of `keys` that is present, as a time: milliseconds since 1970 (a number or a
    /// string of digits) or RFC 3339.
    func time(_ keys: String...) throws(ListingError) -> Millis? {
        for key in keys {
            switch object[key] {
            case nil, .null?: continue
            case .int(let ms)?: return ms
            case .double(let d)? where d == d.rounded() && abs(d) < 1e15: return Millis(d)
            case .string(let s)?:
                switch times.read(s) {
                case .success(let t): return t
                case .failure(let error): throw ListingError("\(path).\(key): \(error.message)")
                }
            default: throw ListingError("\(path).\(key): expected a time (ms since 1970 or RFC 3339)")
            }
        }
        return nil
    }

    /// A nested object, or nil when absent.
    func object(_ key: String) throws(ListingError) -> JSONFields? {
        guard has(key), let value = object[key] else { return nil }
        return try JSONFields(value, path: "\(path).\(key)", times: times)
    }

    func int(_ key: String) throws(ListingError) -> Int64? {
        switch object[key] {
        case nil, .null?: return nil
        case .int(let v)?: return v
        default: throw ListingError("\(path).\(key): expected a whole number")
        }
    }
}

extension ListingError {
    /// The protocol's own rules decide what a valid item is.
    static func check(_ body: ObservationBody, path: String) throws(ListingError) {
        do {
            try body.validate(path: path)
        } catch {
            throw ListingError(error.description)
        }
    }
}

/// One read of a listing: the valid items, and why the others were skipped.
public struct Listing<Item: Sendable>: Sendable {
    public var items: [Item] = []
    /// Why entries were not used: invalid entries, and repeats of a name (the first is kept).
    public var skipped: [String] = []
    /// How many of `skipped` are invalid entries (not repeats): a read with any is a failed read
    /// for those entries.
    public var invalid = 0
    /// The names of invalid entries whose name could be read: what is known of them is kept.
    public var invalidNames: Set<String> = []
    /// An invalid entry whose name could not be read: any earlier entry may be it.
    public var unnamedInvalid = false

    public init(items: [Item] = [], skipped: [String] = []) {
        self.items = items
        self.skipped = skipped
    }

    /// The items of JSON `bytes` (see `JSONValue.listItems`), each made by `make` with its path
    /// (`jobs[2]`). An entry `make` refuses, or a second one with the same name, is skipped with
    /// the reason; only output unusable as a whole throws. `emptyIsNone`: empty output (only
    /// whitespace) is an empty listing, as `sqlite3 -json` prints for an empty table.
    static func parse(
        _ bytes: [UInt8], key: String, emptyIsNone: Bool = false, name: (Item) -> String, _ make: (JSONValue, String) throws(ListingError) -> Item
    ) throws(ListingError) -> Listing {
        var listing = Listing()
        if emptyIsNone && bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return listing }
        var seen: Set<String> = []
        for (i, value) in try JSONValue.listItems(bytes, key: key).enumerated() {
            let path = "\(key)[\(i)]"
            let item: Item
            do throws(ListingError) {
                item = try make(value, path)
            } catch {
                listing.skipped.append(error.message)
                listing.invalid += 1
                if case .object(let fields) = value, case .string(var entryName)? = fields["name"], !entryName.isEmpty {
                    // Cloud Scheduler: projects/P/locations/L/jobs/NAME, as the job reader shortens it.
                    if entryName.hasPrefix("projects/"), entryName.contains("/jobs/"), let last = entryName.split(separator: "/").last {
                        entryName = String(last)
                    }
                    listing.invalidNames.insert(entryName)
                } else {
                    listing.unnamedInvalid = true
                }
                continue
            }
            guard seen.insert(name(item)).inserted else {
                listing.skipped.append("\(path).name: '\(name(item))' is listed twice; the first is kept")
                continue
            }
            listing.items.append(item)
        }
        return listing
    }
}
