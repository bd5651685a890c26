import GRDB

extension AppDatabase {
    /// Named, append-only migrations: a shipped migration is never edited; change the schema by
    /// adding a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-observations-agents-tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agents (
                        id TEXT PRIMARY KEY NOT NULL,
                        service TEXT NOT NULL,
                        host TEXT NOT NULL,
                        version TEXT NOT NULL,
                        labels TEXT NOT NULL,            -- JSON object
                        boot_id TEXT NOT NULL,
                        first_seen INTEGER NOT NULL,     -- ms, collector clock
                        last_seen INTEGER NOT NULL,
                        clock_skew_ms INTEGER NOT NULL   -- received_at - sent_at of the latest report
                    );
                    -- One row per (agent, spool): the dedup scope of seq numbers.
                    CREATE TABLE streams (
                        id INTEGER PRIMARY KEY,
                        agent_id TEXT NOT NULL REFERENCES agents(id),
                        spool_id TEXT NOT NULL,
                        last_seq INTEGER NOT NULL DEFAULT 0,
                        first_seen INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL,
                        dropped_overflow INTEGER NOT NULL DEFAULT 0,  -- cumulative, from `dropped` observations
                        dropped_corrupt INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (agent_id, spool_id)
                    );
                    -- Interned subject names ("dataset:nba_raw.x"), so rows carry a small integer.
                    CREATE TABLE subjects (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE
                    );
                    -- One row per observation; the primary key is the dedup key (agent+spool, seq).
                    -- Kind-specific fields map onto the typed columns as documented in ObservationRow.
                    CREATE TABLE observations (
                        stream_id INTEGER NOT NULL,
                        seq INTEGER NOT NULL,
                        observed_at INTEGER NOT NULL,
                        received_at INTEGER NOT NULL,
                        kind INTEGER NOT NULL,
                        subject_id INTEGER NOT NULL,
                        status TEXT,
                        part TEXT,
                        num INTEGER,
                        code INTEGER,
                        at1 INTEGER,
                        at2 INTEGER,
                        text TEXT,
                        target TEXT,
                        PRIMARY KEY (stream_id, seq)
                    ) WITHOUT ROWID;
                    -- The only secondary index. A global (observed_at) index cost 40% of ingest
                    -- throughput (bench store: 1805 vs 1071 reports/s); queries filter by subject
                    -- (this index) or agent (the primary key's stream_id prefix).
                    CREATE INDEX observations_by_subject ON observations (subject_id, observed_at);
                    CREATE TABLE tokens (
                        id TEXT PRIMARY KEY NOT NULL,
                        kind TEXT NOT NULL,
                        agent_id TEXT,
                        name TEXT NOT NULL,
                        hash BLOB NOT NULL UNIQUE,       -- SHA-256 of the token; the token itself is never stored
                        created_at INTEGER NOT NULL,
                        revoked_at INTEGER
                    );
                    """)
        }
        migrator.registerMigration("v2-checks-incidents-silences") { db in
            try db.execute(
                sql: """
                    -- Heartbeat checks, agents' liveness checks and run expectations. next_due is the
                    -- precomputed instant the evaluator must look at a check again, so a pass reads
                    -- only the due rows (checks_due) instead of every check.
                    CREATE TABLE checks (
                        id INTEGER PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        kind TEXT NOT NULL,               -- heartbeat | liveness | expectation
                        state TEXT NOT NULL,              -- new | up | down | paused
                        created_at INTEGER NOT NULL,      -- or resumed at: a new check is due one period after it
                        changed_at INTEGER NOT NULL,      -- last state change
                        reason TEXT NOT NULL DEFAULT '',  -- why it is in its state
                        last_ping_at INTEGER,             -- observed time of the latest ok ping (liveness: any observation)
                        last_start_at INTEGER,
                        last_fail_at INTEGER,
                        last_fail_reason TEXT,
                        last_duration_ms INTEGER,         -- from start/ok pairs or the ping's duration
                        feeder_agent_id TEXT,             -- the only agent that fed it; '*' once several have
                        next_due INTEGER,                 -- NULL: only a new signal or a resume can change it
                        judged_through INTEGER            -- expectations: windows ending at or before this are judged
                    );
                    CREATE INDEX checks_due ON checks (next_due) WHERE next_due IS NOT NULL;
                    -- One row per incident; at most one open per (rule, subject).
                    CREATE TABLE incidents (
                        id INTEGER PRIMARY KEY,
                        rule TEXT NOT NULL,               -- heartbeat | liveness | workflow_gap
                        subject TEXT NOT NULL,            -- check:NAME | agent:ID | expectation:NAME
                        state TEXT NOT NULL,              -- open | resolved
                        opened_at INTEGER NOT NULL,
                        resolved_at INTEGER,
                        reason TEXT NOT NULL,             -- the latest reason
                        labels TEXT NOT NULL,             -- JSON object
                        feeder_agent_id TEXT,             -- the agent whose liveness this depends on
                        notified INTEGER NOT NULL DEFAULT 0,  -- the opening reached a channel: resolution will too
                        last_notified_at INTEGER
                    );
                    CREATE UNIQUE INDEX incidents_open_key ON incidents (rule, subject) WHERE state = 'open';
                    CREATE INDEX incidents_by_time ON incidents (opened_at);
                    -- Every state change of an incident; the notifier's outbox (notify = 'pending').
                    CREATE TABLE incident_events (
                        id INTEGER PRIMARY KEY,
                        incident_id INTEGER NOT NULL REFERENCES incidents(id),
                        at INTEGER NOT NULL,
                        event TEXT NOT NULL,              -- opened | resolved | reminder | updated
                        old_state TEXT,
                        new_state TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        notify TEXT NOT NULL,             -- pending | sent | failed | silenced | suppressed | not_needed
                        notify_detail TEXT,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at INTEGER,
                        claimed_until INTEGER,            -- a notifier's lease; another may take it only after
                        claim TEXT
                    );
                    CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
                    CREATE INDEX incident_events_pending ON incident_events (next_attempt_at) WHERE notify = 'pending';
                    -- One row per channel per event: what reached whom, so a retry skips channels already done.
                    CREATE TABLE deliveries (
                        event_id INTEGER NOT NULL REFERENCES incident_events(id),
                        channel TEXT NOT NULL,
                        state TEXT NOT NULL,              -- sent | failed | retrying
                        attempts INTEGER NOT NULL,
                        last_attempt_at INTEGER NOT NULL,
                        detail TEXT NOT NULL,
                        PRIMARY KEY (event_id, channel)
                    ) WITHOUT ROWID;
                    CREATE TABLE silences (
                        id INTEGER PRIMARY KEY,
                        rule TEXT,
                        subject TEXT,                     -- * matches any run of characters
                        labels TEXT NOT NULL,             -- JSON object
                        starts_at INTEGER NOT NULL,
                        ends_at INTEGER NOT NULL,
                        comment TEXT NOT NULL,
                        created_by TEXT NOT NULL,         -- token id
                        created_at INTEGER NOT NULL,
                        deleted_at INTEGER
                    );
                    -- The collector's own records on the timeline (notification attempts, later actions):
                    -- a pseudo-agent that no token can be bound to ('@' is not allowed in agent ids).
                    INSERT INTO agents (id, service, host, version, labels, boot_id, first_seen, last_seen, clock_skew_ms)
                        VALUES ('@collector', 'gapwatch-collector', '', '', '{}', '', 0, 0, 0);
                    INSERT INTO streams (agent_id, spool_id, last_seq, first_seen, last_seen) VALUES ('@collector', 'collector', 0, 0, 0);
                    """)
        }
        migrator.registerMigration("v3-actions") { db in
            try db.execute(
                sql: """
                    -- Remediation actions. One row per action key (rule + subject range) attempt series:
                    -- retries update the row, so the unique index below allows one in flight per key.
                    CREATE TABLE actions (
                        id TEXT PRIMARY KEY NOT NULL,      -- act-<n>; also the agent command's action_id
                        name TEXT NOT NULL,                -- the configured action
                        kind TEXT NOT NULL,                -- webhook | agent
                        key TEXT NOT NULL,                 -- rule + subject range: at most one in flight per key
                        incident_id INTEGER REFERENCES incidents(id),
                        origin TEXT NOT NULL,              -- rule | manual | catch_up
                        parameters TEXT NOT NULL,          -- JSON object of typed values ({start}, {end}, ...)
                        state TEXT NOT NULL,               -- pending | awaiting_approval | running | verifying | verified | failed | escalated | dry_run | cancelled
                        attempts INTEGER NOT NULL DEFAULT 0,
                        max_attempts INTEGER NOT NULL,
                        created_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,
                        next_attempt_at INTEGER,           -- pending: not before; running: give up at; verifying: verify by
                        approved_by TEXT,
                        detail TEXT NOT NULL DEFAULT '',   -- the latest outcome, for people
                        result_outcome TEXT,               -- agent actions: the action_result that arrived
                        result_detail TEXT
                    );
                    CREATE UNIQUE INDEX actions_in_flight ON actions (key)
                        WHERE state IN ('pending', 'awaiting_approval', 'running', 'verifying');
                    CREATE INDEX actions_due ON actions (next_attempt_at) WHERE state IN ('pending', 'running', 'verifying');
                    CREATE INDEX actions_by_incident ON actions (incident_id);
                    CREATE INDEX actions_by_time ON actions (created_at);
                    -- Agent actions waiting to be handed to their agent in a report response.
                    CREATE TABLE agent_commands (
                        action_id TEXT PRIMARY KEY NOT NULL REFERENCES actions(id),
                        agent_id TEXT NOT NULL,
                        command TEXT NOT NULL,             -- AgentCommand JSON
                        handed_at INTEGER                  -- last hand-off; handed again if no result after a while
                    );
                    CREATE INDEX agent_commands_by_agent ON agent_commands (agent_id);
                    -- When actions started, for the global rate limit (rolling hour).
                    CREATE TABLE action_starts (action_id TEXT NOT NULL, at INTEGER NOT NULL);
                    CREATE INDEX action_starts_by_time ON action_starts (at);
                    ALTER TABLE incidents ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;  -- needs a person
                    ALTER TABLE checks ADD COLUMN detail TEXT;   -- rule-specific state as JSON (current gap ranges, stale items)
                    """)
        }
        migrator.registerMigration("v4-jobs-locks") { db in
            try db.execute(
                sql: """
                    -- Scheduler jobs as agents' inventories report them, with their targets' probe
                    -- health. One row per job name (subject job:<name>).
                    CREATE TABLE jobs (
                        name TEXT PRIMARY KEY NOT NULL,
                        agent_id TEXT NOT NULL,            -- the agent whose inventory holds it
                        scheduler TEXT,
                        schedule TEXT,
                        timezone TEXT,
                        target TEXT,
                        health_url TEXT,
                        enabled INTEGER NOT NULL,
                        present INTEGER NOT NULL DEFAULT 1, -- 0: missing from the latest inventory
                        last_attempt_at INTEGER,
                        last_result TEXT,
                        last_success_at INTEGER,
                        first_seen_at INTEGER NOT NULL,
                        updated_at INTEGER NOT NULL,       -- observed time of the latest inventory change
                        probe_target TEXT,                 -- the URL the latest probe hit
                        probe_failures INTEGER NOT NULL DEFAULT 0,   -- in a row
                        probe_successes INTEGER NOT NULL DEFAULT 0,  -- in a row
                        last_probe_at INTEGER,
                        last_probe_detail TEXT,
                        disabled_by_gapwatch INTEGER NOT NULL DEFAULT 0
                    );
                    -- Locks as agents last saw them (holder NULL: free). Subject lock:<name>.
                    CREATE TABLE locks (
                        name TEXT PRIMARY KEY NOT NULL,
                        agent_id TEXT NOT NULL,
                        holder TEXT,
                        acquired_at INTEGER,
                        expires_at INTEGER,
                        seen_at INTEGER NOT NULL           -- observed time of the latest sighting
                    );
                    -- Who asked for a manual action (a token id).
                    ALTER TABLE actions ADD COLUMN requested_by TEXT;
                    """)
        }
        migrator.registerMigration("v5-count-index") { db in
            // The latest count of a partition without scanning a dataset's whole history: the
            // completeness rules and `gapwatch gaps` ask for it per partition.
            try db.execute(sql: "CREATE INDEX observations_counts ON observations (subject_id, part, observed_at) WHERE kind = 3")
        }
        migrator.registerMigration("v6-daily-rollups") { db in
            try db.execute(
                sql: """
                    -- What retention keeps of pruned observations: per subject, kind and UTC day.
                    CREATE TABLE daily_rollups (
                        subject_id INTEGER NOT NULL,
                        kind INTEGER NOT NULL,
                        day TEXT NOT NULL,                 -- YYYY-MM-DD (UTC) of observed_at
                        observations INTEGER NOT NULL,
                        first_at INTEGER NOT NULL,
                        last_at INTEGER NOT NULL,
                        failed INTEGER NOT NULL,           -- fail pings, unhealthy probes, FAIL decisions, failed actions
                        num_min INTEGER,                   -- of the num column: durations, latencies, counts
                        num_max INTEGER,
                        num_sum INTEGER,
                        PRIMARY KEY (subject_id, kind, day)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v7-count-index-with-value") { db in
            // With the value in the index, finding when a partition's count last changed walks
            // the index alone (probes re-report unchanged counts; see Detector.latestCounts).
            try db.execute(sql: "DROP INDEX observations_counts")
            try db.execute(sql: "CREATE INDEX observations_counts ON observations (subject_id, part, observed_at, num) WHERE kind = 3")
        }
        migrator.registerMigration(observationsRewrite) { db in
            try migrateToSubjectClusteredObservations(db)
        }
        // A probe's failed runs in a row (issue 13: an incident after a few).
        migrator.registerMigration("v9-probe-fail-streak") { db in
            try db.execute(sql: "ALTER TABLE checks ADD COLUMN fail_streak INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v10-scheduler-repoint") { db in
            try db.execute(
                sql: """
                    -- One page per cause: a job belongs to its dead target's incident while it is open,
                    -- Gapwatch's disables are announced on it as one batch, and a job's no-success
                    -- judgement starts over when its target changed or last failed a probe.
                    ALTER TABLE jobs ADD COLUMN failing_service TEXT;          -- the open target incident's service it is part of
                    ALTER TABLE jobs ADD COLUMN disable_announce_incident INTEGER;  -- disabled by Gapwatch, not yet announced on this incident
                    ALTER TABLE jobs ADD COLUMN target_changed_at INTEGER;     -- observed time the inventory last changed its target or health_url
                    ALTER TABLE jobs ADD COLUMN last_probe_failure_at INTEGER; -- observed time of its latest failed probe
                    """)
        }
        migrator.registerMigration("v11-rejected-agents") { db in
            // Reports refused with 401/403, one row per (claimed agent id, token, source, reason);
            // token_id '' when the token is unknown or missing. RejectedAgents keeps it bounded.
            try db.execute(
                sql: """
                    CREATE TABLE rejected_agents (
                        claimed_agent_id TEXT NOT NULL,
                        token_id TEXT NOT NULL,
                        source TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        count INTEGER NOT NULL,
                        first_seen INTEGER NOT NULL,
                        last_seen INTEGER NOT NULL,
                        PRIMARY KEY (claimed_agent_id, token_id, source, reason)
                    );
                    CREATE INDEX rejected_agents_last_seen ON rejected_agents (last_seen);
                    """)
        }
        migrator.registerMigration("v12-fact-owners") { db in
            // Issue 14: facts have owners, the trusted service and labels come from the token or
            // the config, and guardrails apply per rule and per target as well as globally.
            try db.execute(
                sql: """
                    -- Who may report a fact that the config does not bind: its first reporter, until an
                    -- admin reassigns it. fact: job:NAME, lock:NAME, dataset:NAME, ping:NAME.
                    CREATE TABLE fact_owners (
                        fact TEXT PRIMARY KEY NOT NULL,
                        agent_id TEXT NOT NULL,
                        since INTEGER NOT NULL,
                        assigned_by TEXT                   -- NULL: the first report; else the admin token id
                    ) WITHOUT ROWID;
                    -- Observations refused because another agent owns their fact: per agent, at most a few
                    -- facts (FactOwners.maxRefusedFactsPerAgent); agents.refused counts every one.
                    CREATE TABLE refused_claims (
                        agent_id TEXT NOT NULL,
                        fact TEXT NOT NULL,
                        owner TEXT NOT NULL,               -- who may report it, as the refusal said
                        count INTEGER NOT NULL,
                        first_at INTEGER NOT NULL,
                        last_at INTEGER NOT NULL,
                        last_seq INTEGER NOT NULL,
                        PRIMARY KEY (agent_id, fact)
                    ) WITHOUT ROWID;
                    ALTER TABLE agents ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE agents ADD COLUMN bound_service TEXT;   -- from the token or the config, never the report
                    ALTER TABLE agents ADD COLUMN bound_labels TEXT;    -- JSON object, likewise
                    ALTER TABLE tokens ADD COLUMN service TEXT;
                    ALTER TABLE tokens ADD COLUMN labels TEXT;          -- JSON object; NULL: none
                    ALTER TABLE actions ADD COLUMN scope_rule TEXT;     -- the rule that queued it, for per-rule guardrails
                    ALTER TABLE actions ADD COLUMN scope_target TEXT;   -- agent:ID or the webhook's service, for per-target ones
                    -- What agents reported before owners existed stays theirs.
                    INSERT OR IGNORE INTO fact_owners (fact, agent_id, since) SELECT 'job:' || name, agent_id, first_seen_at FROM jobs;
                    INSERT OR IGNORE INTO fact_owners (fact, agent_id, since) SELECT 'lock:' || name, agent_id, seen_at FROM locks;
                    INSERT OR IGNORE INTO fact_owners (fact, agent_id, since)
                        SELECT s.name, st.agent_id, o.observed_at FROM subjects s
                        JOIN observations o ON o.subject_id = s.id
                            AND o.observed_at = (SELECT MIN(observed_at) FROM observations WHERE subject_id = s.id AND kind = 3)
                        JOIN streams st ON st.id = o.stream_id
                        WHERE s.name GLOB 'dataset:*' AND o.kind = 3;
                    """)
        }
        migrator.registerMigration("v13-streams-bound") { db in
            // Issue 14: commands go to the stream (spool) an agent id is bound to, a result counts
            // only from the stream its command was handed to, and a shared token brings new agent
            // ids at a bounded rate (counted by the token that brought them).
            try db.execute(
                sql: """
                    ALTER TABLE agents ADD COLUMN bound_stream_id INTEGER;   -- the stream its commands go to
                    ALTER TABLE agents ADD COLUMN created_by_token TEXT;     -- the fleet token whose report made the id
                    ALTER TABLE agent_commands ADD COLUMN handed_stream_id INTEGER;  -- the stream it was last handed to
                    ALTER TABLE streams ADD COLUMN previous_spool_id TEXT;   -- the spool it rotated from, as the agent said
                    CREATE INDEX agents_created_by_token ON agents (created_by_token, first_seen) WHERE created_by_token IS NOT NULL;
                    -- Agents that reported before: the stream they reported from last.
                    UPDATE agents SET bound_stream_id =
                        (SELECT s.id FROM streams s WHERE s.agent_id = agents.id ORDER BY s.last_seen DESC, s.id DESC LIMIT 1);
                    """)
        }
        migrator.registerMigration("v14-clock-skew") { db in
            // Observations whose time was corrected for the agent's clock, and ones refused as
            // dated too far after their receive time (see ClockBound).
            try db.execute(
                sql: """
                    ALTER TABLE agents ADD COLUMN clock_corrected INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE agents ADD COLUMN clock_refused INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("v15-action-heals") { db in
            // Issue 15: the rule kind and check an action heals are columns, written at enqueue,
            // rather than read back out of the key. Existing rows get them from their keys once,
            // here: completeness:NAME:HEAL:START..END, stale:NAME, freshness:NAME,
            // expectation:NAME:rerun, job:disable|enable|repoint:JOB, lock:release:LOCK (names may
            // hold ':', so a completeness name is what lies between the prefix and its known suffix).
            // A person's backfill (manual:...) heals no rule's check: both stay NULL.
            try db.execute(
                sql: """
                    ALTER TABLE actions ADD COLUMN heals_rule TEXT;    -- the rule kind that judges it healed (ActionHeals.Rule)
                    ALTER TABLE actions ADD COLUMN heals_check TEXT;   -- that kind's check name, or the job or lock it acts on
                    UPDATE actions SET heals_rule = 'stale_items', heals_check = substr(key, 7) WHERE substr(key, 1, 6) = 'stale:';
                    UPDATE actions SET heals_rule = 'freshness', heals_check = substr(key, 11) WHERE substr(key, 1, 10) = 'freshness:';
                    UPDATE actions SET heals_rule = 'expectation', heals_check = substr(key, 13, length(key) - 18)
                        WHERE substr(key, 1, 12) = 'expectation:' AND substr(key, -6) = ':rerun' AND length(key) > 18;
                    UPDATE actions SET heals_rule = 'scheduler_targets', heals_check = substr(key, 13)
                        WHERE substr(key, 1, 12) IN ('job:disable:', 'job:repoint:');
                    UPDATE actions SET heals_rule = 'scheduler_targets', heals_check = substr(key, 12) WHERE substr(key, 1, 11) = 'job:enable:';
                    UPDATE actions SET heals_rule = 'stuck_locks', heals_check = substr(key, 14) WHERE substr(key, 1, 13) = 'lock:release:';
                    UPDATE actions SET heals_rule = 'completeness', heals_check = substr(key, 14, length(key) - 13 - length(':backfill:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end')))
                        WHERE substr(key, 1, 13) = 'completeness:' AND substr(key, -length(':backfill:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end'))) = ':backfill:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end')
                            AND length(key) > 13 + length(':backfill:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end'));
                    UPDATE actions SET heals_rule = 'completeness', heals_check = substr(key, 14, length(key) - 13 - length(':scrape:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end')))
                        WHERE substr(key, 1, 13) = 'completeness:' AND substr(key, -length(':scrape:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end'))) = ':scrape:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end')
                            AND length(key) > 13 + length(':scrape:' || json_extract(parameters, '$.start') || '..' || json_extract(parameters, '$.end'));
                    """)
        }
        return migrator
    }

    static let observationsRewrite = "v8-observations-by-subject"

    /// v8: the table itself is ordered by subject and time, so the separate subject index (a
    /// second copy of every row's key, 22.5 of 74 bytes per observation) goes. Deduplication moves
    /// from the primary key to `stream_seq_runs`: the seq ranges stored per stream, which in-order
    /// shipping keeps to one run per stream (a new run only at a gap). Received time is kept as
    /// its small lag behind observed time; `received_at` is a virtual column computed from it.
    static func migrateToSubjectClusteredObservations(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE observations_v8 (
                    subject_id INTEGER NOT NULL,
                    observed_at INTEGER NOT NULL,
                    stream_id INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    received_lag INTEGER NOT NULL,     -- received_at - observed_at (ms): usually a few bytes
                    kind INTEGER NOT NULL,
                    status TEXT,
                    part TEXT,
                    num INTEGER,
                    code INTEGER,
                    at1 INTEGER,
                    at2 INTEGER,
                    text TEXT,
                    target TEXT,
                    received_at INTEGER GENERATED ALWAYS AS (observed_at + received_lag) VIRTUAL,
                    PRIMARY KEY (subject_id, observed_at, stream_id, seq)
                ) WITHOUT ROWID;
                -- Every seq stored per stream as inclusive ranges: the dedup record. Runs never
                -- overlap; the run with the highest from_seq ends at the stream's highest stored seq.
                CREATE TABLE stream_seq_runs (
                    stream_id INTEGER NOT NULL,
                    from_seq INTEGER NOT NULL,
                    to_seq INTEGER NOT NULL,
                    PRIMARY KEY (stream_id, from_seq)
                ) WITHOUT ROWID;
                """)
        // Gaps and islands over the old primary key order: one run per unbroken range of seqs.
        try db.execute(
            sql: """
                INSERT INTO stream_seq_runs (stream_id, from_seq, to_seq)
                SELECT stream_id, MIN(seq), MAX(seq) FROM (
                    SELECT stream_id, seq, seq - ROW_NUMBER() OVER (PARTITION BY stream_id ORDER BY seq) AS island
                    FROM observations)
                GROUP BY stream_id, island
                """)
        // Copied in the new key's order (the old subject index already holds it), so the new
        // B-tree is written front to back with full pages.
        try db.execute(
            sql: """
                INSERT INTO observations_v8
                    (subject_id, observed_at, stream_id, seq, received_lag, kind, status, part, num, code, at1, at2, text, target)
                SELECT subject_id, observed_at, stream_id, seq, received_at - observed_at, kind, status, part, num, code, at1, at2, text, target
                FROM observations ORDER BY subject_id, observed_at, stream_id, seq
                """)
        try db.execute(sql: "DROP TABLE observations")
        try db.execute(sql: "ALTER TABLE observations_v8 RENAME TO observations")
        try db.execute(sql: "CREATE INDEX observations_counts ON observations (subject_id, part, observed_at, num) WHERE kind = 3")
    }
}
