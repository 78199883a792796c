//! Writing results: files appear only when a run succeeded, and progress bars only on terminals.

use anyhow::Context;
use concord_consensus::truth::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output that is either standard output or a file written atomically: the data goes to a
/// temporary file beside the target, renamed over it by [`Output::commit`]. Dropped without a
/// commit (an error, a crash), the target is left untouched.
pub(crate) enum Output {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        writer: BufWriter<tempfile::NamedTempFile>,
        target: PathBuf,
    },
}

impl Output {
    /// Standard output when `path` is `None` or `-`, otherwise an atomic file.
    pub(crate) fn create(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Output::Stdout(BufWriter::new(io::stdout().lock()))),
            Some(p) if p.as_os_str() == "-" => {
                Ok(Output::Stdout(BufWriter::new(io::stdout().lock())))
            }
            Some(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".concord-")
                    .tempfile_in(dir)
                    .with_context(|| format!("{}: cannot create the output file", p.display()))?;
                Ok(Output::File {
                    writer: BufWriter::with_capacity(1 << 20, tmp),
                    target: p.into(),
                })
            }
        }
    }

    /// Flushes and, for a file, moves it into place.
    pub(crate) fn commit(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().context("cannot write to standard output"),
            Output::File { writer, target } => {
                let tmp = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("{}: cannot write", target.display()))?;
                tmp.as_file()
                    .sync_all()
                    .with_context(|| format!("{}: cannot write", target.display()))?;
                tmp.persist(&target)
                    .map_err(|e| e.error)
                    .with_context(|| format!("{}: cannot write", target.display()))?;
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File { writer, .. } => writer.flush(),
        }
    }
}

/// A progress bar on standard error for iterative fits; invisible when standard error is not a
/// terminal (piped, redirected, or under CI).
pub(crate) struct Bar(ProgressBar);

impl Bar {
    pub(crate) fn new(message: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} iterations {elapsed}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        Bar(bar)
    }

    pub(crate) fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn iteration(&self, done: u32, max_iter: u32) {
        self.0.set_length(u64::from(max_iter));
        self.0.set_position(u64::from(done));
    }
}

/// Formats a probability for CSV output: shortest representation that round-trips.
pub(crate) fn prob(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x == 1.0 {
        "1".into()
    } else {
        format!("{x}")
    }
}
