//! Verifying the audit trail: the chain, the signed head, and every audited record re-derived
//! from its event (the checks and their order are in `docs/audit.md`, "Verifying").
//!
//! Speed: the events are streamed in chunks; one thread reads from SQLite while the rayon pool
//! hashes the previous chunk (SHA-256 of each event and its HMAC), and only what the record
//! checks need is kept — for each audited record, the event's sequence number and a keyed
//! 64-bit digest of its `after` text (the key is drawn afresh for every verification, so a
//! changed record cannot be made to collide with it).

use crate::StoreResult;
use crate::audit::{
    ANNOTATION_RECORD_COLUMNS, AuditVerifier, EventFields, GENESIS, adjudication_record,
    annotation_record, event_hash, event_mac, head_message, import_record, plan_record,
    protocol_record, read_head, release_record, run_record, sha256_hex, signable_record,
    signature_record,
};
use ed25519_dalek::{Signature, Verifier};
use rayon::prelude::*;
use rusqlite::{Connection, Row};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

/// What is wrong at a place in the chain or in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakKind {
    /// An event's content no longer matches its hash.
    Altered,
    /// Events are missing from the middle of the chain.
    Deleted,
    /// An event is not where it was written.
    Reordered,
    /// An event the application did not write (its MAC does not match): inserted, or altered
    /// and re-hashed as part of a rewritten chain.
    Inserted,
    /// The newest events were cut off (the signed head names a later event).
    Truncated,
    /// The head's signature does not verify, or the head is missing.
    HeadInvalid,
    /// A stored record differs from what its event recorded.
    RecordChanged,
    /// A record its event recorded is gone.
    RecordDeleted,
    /// A record no event recorded (written outside the application).
    RecordUnaudited,
    /// A signature no longer matches the record it signed.
    SignatureInvalid,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The sequence number of the first event concerned (`None` for a record no event
    /// mentions).
    pub seq: Option<i64>,
    /// What kind of problem.
    pub kind: BreakKind,
    /// What exactly, in words.
    pub detail: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Whether nothing is wrong.
    pub intact: bool,
    /// Events in the chain.
    pub events: i64,
    /// The signed head's sequence number.
    pub head_seq: Option<i64>,
    /// The signed head's hash, hex (keep it elsewhere to detect a rollback later).
    pub head_hash: Option<String>,
    /// Whether the per-event MACs were checked.
    pub macs_checked: bool,
    /// Records re-derived from their events, by kind.
    pub records_checked: BTreeMap<String, i64>,
    /// Signatures whose records still match.
    pub signatures_checked: i64,
    /// The first problem (lowest sequence number).
    pub first_break: Option<Break>,
    /// Every problem found (at most 100), in sequence order.
    pub breaks: Vec<Break>,
}

/// Events read per chunk.
const CHUNK: usize = 8192;

/// One stored event, as read.
struct StoredEvent {
    seq: i64,
    at: i64,
    actor: Option<i64>,
    action: String,
    entity: String,
    before: Option<String>,
    after: Option<String>,
    reason: Option<String>,
    prev: Option<[u8; 32]>,
    hash: Option<[u8; 32]>,
    mac: Vec<u8>,
}

impl StoredEvent {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        let blob = |i: usize| -> rusqlite::Result<Option<[u8; 32]>> {
            Ok(r.get_ref(i)?.as_blob().ok().and_then(|b| b.try_into().ok()))
        };
        Ok(Self {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            entity: r.get(4)?,
            before: r.get(5)?,
            after: r.get(6)?,
            reason: r.get(7)?,
            prev: blob(8)?,
            hash: blob(9)?,
            mac: r.get(10)?,
        })
    }

    /// The hash recomputed from the stored content, as if the event had sequence number `seq`.
    fn rehash(&self, seq: i64) -> Option<[u8; 32]> {
        let prev = self.prev.as_ref()?;
        Some(event_hash(&EventFields {
            seq,
            at: self.at,
            actor: self.actor,
            action: &self.action,
            entity: &self.entity,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            reason: self.reason.as_deref(),
            prev,
        }))
    }
}

/// What the checks of one event found, computed in parallel.
struct Checked {
    hash_ok: bool,
    mac_ok: bool,
    /// The record the event vouches for: kind, key, keyed digest of `after`.
    record: Option<(&'static str, i64, u64)>,
}

/// Record kinds whose creating event carries the record's canonical text, keyed by id.
fn record_kind(action: &str, entity: &str) -> Option<(&'static str, i64)> {
    let kind = match action {
        "annotation.create" => "annotation",
        "adjudication.create" | "adjudication.correct" => "adjudication",
        "consensus.run" => "consensus_run",
        "signature.create" => "signature",
        "release.create" => "release",
        "plan.lock" => "truthing_plan",
        _ => return None,
    };
    let id = entity.split_once(':')?.1.parse().ok()?;
    Some((kind, id))
}

/// The chain walk, carried from chunk to chunk.
struct Walk<'v> {
    verifier: &'v AuditVerifier,
    digest: std::collections::hash_map::RandomState,
    expected: i64,
    prev: [u8; 32],
    broken: bool,
    last: Option<(i64, [u8; 32])>,
    count: i64,
    breaks: Vec<Break>,
    /// (kind, id) → (sequence number, digest of the recorded text).
    recorded: HashMap<(&'static str, i64), (i64, u64)>,
    /// Imports and protocol versions: few, kept whole.
    imports: Vec<(i64, String)>,
    protocols: HashMap<(i64, i64), (i64, String)>,
}

impl Walk<'_> {
    fn digest(&self, text: &str) -> u64 {
        self.digest.hash_one(text)
    }

    fn chunk(&mut self, events: Vec<StoredEvent>) {
        let checked: Vec<Checked> = events
            .par_iter()
            .map(|e| {
                let hash_ok = e.hash.is_some() && e.rehash(e.seq) == e.hash;
                let mac_ok = match (&self.verifier.mac_key(), &e.hash) {
                    (None, _) => true,
                    (Some(key), Some(hash)) => event_mac(key, hash)[..] == e.mac[..],
                    (Some(_), None) => false,
                };
                let record = record_kind(&e.action, &e.entity).and_then(|(kind, id)| {
                    let after = e.after.as_deref()?;
                    Some((kind, id, self.digest(after)))
                });
                Checked {
                    hash_ok,
                    mac_ok,
                    record,
                }
            })
            .collect();
        for (e, c) in events.iter().zip(checked) {
            self.count += 1;
            if let Some((kind, id, digest)) = c.record {
                self.recorded.insert((kind, id), (e.seq, digest));
            }
            match e.action.as_str() {
                "items.import" => {
                    if let Some(after) = &e.after {
                        self.imports.push((e.seq, after.clone()));
                    }
                }
                "protocol.create" => {
                    if let (Some(after), Some((_, id))) = (&e.after, e.entity.split_once(':'))
                        && let Some((p, v)) = id.split_once('.')
                        && let (Ok(p), Ok(v)) = (p.parse(), v.trim_start_matches('v').parse())
                    {
                        self.protocols.insert((p, v), (e.seq, after.clone()));
                    }
                }
                _ => {}
            }
            if self.broken {
                continue;
            }
            self.link(e, &c);
        }
    }

    /// The sequential checks of one event: number, hash, link, MAC.
    fn link(&mut self, e: &StoredEvent, c: &Checked) {
        let expected = self.expected;
        let prev = self.prev;
        let mut fail = |kind: BreakKind, seq: i64, detail: String| {
            self.breaks.push(Break {
                seq: Some(seq),
                kind,
                detail,
            });
            true
        };
        let broken = if e.seq != expected {
            fail(
                BreakKind::Deleted,
                expected,
                format!(
                    "events {expected}..{} are missing: the sequence jumps from {} to {}",
                    e.seq - 1,
                    expected - 1,
                    e.seq
                ),
            )
        } else if !c.hash_ok {
            let moved = (e.seq - 8..=e.seq + 8)
                .filter(|&s| s != e.seq && s > 0)
                .find(|&s| e.hash.is_some() && e.rehash(s) == e.hash);
            match moved {
                Some(original) => fail(
                    BreakKind::Reordered,
                    e.seq,
                    format!(
                        "event {} holds the event written as number {original} ({} {})",
                        e.seq, e.action, e.entity
                    ),
                ),
                None => fail(
                    BreakKind::Altered,
                    e.seq,
                    format!(
                        "event {} ({} {}) no longer matches its hash",
                        e.seq, e.action, e.entity
                    ),
                ),
            }
        } else if e.prev != Some(prev) {
            fail(
                BreakKind::Inserted,
                e.seq,
                format!(
                    "event {} does not follow event {}: its previous-hash link is broken (an \
                     event was inserted, removed or replaced here)",
                    e.seq,
                    e.seq - 1
                ),
            )
        } else if !c.mac_ok {
            fail(
                BreakKind::Inserted,
                e.seq,
                format!(
                    "event {} ({} {}) was not written by the application: its MAC does not \
                     match (inserted, or altered and re-hashed with the rest of the chain)",
                    e.seq, e.action, e.entity
                ),
            )
        } else {
            false
        };
        if broken {
            self.broken = true;
            return;
        }
        let hash = e.hash.expect("checked above");
        self.prev = hash;
        self.last = Some((e.seq, hash));
        self.expected += 1;
    }
}

/// Re-computes the chain, checks the signed head, and re-derives every stored annotation,
/// adjudication, protocol version, import, consensus run (labels and skills included),
/// signature, release and truthing plan from the events that recorded them.
pub(crate) fn verify(db: &Connection, verifier: &AuditVerifier) -> StoreResult<VerifyReport> {
    let mut walk = Walk {
        verifier,
        digest: std::collections::hash_map::RandomState::new(),
        expected: 1,
        prev: GENESIS.1,
        broken: false,
        last: None,
        count: 0,
        breaks: Vec::new(),
        recorded: HashMap::new(),
        imports: Vec::new(),
        protocols: HashMap::new(),
    };
    // One thread reads, the pool hashes the chunk before.
    std::thread::scope(|scope| -> StoreResult<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<StoredEvent>>(2);
        let worker = scope.spawn(|| {
            for chunk in rx {
                walk.chunk(chunk);
            }
        });
        let read = (|| -> StoreResult<()> {
            let mut statement = db.prepare(
                "SELECT seq, at, actor, action, entity, before, after, reason, prev_hash, hash, mac \
                 FROM audit_events ORDER BY seq",
            )?;
            let mut rows = statement.query([])?;
            let mut chunk = Vec::with_capacity(CHUNK);
            while let Some(r) = rows.next()? {
                chunk.push(StoredEvent::read(r)?);
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    if tx.send(full).is_err() {
                        break;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
            Ok(())
        })();
        drop(tx);
        worker.join().expect("the verifying thread does not panic");
        read
    })?;
    let mut breaks = std::mem::take(&mut walk.breaks);
    let mut push = |seq: Option<i64>, kind: BreakKind, detail: String| {
        breaks.push(Break { seq, kind, detail });
    };

    // The signed head.
    let head = read_head(db)?;
    let last = walk.last;
    let last_seq = if walk.broken {
        walk.count
    } else {
        last.map_or(0, |l| l.0)
    };
    match &head {
        None if walk.count > 0 => push(
            Some(1),
            BreakKind::HeadInvalid,
            "the signed chain head is missing".into(),
        ),
        None => {}
        Some(head) => {
            let signature_ok = head.public_key == verifier.public().as_bytes()
                && Signature::from_slice(&head.signature).is_ok_and(|s| {
                    verifier
                        .public()
                        .verify(&head_message(head.seq, &head.hash), &s)
                        .is_ok()
                });
            if !signature_ok {
                push(
                    Some(head.seq),
                    BreakKind::HeadInvalid,
                    format!(
                        "the chain head (event {}) is not signed by the audit key {}",
                        head.seq,
                        hex::encode(verifier.public().as_bytes())
                    ),
                );
            } else if walk.broken {
                // The chain break is reported; the head cannot be matched against it.
            } else if head.seq > last_seq {
                push(
                    Some(last_seq + 1),
                    BreakKind::Truncated,
                    format!(
                        "events {}..{} were cut off: the signed head names event {} but the \
                         chain ends at {last_seq}",
                        last_seq + 1,
                        head.seq,
                        head.seq
                    ),
                );
            } else if head.seq < last_seq {
                push(
                    Some(head.seq + 1),
                    BreakKind::Inserted,
                    format!(
                        "events {}..{last_seq} come after the signed head (event {}): they were \
                         not written by the application",
                        head.seq + 1,
                        head.seq
                    ),
                );
            } else if last.map(|l| l.1) != Some(head.hash) {
                push(
                    Some(head.seq),
                    BreakKind::Altered,
                    format!(
                        "the chain was rewritten: event {} does not have the hash the signed \
                         head names{}",
                        head.seq,
                        if verifier.checks_macs() {
                            ""
                        } else {
                            " (check with the secret key to locate the first rewritten event)"
                        }
                    ),
                );
            }
        }
    }

    let mut records_checked = BTreeMap::new();
    let signatures_checked = check_records(db, &walk, &mut records_checked, &mut push)?;

    breaks.sort_by_key(|b| (b.seq.is_none(), b.seq));
    breaks.truncate(100);
    Ok(VerifyReport {
        intact: breaks.is_empty(),
        events: walk.count,
        head_seq: head.as_ref().map(|h| h.seq),
        head_hash: head.as_ref().map(|h| hex::encode(h.hash)),
        macs_checked: verifier.checks_macs(),
        records_checked,
        signatures_checked,
        first_break: breaks.first().cloned(),
        breaks,
    })
}

/// Builds a record's canonical text from its row.
type RecordFn = fn(&Row<'_>) -> rusqlite::Result<String>;

/// Compares every row of a table with its recorded event; returns the rows that match.
fn compare_table(
    db: &Connection,
    walk: &Walk<'_>,
    kind: &'static str,
    sql: &str,
    record: RecordFn,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<i64> {
    let mut seen = HashSet::new();
    let mut statement = db.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        // Every record query selects the id first.
        let id: i64 = row.get(0)?;
        seen.insert(id);
        let text = record(row).ok();
        match walk.recorded.get(&(kind, id)) {
            None => push(
                None,
                BreakKind::RecordUnaudited,
                format!("{kind} #{id} has no audit event: it was written outside the application"),
            ),
            Some(&(seq, digest)) if text.as_deref().map(|t| walk.digest(t)) != Some(digest) => {
                push(
                    Some(seq),
                    BreakKind::RecordChanged,
                    format!(
                        "{kind} #{id} differs from what event {seq} recorded (stored: {})",
                        text.as_deref().unwrap_or("unreadable JSON")
                    ),
                )
            }
            Some(_) => n += 1,
        }
    }
    let mut missing: Vec<(i64, i64)> = walk
        .recorded
        .iter()
        .filter(|((k, id), _)| *k == kind && !seen.contains(id))
        .map(|((_, id), &(seq, _))| (seq, *id))
        .collect();
    missing.sort_unstable();
    for (seq, id) in missing {
        push(
            Some(seq),
            BreakKind::RecordDeleted,
            format!("{kind} #{id}, recorded by event {seq}, is gone"),
        );
    }
    Ok(n)
}

fn check_records(
    db: &Connection,
    walk: &Walk<'_>,
    checked: &mut BTreeMap<String, i64>,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<i64> {
    let annotations = format!("SELECT {ANNOTATION_RECORD_COLUMNS} FROM annotations ORDER BY id");
    let tables: [(&'static str, &str, RecordFn); 5] = [
        ("annotation", &annotations, annotation_record),
        (
            "adjudication",
            "SELECT * FROM adjudications ORDER BY id",
            adjudication_record,
        ),
        (
            "signature",
            "SELECT * FROM signatures ORDER BY id",
            signature_record,
        ),
        (
            "release",
            "SELECT * FROM releases ORDER BY id",
            release_record,
        ),
        (
            "truthing_plan",
            "SELECT * FROM truthing_plans ORDER BY id",
            plan_record,
        ),
    ];
    for (kind, sql, record) in tables {
        let n = compare_table(db, walk, kind, sql, record, push)?;
        checked.insert(kind.into(), n);
    }

    // Consensus runs, their labels and skills.
    let stored_runs: Vec<i64> = {
        let mut s = db.prepare("SELECT id FROM consensus_runs ORDER BY id")?;
        s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut n = 0;
    for id in &stored_runs {
        match walk.recorded.get(&("consensus_run", *id)) {
            None => push(
                None,
                BreakKind::RecordUnaudited,
                format!(
                    "consensus run #{id} has no audit event: it was written outside the application"
                ),
            ),
            Some(&(seq, digest)) => match run_record(db, *id) {
                Ok(Some(text)) if walk.digest(&text) == digest => n += 1,
                _ => push(
                    Some(seq),
                    BreakKind::RecordChanged,
                    format!(
                        "consensus run #{id} (its labels or skills included) differs from what \
                         event {seq} recorded"
                    ),
                ),
            },
        }
    }
    let stored: HashSet<i64> = stored_runs.into_iter().collect();
    let mut gone: Vec<(i64, i64)> = walk
        .recorded
        .iter()
        .filter(|((k, id), _)| *k == "consensus_run" && !stored.contains(id))
        .map(|((_, id), &(seq, _))| (seq, *id))
        .collect();
    gone.sort_unstable();
    for (seq, id) in gone {
        push(
            Some(seq),
            BreakKind::RecordDeleted,
            format!("consensus run #{id}, recorded by event {seq}, is gone"),
        );
    }
    checked.insert("consensus_run".into(), n);

    // Protocol versions.
    let mut n = 0;
    {
        let mut statement = db.prepare("SELECT * FROM protocols ORDER BY project_id, version")?;
        let mut rows = statement.query([])?;
        let mut seen = HashSet::new();
        while let Some(row) = rows.next()? {
            let key: (i64, i64) = (row.get("project_id")?, row.get("version")?);
            seen.insert(key);
            let text = protocol_record(row).ok();
            match walk.protocols.get(&key) {
                None => push(
                    None,
                    BreakKind::RecordUnaudited,
                    format!(
                        "protocol version {} of project #{} has no audit event",
                        key.1, key.0
                    ),
                ),
                Some((seq, after)) if text.as_deref() != Some(after.as_str()) => push(
                    Some(*seq),
                    BreakKind::RecordChanged,
                    format!(
                        "protocol version {} of project #{} differs from what event {seq} recorded",
                        key.1, key.0
                    ),
                ),
                Some(_) => n += 1,
            }
        }
        for (key, (seq, _)) in &walk.protocols {
            if !seen.contains(key) {
                push(
                    Some(*seq),
                    BreakKind::RecordDeleted,
                    format!(
                        "protocol version {} of project #{}, recorded by event {seq}, is gone",
                        key.1, key.0
                    ),
                );
            }
        }
    }
    checked.insert("protocol".into(), n);

    // Imports: every item belongs to one, and each import's digest still matches.
    let mut n = 0;
    let mut covered = 0i64;
    for (seq, after) in &walk.imports {
        #[derive(serde::Deserialize)]
        struct I {
            project_id: i64,
            first_id: i64,
            last_id: i64,
        }
        let Ok(i) = serde_json::from_str::<I>(after) else {
            continue;
        };
        covered += i.last_id - i.first_id + 1;
        if import_record(db, i.project_id, i.first_id, i.last_id)? == *after {
            n += 1;
        } else {
            push(
                Some(*seq),
                BreakKind::RecordChanged,
                format!(
                    "items #{}..#{} differ from what the import (event {seq}) recorded",
                    i.first_id, i.last_id
                ),
            );
        }
    }
    let stored_items: i64 = db.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0))?;
    if stored_items > covered {
        push(
            None,
            BreakKind::RecordUnaudited,
            format!(
                "{} item(s) belong to no audited import: written outside the application",
                stored_items - covered
            ),
        );
    }
    checked.insert("import".into(), n);

    // Signatures: each still binds to its record's content.
    let signatures: Vec<(i64, String, i64, String)> = {
        let mut s = db.prepare(
            "SELECT id, record_kind, record_id, record_sha256 FROM signatures ORDER BY id",
        )?;
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut valid = 0;
    for (id, kind, record_id, sha) in signatures {
        let now = signable_record(db, &kind, record_id).ok().flatten();
        if now.as_deref().map(sha256_hex) == Some(sha) {
            valid += 1;
        } else {
            let seq = walk.recorded.get(&("signature", id)).map(|&(seq, _)| seq);
            push(
                seq,
                BreakKind::SignatureInvalid,
                format!(
                    "signature #{id} is invalid: {kind} #{record_id} changed after it was signed"
                ),
            );
        }
    }
    Ok(valid)
}
