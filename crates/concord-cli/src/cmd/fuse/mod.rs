//! `concord fuse`: one reference from several readers' masks, boxes or text spans.

mod boxes;
mod masks;
mod readers;
mod spans;

pub(crate) use masks::number;
use std::process::ExitCode;

/// Fuse several readers' masks, boxes or text spans into one reference, with each reader's
/// measured performance.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Masks(masks::Args),
    Boxes(boxes::Args),
    Spans(spans::Args),
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Masks(args) => masks::run(args),
        What::Boxes(args) => boxes::run(args),
        What::Spans(args) => spans::run(args),
    }
}
