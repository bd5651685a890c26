import GapwatchProtocol

extension AgentConfig {
    /// The effective config as YAML, defaults included, token redacted. `check-config` prints it.
    public func render() -> String {
        var out: [String] = []
        out.append("agent:")
        out.append("  id: \(q(agent.id))")
        out.append("  service: \(q(agent.service))")
        appendMap("labels", agent.labels.mapValues { q($0) }, indent: "  ", to: &out)
        out.append("collector:")
        out.append("  url: \(q(collector.url))")
        if collector.token != nil {
            out.append("  token: <redacted>  # from \(collector.tokenSource)")
        } else if let file = collector.tokenFile {
            out.append("  token_file: \(q(file))  # not readable yet (\(collector.tokenFileProblem ?? "?")); shipping waits for it")
        } else {
            out.append("  token: null  # none configured: reports are sent without Authorization")
        }
        out.append("  connect_timeout: \(Units.formatDuration(collector.connectTimeoutMs))")
        out.append("  timeout: \(Units.formatDuration(collector.timeoutMs))")
        out.append("  batch_max: \(collector.batchMax)")
        out.append("  ship_interval: \(Units.formatDuration(collector.shipIntervalMs))")
        out.append("  backoff_max: \(Units.formatDuration(collector.backoffMaxMs))")
        out.append("heartbeat:")
        out.append("  interval: \(Units.formatDuration(heartbeat.intervalMs))\(heartbeat.intervalMs == 0 ? "  # disabled" : "")")
        out.append("  name: \(q(heartbeat.name))")
        out.append("spool:")
        out.append("  dir: \(q(spool.dir))")
        out.append("  max_bytes: \(Units.formatSize(spool.maxBytes))")
        out.append("  segment_bytes: \(Units.formatSize(spool.segmentBytes))")
        out.append("listen: \(q(listen.description))")
        if let listenTokenFile { out.append("listen_token_file: \(q(listenTokenFile))") }
        out.append("probes:")
        /// `name: []` (and `note`) when there are no items, else `name:` and each item's lines.
        func appendList<Item>(_ name: String, _ items: [Item], note: String = "", _ appendItem: (Item) -> Void) {
            guard !items.isEmpty else { return out.append("\(name): []\(note)") }
            out.append("\(name):")
            for item in items { appendItem(item) }
        }
        appendList("  http", httpProbes) { p in
            out.append("    - name: \(q(p.name))")
            out.append("      url: \(q(p.url))")
            if let job = p.job { out.append("      job: \(q(job))") }
            out.append("      expect_status: \(p.expectStatus)")
            out.append("      timeout: \(Units.formatDuration(p.timeoutMs))")
            out.append("      interval: \(Units.formatDuration(p.intervalMs))")
        }
        appendList("  commands", commandProbes) { p in
            out.append("    - name: \(q(p.name))")
            out.append("      argv: [\(p.argv.map { q($0, flow: true) }.joined(separator: ", "))]")
            out.append("      interval: \(Units.formatDuration(p.intervalMs))")
            out.append("      timeout: \(Units.formatDuration(p.timeoutMs))")
            out.append("      emit: \(p.emit.rawValue)")
            if let d = p.dataset { out.append("      dataset: \(q(d))") }
            if let k = p.itemKind { out.append("      item_kind: \(q(k))") }
            if p.emit == .count { out.append("      covers: \(p.covers)") }
            if let zone = p.timeZone { out.append("      timezone: \(q(zone.name))") }
        }
        appendList("actions", actions, note: "  # every command from the collector is rejected") { a in
            out.append("  - name: \(q(a.name))")
            out.append("    argv: [\(a.argv.map { q($0, flow: true) }.joined(separator: ", "))]")
            appendMap("parameters", a.parameters.mapValues(\.rawValue), indent: "    ", to: &out)
            out.append("    timeout: \(Units.formatDuration(a.timeoutMs))")
            out.append("    max_output: \(Units.formatSize(Int64(a.maxOutputBytes)))")
        }
        renderScheduler(into: &out)
        return out.joined(separator: "\n") + "\n"
    }

    private func renderScheduler(into out: inout [String]) {
        func command(_ c: ListingCommand, indent: String) {
            out.append("\(indent)argv: [\(c.argv.map { q($0, flow: true) }.joined(separator: ", "))]")
            out.append("\(indent)timeout: \(Units.formatDuration(c.timeoutMs))")
        }
        if let s = scheduler {
            out.append("scheduler:")
            if let name = s.name { out.append("  name: \(q(name))") }
            switch s.source {
            case .jobs(let jobs):
                if jobs.isEmpty { out.append("  jobs: []") } else { out.append("  jobs:") }
                for job in jobs {
                    out.append("    - name: \(q(job.name))")
                    if let v = job.target { out.append("      target: \(q(v))") }
                    if let v = job.healthURL { out.append("      health_url: \(q(v))") }
                    if let v = job.schedule { out.append("      schedule: \(q(v))") }
                    if let v = job.timeZone { out.append("      timezone: \(q(v))") }
                    out.append("      enabled: \(job.enabled)")
                }
            case .command(let c):
                out.append("  jobs_command:")
                command(c, indent: "    ")
            }
            out.append("  inventory_interval: \(Units.formatDuration(s.inventoryIntervalMs))")
            out.append("  probe_interval: \(Units.formatDuration(s.probeIntervalMs))")
            out.append("  probe_timeout: \(Units.formatDuration(s.probeTimeoutMs))")
            if let e = s.expectStatus {
                out.append("  expect_status: \(e)")
            } else {
                out.append("  # expect_status: none (healthy unless 404, 5xx or no response)")
            }
        }
        if let l = locks {
            out.append("locks:")
            command(l.command, indent: "  ")
            out.append("  interval: \(Units.formatDuration(l.intervalMs))")
        }
    }

    /// `name: {}`, or `name:` and one `key: value` line a key, sorted, indented one level deeper.
    private func appendMap(_ name: String, _ map: [String: String], indent: String, to out: inout [String]) {
        guard !map.isEmpty else { return out.append("\(indent)\(name): {}") }
        out.append("\(indent)\(name):")
        for (key, value) in map.sorted(by: { $0.key < $1.key }) { out.append("\(indent)  \(q(key)): \(value)") }
    }

    /// Quotes a scalar when plain YAML would read it differently.
    private func q(_ s: String, flow: Bool = false) -> String {
        let special: Set<Character> = ["#", "\"", "'", "\\", "\n", "\t", "[", "]", "{", "}", ",", "&", "*", "!", "|", ">", "%", "@", "`"]
        let needs =
            s.isEmpty || s.contains(": ") || s.hasSuffix(":") || s.hasPrefix(" ") || s.hasSuffix(" ")
            || s.hasPrefix("- ") || s == "-" || s == "null" || s == "~" || s.contains(where: { special.contains($0) })
            || (flow && s.contains(":"))
        guard needs else { return s }
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out + "\""
    }
}
