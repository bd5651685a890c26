import Foundation
import GapwatchProtocol

/// A scheduler's agent as the hostile-agent test and fault suite run it, in one place: its jobs on
/// a healthy target (the collector's own /healthz, probed once at start), a lock table it reads
/// from `locks.json`, and the collector's pause-job and release-lock commands as scripts that
/// append their argument to `pauses.txt` and `releases.txt`. `collectorConfig` is the collector's
/// side: scheduler targets and stuck locks, healed through this agent.
public struct SchedulerAgentFixture {
    public let workspace: Workspace
    public let jobs: [String]
    /// Every job's target: healthy as long as the collector runs.
    public let target: String

    /// Writes the job inventory and the two command scripts into `workspace`. `releaseDelay` slows
    /// the release command (so results can arrive while it runs); `afterRelease` are shell lines it
    /// runs last (e.g. to take the released lock out of `locks.json`).
    public init(workspace: Workspace, collectorURL: String, jobCount: Int = 40, releaseDelay: Int = 0, afterRelease: String = "") throws {
        self.workspace = workspace
        jobs = (1...jobCount).map { "export-\($0)" }
        target = "\(collectorURL)/healthz"
        let inventory = jobs.map { #"{"name":"\#($0)","target":"\#(target)","schedule":"5 * * * *","enabled":true}"# }
        try ("[\n" + inventory.joined(separator: ",\n") + "\n]\n").write(toFile: workspace.file("jobs.json"), atomically: true, encoding: .utf8)
        try "#!/bin/sh\nset -e\necho \"$1\" >> \(workspace.file("pauses.txt"))\n".write(toFile: pauseScript, atomically: true, encoding: .utf8)
        let delay = releaseDelay > 0 ? "sleep \(releaseDelay)\n" : ""
        let after = afterRelease.isEmpty ? "" : afterRelease + "\n"
        try "#!/bin/sh\nset -e\n\(delay)echo \"$1\" >> \(workspace.file("releases.txt"))\n\(after)"
            .write(toFile: releaseScript, atomically: true, encoding: .utf8)
    }

    public var pauseScript: String { workspace.file("pause.sh") }
    public var releaseScript: String { workspace.file("release.sh") }
    public var locksFile: String { workspace.file("locks.json") }

    /// One lock of the table, as the agent's lock listing prints it.
    public static func lock(_ name: String, holder: String, acquiredAt: Millis, expiresAt: Millis) -> String {
        #"{"name":"\#(name)","holder":"\#(holder)","acquired_at":\#(acquiredAt),"expires_at":\#(expiresAt)}"#
    }

    /// Replaces the lock table the agent lists (each element from `lock(...)`).
    public func writeLocks(_ locks: [String], to file: String? = nil) throws {
        try "[\(locks.joined(separator: ","))]".write(toFile: file ?? locksFile, atomically: true, encoding: .utf8)
    }

    /// The agent's part of its config (for `AgentProcess.extraConfig`).
    public var agentConfig: String {
        """
        scheduler:
          name: cloud-scheduler/us-west2
          jobs_command: {argv: ["/bin/cat", "\(workspace.file("jobs.json"))"], timeout: 10s}
          inventory_interval: 2s
          probe_interval: 1h
          probe_timeout: 2s
        locks: {argv: ["/bin/cat", "\(locksFile)"], interval: 1s, timeout: 10s}
        actions:
          - {name: pause-job, argv: ["/bin/sh", "\(pauseScript)", "{job}"], parameters: {job: identifier}, timeout: 30s}
          - {name: release-lock, argv: ["/bin/sh", "\(releaseScript)", "{lock}"], parameters: {lock: identifier}, timeout: 30s}
        """
    }

    /// The collector's rules and actions that heal through the agent `agentID`: pause a job after 3
    /// failed probes, release a `workflow_*` lock past its expiry.
    public static func collectorConfig(agentID: String) -> String {
        """
        scheduler_targets: {failures: 3, disable: pause-job}
        stuck_locks:
          - {name: controller-locks, locks: 'workflow_*', slack: 0s, release: release-lock}
        guardrails: {max_per_hour: 100, max_concurrent: 8}
        actions:
          - {name: pause-job, kind: agent, agent: \(agentID), command: pause-job, parameters: {job: "{job}"}, cooldown: 0s}
          - {name: release-lock, kind: agent, agent: \(agentID), command: release-lock, parameters: {lock: "{lock}"}, cooldown: 0s}
        """
    }

    /// The arguments the pause or release command was run with, one per run (`pauses.txt`, `releases.txt`).
    public func lines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: workspace.file(file), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

extension CollectorProcess {
    /// GET with the admin token, decoded; any answer but 200 is an error that says what came back.
    public func decoded<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        let response = try get(path)
        guard response.status == 200 else { throw HarnessError("GET \(path) answered \(response.status): \(response.bodyText)") }
        return try ReportCodec.decode(type, from: response.body)
    }
}

/// The GET paths of an OpenAPI file (protocol/openapi.yaml), read line by line: the paths are
/// two-space keys ending in `:`, and their `get:` four spaces in.
public func openAPIGetPaths(file: String) throws -> [String] {
    let text = try String(contentsOfFile: file, encoding: .utf8)
    var paths: [String] = []
    var current: String?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("  /") && line.hasSuffix(":") { current = String(line.dropFirst(2).dropLast()) }
        if line == "    get:", let current { paths.append(current) }
        if !line.hasPrefix(" ") && !line.isEmpty && !line.hasPrefix("#") { current = nil }
    }
    return paths
}
