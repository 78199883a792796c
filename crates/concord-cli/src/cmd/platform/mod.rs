//! The labeling platform's commands over a database file: users, projects, protocols, items,
//! assignment, consensus runs, adjudication, status and export.
//!
//! Every command opens the database given by `--db` (default `concord.db`, or `$CONCORD_DB`),
//! applies pending migrations, and runs one operation of `concord-core`. `--as USER` names the
//! acting user: the command line trusts whoever can write the database file (the web app
//! authenticates with passwords); role checks still apply to what that user may do.

pub(crate) mod adjudication;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod init;
pub(crate) mod items;
pub(crate) mod labeling;
pub(crate) mod project;
pub(crate) mod user;

use anyhow::Context;
use concord_core::Core;
use concord_store::{Role, SqliteStore, User};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

/// The database flag every platform command takes.
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
}

impl Db {
    /// Opens the store and the core.
    pub(crate) async fn open(&self) -> anyhow::Result<Core> {
        let store = SqliteStore::open(&self.db)
            .await
            .with_context(|| format!("{}: cannot open the database", self.db.display()))?;
        Ok(Core::new(Arc::new(store)))
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
