-- 002_events: the append-only event log the dashboard reads, and the index the
-- per-sweep views need (shards of one sweep by state).
CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  ts_ms    INTEGER NOT NULL,
  sweep_id INTEGER,          -- NULL for events that concern no sweep (a worker joined)
  kind     TEXT    NOT NULL, -- "submitted", "shard-failed", "lease-expired", ...
  message  TEXT    NOT NULL
);
CREATE INDEX events_by_sweep ON events (sweep_id, id);
CREATE INDEX shards_by_sweep_state ON shards (sweep_id, state);
