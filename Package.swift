// swift-tools-version:6.2
import PackageDescription

// Module seams (see README "Code layout"):
//   GapwatchProtocol   wire types, limits, validation, gzip — no server dependencies
//   GapwatchHTTPClient blocking HTTP over libcurl (agent shipper, CLI client)
//   GapwatchAgent      spool, shipper, probes, local push — links neither Hummingbird nor GRDB
//   GapwatchRules      pure detection logic: cron schedules in time zones, check state machines,
//                      run windows, silences — takes `now` as input, no I/O, no server dependencies
//   GapwatchAPI        the HTTP API's wire types (answers and request bodies) — GapwatchProtocol only,
//                      so the CLI's queries, the tests and the process harness need no server module
//   GapwatchCollector  ingest, storage (GRDB/SQLite), auth, evaluation loop, incidents,
//                      notifications, HTTP API (Hummingbird), /metrics (swift-metrics + swift-prometheus)
let package = Package(
    name: "gapwatch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gapwatch", targets: ["GapwatchCLI"]),
        .executable(name: "gapwatch-agent", targets: ["GapwatchAgentCLI"]),
        // Not shipped (make install leaves them out): the benchmark programs (bench/README.md) and
        // the README's demo with its simulated services (`gapwatch demo` runs it from beside itself).
        .executable(name: "gapwatch-bench", targets: ["GapwatchBench"]),
        .executable(name: "gapwatch-demo", targets: ["GapwatchDemo"]),
        // The fault suite's driver (faults/README.md): SIGKILLs, outages, a full disk.
        .executable(name: "gapwatch-faults", targets: ["GapwatchFaults"]),
        // The report decoder's fuzz oracle: a corpus replay tool in a normal build, a libFuzzer
        // binary when built with -sanitize=fuzzer -DGAPWATCH_FUZZ (faults/suite-fuzz.sh).
        .executable(name: "gapwatch-fuzz", targets: ["GapwatchFuzz"]),
        .library(name: "GapwatchProtocol", targets: ["GapwatchProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .target(name: "CZlib", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "GapwatchProtocol", dependencies: ["CZlib"]),
        .target(name: "GapwatchHTTPClient", dependencies: ["CCurl"]),
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "GapwatchFuzz", dependencies: ["GapwatchProtocol", "CFuzzerDriver"]),
        .target(name: "GapwatchRules", dependencies: ["GapwatchProtocol"]),
        // Keep this list to GapwatchProtocol alone (GapwatchAPITests reads it): no Hummingbird, GRDB or NIO.
        .target(name: "GapwatchAPI", dependencies: ["GapwatchProtocol"]),
        // argv-only child processes (posix_spawn, never a shell): agent command probes and the
        // collector's command notification channel.
        .target(name: "GapwatchSubprocess", dependencies: ["GapwatchProtocol"]),
        .target(
            name: "GapwatchAgent",
            dependencies: [
                "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchSubprocess", "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "GapwatchAgentCLI",
            dependencies: [
                "GapwatchAgent", "GapwatchProtocol", "GapwatchHTTPClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "GapwatchCollector",
            dependencies: [
                "GapwatchAPI", "GapwatchProtocol", "GapwatchRules", "GapwatchHTTPClient", "GapwatchSubprocess",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),  // token hashes, dashboard session MACs
            ]),
        // What the three command-line executables share (errors, token files, tables, live output).
        .target(name: "GapwatchCommandSupport"),
        .executableTarget(
            name: "GapwatchCLI",
            dependencies: [
                "GapwatchCollector", "GapwatchAPI", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "GapwatchBench",
            dependencies: [
                "GapwatchCollector", "GapwatchAPI", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // IngestBench's trivial POST endpoint on the collector's own server.
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        // No collector module: the demo runs `gapwatch collector` and `gapwatch-agent` as processes.
        .executableTarget(
            name: "GapwatchDemo",
            dependencies: [
                "GapwatchAPI", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchCommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // The simulated services are small HTTP servers.
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        // Our binaries as child processes on 127.0.0.1: shared by EndToEndTests and gapwatch-faults.
        .target(name: "GapwatchProcessHarness", dependencies: ["GapwatchAPI", "GapwatchCollector", "GapwatchHTTPClient", "GapwatchProtocol"]),
        .executableTarget(
            name: "GapwatchFaults",
            dependencies: [
                "GapwatchProcessHarness", "GapwatchAPI", "GapwatchAgent", "GapwatchHTTPClient", "GapwatchProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "GapwatchProtocolTests", dependencies: ["GapwatchProtocol"]),
        .testTarget(name: "GapwatchRulesTests", dependencies: ["GapwatchRules", "GapwatchProtocol"]),
        .testTarget(name: "GapwatchAPITests", dependencies: ["GapwatchAPI", "GapwatchProtocol"]),
        .testTarget(
            name: "GapwatchAgentTests",
            dependencies: [
                "GapwatchAgent", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchSubprocess",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Test helpers shared by test targets (a recording webhook receiver).
        .target(
            name: "GapwatchTestSupport",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")],
            path: "Tests/GapwatchTestSupport"),
        .testTarget(
            name: "GapwatchCollectorTests",
            dependencies: [
                "GapwatchTestSupport", "GapwatchCollector", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchRules", "GapwatchSubprocess",
                .product(name: "Hummingbird", package: "hummingbird"),
                // TestCollector's default transport: requests straight into the router (`app.test(.router)`).
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),  // migration tests build old-schema files
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),  // PeriodicService under a ServiceGroup
            ]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "GapwatchAPI", "GapwatchProtocol", "GapwatchHTTPClient", "GapwatchCollector", "GapwatchTestSupport", "GapwatchProcessHarness",
                "CZlib",
            ]),
    ]
)
