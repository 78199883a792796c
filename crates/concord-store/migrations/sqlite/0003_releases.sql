-- Frozen releases of a project's reference standard (docs/audit.md, "Releases"). The manifest
-- is canonical JSON holding everything an export needs (items, labels, confidences, statuses,
-- every read, provenance ids, content hashes), so an export is a function of this row alone
-- and gives the same bytes whatever happens in the project afterwards.
CREATE TABLE releases (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    name            TEXT    NOT NULL,
    purpose         TEXT    NOT NULL,
    manifest        TEXT    NOT NULL,
    manifest_sha256 TEXT    NOT NULL,
    created_by      INTEGER NOT NULL REFERENCES users(id),
    created_at      INTEGER NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
