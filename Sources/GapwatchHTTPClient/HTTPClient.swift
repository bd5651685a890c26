import CCurl

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP request for `HTTPClient`.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased; the last value wins.
    public var headers: [String: String]
    public var body: [UInt8]

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A request that got no HTTP response: connection refused, DNS failure, timeout, TLS failure.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }
    public var description: String { message }
}

/// A blocking HTTP/1.1 client over libcurl's easy interface.
///
/// One instance keeps one connection alive between requests; use one per thread. libcurl is used
/// directly (not FoundationNetworking) to keep the agent small in memory and binary size.
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    public var connectTimeoutMs: Int
    public var timeoutMs: Int
    /// Responses larger than this are cut off with an error, so a hostile server cannot fill memory.
    public var maxResponseBytes: Int = 16 << 20

    /// Initialises libcurl once per process. Without `tls`, OpenSSL (which libcurl loads and
    /// initialises in any case) skips its error strings, config file and cipher tables: about 1 MiB
    /// of RSS that an http-only agent never needs.
    public static func globalInit(tls: Bool) {
        GlobalInit.once(tls: tls)
    }

    public init(connectTimeoutMs: Int = 5_000, timeoutMs: Int = 30_000) {
        GlobalInit.once(tls: true)
        guard let h = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        self.handle = h
        self.connectTimeoutMs = connectTimeoutMs
        self.timeoutMs = timeoutMs
    }

    deinit { curl_easy_cleanup(handle) }

    /// Sends `request` and waits for the whole response.
    public func send(_ request: HTTPRequest) throws(HTTPTransportError) -> HTTPResponse {
        curl_easy_reset(handle)  // keeps the connection cache, clears per-request options
        let sink = ResponseSink(limit: maxResponseBytes)
        let sinkPointer = Unmanaged.passRetained(sink)
        defer { sinkPointer.release() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        // An empty Expect header stops curl from waiting up to a second for "100 Continue".
        headerList = curl_slist_append(headerList, "Expect:")
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        defer { curl_slist_free_all(headerList) }

        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = request.url.withCString { url in
            request.method.withCString { method in
                errorBuffer.withUnsafeMutableBufferPointer { errBuf in
                    let body = request.body ?? []
                    return body.withUnsafeBufferPointer { bodyBuf in
                        gw_curl_setopt_str(handle, CURLOPT_URL, url)
                        gw_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errBuf.baseAddress)
                        gw_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
                        gw_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMs)
                        gw_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs)
                        gw_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
                        gw_curl_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))
                        gw_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headerList)
                        if request.body != nil {
                            gw_curl_setopt_ptr(
                                handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bodyBuf.baseAddress ?? UnsafePointer(bitPattern: 1)!))
                            gw_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBuf.count))
                        }
                        if request.method != "GET" && !(request.method == "POST" && request.body != nil) {
                            gw_curl_setopt_str(handle, CURLOPT_CUSTOMREQUEST, method)
                        }
                        if request.method == "HEAD" { gw_curl_setopt_long(handle, CURLOPT_NOBODY, 1) }
                        gw_curl_setopt_data_fn(handle, CURLOPT_WRITEFUNCTION, bodyCallback)
                        gw_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, sinkPointer.toOpaque())
                        gw_curl_setopt_data_fn(handle, CURLOPT_HEADERFUNCTION, headerCallback)
                        gw_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, sinkPointer.toOpaque())
                        return curl_easy_perform(handle)
                    }
                }
            }
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let text = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            if sink.overflowed {
                throw HTTPTransportError(code: Int(code.rawValue), message: "response larger than \(maxResponseBytes) bytes")
            }
            throw HTTPTransportError(code: Int(code.rawValue), message: text)
        }
        var status = 0
        gw_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body)
    }
}

private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    let limit: Int
    var overflowed = false
    init(limit: Int) { self.limit = limit }
}

private let bodyCallback: gw_curl_data_fn = { ptr, size, count, userdata in
    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
    let n = size * count
    if sink.body.count + n > sink.limit {
        sink.overflowed = true
        return 0  // makes curl abort with CURLE_WRITE_ERROR
    }
    if let ptr { sink.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n)) }
    return n
}

private let headerCallback: gw_curl_data_fn = { ptr, size, count, userdata in
    let sink = Unmanaged<ResponseSink>.fromOpaque(userdata!).takeUnretainedValue()
    let n = size * count
    guard let ptr else { return n }
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        sink.headers = [:]  // a new response (after 100 Continue or a redirect)
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
        sink.headers[name] = value
    }
    return n
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = self[...]
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

private enum GlobalInit {
    nonisolated(unsafe) static var done = false
    nonisolated(unsafe) static var mutex = pthread_mutex_t()
    static let setup: Void = { pthread_mutex_init(&mutex, nil) }()

    static func once(tls: Bool) {
        _ = setup
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !done else { return }
        done = true
        // curl_global_init initialises the TLS library whatever the flags; without TLS, OpenSSL is
        // set up first without the tables only a TLS connection would read.
        if !tls { _ = gw_tls_init_minimal() }
        curl_global_init(tls ? Int(CURL_GLOBAL_ALL) : Int(CURL_GLOBAL_NOTHING))
    }
}
