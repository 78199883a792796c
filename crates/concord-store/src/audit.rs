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
use ed25519_dalek::{SigningKey, VerifyingKey};
use ring::digest::{Context, SHA256};
use ring::hmac;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::value::RawValue;
use std::path::Path;

/// Sequence number and hash of the event before the first one.
pub(crate) const GENESIS: (i64, [u8; 32]) = (0, [0; 32]);

/// The key that signs the chain head and keys the per-event MACs: an Ed25519 secret key kept
/// in a file outside the database.
pub struct AuditKey {
    signing: SigningKey,
    mac_key: hmac::Key,
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
        let mut mac = Context::new(&SHA256);
        mac.update(b"concord-audit-mac-v1\0");
        mac.update(&seed);
        Self {
            signing: SigningKey::from_bytes(&seed),
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, mac.finish().as_ref()),
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
            mac_key: Some(self.mac_key.clone()),
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
    mac_key: Option<hmac::Key>,
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

    pub(crate) fn public(&self) -> &VerifyingKey {
        &self.public
    }

    pub(crate) fn mac_key(&self) -> Option<&hmac::Key> {
        self.mac_key.as_ref()
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
    /// The program that wrote it (`concord 0.1.0 serve`); none for events written before
    /// clients were recorded.
    pub client: Option<String>,
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
    /// The program that wrote the event (none before the `client` column existed).
    pub(crate) client: Option<&'a str>,
    pub(crate) prev: &'a [u8; 32],
}

/// SHA-256 over the event's canonical encoding: a version tag, then every field in a fixed
/// order, integers as 8 big-endian bytes, optional values behind a 0/1 byte, text behind its
/// length as 8 big-endian bytes (so no two different events encode alike), the previous hash
/// last. `before` and `after` are canonical JSON text (keys sorted, no spaces). An event that
/// names its client is encoded under the tag `concord-audit-v2` with the client after the
/// reason; one without (written before clients were recorded) keeps the v1 encoding.
pub(crate) fn event_hash(e: &EventFields<'_>) -> [u8; 32] {
    fn text(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => buf.push(0),
            Some(s) => {
                buf.push(1);
                buf.extend_from_slice(&(s.len() as u64).to_be_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    thread_local! {
        // One encoding buffer per thread, reused: the encoding is hashed in one call (many
        // small updates cost more than the copy).
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend_from_slice(if e.client.is_some() {
            b"concord-audit-v2\0"
        } else {
            b"concord-audit-v1\0"
        });
        buf.extend_from_slice(&e.seq.to_be_bytes());
        buf.extend_from_slice(&e.at.to_be_bytes());
        match e.actor {
            None => buf.push(0),
            Some(a) => {
                buf.push(1);
                buf.extend_from_slice(&a.to_be_bytes());
            }
        }
        text(buf, Some(e.action));
        text(buf, Some(e.entity));
        text(buf, e.before);
        text(buf, e.after);
        text(buf, e.reason);
        if e.client.is_some() {
            text(buf, e.client);
        }
        buf.extend_from_slice(e.prev);
        ring::digest::digest(&SHA256, buf)
            .as_ref()
            .try_into()
            .expect("SHA-256 has 32 bytes")
    })
}

/// The 32 bytes of a finished SHA-256.
fn sha256_bytes(h: Context) -> [u8; 32] {
    h.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 has 32 bytes")
}

/// HMAC-SHA-256 of an event hash. The key's padded blocks are hashed once, when the key is
/// made ([`hmac::Key::new`]), not for every event.
pub(crate) fn event_mac(key: &hmac::Key, hash: &[u8; 32]) -> [u8; 32] {
    hmac::sign(key, hash)
        .as_ref()
        .try_into()
        .expect("HMAC-SHA-256 has 32 bytes")
}

/// The message the head signature covers.
pub(crate) fn head_message(seq: i64, hash: &[u8; 32]) -> Vec<u8> {
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
    hex::encode(ring::digest::digest(&SHA256, text.as_bytes()))
}

/// Appends events inside one write transaction and signs the new head when the transaction's
/// work is done. Events get consecutive sequence numbers after the stored head; the write lock
/// the transaction holds (`BEGIN IMMEDIATE`) makes that order single and gap-free across
/// connections and processes.
pub(crate) struct Appender<'k> {
    key: Option<&'k AuditKey>,
    /// The program writing (`concord 0.1.0 serve`), recorded with every event.
    client: &'k str,
    head: Option<(i64, [u8; 32])>,
    dirty: bool,
}

impl<'k> Appender<'k> {
    /// An appender that continues a group of writes: the head it left (`None`: read it from
    /// the database) and whether it appended anything yet.
    pub(crate) fn resume(
        key: Option<&'k AuditKey>,
        client: &'k str,
        head: Option<(i64, [u8; 32])>,
        dirty: bool,
    ) -> Self {
        Self {
            key,
            client,
            head,
            dirty,
        }
    }

    /// The head and whether anything was appended, to carry to the next write of the group.
    pub(crate) fn state(&self) -> (Option<(i64, [u8; 32])>, bool) {
        (self.head, self.dirty)
    }

    /// Appends one event; `before` and `after` are canonical JSON text. Returns its sequence
    /// number.
    pub(crate) fn append(&mut self, db: &Connection, event: Event<'_>) -> StoreResult<i64> {
        if !benchmark::recording() {
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
            client: Some(self.client),
            prev: &prev,
        };
        let hash = event_hash(&fields);
        let mac = event_mac(&key.mac_key, &hash);
        db.prepare_cached(
            "INSERT INTO audit_events (seq, at, actor, action, entity, before, after, reason, \
             prev_hash, hash, mac, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
            &mac[..],
            self.client
        ])?;
        self.head = Some((seq, hash));
        self.dirty = true;
        Ok(seq)
    }

    /// Signs and stores the new head, if anything was appended.
    pub(crate) fn finish(self, db: &Connection) -> StoreResult<()> {
        if !benchmark::recording() {
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
    pub(crate) signature: Vec<u8>,
    pub(crate) public_key: Vec<u8>,
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

/// The columns [`annotation_record`] reads, in its order (by position: a name lookup per
/// column and row was a tenth of the time of verifying a million events).
pub(crate) const ANNOTATION_RECORD_COLUMNS: &str = "id, item_id, annotator_id, project_id, \
     assignment_id, protocol_version, value, time_spent_ms, created_at, supersedes";

/// An annotation row's canonical text, from a row of [`ANNOTATION_RECORD_COLUMNS`]: the
/// fields in alphabetical order, the stored value embedded as stored. Written by hand rather
/// than through serde because verification rebuilds it for every annotation; the unit test
/// `annotation_record_is_canonical_json` checks it against serde_json.
pub(crate) fn annotation_record(row: &Row<'_>) -> rusqlite::Result<String> {
    // itoa and push_str rather than `write!`: the formatting machinery was a fifth of the
    // verification's time at a million events.
    let mut digits = itoa::Buffer::new();
    let value = row.get_ref(6)?.as_str()?;
    let mut out = String::with_capacity(200 + value.len());
    let mut field = |out: &mut String, name: &str, v: Option<i64>| {
        out.push_str(name);
        match v {
            Some(v) => out.push_str(digits.format(v)),
            None => out.push_str("null"),
        }
    };
    let int = |i: usize| -> rusqlite::Result<i64> { row.get_ref(i)?.as_i64().map_err(Into::into) };
    let opt = |i: usize| -> rusqlite::Result<Option<i64>> {
        row.get_ref(i)?.as_i64_or_null().map_err(Into::into)
    };
    field(&mut out, "{\"annotator_id\":", Some(int(2)?));
    field(&mut out, ",\"assignment_id\":", opt(4)?);
    field(&mut out, ",\"created_at\":", Some(int(8)?));
    field(&mut out, ",\"id\":", Some(int(0)?));
    field(&mut out, ",\"item_id\":", Some(int(1)?));
    field(&mut out, ",\"project_id\":", Some(int(3)?));
    field(&mut out, ",\"protocol_version\":", Some(int(5)?));
    field(&mut out, ",\"supersedes\":", opt(9)?);
    field(&mut out, ",\"time_spent_ms\":", opt(7)?);
    out.push_str(",\"value\":");
    out.push_str(value);
    out.push('}');
    Ok(out)
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
    let labels = digest_columns(
        db,
        "SELECT item_id, label, confidence, posterior, status FROM consensus_labels \
         WHERE run_id = ?1 ORDER BY item_id",
        [run_id],
    )?;
    let skills = digest_columns(
        db,
        "SELECT annotator_id, skill, n_labels, gold_correct, gold_total FROM annotator_skills \
         WHERE run_id = ?1 ORDER BY annotator_id",
        [run_id],
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
    let items_sha256 = digest_columns(
        db,
        "SELECT id, project_id, external_id, kind, content, content_sha256, metadata, gold, \
         created_at FROM items WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        (first_id, last_id),
    )?;
    Ok(canonical(&R {
        first_id,
        items_sha256,
        last_id,
        project_id,
    }))
}

/// A predictions import's canonical text: its model, id range and a digest of its rows.
pub(crate) fn predictions_record(
    db: &Connection,
    project_id: i64,
    first_id: i64,
    last_id: i64,
) -> StoreResult<String> {
    #[derive(Serialize)]
    struct R {
        first_id: i64,
        last_id: i64,
        predictions_sha256: String,
        project_id: i64,
    }
    let predictions_sha256 = digest_columns(
        db,
        "SELECT id, project_id, item_id, model, value, confidence, created_at FROM predictions \
         WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        (first_id, last_id),
    )?;
    Ok(canonical(&R {
        first_id,
        last_id,
        predictions_sha256,
        project_id,
    }))
}

/// Hex SHA-256 over every column of every row of `sql`, in order, each value tagged with its
/// type: null `0x00`; integer `0x01` and 8 bytes big-endian; real `0x02` and the 8 bytes of its
/// IEEE 754 bits, big-endian; text `0x03` and blob `0x04`, each followed by its length (8 bytes
/// big-endian) and its bytes. Stored values are hashed as stored — no JSON is parsed — so a
/// digest over a run's hundred thousand labels costs one pass over the rows.
fn digest_columns(
    db: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<String> {
    use rusqlite::types::ValueRef;
    let mut statement = db.prepare_cached(sql)?;
    let n = statement.column_count();
    let mut rows = statement.query(params)?;
    let mut h = Context::new(&SHA256);
    // Each row is encoded into one buffer and hashed in one update.
    let mut buf = Vec::with_capacity(1024);
    while let Some(row) = rows.next()? {
        buf.clear();
        for i in 0..n {
            match row.get_ref(i)? {
                ValueRef::Null => buf.push(0),
                ValueRef::Integer(v) => {
                    buf.push(1);
                    buf.extend_from_slice(&v.to_be_bytes());
                }
                ValueRef::Real(v) => {
                    buf.push(2);
                    buf.extend_from_slice(&v.to_bits().to_be_bytes());
                }
                ValueRef::Text(t) => {
                    buf.push(3);
                    buf.extend_from_slice(&(t.len() as u64).to_be_bytes());
                    buf.extend_from_slice(t);
                }
                ValueRef::Blob(b) => {
                    buf.push(4);
                    buf.extend_from_slice(&(b.len() as u64).to_be_bytes());
                    buf.extend_from_slice(b);
                }
            }
        }
        h.update(&buf);
    }
    Ok(hex::encode(sha256_bytes(h)))
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

/// A truthing plan's canonical text.
pub(crate) fn plan_record(row: &Row<'_>) -> rusqlite::Result<String> {
    #[derive(Serialize)]
    struct R<'a> {
        created_at: i64,
        created_by: i64,
        id: i64,
        project_id: i64,
        protocol_version: i64,
        schema_sha256: String,
        settings: &'a RawValue,
    }
    Ok(canonical(&R {
        created_at: row.get("created_at")?,
        created_by: row.get("created_by")?,
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        protocol_version: row.get("protocol_version")?,
        schema_sha256: row.get("schema_sha256")?,
        settings: raw(row, "settings")?,
    }))
}

const ANNOTATION_BY_ID: &str = "SELECT id, item_id, annotator_id, project_id, assignment_id, \
     protocol_version, value, time_spent_ms, created_at, supersedes FROM annotations WHERE id = ?1";

/// The canonical text of the record a signature can bind to, or `None` when it does not
/// exist.
pub(crate) fn signable_record(db: &Connection, kind: &str, id: i64) -> StoreResult<Option<String>> {
    let sql = match kind {
        "adjudication" => "SELECT * FROM adjudications WHERE id = ?1",
        "annotation" => ANNOTATION_BY_ID,
        "release" => "SELECT * FROM releases WHERE id = ?1",
        "truthing_plan" => "SELECT * FROM truthing_plans WHERE id = ?1",
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
            "truthing_plan" => plan_record(row),
            _ => annotation_record(row),
        })
        .optional()?;
    Ok(record)
}

/// The events `filter` selects, oldest first, with the actors' names.
pub(crate) fn events(db: &Connection, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
    let mut statement = db.prepare(
        "SELECT e.seq, e.at, e.actor, u.name, e.action, e.entity, e.before, e.after, e.reason, e.hash, \
         e.client \
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
            client: r.get(10)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_record_is_canonical_json() {
        let db = Connection::open_in_memory().unwrap();
        let text: String = db
            .query_row(
                &format!(
                    "SELECT {ANNOTATION_RECORD_COLUMNS} FROM (SELECT 7 AS id, 3 AS item_id, \
                     2 AS annotator_id, 1 AS project_id, NULL AS assignment_id, \
                     4 AS protocol_version, '{{\"finding\":\"a \\\"b\\\"\"}}' AS value, \
                     1200 AS time_spent_ms, 99 AS created_at, 5 AS supersedes)"
                ),
                [],
                annotation_record,
            )
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical(&parsed), text);
        assert_eq!(parsed["value"]["finding"], "a \"b\"");
        assert_eq!(parsed["assignment_id"], serde_json::Value::Null);
        assert_eq!(parsed["supersedes"], 5);
    }

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
            client: Some("concord 0.1.0 test"),
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
                client: Some("concord 0.1.1 test"),
                ..base
            },
            // An event without a client (v1) never hashes like one with.
            EventFields {
                client: None,
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
        use ed25519_dalek::{Signer, Verifier};
        let key = AuditKey::from_seed([1; 32]);
        let sig = key.signing.sign(&head_message(5, &[2; 32]));
        let public = key.signing.verifying_key();
        assert!(public.verify(&head_message(5, &[2; 32]), &sig).is_ok());
        assert!(public.verify(&head_message(4, &[2; 32]), &sig).is_err());
        assert!(public.verify(&head_message(5, &[3; 32]), &sig).is_err());
    }
}

/// The switch that measures what the audit trail costs: compiled only with the
/// `benchmark-without-audit-trail` feature, which no shipped build enables. In such a build the
/// trail is off unless `CONCORD_BENCHMARK_AUDIT_TRAIL=on` is set or [`benchmark::set_recording`]
/// turns it on, so one benchmark binary (or process) can alternate between the two and both see
/// the same machine (`bench/platform/run`, `bench/web/audit-cost`).
#[cfg(feature = "benchmark-without-audit-trail")]
pub mod benchmark {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    static RECORDING: LazyLock<AtomicBool> = LazyLock::new(|| {
        AtomicBool::new(std::env::var("CONCORD_BENCHMARK_AUDIT_TRAIL").as_deref() == Ok("on"))
    });

    /// Turns the audit trail on or off for the writes that follow.
    pub fn set_recording(on: bool) {
        RECORDING.store(on, Ordering::SeqCst);
    }

    /// Whether events are appended.
    pub(crate) fn recording() -> bool {
        RECORDING.load(Ordering::Relaxed)
    }
}

/// Shipped builds always record.
#[cfg(not(feature = "benchmark-without-audit-trail"))]
pub(crate) mod benchmark {
    /// Whether events are appended: always.
    #[inline(always)]
    pub(crate) fn recording() -> bool {
        true
    }
}
