-- Concord's schema (SQLite). Times are UTC milliseconds since the Unix epoch.
-- Append-only tables (annotations, consensus_runs, consensus_labels, annotator_skills,
-- adjudications) are never updated or deleted by the application: a correction is a new row
-- that names the row it supersedes.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    email          TEXT,
    roles          TEXT    NOT NULL,
    password_hash  TEXT,
    qualifications TEXT    NOT NULL DEFAULT '[]',
    cost           REAL    NOT NULL DEFAULT 1,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    settings   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id)
);

CREATE TABLE protocols (
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    version       INTEGER NOT NULL,
    schema        TEXT    NOT NULL,
    schema_sha256 TEXT    NOT NULL,
    note          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    INTEGER REFERENCES users(id),
    PRIMARY KEY (project_id, version)
);

CREATE TABLE items (
    id             INTEGER PRIMARY KEY,
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    external_id    TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    content        TEXT    NOT NULL,
    content_sha256 TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    gold           TEXT,
    created_at     INTEGER NOT NULL,
    UNIQUE (project_id, external_id)
);

-- The derived, mutable state of an item in the workflow (how many labels it needs, what the
-- consensus says now). Rebuildable from the append-only tables.
CREATE TABLE item_state (
    item_id     INTEGER PRIMARY KEY REFERENCES items(id),
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    is_gold     INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    needed      INTEGER NOT NULL,
    n_labels    INTEGER NOT NULL DEFAULT 0,
    n_leased    INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL,
    label       TEXT,
    confidence  REAL,
    reason      TEXT,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX item_state_open ON item_state (project_id, is_gold, state, seq);

CREATE TABLE assignments (
    id               INTEGER PRIMARY KEY,
    item_id          INTEGER NOT NULL REFERENCES items(id),
    annotator_id     INTEGER NOT NULL REFERENCES users(id),
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    protocol_version INTEGER NOT NULL,
    purpose          TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    leased_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    closed_at        INTEGER,
    UNIQUE (item_id, annotator_id)
);
CREATE INDEX assignments_by_annotator ON assignments (annotator_id, project_id, state);
CREATE INDEX assignments_leased ON assignments (project_id, state, expires_at);

CREATE TABLE annotations (
    id               INTEGER PRIMARY KEY,
    item_id          INTEGER NOT NULL REFERENCES items(id),
    annotator_id     INTEGER NOT NULL REFERENCES users(id),
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    assignment_id    INTEGER REFERENCES assignments(id),
    protocol_version INTEGER NOT NULL,
    value            TEXT    NOT NULL,
    time_spent_ms    INTEGER,
    created_at       INTEGER NOT NULL,
    supersedes       INTEGER REFERENCES annotations(id)
);
CREATE INDEX annotations_by_item ON annotations (item_id);
CREATE INDEX annotations_by_project ON annotations (project_id, id);
CREATE UNIQUE INDEX annotations_supersedes ON annotations (supersedes) WHERE supersedes IS NOT NULL;

-- Per project and annotator: the qualification gate's progress.
CREATE TABLE enrolments (
    project_id   INTEGER NOT NULL REFERENCES projects(id),
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    phase        TEXT    NOT NULL,
    gold_answered INTEGER NOT NULL DEFAULT 0,
    gold_correct  INTEGER NOT NULL DEFAULT 0,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, annotator_id)
);

CREATE TABLE consensus_runs (
    id               INTEGER PRIMARY KEY,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    method           TEXT    NOT NULL,
    method_version   TEXT    NOT NULL,
    parameters       TEXT    NOT NULL,
    seed             INTEGER NOT NULL,
    protocol_version INTEGER NOT NULL,
    task_id          TEXT    NOT NULL,
    input_sha256     TEXT    NOT NULL,
    n_items          INTEGER NOT NULL,
    n_annotations    INTEGER NOT NULL,
    iterations       INTEGER NOT NULL,
    converged        INTEGER NOT NULL,
    run_by           INTEGER REFERENCES users(id),
    created_at       INTEGER NOT NULL
);

CREATE TABLE consensus_labels (
    run_id     INTEGER NOT NULL REFERENCES consensus_runs(id),
    item_id    INTEGER NOT NULL REFERENCES items(id),
    label      TEXT    NOT NULL,
    confidence REAL    NOT NULL,
    posterior  TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    PRIMARY KEY (run_id, item_id)
);

CREATE TABLE annotator_skills (
    run_id       INTEGER NOT NULL REFERENCES consensus_runs(id),
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    skill        TEXT    NOT NULL,
    n_labels     INTEGER NOT NULL,
    gold_correct INTEGER NOT NULL,
    gold_total   INTEGER NOT NULL,
    PRIMARY KEY (run_id, annotator_id)
);

CREATE TABLE adjudications (
    id               INTEGER PRIMARY KEY,
    item_id          INTEGER NOT NULL REFERENCES items(id),
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    adjudicator_id   INTEGER NOT NULL REFERENCES users(id),
    value            TEXT    NOT NULL,
    rationale        TEXT    NOT NULL,
    considered       TEXT    NOT NULL,
    consensus_run_id INTEGER REFERENCES consensus_runs(id),
    protocol_version INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    supersedes       INTEGER REFERENCES adjudications(id)
);
CREATE INDEX adjudications_by_item ON adjudications (item_id);
