-- Record retention (21 CFR 11.10(c); P11-10c-1): how long a closed project's records are kept,
-- legal holds, logical deletion (a tombstone with its reason) and purges. Every table here is a
-- history that is only appended to; the current state is read from it. Each row is recorded by
-- an audit event, and `concord audit verify` re-derives it.

-- A project's retention period, newest row first: `days` after the project is deleted its
-- records may be purged; NULL keeps them indefinitely (the default when no row exists).
CREATE TABLE retention_policies (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    days       INTEGER CHECK (days IS NULL OR days >= 0),
    set_at     INTEGER NOT NULL,
    set_by     INTEGER REFERENCES users(id),
    reason     TEXT    NOT NULL
);
CREATE INDEX retention_policies_by_project ON retention_policies (project_id, id);

-- Legal holds: while a hold has no release, the project cannot be deleted or purged.
CREATE TABLE legal_holds (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    placed_at  INTEGER NOT NULL,
    placed_by  INTEGER REFERENCES users(id),
    reason     TEXT    NOT NULL
);
CREATE INDEX legal_holds_by_project ON legal_holds (project_id);
CREATE TABLE legal_hold_releases (
    id          INTEGER PRIMARY KEY,
    hold_id     INTEGER NOT NULL UNIQUE REFERENCES legal_holds(id),
    released_at INTEGER NOT NULL,
    released_by INTEGER REFERENCES users(id),
    reason      TEXT    NOT NULL
);

-- Logical deletion: the project is closed (nothing more is written to it) and its retention
-- period starts. Its records stay readable until a purge.
CREATE TABLE project_deletions (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL UNIQUE REFERENCES projects(id),
    deleted_at INTEGER NOT NULL,
    deleted_by INTEGER REFERENCES users(id),
    reason     TEXT    NOT NULL
);

-- Purges: the project's records were removed once its retention period had run out with no
-- hold. The project's row, this history and the audit trail stay.
CREATE TABLE purges (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL UNIQUE REFERENCES projects(id),
    purged_at  INTEGER NOT NULL,
    purged_by  INTEGER REFERENCES users(id),
    reason     TEXT    NOT NULL
);

CREATE TRIGGER retention_policies_no_update BEFORE UPDATE ON retention_policies
BEGIN SELECT RAISE(ABORT, 'retention policies are append-only'); END;
CREATE TRIGGER retention_policies_no_delete BEFORE DELETE ON retention_policies
BEGIN SELECT RAISE(ABORT, 'retention policies are append-only'); END;
CREATE TRIGGER legal_holds_no_update BEFORE UPDATE ON legal_holds
BEGIN SELECT RAISE(ABORT, 'legal holds are append-only: a release is a new row'); END;
CREATE TRIGGER legal_holds_no_delete BEFORE DELETE ON legal_holds
BEGIN SELECT RAISE(ABORT, 'legal holds are append-only: a release is a new row'); END;
CREATE TRIGGER legal_hold_releases_no_update BEFORE UPDATE ON legal_hold_releases
BEGIN SELECT RAISE(ABORT, 'legal hold releases are append-only'); END;
CREATE TRIGGER legal_hold_releases_no_delete BEFORE DELETE ON legal_hold_releases
BEGIN SELECT RAISE(ABORT, 'legal hold releases are append-only'); END;
CREATE TRIGGER project_deletions_no_update BEFORE UPDATE ON project_deletions
BEGIN SELECT RAISE(ABORT, 'project deletions are append-only'); END;
CREATE TRIGGER project_deletions_no_delete BEFORE DELETE ON project_deletions
BEGIN SELECT RAISE(ABORT, 'project deletions are append-only'); END;
CREATE TRIGGER purges_no_update BEFORE UPDATE ON purges
BEGIN SELECT RAISE(ABORT, 'purges are append-only'); END;
CREATE TRIGGER purges_no_delete BEFORE DELETE ON purges
BEGIN SELECT RAISE(ABORT, 'purges are append-only'); END;

-- A deleted project takes no new records. (Open leases are expired by the deletion itself.)
CREATE TRIGGER assignments_closed_project BEFORE INSERT ON assignments
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER items_closed_project BEFORE INSERT ON items
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER protocols_closed_project BEFORE INSERT ON protocols
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER consensus_runs_closed_project BEFORE INSERT ON consensus_runs
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER adjudications_closed_project BEFORE INSERT ON adjudications
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER releases_closed_project BEFORE INSERT ON releases
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER truthing_plans_closed_project BEFORE INSERT ON truthing_plans
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;
CREATE TRIGGER predictions_closed_project BEFORE INSERT ON predictions
WHEN EXISTS (SELECT 1 FROM project_deletions WHERE project_id = NEW.project_id)
BEGIN SELECT RAISE(ABORT, 'the project is deleted: it takes no new records'); END;

-- Deleting a record is refused unless a purge of its project is recorded (the purge writes its
-- row, then removes the records, in one transaction). The append-only triggers of 0002–0006
-- are replaced by ones that let a purge through; `concord audit verify` checks that every
-- removed record is listed by a chained `project.purge` event.
DROP TRIGGER annotations_no_delete;
CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'annotations are append-only: a correction supersedes'); END;
DROP TRIGGER adjudications_no_delete;
CREATE TRIGGER adjudications_no_delete BEFORE DELETE ON adjudications
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'adjudications are append-only: a correction supersedes'); END;
DROP TRIGGER protocols_no_delete;
CREATE TRIGGER protocols_no_delete BEFORE DELETE ON protocols
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'protocol versions are immutable'); END;
DROP TRIGGER consensus_runs_no_delete;
CREATE TRIGGER consensus_runs_no_delete BEFORE DELETE ON consensus_runs
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'consensus runs are append-only'); END;
DROP TRIGGER consensus_labels_no_delete;
CREATE TRIGGER consensus_labels_no_delete BEFORE DELETE ON consensus_labels
WHEN NOT EXISTS (SELECT 1 FROM purges p JOIN consensus_runs r ON r.project_id = p.project_id
                 WHERE r.id = OLD.run_id)
BEGIN SELECT RAISE(ABORT, 'consensus labels are append-only'); END;
DROP TRIGGER signatures_no_delete;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
WHEN NOT EXISTS (SELECT 1 FROM purges p WHERE p.project_id = CASE OLD.record_kind
        WHEN 'annotation' THEN (SELECT project_id FROM annotations WHERE id = OLD.record_id)
        WHEN 'consensus_run' THEN (SELECT project_id FROM consensus_runs WHERE id = OLD.record_id)
        WHEN 'adjudication' THEN (SELECT project_id FROM adjudications WHERE id = OLD.record_id)
        WHEN 'release' THEN (SELECT project_id FROM releases WHERE id = OLD.record_id)
        WHEN 'truthing_plan' THEN (SELECT project_id FROM truthing_plans WHERE id = OLD.record_id)
        END)
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
DROP TRIGGER releases_no_delete;
CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'releases are immutable: cut a new one'); END;
DROP TRIGGER truthing_plans_no_delete;
CREATE TRIGGER truthing_plans_no_delete BEFORE DELETE ON truthing_plans
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'truthing plans are immutable: lock a new one'); END;
DROP TRIGGER predictions_no_delete;
CREATE TRIGGER predictions_no_delete BEFORE DELETE ON predictions
WHEN NOT EXISTS (SELECT 1 FROM purges WHERE project_id = OLD.project_id)
BEGIN SELECT RAISE(ABORT, 'predictions are append-only'); END;
