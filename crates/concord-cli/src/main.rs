//! `concord`: multi-expert consensus from the shell.
//!
//! Exit codes: 0 success, 1 a check failed (e.g. `concord validate` found a failing case),
//! 2 an error (bad input, bad arguments, I/O).

mod alloc;
mod cmd;
mod conformance;
mod input;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    alloc::configure();
    let cli = cmd::Cli::parse();
    if let Some(threads) = cli.threads
        && let Err(err) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
    {
        eprintln!("concord: cannot start {threads} threads: {err}");
        return ExitCode::from(2);
    }
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`concord … | head`) is not an error worth reporting.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("concord: {err:#}");
            ExitCode::from(2)
        }
    }
}
