// The HTTP API's wire types live in GapwatchAPI (linked by the CLI, tests and harness without
// Hummingbird or GRDB). Re-exported here once so every collector file that answers with them,
// including files other folders add, sees them without an import line each.
@_exported import GapwatchAPI
