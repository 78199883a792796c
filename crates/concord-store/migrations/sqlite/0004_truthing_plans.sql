-- Truthing plans (FDA CADe guidances: the reference-standard method is fixed before the
-- evaluation starts): a manager signs a protocol version and the project's consensus settings.
-- Once reads have started, a change of either needs a reason and is recorded as a
-- `plan.deviation` event in the transaction that makes it.
CREATE TABLE truthing_plans (
    id               INTEGER PRIMARY KEY,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    protocol_version INTEGER NOT NULL,
    schema_sha256    TEXT    NOT NULL,
    settings         TEXT    NOT NULL,
    created_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL
);

CREATE TRIGGER truthing_plans_no_update BEFORE UPDATE ON truthing_plans
BEGIN SELECT RAISE(ABORT, 'truthing plans are immutable: lock a new one'); END;
CREATE TRIGGER truthing_plans_no_delete BEFORE DELETE ON truthing_plans
BEGIN SELECT RAISE(ABORT, 'truthing plans are immutable: lock a new one'); END;
