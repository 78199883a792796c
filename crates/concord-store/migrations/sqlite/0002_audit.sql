-- The audit trail and electronic signatures (docs/audit.md).
--
-- audit_events: one row per state change, appended in the transaction that makes the change.
-- `hash` is the SHA-256 of the event's canonical encoding, which includes `prev_hash` (the hash
-- of the event before it), so the rows form a chain; `mac` is an HMAC-SHA-256 of `hash` under a
-- key derived from the audit key file, so a chain rewritten with fresh hashes shows where it
-- starts. No index beyond the sequence number: every extra index is paid on every submission,
-- and the filters of `concord audit log` scan.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     INTEGER,
    action    TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    before    TEXT,
    after     TEXT,
    reason    TEXT,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL,
    mac       BLOB    NOT NULL
);

-- The chain head: the newest event's sequence number and hash, signed with the Ed25519 audit
-- key (kept outside the database), rewritten in the same transaction as every append. Cutting
-- off the newest events needs a head signed for an older event, which only the key can make.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    seq        INTEGER NOT NULL,
    hash       BLOB    NOT NULL,
    signature  BLOB    NOT NULL,
    public_key BLOB    NOT NULL
);

-- Electronic signatures (21 CFR 11.50, 11.70): who, the printed name, when, what it means, and
-- the SHA-256 of the signed record's content at signing.
CREATE TABLE signatures (
    id            INTEGER PRIMARY KEY,
    signer_id     INTEGER NOT NULL REFERENCES users(id),
    printed_name  TEXT    NOT NULL,
    meaning       TEXT    NOT NULL,
    record_kind   TEXT    NOT NULL,
    record_id     INTEGER NOT NULL,
    record_sha256 TEXT    NOT NULL,
    signed_at     INTEGER NOT NULL
);
CREATE INDEX signatures_by_record ON signatures (record_kind, record_id);

-- No code path of the application updates or deletes these rows; the triggers make an attempt
-- fail loudly instead of silently obscuring a record. (Someone who can write the file can drop
-- a trigger; `concord audit verify` is what catches that.)
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only: a correction supersedes'); END;
CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
BEGIN SELECT RAISE(ABORT, 'annotations are append-only: a correction supersedes'); END;
CREATE TRIGGER adjudications_no_update BEFORE UPDATE ON adjudications
BEGIN SELECT RAISE(ABORT, 'adjudications are append-only: a correction supersedes'); END;
CREATE TRIGGER adjudications_no_delete BEFORE DELETE ON adjudications
BEGIN SELECT RAISE(ABORT, 'adjudications are append-only: a correction supersedes'); END;
CREATE TRIGGER protocols_no_update BEFORE UPDATE ON protocols
BEGIN SELECT RAISE(ABORT, 'protocol versions are immutable'); END;
CREATE TRIGGER protocols_no_delete BEFORE DELETE ON protocols
BEGIN SELECT RAISE(ABORT, 'protocol versions are immutable'); END;
CREATE TRIGGER consensus_runs_no_update BEFORE UPDATE ON consensus_runs
BEGIN SELECT RAISE(ABORT, 'consensus runs are append-only'); END;
CREATE TRIGGER consensus_runs_no_delete BEFORE DELETE ON consensus_runs
BEGIN SELECT RAISE(ABORT, 'consensus runs are append-only'); END;
CREATE TRIGGER consensus_labels_no_update BEFORE UPDATE ON consensus_labels
BEGIN SELECT RAISE(ABORT, 'consensus labels are append-only'); END;
CREATE TRIGGER consensus_labels_no_delete BEFORE DELETE ON consensus_labels
BEGIN SELECT RAISE(ABORT, 'consensus labels are append-only'); END;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
