-- 001_init: kvfunda's store (see docs/architecture.md, "Store").
-- Applied by coordinator/store/migrations.cc inside one transaction; the version is
-- recorded in schema_version. Never edit an applied migration: add a new file.

-- A submitted sweep. spec_json is the canonical spec (defaults filled in).
CREATE TABLE sweeps (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  spec_json     TEXT    NOT NULL,
  spec_hash     TEXT    NOT NULL,  -- hex sha256 of spec_json
  state         TEXT    NOT NULL
                CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  created_ms    INTEGER NOT NULL,
  updated_ms    INTEGER NOT NULL,
  max_attempts  INTEGER NOT NULL CHECK (max_attempts > 0),
  shard_size    INTEGER NOT NULL CHECK (shard_size > 0),
  seed          INTEGER NOT NULL,  -- uint64 stored as its int64 bit pattern
  decoding_json TEXT    NOT NULL,  -- {"max_new_tokens", "temperature", "top_p"}
  data_dir      TEXT    NOT NULL
);

-- One point of the grid. cell_id is the sha256 of identity_json, which holds
-- everything that can change a result; cells are shared by every sweep that
-- names the same settings, so their results are reused.
CREATE TABLE cells (
  cell_id        TEXT    PRIMARY KEY,
  model_id       TEXT    NOT NULL,  -- the name used by the first sweep that made it
  model_checksum TEXT    NOT NULL,
  method         TEXT    NOT NULL,
  params_json    TEXT    NOT NULL,
  ratio          REAL    NOT NULL,
  task           TEXT    NOT NULL,
  shots          INTEGER NOT NULL,
  identity_json  TEXT    NOT NULL,
  created_ms     INTEGER NOT NULL
);

-- A (model, task, shots) group of a sweep: the cells one shard carries.
CREATE TABLE sweep_groups (
  sweep_id         INTEGER NOT NULL REFERENCES sweeps(id),
  group_idx        INTEGER NOT NULL,
  model_id         TEXT    NOT NULL,
  model_path       TEXT    NOT NULL,
  model_type       TEXT    NOT NULL,
  model_checksum   TEXT    NOT NULL,
  task             TEXT    NOT NULL,
  shots            INTEGER NOT NULL,
  task_params_json TEXT    NOT NULL,
  samples          INTEGER NOT NULL CHECK (samples > 0),
  PRIMARY KEY (sweep_id, group_idx)
);

-- Which cells a sweep evaluates, in the order its shards carry them.
CREATE TABLE sweep_cells (
  sweep_id  INTEGER NOT NULL REFERENCES sweeps(id),
  cell_id   TEXT    NOT NULL REFERENCES cells(cell_id),
  group_idx INTEGER NOT NULL,
  cell_idx  INTEGER NOT NULL,
  PRIMARY KEY (sweep_id, cell_id)
);

-- The unit of scheduling: every cell of one group over [sample_begin, sample_end).
CREATE TABLE shards (
  id                INTEGER PRIMARY KEY,
  sweep_id          INTEGER NOT NULL REFERENCES sweeps(id),
  group_idx         INTEGER NOT NULL,
  model_id          TEXT    NOT NULL,
  task              TEXT    NOT NULL,
  shots             INTEGER NOT NULL,
  sample_begin      INTEGER NOT NULL,
  sample_end        INTEGER NOT NULL CHECK (sample_end > sample_begin),
  state             TEXT    NOT NULL
                    CHECK (state IN ('pending', 'leased', 'done', 'failed', 'cancelled')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_id          TEXT    NOT NULL DEFAULT '',
  lease_owner       TEXT    NOT NULL DEFAULT '',
  lease_deadline_ms INTEGER NOT NULL DEFAULT 0,
  not_before_ms     INTEGER NOT NULL DEFAULT 0,
  last_error_kind   TEXT    NOT NULL DEFAULT '',
  last_error        TEXT    NOT NULL DEFAULT '',
  samples_done      INTEGER NOT NULL DEFAULT 0,
  updated_ms        INTEGER NOT NULL
);

-- One evaluated (cell, sample) pair; the first report wins, later ones are ignored.
CREATE TABLE results (
  id             INTEGER PRIMARY KEY,
  cell_id        TEXT    NOT NULL REFERENCES cells(cell_id),
  sample_idx     INTEGER NOT NULL,
  score          REAL    NOT NULL,
  metrics_json   TEXT    NOT NULL DEFAULT '{}',
  prediction     TEXT    NOT NULL DEFAULT '',
  reference      TEXT    NOT NULL DEFAULT '',
  prompt_tokens  INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  kv_bytes_peak  INTEGER NOT NULL DEFAULT 0,
  kv_bytes_final INTEGER NOT NULL DEFAULT 0,
  prefill_ms     REAL    NOT NULL DEFAULT 0,
  decode_ms      REAL    NOT NULL DEFAULT 0,
  detail_json    TEXT    NOT NULL DEFAULT '',
  worker_id      TEXT    NOT NULL DEFAULT '',
  reported_ms    INTEGER NOT NULL,
  UNIQUE (cell_id, sample_idx)
);

CREATE TABLE workers (
  id                TEXT    PRIMARY KEY,
  name              TEXT    NOT NULL,
  host              TEXT    NOT NULL,
  device            TEXT    NOT NULL,
  memory_bytes      INTEGER NOT NULL DEFAULT 0,
  models_json       TEXT    NOT NULL DEFAULT '[]',
  pid               INTEGER NOT NULL DEFAULT 0,
  registered_ms     INTEGER NOT NULL,
  last_heartbeat_ms INTEGER NOT NULL
);

-- Cache of model checksums: recomputed when the file's size or mtime changes.
CREATE TABLE model_checksums (
  path        TEXT    PRIMARY KEY,
  size        INTEGER NOT NULL,
  mtime_ns    INTEGER NOT NULL,
  sha256      TEXT    NOT NULL,
  computed_ms INTEGER NOT NULL
);
