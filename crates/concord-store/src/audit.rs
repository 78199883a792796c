//! The tamper-evident audit trail: the event chain, its keys, and the records it vouches for.
//!
//! Every state change appends an event in the transaction that makes the change (see
//! [`Appender`]). An event's `hash` is the SHA-256 of its canonical encoding ([`event_hash`]),
//! which includes the previous event's hash, so the events form a chain; its `mac` is an
//! HMAC-SHA-256 (RFC 2104) of the hash under a key derived from the audit key; and the chain
//! head (newest sequence number and hash) is signed with Ed25519 (RFC 8032) in the same
//! transaction. The audit key lives in a file outside the database ([`AuditKey`]).
//!
//! What that buys (the threat model, `docs/audit.md`): a person who can write the database
//! file but does not hold the key cannot alter, delete, insert or reorder an event, rewrite the
//! chain with fresh hashes, cut off its newest events, or change a stored annotation,
//! adjudication, consensus label, protocol, item or signature, without [`verify`] naming the
//! first broken sequence number. They can still replace the whole file with an older copy
//! whose head was validly signed (a rollback); comparing the head with one kept elsewhere
//! (`concord audit verify` prints it) catches that.

use crate::{StoreError, StoreResult};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// Sequence number and hash of the event before the first one.
const GENESIS: (i64, [u8; 32]) = (0, [0; 32]);

/// The key that signs the chain head and keys the per-event MACs: an Ed25519 secret key kept
/// in a file outside the database.
pub struct AuditKey {
    signing: SigningKey,
    mac_key: [u8; 32],
    /// Started on the first signature (a key that only verifies never spawns its thread).
    head_signer: std::sync::OnceLock<crate::signer::HeadSigner>,
}

impl std::fmt::Debug for AuditKey {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A key from 32 secret bytes (tests use fixed bytes; [`AuditKey::generate`] draws them).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let mut mac = Sha256::new();
        mac.update(b"concord-audit-mac-v1\0");
        mac.update(seed);
        Self {
            signing: SigningKey::from_bytes(&seed),
            mac_key: mac.finalize().into(),
            head_signer: std::sync::OnceLock::new(),
        }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> StoreResult<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| StoreError::Audit(format!("no random source for the audit key: {e}")))?;
        Ok(Self::from_seed(seed))
    }

    /// Writes a new key to `path` (owner read/write only) and its public half to
    /// `path.pub`. Refuses to overwrite an existing file: losing the key that signed a chain
    /// makes the chain unverifiable.
    pub fn create_file(path: &Path) -> StoreResult<Self> {
        let key = Self::generate()?;
        let io = |e: std::io::Error| StoreError::Audit(format!("{}: {e}", path.display()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        use std::io::Write;
        writeln!(file, "{}", hex::encode(key.signing.to_bytes())).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::write(public_path(path), format!("{}\n", key.public_hex())).map_err(io)?;
        Ok(key)
    }

    /// Reads the key written by [`AuditKey::create_file`].
    pub fn load(path: &Path) -> StoreResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StoreError::Audit(format!(
                "cannot read the audit key {}: {e} (`concord init` creates it; --audit-key \
                 or $CONCORD_AUDIT_KEY name another path)",
                path.display()
            ))
        })?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                StoreError::Audit(format!(
                    "{}: not an audit key (expected 64 hexadecimal digits)",
                    path.display()
                ))
            })?;
        Ok(Self::from_seed(seed))
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    /// What verifies this key's chain, MACs included.
    pub fn verifier(&self) -> AuditVerifier {
        AuditVerifier {
            public: self.signing.verifying_key(),
            mac_key: Some(self.mac_key),
        }
    }
}

/// The path of a key file's public half.
pub fn public_path(key: &Path) -> std::path::PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// What [`verify`] checks a chain against: the public key, and the MAC key when the secret key
/// is at hand (without it, a chain rewritten with fresh hashes is still detected through the
/// signed head, but not located).
#[derive(Clone)]
pub struct AuditVerifier {
    public: VerifyingKey,
    mac_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for AuditVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditVerifier")
            .field("public", &hex::encode(self.public.as_bytes()))
            .field("checks_macs", &self.mac_key.is_some())
            .finish()
    }
}

impl AuditVerifier {
    /// A verifier from a public key file (`KEY.pub`): checks hashes, links and the head's
    /// signature, not the MACs.
    pub fn from_public_file(path: &Path) -> StoreResult<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Audit(format!("{}: {e}", path.display())))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                StoreError::Audit(format!("{}: not a public audit key", path.display()))
            })?;
        let public = VerifyingKey::from_bytes(&bytes)
            .map_err(|e| StoreError::Audit(format!("{}: {e}", path.display())))?;
        Ok(Self {
            public,
            mac_key: None,
        })
    }

    /// Whether the per-event MACs are checked.
    pub fn checks_macs(&self) -> bool {
        self.mac_key.is_some()
    }
}

/// An event to append, described by the store operation that makes the change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who acted (a user id), or `None` for the system.
    pub actor: Option<i64>,
    /// What happened, `noun.verb` (`annotation.create`, `signature.refused`).
    pub action: String,
    /// What it happened to, `kind:id` (`annotation:17`, `user:3`).
    pub entity: String,
    /// The values before, when something changed.
    pub before: Option<serde_json::Value>,
    /// The values after.
    pub after: Option<serde_json::Value>,
    /// Why, where the action is a correction or a refusal.
    pub reason: Option<String>,
    /// When (server time).
    pub at: crate::Millis,
}

/// A stored event, as `concord audit log` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Sequence number, 1, 2, … without gaps.
    pub seq: i64,
    /// UTC milliseconds.
    pub at: crate::Millis,
    /// Acting user id.
    pub actor: Option<i64>,
    /// Acting user's login name, when known.
    pub actor_name: Option<String>,
    /// `noun.verb`.
    pub action: String,
    /// `kind:id`.
    pub entity: String,
    /// Values before.
    pub before: Option<serde_json::Value>,
    /// Values after.
    pub after: Option<serde_json::Value>,
    /// Reason.
    pub reason: Option<String>,
    /// Hex SHA-256 of the event.
    pub hash: String,
}

/// Which events `concord audit log` shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Only this entity (`kind:id`).
    pub entity: Option<String>,
    /// Only these entities (when not empty); one scan for all of them.
    pub entities: Vec<String>,
    /// Only this actor.
    pub actor: Option<i64>,
    /// Only events at or after this time.
    pub since: Option<crate::Millis>,
}

/// The fields an event's hash covers, borrowed from wherever they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventFields<'a> {
    pub(crate) seq: i64,
    pub(crate) at: i64,
    pub(crate) actor: Option<i64>,
    pub(crate) action: &'a str,
    pub(crate) entity: &'a str,
    pub(crate) before: Option<&'a str>,
    pub(crate) after: Option<&'a str>,
    pub(crate) reason: Option<&'a str>,
    pub(crate) prev: &'a [u8; 32],
}

/// SHA-256 over the event's canonical encoding: a version tag, then every field in a fixed
/// order, integers as 8 big-endian bytes, optional values behind a 0/1 byte, text behind its
/// length as 8 big-endian bytes (so no two different events encode alike), the previous hash
/// last. `before` and `after` are canonical JSON text (keys sorted, no spaces).
pub(crate) fn event_hash(e: &EventFields<'_>) -> [u8; 32] {
    fn text(h: &mut Sha256, s: Option<&str>) {
        match s {
            None => h.update([0]),
            Some(s) => {
                h.update([1]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(b"concord-audit-v1\0");
    h.update(e.seq.to_be_bytes());
    h.update(e.at.to_be_bytes());
    match e.actor {
        None => h.update([0]),
        Some(a) => {
            h.update([1]);
            h.update(a.to_be_bytes());
        }
    }
    text(&mut h, Some(e.action));
    text(&mut h, Some(e.entity));
    text(&mut h, e.before);
    text(&mut h, e.after);
    text(&mut h, e.reason);
    h.update(e.prev);
    h.finalize().into()
}

fn event_mac(key: &[u8; 32], hash: &[u8; 32]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(hash);
    mac.finalize().into_bytes().into()
}

/// The message the head signature covers.
fn head_message(seq: i64, hash: &[u8; 32]) -> Vec<u8> {
    let mut m = b"concord-audit-head-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

/// Canonical JSON text of a value: serde_json's map is ordered by key (the workspace does not
/// enable `preserve_order`; a unit test guards that), and its number formatting round-trips.
pub(crate) fn canonical(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("records serialise")
}

/// Hex SHA-256 of text.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends events inside one write transaction and signs the new head when the transaction's
/// work is done. Events get consecutive sequence numbers after the stored head; the write lock
/// the transaction holds (`BEGIN IMMEDIATE`) makes that order single and gap-free across
/// connections and processes.
pub(crate) struct Appender<'k> {
    key: Option<&'k AuditKey>,
    head: Option<(i64, [u8; 32])>,
    dirty: bool,
}

impl<'k> Appender<'k> {
    pub(crate) fn new(key: Option<&'k AuditKey>) -> Self {
        Self {
            key,
            head: None,
            dirty: false,
        }
    }

    /// Appends one event; `before` and `after` are canonical JSON text. Returns its sequence
    /// number.
    pub(crate) fn append(&mut self, db: &Connection, event: Event<'_>) -> StoreResult<i64> {
        if cfg!(feature = "benchmark-without-audit-trail") {
            return Ok(0);
        }
        let key = self.key.ok_or_else(|| {
            StoreError::Audit(
                "the database was opened without its audit key, so it cannot record changes \
                 (pass --audit-key or set $CONCORD_AUDIT_KEY)"
                    .into(),
            )
        })?;
        let (seq, prev) = match self.head {
            Some(head) => head,
            None => read_head(db)?.map_or(GENESIS, |h| (h.seq, h.hash)),
        };
        let seq = seq + 1;
        let fields = EventFields {
            seq,
            at: event.at,
            actor: event.actor,
            action: event.action,
            entity: &event.entity,
            before: event.before.as_deref(),
            after: event.after.as_deref(),
            reason: event.reason,
            prev: &prev,
        };
        let hash = event_hash(&fields);
        let mac = event_mac(&key.mac_key, &hash);
        db.prepare_cached(
            "INSERT INTO audit_events (seq, at, actor, action, entity, before, after, reason, \
             prev_hash, hash, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            seq,
            event.at,
            event.actor,
            event.action,
            event.entity,
            event.before,
            event.after,
            event.reason,
            &prev[..],
            &hash[..],
            &mac[..]
        ])?;
        self.head = Some((seq, hash));
        self.dirty = true;
        Ok(seq)
    }

    /// Signs and stores the new head, if anything was appended.
    pub(crate) fn finish(self, db: &Connection) -> StoreResult<()> {
        if cfg!(feature = "benchmark-without-audit-trail") {
            return Ok(());
        }
        let (Some(key), Some((seq, hash)), true) = (self.key, self.head, self.dirty) else {
            return Ok(());
        };
        let signature = key
            .head_signer
            .get_or_init(|| crate::signer::HeadSigner::new(&key.signing))
            .sign(&head_message(seq, &hash))?;
        db.prepare_cached(
            "INSERT INTO audit_head (id, seq, hash, signature, public_key) VALUES (1, ?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, \
             signature = excluded.signature, public_key = excluded.public_key",
        )?
        .execute(params![
            seq,
            &hash[..],
            &signature.to_bytes()[..],
            &key.signing.verifying_key().as_bytes()[..]
        ])?;
        Ok(())
    }
}

/// An event as a store operation builds it (JSON already in canonical text).
#[derive(Debug)]
pub(crate) struct Event<'a> {
    pub(crate) at: i64,
    pub(crate) actor: Option<i64>,
    pub(crate) action: &'a str,
    pub(crate) entity: String,
    pub(crate) before: Option<String>,
    pub(crate) after: Option<String>,
    pub(crate) reason: Option<&'a str>,
}

/// The stored head.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: [u8; 32],
    signature: Vec<u8>,
    public_key: Vec<u8>,
}

pub(crate) fn read_head(db: &Connection) -> StoreResult<Option<Head>> {
    db.prepare_cached("SELECT seq, hash, signature, public_key FROM audit_head WHERE id = 1")?
        .query_row([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?
        .map(|(seq, hash, signature, public_key)| {
            Ok(Head {
                seq,
                hash: hash.try_into().map_err(|_| {
                    StoreError::Integrity("the audit head's hash is not 32 bytes".into())
                })?,
                signature,
                public_key,
            })
        })
        .transpose()
}

/// Refuses a key that did not sign this database's chain.
pub(crate) fn check_key(db: &Connection, key: &AuditKey) -> StoreResult<()> {
    if let Some(head) = read_head(db)?
        && head.public_key != key.signing.verifying_key().as_bytes()
    {
        return Err(StoreError::Audit(format!(
            "the audit key (public {}) is not the key that signed this database's audit chain \
             (public {})",
            key.public_hex(),
            hex::encode(&head.public_key)
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Records: the canonical text of every record the chain vouches for. The same function builds
// the text an event stores when the record is written and the text `verify` rebuilds from the
// stored row, so a byte changed in a row shows as a difference. Fields are in alphabetical
// order (canonical JSON); JSON columns are embedded verbatim.

fn raw<'r>(row: &'r Row<'_>, column: &str) -> rusqlite::Result<&'r RawValue> {
    let text = row.get_ref(column)?.as_str()?;
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn raw_opt<'r>(row: &'r Row<'_>, column: &str) -> rusqlite::Result<Option<&'r RawValue>> {
    match row.get_ref(column)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => raw(row, column).map(Some),
    }
}

/// An annotation row's canonical text.
pub(crate) fn annotation_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R<'a> {
        annotator_id: i64,
        assignment_id: Option<i64>,
        created_at: i64,
        id: i64,
        item_id: i64,
        project_id: i64,
        protocol_version: i64,
        supersedes: Option<i64>,
        time_spent_ms: Option<i64>,
        value: &'a RawValue,
    }
    Ok(canonical(&R {
        annotator_id: row.get("annotator_id")?,
        assignment_id: row.get("assignment_id")?,
        created_at: row.get("created_at")?,
        id: row.get("id")?,
        item_id: row.get("item_id")?,
        project_id: row.get("project_id")?,
        protocol_version: row.get("protocol_version")?,
        supersedes: row.get("supersedes")?,
        time_spent_ms: row.get("time_spent_ms")?,
        value: raw(row, "value")?,
    }))
}

/// An adjudication row's canonical text.
pub(crate) fn adjudication_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R<'a> {
        adjudicator_id: i64,
        considered: &'a RawValue,
        consensus_run_id: Option<i64>,
        created_at: i64,
        id: i64,
        item_id: i64,
        project_id: i64,
        protocol_version: i64,
        rationale: String,
        supersedes: Option<i64>,
        value: &'a RawValue,
    }
    Ok(canonical(&R {
        adjudicator_id: row.get("adjudicator_id")?,
        considered: raw(row, "considered")?,
        consensus_run_id: row.get("consensus_run_id")?,
        created_at: row.get("created_at")?,
        id: row.get("id")?,
        item_id: row.get("item_id")?,
        project_id: row.get("project_id")?,
        protocol_version: row.get("protocol_version")?,
        rationale: row.get("rationale")?,
        supersedes: row.get("supersedes")?,
        value: raw(row, "value")?,
    }))
}

/// A signature row's canonical text.
pub(crate) fn signature_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R {
        id: i64,
        meaning: String,
        printed_name: String,
        record_id: i64,
        record_kind: String,
        record_sha256: String,
        signed_at: i64,
        signer_id: i64,
    }
    Ok(canonical(&R {
        id: row.get("id")?,
        meaning: row.get("meaning")?,
        printed_name: row.get("printed_name")?,
        record_id: row.get("record_id")?,
        record_kind: row.get("record_kind")?,
        record_sha256: row.get("record_sha256")?,
        signed_at: row.get("signed_at")?,
        signer_id: row.get("signer_id")?,
    }))
}

/// A protocol version's canonical text (the schema included).
pub(crate) fn protocol_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R<'a> {
        created_at: i64,
        created_by: Option<i64>,
        note: String,
        project_id: i64,
        schema: &'a RawValue,
        schema_sha256: String,
        version: i64,
    }
    Ok(canonical(&R {
        created_at: row.get("created_at")?,
        created_by: row.get("created_by")?,
        note: row.get("note")?,
        project_id: row.get("project_id")?,
        schema: raw(row, "schema")?,
        schema_sha256: row.get("schema_sha256")?,
        version: row.get("version")?,
    }))
}

/// A consensus run's canonical text, with digests of its labels and skills.
pub(crate) fn run_record(db: &Connection, run_id: i64) -> StoreResult<Option<String>> {
    #[derive(Serialize)]
    struct R<'a> {
        converged: i64,
        created_at: i64,
        id: i64,
        input_sha256: String,
        iterations: i64,
        labels_sha256: String,
        method: String,
        method_version: String,
        n_annotations: i64,
        n_items: i64,
        parameters: &'a RawValue,
        project_id: i64,
        protocol_version: i64,
        run_by: Option<i64>,
        seed: i64,
        skills_sha256: String,
        task_id: String,
    }
    let labels = digest_rows(
        db,
        "SELECT item_id, label, confidence, posterior, status FROM consensus_labels \
         WHERE run_id = ?1 ORDER BY item_id",
        [run_id],
        |r| {
            #[derive(Serialize)]
            struct L<'a> {
                confidence: f64,
                item_id: i64,
                label: &'a RawValue,
                posterior: &'a RawValue,
                status: String,
            }
            Ok(canonical(&L {
                confidence: r.get("confidence")?,
                item_id: r.get("item_id")?,
                label: raw(r, "label")?,
                posterior: raw(r, "posterior")?,
                status: r.get("status")?,
            }))
        },
    )?;
    let skills = digest_rows(
        db,
        "SELECT annotator_id, skill, n_labels, gold_correct, gold_total FROM annotator_skills \
         WHERE run_id = ?1 ORDER BY annotator_id",
        [run_id],
        |r| {
            #[derive(Serialize)]
            struct S<'a> {
                annotator_id: i64,
                gold_correct: i64,
                gold_total: i64,
                n_labels: i64,
                skill: &'a RawValue,
            }
            Ok(canonical(&S {
                annotator_id: r.get("annotator_id")?,
                gold_correct: r.get("gold_correct")?,
                gold_total: r.get("gold_total")?,
                n_labels: r.get("n_labels")?,
                skill: raw(r, "skill")?,
            }))
        },
    )?;
    let record = db
        .prepare_cached("SELECT * FROM consensus_runs WHERE id = ?1")?
        .query_row(params![run_id], |row| {
            Ok(canonical(&R {
                converged: row.get("converged")?,
                created_at: row.get("created_at")?,
                id: row.get("id")?,
                input_sha256: row.get("input_sha256")?,
                iterations: row.get("iterations")?,
                labels_sha256: labels.clone(),
                method: row.get("method")?,
                method_version: row.get("method_version")?,
                n_annotations: row.get("n_annotations")?,
                n_items: row.get("n_items")?,
                parameters: raw(row, "parameters")?,
                project_id: row.get("project_id")?,
                protocol_version: row.get("protocol_version")?,
                run_by: row.get("run_by")?,
                seed: row.get("seed")?,
                skills_sha256: skills.clone(),
                task_id: row.get("task_id")?,
            }))
        })
        .optional()?;
    Ok(record)
}

/// The canonical text of an import: the range of item ids and a digest of the items.
pub(crate) fn import_record(
    db: &Connection,
    project_id: i64,
    first_id: i64,
    last_id: i64,
) -> StoreResult<String> {
    #[derive(Serialize)]
    struct R {
        first_id: i64,
        items_sha256: String,
        last_id: i64,
        project_id: i64,
    }
    let items_sha256 = digest_rows(
        db,
        "SELECT * FROM items WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        (first_id, last_id),
        |r| {
            #[derive(Serialize)]
            struct I<'a> {
                content: String,
                content_sha256: String,
                created_at: i64,
                external_id: String,
                gold: Option<&'a RawValue>,
                id: i64,
                kind: String,
                metadata: &'a RawValue,
                project_id: i64,
            }
            Ok(canonical(&I {
                content: r.get("content")?,
                content_sha256: r.get("content_sha256")?,
                created_at: r.get("created_at")?,
                external_id: r.get("external_id")?,
                gold: raw_opt(r, "gold")?,
                id: r.get("id")?,
                kind: r.get("kind")?,
                metadata: raw(r, "metadata")?,
                project_id: r.get("project_id")?,
            }))
        },
    )?;
    Ok(canonical(&R {
        first_id,
        items_sha256,
        last_id,
        project_id,
    }))
}

/// Hex SHA-256 over the canonical text of every row of `sql`, one per line.
fn digest_rows(
    db: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    line: impl Fn(&Row<'_>) -> rusqlite::Result<String>,
) -> StoreResult<String> {
    let mut statement = db.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut h = Sha256::new();
    while let Some(row) = rows.next()? {
        h.update(line(row)?.as_bytes());
        h.update(b"\n");
    }
    Ok(hex::encode(h.finalize()))
}

/// A release's canonical text: its row with the SHA-256 recomputed from the stored manifest
/// (so an edited manifest shows as a changed record).
pub(crate) fn release_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R {
        created_at: i64,
        created_by: i64,
        id: i64,
        manifest_sha256: String,
        name: String,
        project_id: i64,
        purpose: String,
    }
    let manifest = row.get_ref("manifest")?.as_str()?;
    Ok(canonical(&R {
        created_at: row.get("created_at")?,
        created_by: row.get("created_by")?,
        id: row.get("id")?,
        manifest_sha256: sha256_hex(manifest),
        name: row.get("name")?,
        project_id: row.get("project_id")?,
        purpose: row.get("purpose")?,
    }))
}

/// The canonical text of the record a signature can bind to, or `None` when it does not
/// exist.
pub(crate) fn signable_record(db: &Connection, kind: &str, id: i64) -> StoreResult<Option<String>> {
    let sql = match kind {
        "adjudication" => "SELECT * FROM adjudications WHERE id = ?1",
        "annotation" => "SELECT * FROM annotations WHERE id = ?1",
        "release" => "SELECT * FROM releases WHERE id = ?1",
        "consensus_run" => return run_record(db, id),
        other => {
            return Err(StoreError::Conflict(format!(
                "records of kind `{other}` cannot be signed"
            )));
        }
    };
    let record = db
        .prepare_cached(sql)?
        .query_row(params![id], |row| match kind {
            "adjudication" => adjudication_record(row),
            "release" => release_record(row),
            _ => annotation_record(row),
        })
        .optional()?;
    Ok(record)
}

// ---------------------------------------------------------------------------------------------
// Verification.

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
    pub records_checked: std::collections::BTreeMap<String, i64>,
    /// Signatures whose records still match.
    pub signatures_checked: i64,
    /// The first problem (lowest sequence number).
    pub first_break: Option<Break>,
    /// Every problem found (at most 100), in sequence order.
    pub breaks: Vec<Break>,
}

struct StoredEvent {
    seq: i64,
    at: i64,
    actor: Option<i64>,
    action: String,
    entity: String,
    before: Option<String>,
    after: Option<String>,
    reason: Option<String>,
    prev: Vec<u8>,
    hash: Vec<u8>,
    mac: Vec<u8>,
}

impl StoredEvent {
    fn fields<'a>(&'a self, seq: i64, prev: &'a [u8; 32]) -> EventFields<'a> {
        EventFields {
            seq,
            at: self.at,
            actor: self.actor,
            action: &self.action,
            entity: &self.entity,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            reason: self.reason.as_deref(),
            prev,
        }
    }

    /// The hash recomputed from the stored content, as if the event had sequence number `seq`.
    fn rehash(&self, seq: i64) -> Option<[u8; 32]> {
        let prev: &[u8; 32] = self.prev.as_slice().try_into().ok()?;
        Some(event_hash(&self.fields(seq, prev)))
    }
}

/// Re-computes the chain, checks the signed head, and re-derives every stored annotation,
/// adjudication, protocol version, import, consensus run (labels and skills included) and
/// signature from the events that recorded them.
pub(crate) fn verify(db: &Connection, verifier: &AuditVerifier) -> StoreResult<VerifyReport> {
    let events = {
        let mut statement = db.prepare(
            "SELECT seq, at, actor, action, entity, before, after, reason, prev_hash, hash, mac \
             FROM audit_events ORDER BY seq",
        )?;
        let mut rows = statement.query([])?;
        let mut events = Vec::new();
        while let Some(r) = rows.next()? {
            events.push(StoredEvent {
                seq: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                entity: r.get(4)?,
                before: r.get(5)?,
                after: r.get(6)?,
                reason: r.get(7)?,
                prev: r.get(8)?,
                hash: r.get(9)?,
                mac: r.get(10)?,
            });
        }
        events
    };
    let mut breaks: Vec<Break> = Vec::new();
    let mut push = |seq: Option<i64>, kind: BreakKind, detail: String| {
        breaks.push(Break { seq, kind, detail });
    };

    // Each event on its own, in parallel: does its content give its hash, and did the
    // application write it (MAC)?
    let checks: Vec<(bool, bool)> = events
        .par_iter()
        .map(|e| {
            let hash_ok = e.rehash(e.seq).is_some_and(|h| h[..] == e.hash[..]);
            let mac_ok = match (&verifier.mac_key, <&[u8; 32]>::try_from(e.hash.as_slice())) {
                (None, _) => true,
                (Some(key), Ok(hash)) => event_mac(key, hash)[..] == e.mac[..],
                (Some(_), Err(_)) => false,
            };
            (hash_ok, mac_ok)
        })
        .collect();

    // Then the chain, in order.
    let mut chain_ok = true;
    let mut prev_hash: Vec<u8> = GENESIS.1.to_vec();
    for (i, (e, &(hash_ok, mac_ok))) in events.iter().zip(&checks).enumerate() {
        let expected = i as i64 + 1;
        if e.seq != expected {
            push(
                Some(expected),
                BreakKind::Deleted,
                format!(
                    "events {expected}..{} are missing: the sequence jumps from {} to {}",
                    e.seq - 1,
                    expected - 1,
                    e.seq
                ),
            );
            chain_ok = false;
            break;
        }
        if !hash_ok {
            let moved = (e.seq - 8..=e.seq + 8)
                .filter(|&s| s != e.seq && s > 0)
                .find(|&s| e.rehash(s).is_some_and(|h| h[..] == e.hash[..]));
            match moved {
                Some(original) => push(
                    Some(e.seq),
                    BreakKind::Reordered,
                    format!(
                        "event {} holds the event written as number {original} ({} {})",
                        e.seq, e.action, e.entity
                    ),
                ),
                None => push(
                    Some(e.seq),
                    BreakKind::Altered,
                    format!(
                        "event {} ({} {}) no longer matches its hash",
                        e.seq, e.action, e.entity
                    ),
                ),
            }
            chain_ok = false;
            break;
        }
        if e.prev != prev_hash {
            push(
                Some(e.seq),
                BreakKind::Inserted,
                format!(
                    "event {} does not follow event {}: its previous-hash link is broken (an \
                     event was inserted, removed or replaced here)",
                    e.seq,
                    e.seq - 1
                ),
            );
            chain_ok = false;
            break;
        }
        if !mac_ok {
            push(
                Some(e.seq),
                BreakKind::Inserted,
                format!(
                    "event {} ({} {}) was not written by the application: its MAC does not \
                     match (inserted, or altered and re-hashed with the rest of the chain)",
                    e.seq, e.action, e.entity
                ),
            );
            chain_ok = false;
            break;
        }
        prev_hash.clone_from(&e.hash);
    }

    // The signed head.
    let head = read_head(db)?;
    let last = events.last().map_or(0, |e| e.seq);
    match &head {
        None if !events.is_empty() => push(
            Some(1),
            BreakKind::HeadInvalid,
            "the signed chain head is missing".into(),
        ),
        None => {}
        Some(head) => {
            let signature_ok = head.public_key == verifier.public.as_bytes()
                && Signature::from_slice(&head.signature).is_ok_and(|s| {
                    verifier
                        .public
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
                        hex::encode(verifier.public.as_bytes())
                    ),
                );
            } else if head.seq > last {
                push(
                    Some(last + 1),
                    BreakKind::Truncated,
                    format!(
                        "events {}..{} were cut off: the signed head names event {} but the \
                         chain ends at {last}",
                        last + 1,
                        head.seq,
                        head.seq
                    ),
                );
            } else if head.seq < last {
                push(
                    Some(head.seq + 1),
                    BreakKind::Inserted,
                    format!(
                        "events {}..{last} come after the signed head (event {}): they were \
                         not written by the application",
                        head.seq + 1,
                        head.seq
                    ),
                );
            } else if chain_ok && events[(head.seq - 1) as usize].hash[..] != head.hash[..] {
                push(
                    Some(head.seq),
                    BreakKind::Altered,
                    format!(
                        "the chain was rewritten: event {} does not have the hash the signed \
                         head names{}",
                        head.seq,
                        if verifier.mac_key.is_some() {
                            ""
                        } else {
                            " (check with the secret key to locate the first rewritten event)"
                        }
                    ),
                );
            }
        }
    }

    // The records.
    let mut records_checked = std::collections::BTreeMap::new();
    let mut signatures_checked = 0;
    check_records(
        db,
        &events,
        &mut records_checked,
        &mut signatures_checked,
        &mut push,
    )?;

    breaks.sort_by_key(|b| (b.seq.is_none(), b.seq));
    breaks.truncate(100);
    Ok(VerifyReport {
        intact: breaks.is_empty(),
        events: events.len() as i64,
        head_seq: head.as_ref().map(|h| h.seq),
        head_hash: head.as_ref().map(|h| hex::encode(h.hash)),
        macs_checked: verifier.mac_key.is_some(),
        records_checked,
        signatures_checked,
        first_break: breaks.first().cloned(),
        breaks,
    })
}

/// The creating event of each record kind, by record id: `(sequence number, after text)`.
type Recorded<'e> = HashMap<i64, (i64, &'e str)>;

fn check_records(
    db: &Connection,
    events: &[StoredEvent],
    checked: &mut std::collections::BTreeMap<String, i64>,
    signatures_checked: &mut i64,
    push: &mut impl FnMut(Option<i64>, BreakKind, String),
) -> StoreResult<()> {
    let mut by_kind: HashMap<&str, Recorded<'_>> = HashMap::new();
    let mut imports = Vec::new();
    let mut protocols: HashMap<(i64, i64), (i64, &str)> = HashMap::new();
    for e in events {
        let Some((kind, id)) = e.entity.split_once(':') else {
            continue;
        };
        let Some(after) = e.after.as_deref() else {
            continue;
        };
        match e.action.as_str() {
            "annotation.create"
            | "adjudication.create"
            | "adjudication.correct"
            | "consensus.run"
            | "signature.create"
            | "release.create" => {
                if let Ok(id) = id.parse::<i64>() {
                    by_kind.entry(kind).or_default().insert(id, (e.seq, after));
                }
            }
            "protocol.create" => {
                if let Some((p, v)) = id.split_once('.')
                    && let (Ok(p), Ok(v)) = (p.parse(), v.trim_start_matches('v').parse())
                {
                    protocols.insert((p, v), (e.seq, after));
                }
            }
            "items.import" => imports.push((e.seq, after)),
            _ => {}
        }
    }

    let mut compare = |kind: &str,
                       table_sql: &str,
                       record: fn(&Row<'_>) -> rusqlite::Result<String>,
                       recorded: Option<&Recorded<'_>>|
     -> StoreResult<i64> {
        let empty = HashMap::new();
        let recorded = recorded.unwrap_or(&empty);
        let mut seen = std::collections::HashSet::new();
        let mut statement = db.prepare(table_sql)?;
        let mut rows = statement.query([])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get("id")?;
            seen.insert(id);
            let text = record(row).ok();
            match recorded.get(&id) {
                None => push(
                    None,
                    BreakKind::RecordUnaudited,
                    format!(
                        "{kind} #{id} has no audit event: it was written outside the application"
                    ),
                ),
                Some(&(seq, after)) if text.as_deref() != Some(after) => push(
                    Some(seq),
                    BreakKind::RecordChanged,
                    format!(
                        "{kind} #{id} differs from what event {seq} recorded: stored {}, \
                         recorded {after}",
                        text.as_deref().unwrap_or("unreadable JSON")
                    ),
                ),
                Some(_) => n += 1,
            }
        }
        let mut missing: Vec<_> = recorded
            .iter()
            .filter(|(id, _)| !seen.contains(id))
            .map(|(&id, &(seq, _))| (seq, id))
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
    };
    let n = compare(
        "annotation",
        "SELECT * FROM annotations ORDER BY id",
        annotation_record,
        by_kind.get("annotation"),
    )?;
    checked.insert("annotation".into(), n);
    let n = compare(
        "adjudication",
        "SELECT * FROM adjudications ORDER BY id",
        adjudication_record,
        by_kind.get("adjudication"),
    )?;
    checked.insert("adjudication".into(), n);
    let n = compare(
        "signature",
        "SELECT * FROM signatures ORDER BY id",
        signature_record,
        by_kind.get("signature"),
    )?;
    checked.insert("signature".into(), n);
    let n = compare(
        "release",
        "SELECT * FROM releases ORDER BY id",
        release_record,
        by_kind.get("release"),
    )?;
    checked.insert("release".into(), n);

    // Consensus runs, their labels and skills.
    let empty = HashMap::new();
    let runs = by_kind.get("consensus_run").unwrap_or(&empty);
    let stored_runs: Vec<i64> = {
        let mut s = db.prepare("SELECT id FROM consensus_runs ORDER BY id")?;
        s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let mut n = 0;
    for id in &stored_runs {
        match runs.get(id) {
            None => push(
                None,
                BreakKind::RecordUnaudited,
                format!(
                    "consensus run #{id} has no audit event: it was written outside the application"
                ),
            ),
            Some(&(seq, after)) => match run_record(db, *id) {
                Ok(Some(text)) if text == after => n += 1,
                other => push(
                    Some(seq),
                    BreakKind::RecordChanged,
                    format!(
                        "consensus run #{id} (its labels or skills included) differs from what \
                         event {seq} recorded{}",
                        match other {
                            Ok(Some(text)) => format!(": stored {text}, recorded {after}"),
                            _ => String::new(),
                        }
                    ),
                ),
            },
        }
    }
    for (id, &(seq, _)) in runs {
        if !stored_runs.contains(id) {
            push(
                Some(seq),
                BreakKind::RecordDeleted,
                format!("consensus run #{id}, recorded by event {seq}, is gone"),
            );
        }
    }
    checked.insert("consensus_run".into(), n);

    // Protocol versions.
    let mut n = 0;
    {
        let mut statement = db.prepare("SELECT * FROM protocols ORDER BY project_id, version")?;
        let mut rows = statement.query([])?;
        let mut seen = std::collections::HashSet::new();
        while let Some(row) = rows.next()? {
            let key: (i64, i64) = (row.get("project_id")?, row.get("version")?);
            seen.insert(key);
            let text = protocol_record(row).ok();
            match protocols.get(&key) {
                None => push(
                    None,
                    BreakKind::RecordUnaudited,
                    format!(
                        "protocol version {} of project #{} has no audit event",
                        key.1, key.0
                    ),
                ),
                Some(&(seq, after)) if text.as_deref() != Some(after) => push(
                    Some(seq),
                    BreakKind::RecordChanged,
                    format!(
                        "protocol version {} of project #{} differs from what event {seq} recorded",
                        key.1, key.0
                    ),
                ),
                Some(_) => n += 1,
            }
        }
        for (key, &(seq, _)) in &protocols {
            if !seen.contains(key) {
                push(
                    Some(seq),
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
    for (seq, after) in &imports {
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
    let sig_events = by_kind.get("signature");
    for (id, kind, record_id, sha) in signatures {
        let now = signable_record(db, &kind, record_id).ok().flatten();
        if now.as_deref().map(sha256_hex) == Some(sha) {
            *signatures_checked += 1;
        } else {
            let seq = sig_events.and_then(|m| m.get(&id)).map(|&(seq, _)| seq);
            push(
                seq,
                BreakKind::SignatureInvalid,
                format!(
                    "signature #{id} is invalid: {kind} #{record_id} changed after it was signed"
                ),
            );
        }
    }
    Ok(())
}

/// The events `filter` selects, oldest first, with the actors' names.
pub(crate) fn events(db: &Connection, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
    let mut statement = db.prepare(
        "SELECT e.seq, e.at, e.actor, u.name, e.action, e.entity, e.before, e.after, e.reason, e.hash \
         FROM audit_events e LEFT JOIN users u ON u.id = e.actor \
         WHERE (?1 IS NULL OR e.entity = ?1) AND (?2 IS NULL OR e.actor = ?2) \
         AND (?3 IS NULL OR e.at >= ?3) AND (?4 IS NULL OR instr(?4, '|' || e.entity || '|') > 0) \
         ORDER BY e.seq",
    )?;
    // Entity names hold no `|`: kinds are words, ids numbers.
    let entities =
        (!filter.entities.is_empty()).then(|| format!("|{}|", filter.entities.join("|")));
    let mut rows = statement.query(params![filter.entity, filter.actor, filter.since, entities])?;
    let mut out = Vec::new();
    let json = |t: Option<String>| -> StoreResult<Option<serde_json::Value>> {
        t.map(|t| crate::direct::parse_json(&t, "audit event"))
            .transpose()
    };
    while let Some(r) = rows.next()? {
        out.push(AuditEvent {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            actor_name: r.get(3)?,
            action: r.get(4)?,
            entity: r.get(5)?,
            before: json(r.get(6)?)?,
            after: json(r.get(7)?)?,
            reason: r.get(8)?,
            hash: hex::encode(r.get::<_, Vec<u8>>(9)?),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        // Guards against a dependency switching on serde_json's `preserve_order`.
        let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        assert_eq!(canonical(&v), r#"{"a":{"c":3,"d":2},"b":1}"#);
    }

    #[test]
    fn hash_covers_every_field() {
        let prev = [7u8; 32];
        let base = EventFields {
            seq: 1,
            at: 2,
            actor: Some(3),
            action: "a.b",
            entity: "x:1",
            before: None,
            after: Some("{}"),
            reason: None,
            prev: &prev,
        };
        let h = event_hash(&base);
        let other_prev = [8u8; 32];
        let variants = [
            EventFields { seq: 2, ..base },
            EventFields { at: 3, ..base },
            EventFields {
                actor: None,
                ..base
            },
            EventFields {
                action: "a.c",
                ..base
            },
            EventFields {
                entity: "x:2",
                ..base
            },
            EventFields {
                before: Some(""),
                ..base
            },
            EventFields {
                after: None,
                ..base
            },
            EventFields {
                reason: Some(""),
                ..base
            },
            EventFields {
                prev: &other_prev,
                ..base
            },
            // Moving bytes between adjacent fields changes the hash too.
            EventFields {
                action: "a.bx",
                entity: ":1",
                ..base
            },
        ];
        for v in variants {
            assert_ne!(event_hash(&v), h, "{v:?}");
        }
    }

    #[test]
    fn head_signature_binds_sequence_and_hash() {
        use ed25519_dalek::Signer;
        let key = AuditKey::from_seed([1; 32]);
        let sig = key.signing.sign(&head_message(5, &[2; 32]));
        let public = key.signing.verifying_key();
        assert!(public.verify(&head_message(5, &[2; 32]), &sig).is_ok());
        assert!(public.verify(&head_message(4, &[2; 32]), &sig).is_err());
        assert!(public.verify(&head_message(5, &[3; 32]), &sig).is_err());
    }
}
