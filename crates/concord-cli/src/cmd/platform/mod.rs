//! The labeling platform's commands over a database file: users, projects, protocols, items,
//! assignment, consensus runs, adjudication, status and export.
//!
//! Every command opens the database given by `--db` (default `concord.db`, or `$CONCORD_DB`),
//! applies pending migrations, and runs one operation of `concord-core`. `--as USER` names the
//! acting user: the command line trusts whoever can write the database file (the web app
//! authenticates with passwords); role checks still apply to what that user may do.

pub(crate) mod adjudication;
pub(crate) mod annotators;
pub(crate) mod audit;
pub(crate) mod demo;
pub(crate) mod edge;
pub(crate) mod export;
pub(crate) mod gold;
pub(crate) mod init;
pub(crate) mod items;
pub(crate) mod labeling;
pub(crate) mod plan;
pub(crate) mod project;
pub(crate) mod provenance;
pub(crate) mod release;
pub(crate) mod report;
pub(crate) mod retention;
pub(crate) mod serve;
pub(crate) mod user;

use anyhow::Context;
use concord_core::Core;
use concord_store::{AuditKey, AuditVerifier, Role, SqliteStore, User};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

/// The database and audit-key flags every platform command takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Db {
    /// The database file (created when missing).
    #[arg(
        long,
        env = "CONCORD_DB",
        default_value = "concord.db",
        value_name = "PATH"
    )]
    pub(crate) db: PathBuf,
    /// The audit key file that signs the database's audit trail (created by `concord init`;
    /// default: the database path with `.audit-key` appended). Keep it where people who can
    /// write the database cannot: without it nobody can rewrite the trail unnoticed. Commands
    /// that change something need it; reading and verifying do not.
    #[arg(long, env = "CONCORD_AUDIT_KEY", value_name = "PATH")]
    pub(crate) audit_key: Option<PathBuf>,
}

impl Db {
    /// The audit key's path.
    pub(crate) fn audit_key_path(&self) -> PathBuf {
        self.audit_key.clone().unwrap_or_else(|| {
            let mut name = self.db.as_os_str().to_owned();
            name.push(".audit-key");
            name.into()
        })
    }

    /// Opens the store (with the audit key when its file exists) and the core; audit events
    /// name `concord VERSION cli` as their client.
    pub(crate) async fn open(&self) -> anyhow::Result<Core> {
        self.open_as("cli").await
    }

    /// [`Db::open`], naming the program in the audit events (`serve`).
    pub(crate) async fn open_as(&self, program: &str) -> anyhow::Result<Core> {
        let key_path = self.audit_key_path();
        let store = if key_path.exists() {
            let key = AuditKey::load(&key_path)?;
            SqliteStore::open(&self.db, key).await
        } else {
            SqliteStore::open_without_key(&self.db).await
        }
        .with_context(|| format!("{}: cannot open the database", self.db.display()))?;
        store.set_client(program);
        Ok(Core::new(Arc::new(store)))
    }

    /// What verifies the audit chain: the key file when present (MACs too), else its public
    /// half (`KEY.pub`).
    pub(crate) fn verifier(&self) -> anyhow::Result<AuditVerifier> {
        let key_path = self.audit_key_path();
        if key_path.exists() {
            return Ok(AuditKey::load(&key_path)?.verifier());
        }
        let public = concord_store::audit::public_path(&key_path);
        AuditVerifier::from_public_file(&public).with_context(|| {
            format!(
                "neither the audit key {} nor its public half exists: pass --audit-key",
                key_path.display()
            )
        })
    }
}

/// Runs an async command on a runtime of its own.
pub(crate) fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

/// The acting user: the one named, or the first administrator.
pub(crate) async fn actor(core: &Core, name: Option<&str>) -> anyhow::Result<User> {
    if let Some(name) = name {
        return Ok(core.user(name).await?);
    }
    let users = core.store().users().await?;
    users
        .into_iter()
        .find(|u| u.roles.contains(&Role::Admin) && !u.disabled)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no administrator yet: run `concord init` first, or name a user with --as"
            )
        })
}

/// Reads one line (a password) from standard input.
pub(crate) fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "the password on standard input is empty"
    );
    Ok(password)
}

/// Prints a value as pretty JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}
