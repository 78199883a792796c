//! `concord init`: create the database and its first administrator.

use super::{Db, block_on, password_from_stdin};

/// Create the database (if needed) and its first administrator.
///
/// Examples:
///   concord init --admin alice --password-stdin <<< 'a long passphrase'
///   concord init --db /data/study.db
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
    block_on(async {
        let core = args.db.open().await?;
        let admin = core.init_admin(&args.admin, password.as_deref()).await?;
        eprintln!(
            "concord: created {} with administrator `{}`",
            args.db.db.display(),
            admin.name
        );
        Ok(())
    })
}
