-- A model's predictions, imported as a non-voting source: edge-case ranking compares them with
-- the consensus; truth inference never reads them. Append-only, like annotations; a model name
-- carries its version, and re-importing a (model, item) pair is refused.
CREATE TABLE predictions (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    item_id    INTEGER NOT NULL REFERENCES items(id),
    model      TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    confidence REAL,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, model, item_id)
);

CREATE TRIGGER predictions_no_update BEFORE UPDATE ON predictions
BEGIN SELECT RAISE(ABORT, 'predictions are append-only'); END;
CREATE TRIGGER predictions_no_delete BEFORE DELETE ON predictions
BEGIN SELECT RAISE(ABORT, 'predictions are append-only'); END;
