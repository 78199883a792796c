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
    predictions_record, protocol_record, read_head, release_record, run_record, sha256_hex,
    signable_record, signature_record,
};
use crate::retention::row_record;
use ed25519_dalek::{Signature, Verifier};
use rayon::prelude::*;
use rusqlite::{Connection, Row};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};

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

/// The fields of one stored event, borrowed from its row.
struct RowEvent<'r> {
    seq: i64,
    at: i64,
    actor: Option<i64>,
    action: &'r str,
    entity: &'r str,
    before: Option<&'r str>,
    after: Option<&'r str>,
    reason: Option<&'r str>,
    prev: Option<[u8; 32]>,
    hash: Option<[u8; 32]>,
    client: Option<&'r str>,
}

const EVENT_COLUMNS: &str =
    "seq, at, actor, action, entity, before, after, reason, prev_hash, hash, client";

impl<'r> RowEvent<'r> {
    fn read(r: &'r Row<'_>) -> rusqlite::Result<Self> {
        let text =
            |i: usize| -> rusqlite::Result<Option<&'r str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
        let blob = |i: usize| -> rusqlite::Result<Option<[u8; 32]>> {
            Ok(r.get_ref(i)?.as_blob().ok().and_then(|b| b.try_into().ok()))
        };
        Ok(Self {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get_ref(3)?.as_str()?,
            entity: r.get_ref(4)?.as_str()?,
            before: text(5)?,
            after: text(6)?,
            reason: text(7)?,
            prev: blob(8)?,
            hash: blob(9)?,
            client: text(10)?,
        })
    }

    /// The hash recomputed from the stored content, as if the event had sequence number `seq`.
    fn rehash(&self, seq: i64) -> Option<[u8; 32]> {
        let prev = self.prev.as_ref()?;
        Some(event_hash(&EventFields {
            seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            entity: self.entity,
            before: self.before,
            after: self.after,
            reason: self.reason,
            client: self.client,
            prev,
        }))
    }
}

/// Record kinds whose creating event carries the record's canonical text.
const RECORD_KINDS: [&str; 11] = [
    "annotation",
    "adjudication",
    "consensus_run",
    "signature",
    "release",
    "truthing_plan",
    "retention_policy",
    "legal_hold",
    "legal_hold_release",
    "project_deletion",
    "purge",
];

/// The record kind (index into [`RECORD_KINDS`]) and id an event vouches for.
fn record_kind(action: &str, entity: &str) -> Option<(usize, i64)> {
    let kind = match action {
        "annotation.create" => 0,
        "adjudication.create" | "adjudication.correct" => 1,
        "consensus.run" => 2,
        "signature.create" => 3,
        "release.create" => 4,
        "plan.lock" => 5,
        "retention.set" => 6,
        "hold.place" => 7,
        "hold.release" => 8,
        "project.delete" => 9,
        "project.purge" => 10,
        _ => return None,
    };
    let id = entity.split_once(':')?.1.parse().ok()?;
    Some((kind, id))
}

fn kind_index(kind: &str) -> usize {
    RECORD_KINDS
        .iter()
        .position(|k| *k == kind)
        .expect("a record kind")
}

/// What the events say about the records, gathered while walking the chain.
#[derive(Default)]
struct Recorded {
    /// Per record kind: (id, sequence number, keyed digest of the recorded text). Vectors,
    /// not maps: a million events push in order at the cost of a copy, and [`Recorded::finish`]
    /// sorts them once by id (nearly sorted already) for binary search.
    records: [Vec<(i64, i64, u64)>; RECORD_KINDS.len()],
    /// Imports (items, predictions) and protocol versions: few, kept whole.
    imports: Vec<(i64, String)>,
    prediction_imports: Vec<(i64, String)>,
    protocols: HashMap<(i64, i64), (i64, String)>,
    /// Purged projects, and per record kind the id ranges their purges removed.
    purged_projects: HashSet<i64>,
    purged: [Vec<[i64; 2]>; RECORD_KINDS.len()],
}

impl Recorded {
    fn note(&mut self, e: &RowEvent<'_>, digest: &RandomState) {
        if let (Some((kind, id)), Some(after)) = (record_kind(e.action, e.entity), e.after) {
            self.records[kind].push((id, e.seq, digest.hash_one(after)));
        }
        match e.action {
            "items.import" => {
                if let Some(after) = e.after {
                    self.imports.push((e.seq, after.to_string()));
                }
            }
            "predictions.import" => {
                if let Some(after) = e.after {
                    self.prediction_imports.push((e.seq, after.to_string()));
                }
            }
            "project.purge" => self.note_purge(e.before),
            "protocol.create" => {
                if let (Some(after), Some((_, id))) = (e.after, e.entity.split_once(':'))
                    && let Some((p, v)) = id.split_once('.')
                    && let (Ok(p), Ok(v)) = (p.parse(), v.trim_start_matches('v').parse())
                {
                    self.protocols.insert((p, v), (e.seq, after.to_string()));
                }
            }
            _ => {}
        }
    }

    /// Reads what a `project.purge` event says it removed (its `before`). An unreadable list
    /// excuses nothing, so the removed records then show as deleted.
    fn note_purge(&mut self, before: Option<&str>) {
        #[derive(serde::Deserialize)]
        struct Purged {
            project_id: i64,
            records: HashMap<String, Vec<[i64; 2]>>,
        }
        let Some(purged) = before.and_then(|b| serde_json::from_str::<Purged>(b).ok()) else {
            return;
        };
        self.purged_projects.insert(purged.project_id);
        for (kind, ranges) in purged.records {
            if let Some(i) = RECORD_KINDS.iter().position(|k| *k == kind) {
                self.purged[i].extend(ranges);
            }
        }
    }

    /// Whether a purge removed `kind` #`id`.
    fn was_purged(&self, kind: &str, id: i64) -> bool {
        let ranges = &self.purged[kind_index(kind)];
        // Few ranges per purge; sorted by `finish`.
        let i = ranges.partition_point(|r| r[1] < id);
        ranges.get(i).is_some_and(|r| r[0] <= id)
    }

    /// Appends a later range's records.
    fn merge(&mut self, other: Recorded) {
        for (mine, theirs) in self.records.iter_mut().zip(other.records) {
            mine.extend(theirs);
        }
        self.imports.extend(other.imports);
        self.prediction_imports.extend(other.prediction_imports);
        self.protocols.extend(other.protocols);
        self.purged_projects.extend(other.purged_projects);
        for (mine, theirs) in self.purged.iter_mut().zip(other.purged) {
            mine.extend(theirs);
        }
    }

    /// Sorts each kind by id, keeping the newest event per id (a correction supersedes).
    fn finish(&mut self) {
        for records in &mut self.records {
            // Stable: equal ids stay in sequence order, so the last of a run is the newest.
            records.sort_by_key(|r| r.0);
            let mut kept: Vec<(i64, i64, u64)> = Vec::with_capacity(records.len());
            for r in records.drain(..) {
                match kept.last_mut() {
                    Some(last) if last.0 == r.0 => *last = r,
                    _ => kept.push(r),
                }
            }
            *records = kept;
        }
        for ranges in &mut self.purged {
            ranges.sort_unstable();
        }
    }

    /// The event (sequence number, digest) that recorded `kind` #`id`.
    fn get(&self, kind: &str, id: i64) -> Option<(i64, u64)> {
        let records = &self.records[kind_index(kind)];
        records
            .binary_search_by_key(&id, |r| r.0)
            .ok()
            .map(|i| (records[i].1, records[i].2))
    }

    /// Every recorded (id, sequence number) of `kind`, by id.
    fn ids(&self, kind: &str) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.records[kind_index(kind)].iter().map(|r| (r.0, r.1))
    }
}

/// One range of the chain, walked on its own connection.
struct Part {
    /// The first event: its sequence number and previous hash.
    first: Option<(i64, Option<[u8; 32]>)>,
    /// The last event walked before any break: sequence number and hash.
    last: Option<(i64, [u8; 32])>,
    count: i64,
    broken: Option<Break>,
    recorded: Recorded,
}

/// Walks the events `lo..=hi`: numbering, hashes and links inside the range.
fn walk_range(db: &Connection, lo: i64, hi: i64, digest: &RandomState) -> StoreResult<Part> {
    let mut statement = db.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
    ))?;
    let mut rows = statement.query([lo, hi])?;
    let mut part = Part {
        first: None,
        last: None,
        count: 0,
        broken: None,
        recorded: Recorded::default(),
    };
    while let Some(r) = rows.next()? {
        let e = RowEvent::read(r)?;
        part.count += 1;
        part.recorded.note(&e, digest);
        if part.broken.is_some() {
            continue;
        }
        let (expected, prev) = match part.last {
            None => {
                part.first = Some((e.seq, e.prev));
                (e.seq, None)
            }
            Some((seq, hash)) => (seq + 1, Some(hash)),
        };
        let brk = |kind, seq, detail| {
            Some(Break {
                seq: Some(seq),
                kind,
                detail,
            })
        };
        part.broken = if e.seq != expected {
            brk(
                BreakKind::Deleted,
                expected,
                format!(
                    "events {expected}..{} are missing: the sequence jumps from {} to {}",
                    e.seq - 1,
                    expected - 1,
                    e.seq
                ),
            )
        } else if e.hash.is_none() || e.rehash(e.seq) != e.hash {
            let moved = (e.seq - 8..=e.seq + 8)
                .filter(|&s| s != e.seq && s > 0)
                .find(|&s| e.hash.is_some() && e.rehash(s) == e.hash);
            match moved {
                Some(original) => brk(
                    BreakKind::Reordered,
                    e.seq,
                    format!(
                        "event {} holds the event written as number {original} ({} {})",
                        e.seq, e.action, e.entity
                    ),
                ),
                None => brk(
                    BreakKind::Altered,
                    e.seq,
                    format!(
                        "event {} ({} {}) no longer matches its hash",
                        e.seq, e.action, e.entity
                    ),
                ),
            }
        } else if prev.is_some() && e.prev != prev {
            brk(BreakKind::Inserted, e.seq, not_linked(e.seq))
        } else {
            None
        };
        if part.broken.is_none() {
            part.last = Some((e.seq, e.hash.expect("checked above")));
        }
    }
    Ok(part)
}

fn not_linked(seq: i64) -> String {
    format!(
        "event {seq} does not follow event {}: its previous-hash link is broken (an event was \
         inserted, removed or replaced here)",
        seq - 1
    )
}

/// The first event in `lo..=hi` whose MAC the application did not write.
fn first_bad_mac(
    db: &Connection,
    lo: i64,
    hi: i64,
    key: &ring::hmac::Key,
) -> StoreResult<Option<(i64, String)>> {
    let mut statement = db.prepare(
        "SELECT seq, hash, mac, action, entity FROM audit_events WHERE seq BETWEEN ?1 AND ?2 \
         ORDER BY seq",
    )?;
    let mut rows = statement.query([lo, hi])?;
    while let Some(r) = rows.next()? {
        let hash: Option<[u8; 32]> = r.get_ref(1)?.as_blob().ok().and_then(|b| b.try_into().ok());
        let mac = r.get_ref(2)?.as_blob().unwrap_or_default();
        if hash.is_none_or(|h| event_mac(key, &h)[..] != *mac) {
            let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
            let what = format!("{} {}", text(3)?, text(4)?);
            return Ok(Some((r.get(0)?, what)));
        }
    }
    Ok(None)
}

/// `1..=max` cut into ranges: three per worker thread (so a thread that finishes early takes
/// another range instead of idling), of at least 50,000 events (smaller
/// chains are walked whole). `CONCORD_VERIFY_RANGE` sets the range size instead (the tamper
/// tests use it to put range boundaries everywhere).
fn ranges(max: i64) -> Vec<(i64, i64)> {
    let threads = rayon::current_num_threads().max(1) as i64;
    let size = std::env::var("CONCORD_VERIFY_RANGE")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|&v| v > 0)
        .unwrap_or_else(|| ((max + 3 * threads - 1) / (3 * threads)).max(50_000));
    let mut out = Vec::new();
    let mut lo = 1;
    while lo <= max {
        out.push((lo, (lo + size - 1).min(max)));
        lo += size;
    }
    out
}

/// Runs `work` on each range, in parallel on connections of its own when the database is a
/// file (rows up to `max` never change, so any snapshot at least as new as the caller's sees
/// the same rows), else in order on `db`.
fn per_range<T: Send>(
    db: &Connection,
    ranges: &[(i64, i64)],
    work: impl Fn(&Connection, i64, i64) -> StoreResult<T> + Sync,
) -> StoreResult<Vec<T>> {
    let path = db
        .path()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    match path {
        Some(path) if ranges.len() > 1 => ranges
            .par_iter()
            .map(|&(lo, hi)| {
                let own = Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                own.busy_timeout(std::time::Duration::from_secs(30))?;
                // Pages mapped rather than copied in with pread: a tenth off the walk.
                own.pragma_update(None, "mmap_size", 1i64 << 30)?;
                work(&own, lo, hi)
            })
            .collect(),
        _ => ranges.iter().map(|&(lo, hi)| work(db, lo, hi)).collect(),
    }
}

/// Re-computes the chain, checks the signed head, and re-derives every stored annotation,
/// adjudication, protocol version, import, consensus run (labels and skills included),
/// signature, release and truthing plan from the events that recorded them.
///
/// Speed: the chain is cut into one range per thread, each walked on its own read-only
/// connection straight from the rows (no copies), and the ranges' ends are linked afterwards.
/// The MACs are read only when the signed head shows that the chain was rewritten or extended,
/// to locate where. Only what the record checks need is kept: per audited record, the event's
/// sequence number and a keyed 64-bit digest of its `after` text (the key is drawn afresh for
/// every verification, so a changed record cannot be made to collide with it).
pub(crate) fn verify(db: &Connection, verifier: &AuditVerifier) -> StoreResult<VerifyReport> {
    // One snapshot for the bounds, the head and the records.
    let snapshot = db.unchecked_transaction()?;
    let head = read_head(&snapshot)?;
    let max: i64 =
        snapshot.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_events", [], |r| {
            r.get(0)
        })?;
    let digest = RandomState::new();
    let ranges = ranges(max);
    let parts = per_range(&snapshot, &ranges, |c, lo, hi| {
        walk_range(c, lo, hi, &digest)
    })?;

    // Link the ranges and find the first break.
    let mut breaks = Vec::new();
    let mut recorded = Recorded::default();
    let mut count = 0;
    let mut last: Option<(i64, [u8; 32])> = None;
    let mut broken = false;
    for part in parts {
        count += part.count;
        recorded.merge(part.recorded);
        if broken {
            continue;
        }
        let Some((first_seq, first_prev)) = part.first else {
            continue;
        };
        let (expected, prev) = last.map_or((1, GENESIS.1), |(s, h)| (s + 1, h));
        let boundary = if first_seq != expected {
            Some(Break {
                seq: Some(expected),
                kind: BreakKind::Deleted,
                detail: format!(
                    "events {expected}..{} are missing: the sequence jumps from {} to {first_seq}",
                    first_seq - 1,
                    expected - 1
                ),
            })
        } else if part.broken.as_ref().is_some_and(|b| {
            // The walk of one chain checks an event's own hash before its link: so here.
            b.seq == Some(first_seq) && matches!(b.kind, BreakKind::Altered | BreakKind::Reordered)
        }) {
            None
        } else if first_prev != Some(prev) {
            Some(Break {
                seq: Some(first_seq),
                kind: BreakKind::Inserted,
                detail: not_linked(first_seq),
            })
        } else {
            None
        };
        if let Some(b) = boundary.or(part.broken) {
            breaks.push(b);
            broken = true;
        }
        if let Some(l) = part.last {
            last = Some(l);
        }
    }

    // The signed head.
    let last_seq = last.map_or(0, |l| l.0);
    let mut rewritten = false;
    match &head {
        None if count > 0 => breaks.push(Break {
            seq: Some(1),
            kind: BreakKind::HeadInvalid,
            detail: "the signed chain head is missing".into(),
        }),
        None => {}
        Some(head) => {
            let signature_ok = head.public_key == verifier.public().as_bytes()
                && Signature::from_slice(&head.signature).is_ok_and(|s| {
                    verifier
                        .public()
                        .verify(&head_message(head.seq, &head.hash), &s)
                        .is_ok()
                });
            let b = |seq: i64, kind, detail| {
                Some(Break {
                    seq: Some(seq),
                    kind,
                    detail,
                })
            };
            let found = if !signature_ok {
                b(
                    head.seq,
                    BreakKind::HeadInvalid,
                    format!(
                        "the chain head (event {}) is not signed by the audit key {}",
                        head.seq,
                        hex::encode(verifier.public().as_bytes())
                    ),
                )
            } else if broken {
                None
            } else if head.seq > last_seq {
                b(
                    last_seq + 1,
                    BreakKind::Truncated,
                    format!(
                        "events {}..{} were cut off: the signed head names event {} but the \
                         chain ends at {last_seq}",
                        last_seq + 1,
                        head.seq,
                        head.seq
                    ),
                )
            } else if head.seq < last_seq {
                b(
                    head.seq + 1,
                    BreakKind::Inserted,
                    format!(
                        "events {}..{last_seq} come after the signed head (event {}): they were \
                         not written by the application",
                        head.seq + 1,
                        head.seq
                    ),
                )
            } else if last.map(|l| l.1) != Some(head.hash) {
                b(
                    head.seq,
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
                )
            } else {
                None
            };
            rewritten = found.is_some() && !broken;
            breaks.extend(found);
        }
    }
    // The head shows the chain was rewritten or extended: the MACs say from where.
    if rewritten && let Some(key) = verifier.mac_key() {
        let firsts = per_range(&snapshot, &ranges, |c, lo, hi| {
            first_bad_mac(c, lo, hi, key)
        })?;
        if let Some((seq, what)) = firsts.into_iter().flatten().next() {
            breaks.push(Break {
                seq: Some(seq),
                kind: BreakKind::Inserted,
                detail: format!(
                    "event {seq} ({what}) was not written by the application: its MAC does not \
                     match (inserted, or altered and re-hashed with the rest of the chain)"
                ),
            });
        }
    }

    let mut records_checked = BTreeMap::new();
    let mut push = |seq: Option<i64>, kind: BreakKind, detail: String| {
        breaks.push(Break { seq, kind, detail });
    };
    recorded.finish();
    let chain = Chain { recorded, digest };
    let signatures_checked = check_records(&snapshot, &chain, &mut records_checked, &mut push)?;
    drop(snapshot);

    breaks.sort_by_key(|b| (b.seq.is_none(), b.seq));
    breaks.truncate(100);
    Ok(VerifyReport {
        intact: breaks.is_empty(),
        events: count,
        head_seq: head.as_ref().map(|h| h.seq),
        head_hash: head.as_ref().map(|h| hex::encode(h.hash)),
        macs_checked: verifier.checks_macs(),
        records_checked,
        signatures_checked,
        first_break: breaks.first().cloned(),
        breaks,
    })
}

/// What the record checks read from the chain.
struct Chain {
    recorded: Recorded,
    digest: RandomState,
}

impl Chain {
    fn digest(&self, text: &str) -> u64 {
        self.digest.hash_one(text)
    }
}

/// Builds a record's canonical text from its row.
type RecordFn = fn(&Row<'_>) -> rusqlite::Result<String>;

/// Compares every row of a table with its recorded event, in id ranges walked in parallel;
/// returns the rows that match.
fn compare_table(
    db: &Connection,
    chain: &Chain,
    kind: &'static str,
    table: &str,
    columns: &str,
    record: RecordFn,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<i64> {
    let max: i64 = db.query_row(
        &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
        [],
        |r| r.get(0),
    )?;
    // Every record query selects the id first.
    let sql = format!("SELECT {columns} FROM {table} WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
    let parts = per_range(db, &ranges(max), |c, lo, hi| {
        let mut statement = c.prepare(&sql)?;
        let mut rows = statement.query([lo, hi])?;
        let (mut n, mut seen, mut problems) = (0i64, Vec::new(), Vec::new());
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            seen.push(id);
            let text = record(row).ok();
            match chain.recorded.get(kind, id) {
                None => problems.push(Break {
                    seq: None,
                    kind: BreakKind::RecordUnaudited,
                    detail: format!(
                        "{kind} #{id} has no audit event: it was written outside the application"
                    ),
                }),
                Some((seq, digest)) if text.as_deref().map(|t| chain.digest(t)) != Some(digest) => {
                    problems.push(Break {
                        seq: Some(seq),
                        kind: BreakKind::RecordChanged,
                        detail: format!(
                            "{kind} #{id} differs from what event {seq} recorded (stored: {})",
                            text.as_deref().unwrap_or("unreadable JSON")
                        ),
                    })
                }
                Some(_) => n += 1,
            }
        }
        Ok((n, seen, problems))
    })?;
    let mut n = 0;
    let mut seen = Vec::new();
    for (ok, ids, problems) in parts {
        n += ok;
        seen.extend(ids);
        for b in problems {
            push(b.seq, b.kind, b.detail);
        }
    }
    seen.sort_unstable();
    let mut missing: Vec<(i64, i64)> = chain
        .recorded
        .ids(kind)
        .filter(|(id, _)| seen.binary_search(id).is_err() && !chain.recorded.was_purged(kind, *id))
        .map(|(id, seq)| (seq, id))
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

/// A kind of import that records a range of consecutive row ids with a digest of the rows.
struct RangeImport {
    /// The table the rows are in.
    table: &'static str,
    /// What the rows are, for messages: plural, and one or more.
    plural: &'static str,
    some: &'static str,
    /// How a message names the import.
    import: &'static str,
    /// The import's canonical text from its range.
    record: fn(&Connection, i64, i64, i64) -> StoreResult<String>,
}

impl RangeImport {
    const ITEMS: Self = Self {
        table: "items",
        plural: "items",
        some: "item(s)",
        import: "the import",
        record: import_record,
    };
    const PREDICTIONS: Self = Self {
        table: "predictions",
        plural: "predictions",
        some: "prediction(s)",
        import: "their import",
        record: predictions_record,
    };
}

/// Checks each recorded import of `kind` against its rows now, and that no row belongs to no
/// import. Returns the imports that match.
fn check_range_imports(
    db: &Connection,
    recorded: &[(i64, String)],
    purged_projects: &HashSet<i64>,
    kind: RangeImport,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<i64> {
    #[derive(serde::Deserialize)]
    struct Range {
        project_id: i64,
        first_id: i64,
        last_id: i64,
    }
    let mut n = 0;
    let mut covered = 0i64;
    for (seq, after) in recorded {
        let Ok(r) = serde_json::from_str::<Range>(after) else {
            continue;
        };
        // A purge removed the project's rows; its event lists how many.
        if purged_projects.contains(&r.project_id) {
            continue;
        }
        covered += r.last_id - r.first_id + 1;
        if (kind.record)(db, r.project_id, r.first_id, r.last_id)? == *after {
            n += 1;
        } else {
            push(
                Some(*seq),
                BreakKind::RecordChanged,
                format!(
                    "{} #{}..#{} differ from what {} (event {seq}) recorded",
                    kind.plural, r.first_id, r.last_id, kind.import
                ),
            );
        }
    }
    let stored: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {}", kind.table), [], |r| {
        r.get(0)
    })?;
    if stored > covered {
        push(
            None,
            BreakKind::RecordUnaudited,
            format!(
                "{} {} belong to no audited import: written outside the application",
                stored - covered,
                kind.some
            ),
        );
    }
    Ok(n)
}

fn check_records(
    db: &Connection,
    chain: &Chain,
    checked: &mut BTreeMap<String, i64>,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<i64> {
    let tables: [(&'static str, &str, &str, RecordFn); 10] = [
        (
            "annotation",
            "annotations",
            ANNOTATION_RECORD_COLUMNS,
            annotation_record,
        ),
        ("adjudication", "adjudications", "*", adjudication_record),
        ("signature", "signatures", "*", signature_record),
        ("release", "releases", "*", release_record),
        ("truthing_plan", "truthing_plans", "*", plan_record),
        ("retention_policy", "retention_policies", "*", row_record),
        ("legal_hold", "legal_holds", "*", row_record),
        ("legal_hold_release", "legal_hold_releases", "*", row_record),
        ("project_deletion", "project_deletions", "*", row_record),
        ("purge", "purges", "*", row_record),
    ];
    for (kind, table, columns, record) in tables {
        let n = compare_table(db, chain, kind, table, columns, record, push)?;
        checked.insert(kind.into(), n);
    }

    // Consensus runs, their labels and skills.
    let stored_runs: Vec<i64> = {
        let mut s = db.prepare("SELECT id FROM consensus_runs ORDER BY id")?;
        s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut n = 0;
    // Each run's labels and skills are hashed on a connection of its own, in parallel.
    let one_each: Vec<(i64, i64)> = stored_runs.iter().map(|&id| (id, id)).collect();
    let texts = per_range(db, &one_each, |c, id, _| {
        run_record(c, id).map(Some).or(Ok(None))
    })?;
    for (id, text) in stored_runs.iter().zip(texts) {
        match chain.recorded.get("consensus_run", *id) {
            None => push(
                None,
                BreakKind::RecordUnaudited,
                format!(
                    "consensus run #{id} has no audit event: it was written outside the application"
                ),
            ),
            Some((seq, digest)) => match text.flatten() {
                Some(text) if chain.digest(&text) == digest => n += 1,
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
    let mut gone: Vec<(i64, i64)> = chain
        .recorded
        .ids("consensus_run")
        .filter(|(id, _)| !stored.contains(id) && !chain.recorded.was_purged("consensus_run", *id))
        .map(|(id, seq)| (seq, id))
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
            match chain.recorded.protocols.get(&key) {
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
        for (key, (seq, _)) in &chain.recorded.protocols {
            if !seen.contains(key) && !chain.recorded.purged_projects.contains(&key.0) {
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

    // Imports: every item belongs to one, and each import's digest still matches; the same for
    // model predictions.
    let purged = &chain.recorded.purged_projects;
    let n = check_range_imports(
        db,
        &chain.recorded.imports,
        purged,
        RangeImport::ITEMS,
        push,
    )?;
    checked.insert("import".into(), n);
    let n = check_range_imports(
        db,
        &chain.recorded.prediction_imports,
        purged,
        RangeImport::PREDICTIONS,
        push,
    )?;
    checked.insert("predictions_import".into(), n);

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
            let seq = chain.recorded.get("signature", id).map(|(seq, _)| seq);
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
