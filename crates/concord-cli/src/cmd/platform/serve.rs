//! `concord serve`: the HTTP API and the browser UI over a database file.

use super::{Db, block_on};
use anyhow::Context;
use concord_server::{ServerConfig, demo};
use concord_store::AuditKey;
use std::net::SocketAddr;

/// Serve the web app: the HTTP API under `/api` (OpenAPI 3 at `/api/openapi.json`) and the
/// annotator, adjudicator and manager screens at `/`.
///
/// Users sign in with their password (`concord user add NAME --role … --password-stdin`) and
/// see the projects they are members of (`concord project member add PROJECT USER`). Scripts
/// use API tokens (`POST /api/tokens`, then `Authorization: Bearer …`). Request logs go to
/// standard error (`RUST_LOG=debug` for more). Ctrl-C stops the server after the requests in
/// flight.
///
/// Examples:
///   concord serve --demo                              # demo project and accounts, printed on start
///   concord serve --db study.db --addr 0.0.0.0:8080   # behind an HTTPS proxy: add --secure-cookie
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    db: Db,
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    addr: SocketAddr,
    /// When the database has no users yet: create the demo project (400 synthetic chest X-ray
    /// studies, simulated first reads) and demo accounts, all with password `demo`.
    #[arg(long)]
    demo: bool,
    /// Mark the session cookie `Secure` (when users reach the server over HTTPS).
    #[arg(long)]
    secure_cookie: bool,
    /// Hours a browser session lasts.
    #[arg(long, default_value_t = 12, value_name = "H")]
    session_hours: u64,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    if args.demo && !args.db.audit_key_path().exists() {
        AuditKey::create_file(&args.db.audit_key_path()).with_context(|| {
            format!(
                "{}: cannot create the audit key",
                args.db.audit_key_path().display()
            )
        })?;
    }
    block_on(async move {
        let core = args.db.open_as("serve").await?;
        if args.demo {
            if core.store().users().await?.is_empty() {
                eprintln!(
                    "concord: creating the demo project `{}` in {} …",
                    demo::PROJECT,
                    args.db.db.display()
                );
                demo::seed(&core, 7)
                    .await
                    .context("cannot create the demo project")?;
            }
            eprintln!("demo accounts (password `{}`):", demo::PASSWORD);
            for account in &demo::ACCOUNTS {
                eprintln!("  {:<10} {}", account.name, account.role.as_str());
            }
        }
        // Truthing reports state the audit chain's verification: the key or its public half.
        let audit_verifier = match args.db.verifier() {
            Ok(verifier) => Some(verifier),
            Err(e) => {
                eprintln!("concord: truthing reports are off: {e:#}");
                None
            }
        };
        let config = ServerConfig {
            secure_cookie: args.secure_cookie,
            audit_verifier,
            session_ttl: std::time::Duration::from_secs(args.session_hours.max(1) * 3600),
            ..ServerConfig::default()
        };
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        eprintln!(
            "concord: serving {} on http://{} (Ctrl-C stops)",
            args.db.db.display(),
            listener.local_addr()?
        );
        // Annotations into memory while the first requests are served: the dashboard's first
        // answer at a million labels does not wait for them then.
        let warming = core.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            match warming.warm_up().await {
                Ok(n) => tracing::info!(
                    annotations = n,
                    seconds = start.elapsed().as_secs_f64(),
                    "annotations read into memory"
                ),
                Err(e) => tracing::warn!("reading annotations into memory: {e}"),
            }
        });
        let router = concord_server::router(core, config);
        concord_server::serve(listener, router, shutdown_signal()).await?;
        eprintln!("concord: stopped");
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
