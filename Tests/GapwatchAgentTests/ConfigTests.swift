import Foundation
import GapwatchAgent
import GapwatchProtocol
import XCTest

final class ConfigTests: XCTestCase {
    func testDefaults() throws {
        let config = try AgentConfig.parse(yaml: "")
        XCTAssertEqual(config.agent.id, AgentConfig.defaultAgentID())
        XCTAssertEqual(config.collector.url, "http://127.0.0.1:7070")
        XCTAssertNil(config.collector.token)
        XCTAssertEqual(config.collector.connectTimeoutMs, 5_000)
        XCTAssertEqual(config.collector.timeoutMs, 30_000)
        XCTAssertEqual(config.collector.batchMax, 500)
        XCTAssertEqual(config.collector.shipIntervalMs, 1_000)
        XCTAssertEqual(config.collector.backoffMaxMs, 300_000)
        XCTAssertEqual(config.heartbeat.intervalMs, 30_000)
        XCTAssertEqual(config.heartbeat.name, "agent:\(config.agent.id)")
        XCTAssertEqual(config.spool.dir, "./gapwatch-agent-spool")
        XCTAssertEqual(config.spool.maxBytes, 64 << 20)
        XCTAssertEqual(config.spool.segmentBytes, 1 << 20)
        XCTAssertEqual(config.listen.host, "127.0.0.1")
        XCTAssertEqual(config.listen.port, 7071)
        XCTAssertTrue(config.httpProbes.isEmpty && config.commandProbes.isEmpty)
    }

    func testFullConfig() throws {
        let yaml = """
            agent:
              id: nba-orchestrator-prod
              service: orchestrator
              labels: {env: prod}
            collector:
              url: https://gapwatch.example/
              token: gw_agent_abc
              connect_timeout: 2s
              timeout: 1m
              batch_max: 5000
              ship_interval: 500ms
              backoff_max: 30s
            heartbeat:
              interval: 0
              name: orchestrator
            spool:
              dir: /var/lib/gapwatch-agent
              max_bytes: 512KiB
              segment_bytes: 64KiB
            listen: "[::1]:7072"
            probes:
              http:
                - name: scrapers
                  url: https://scrapers.example/health
                  job: execute-workflows
                  expect_status: 204
                  timeout: 3s
                  interval: 2m
              commands:
                - name: boxscore-counts
                  argv: [psql, -At, -c, "select d, count(*) from t group by d"]
                  interval: 10m
                  timeout: 1m
                  emit: count
                  dataset: nba_raw.boxscores
                  covers: 3d
                - name: games
                  argv:
                    - sqlite3
                    - games.db
                    - "select id, status, start from games"
                  emit: item_status
                  item_kind: game
            """
        let c = try AgentConfig.parse(yaml: yaml)
        XCTAssertEqual(c.agent.id, "nba-orchestrator-prod")
        XCTAssertEqual(c.agent.labels, ["env": "prod"])
        XCTAssertEqual(c.collector.url, "https://gapwatch.example")
        XCTAssertEqual(c.collector.reportsURL, "https://gapwatch.example/v1/reports")
        XCTAssertEqual(c.collector.token, "gw_agent_abc")
        XCTAssertEqual(c.collector.timeoutMs, 60_000)
        XCTAssertEqual(c.collector.batchMax, ReportLimits.default.maxObservations, "batch_max is clamped")
        XCTAssertEqual(c.collector.shipIntervalMs, 500)
        XCTAssertEqual(c.collector.backoffMaxMs, 30_000)
        XCTAssertEqual(c.heartbeat.intervalMs, 0)
        XCTAssertEqual(c.spool.maxBytes, 512 * 1024)
        XCTAssertEqual(c.listen.host, "::1")
        XCTAssertEqual(c.listen.port, 7072)
        XCTAssertEqual(c.httpProbes.first?.expectStatus, 204)
        XCTAssertEqual(c.httpProbes.first?.job, "execute-workflows")
        XCTAssertEqual(c.httpProbes.first?.intervalMs, 120_000)
        XCTAssertEqual(c.commandProbes.count, 2)
        XCTAssertEqual(c.commandProbes[0].argv, ["psql", "-At", "-c", "select d, count(*) from t group by d"])
        XCTAssertEqual(c.commandProbes[0].emit, .count)
        XCTAssertEqual(c.commandProbes[1].argv.count, 3)
        XCTAssertEqual(c.commandProbes[1].emit, .itemStatus)
        XCTAssertEqual(c.commandProbes[1].timeoutMs, 30_000)
        XCTAssertTrue(c.needsTLS)

        let rendered = c.render()
        XCTAssertFalse(rendered.contains("gw_agent_abc"), "the token never appears in check-config output")
        XCTAssertTrue(rendered.contains("<redacted>"))
        // The rendered config is itself valid config.
        XCTAssertEqual(try YAML.parse(rendered.replacingOccurrences(of: "<redacted>", with: "x"))["agent"]?["id"]?.scalar, "nba-orchestrator-prod")
    }

    func testUnknownKeyIsAnErrorNamingKeyAndLine() {
        assertConfigError("agent:\n  id: a\ncollector:\n  urll: http://x\n", contains: ["line 4", "collector.urll", "did you mean 'collector.url'"])
        assertConfigError("spool:\n  dir: x\nprobs: []\n", contains: ["line 3", "'probes'"])
        assertConfigError(
            "probes:\n  http:\n    - name: a\n      url: http://x\n      intervall: 5s\n", contains: ["line 5", "probes.http[0].intervall"])
    }

    func testValidationErrors() {
        assertConfigError("listen: 0.0.0.0:7071\n", contains: ["line 1", "not a loopback address"])
        assertConfigError("listen: 10.1.2.3:7071\n", contains: ["loopback"])
        assertConfigError("collector:\n  timeout: 30\n", contains: ["line 2", "collector.timeout", "not a duration"])
        assertConfigError("spool:\n  max_bytes: 64 MB please\n", contains: ["spool.max_bytes", "not a size"])
        assertConfigError("collector:\n  url: ftp://x\n", contains: ["collector.url"])
        assertConfigError("collector:\n  url: http://user:pw@x\n", contains: ["credentials"])
        assertConfigError("agent:\n  id: bad id!\n", contains: ["agent.id"])
        assertConfigError("probes:\n  commands:\n    - name: c\n      argv: []\n", contains: ["argv"])
        assertConfigError("probes:\n  commands:\n    - name: c\n      argv: [x]\n      emit: count\n", contains: ["needs a dataset"])
        assertConfigError("probes:\n  commands:\n    - name: c\n      argv: [x]\n      emit: counts\n", contains: ["not one of"])
        assertConfigError(
            "probes:\n  http:\n    - name: a\n      url: http://x\n    - name: a\n      url: http://y\n", contains: ["line 5", "already used"])
        assertConfigError("collector:\n  token: a\n  token_file: /x\n", contains: ["not both"])
        assertConfigError("collector: [1, 2]\n", contains: ["line 1", "collector"])
        assertConfigError("collector:\n  backoff_max: 500ms\n", contains: ["line 2", "collector.backoff_max", "at least 1s"])
    }

    func testListenAcceptsLoopbackForms() throws {
        XCTAssertEqual(try AgentConfig.parseListen("localhost:9000").host, "127.0.0.1")
        XCTAssertEqual(try AgentConfig.parseListen("127.0.0.2:1").port, 1)
        XCTAssertEqual(try AgentConfig.parseListen("[::1]:7071").host, "::1")
        XCTAssertThrowsError(try AgentConfig.parseListen("[::]:7071"))
        XCTAssertThrowsError(try AgentConfig.parseListen("example.com:7071"))
    }

    func testTokenSources() throws {
        let dir = makeTempDir(self)
        writeFile(dir + "/plain", Array("  tok_plain \n".utf8))
        writeFile(dir + "/env", Array("# secrets\nOTHER=1\nexport GAPWATCH_AGENT_TOKEN=\"tok_env_file\"\n".utf8))
        writeFile(dir + "/noenv", Array("OTHER=1\n".utf8))
        XCTAssertEqual(try AgentConfig.parse(yaml: "collector:\n  token_file: \(dir)/plain\n").collector.token, "tok_plain")
        XCTAssertEqual(try AgentConfig.parse(yaml: "collector:\n  token_file: \(dir)/env\n").collector.token, "tok_env_file")
        assertConfigError("collector:\n  token_file: \(dir)/noenv\n", contains: ["line 2", "no GAPWATCH_AGENT_TOKEN"])
        // A missing token file is not fatal: it may be written later; shipping waits for it.
        let missing = try AgentConfig.parse(yaml: "collector:\n  token_file: \(dir)/missing\n")
        XCTAssertNil(missing.collector.token)
        XCTAssertEqual(missing.collector.tokenFile, "\(dir)/missing")
        XCTAssertTrue(missing.collector.tokenFileProblem?.contains("cannot read") == true)
        XCTAssertTrue(missing.render().contains("not readable yet"))
        let fromEnv = try AgentConfig.parse(yaml: "", environment: ["GAPWATCH_AGENT_TOKEN": "tok_from_env"])
        XCTAssertEqual(fromEnv.collector.token, "tok_from_env")
        XCTAssertFalse(fromEnv.render().contains("tok_from_env"))
        // The file wins over the environment.
        let both = try AgentConfig.parse(yaml: "collector:\n  token: tok_inline\n", environment: ["GAPWATCH_AGENT_TOKEN": "tok_from_env"])
        XCTAssertEqual(both.collector.token, "tok_inline")
    }

    func testDurationsAndSizes() {
        XCTAssertEqual(Units.parseDuration("500ms"), 500)
        XCTAssertEqual(Units.parseDuration("30s"), 30_000)
        XCTAssertEqual(Units.parseDuration("5m"), 300_000)
        XCTAssertEqual(Units.parseDuration("1h"), 3_600_000)
        XCTAssertEqual(Units.parseDuration("1h30m"), 5_400_000)
        XCTAssertEqual(Units.parseDuration("0"), 0)
        XCTAssertNil(Units.parseDuration("30"))
        XCTAssertNil(Units.parseDuration("5 minutes"))
        XCTAssertNil(Units.parseDuration("-5s"))
        XCTAssertNil(Units.parseDuration(""))
        XCTAssertEqual(Units.parseSize("64MiB"), 64 << 20)
        XCTAssertEqual(Units.parseSize("512KiB"), 512 << 10)
        XCTAssertEqual(Units.parseSize("1048576"), 1 << 20)
        XCTAssertEqual(Units.parseSize("10MB"), 10_000_000)
        XCTAssertNil(Units.parseSize("64mb"))
        XCTAssertNil(Units.parseSize("MiB"))
        XCTAssertEqual(Units.formatDuration(5_400_000), "1h30m")
        XCTAssertEqual(Units.formatSize(64 << 20), "64MiB")
    }

    func testLoadNamesTheFile() throws {
        let dir = makeTempDir(self)
        writeFile(dir + "/agent.yaml", Array("agent:\n  id: a\n  idd: b\n".utf8))
        XCTAssertThrowsError(try AgentConfig.load(path: dir + "/agent.yaml", environment: [:])) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(dir)/agent.yaml: line 3: unknown key 'agent.idd'"), "\(error)")
        }
    }

    func testTheExampleConfigIsValid() throws {
        // agent/agent.example.yaml documents every key; it must stay loadable.
        let path = exampleConfigPath
        let config = try AgentConfig.load(path: path, environment: [:])
        XCTAssertFalse(config.httpProbes.isEmpty)
        XCTAssertFalse(config.commandProbes.isEmpty)
    }
}
