import ArgumentParser
import Foundation
import GapwatchAPI
import GapwatchCommandSupport
import GapwatchHTTPClient
import GapwatchProtocol

/// How a query command reaches the collector: flags, then environment, then the token file.
struct ClientOptions: ParsableArguments {
    @Option(help: "Collector base URL. Default: $GAPWATCH_URL, else http://127.0.0.1:7070.")
    var url: String?

    @Option(help: "API token. Prefer $GAPWATCH_TOKEN or --token-file: a flag is visible in the process list.")
    var token: String?

    @Option(
        help:
            "File holding the token (a bare token, or the collector's generated file with GAPWATCH_ADMIN_TOKEN=). Default: $GAPWATCH_TOKEN_FILE, else ./gapwatch.tokens."
    )
    var tokenFile: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    var baseURL: String {
        let env = ProcessInfo.processInfo.environment
        let raw = url ?? env["GAPWATCH_URL"] ?? "http://127.0.0.1:7070"
        return raw.hasSuffix("/") ? String(raw.dropLast()) : raw
    }

    func resolveToken() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let token, !token.isEmpty { return token }
        if let token = env["GAPWATCH_TOKEN"], !token.isEmpty { return token }
        let path = tokenFile ?? env["GAPWATCH_TOKEN_FILE"] ?? "./gapwatch.tokens"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(
                "no token: pass --token-file, set GAPWATCH_TOKEN, or run where the collector wrote ./gapwatch.tokens (tried \(path))")
        }
        guard let token = readToken(fileText: String(decoding: data, as: UTF8.self), key: "GAPWATCH_ADMIN_TOKEN") else {
            throw CLIError("\(path) holds no token")
        }
        return token
    }

    /// Sends a request with the bearer token; turns error bodies into one clear line.
    func call(_ method: String, _ path: String, body: [UInt8]? = nil) throws -> [UInt8] {
        let client = HTTPClient(connectTimeoutMs: 3_000, timeoutMs: 30_000)
        var headers = [("Authorization", "Bearer \(try resolveToken())")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response: HTTPResponse
        do {
            response = try client.send(HTTPRequest(method: method, url: baseURL + path, headers: headers, body: body))
        } catch {
            throw CLIError("cannot reach the collector at \(baseURL): \(error.message)")
        }
        guard (200..<300).contains(response.status) else {
            if let err = try? ReportCodec.decode(ErrorBody.self, from: response.body) {
                throw CLIError("collector answered \(response.status) \(err.error): \(err.message)")
            }
            throw CLIError("collector answered \(response.status): \(response.bodyText.prefix(200))")
        }
        return response.body
    }
}

func printJSON(_ bytes: [UInt8]) {
    print(String(decoding: bytes, as: UTF8.self))
}
