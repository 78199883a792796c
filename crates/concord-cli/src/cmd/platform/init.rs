//! `concord init`: create the database, its audit key and its first administrator.

use super::{Db, block_on, password_from_stdin};

/// Create the database (if needed), the audit key that signs its audit trail, and its first
/// administrator.
///
/// The key file (default: the database path with `.audit-key` appended, `--audit-key` to
/// choose) is written once, readable by its owner only, with its public half beside it
/// (`.pub`). Keep the key away from people who can write the database file; keep a copy of the
/// public half with whoever verifies the trail.
///
/// Examples:
///   concord init --admin alice --password-stdin <<< 'a long passphrase'
///   concord init --db /data/study.db --audit-key /etc/concord/study.audit-key
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    db: Db,
    /// Login name of the administrator.
    #[arg(long, default_value = "admin")]
    admin: String,
    /// Read the administrator's password from standard input (one line).
    #[arg(long)]
    password_stdin: bool,
}

pub(crate) fn run(args: InitArgs) -> anyhow::Result<()> {
    let password = if args.password_stdin {
        Some(password_from_stdin()?)
    } else {
        None
    };
    let key_path = args.db.audit_key_path();
    let created = if key_path.exists() {
        false
    } else {
        if let Some(parent) = key_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        concord_store::AuditKey::create_file(&key_path)?;
        true
    };
    block_on(async {
        let core = args.db.open().await?;
        let admin = core.init_admin(&args.admin, password.as_deref()).await?;
        eprintln!(
            "concord: created {} with administrator `{}`",
            args.db.db.display(),
            admin.name
        );
        if created {
            eprintln!(
                "concord: created the audit key {} (public half: {})",
                key_path.display(),
                concord_store::audit::public_path(&key_path).display()
            );
        }
        Ok(())
    })
}
