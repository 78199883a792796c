//! Running the built binary on files written by the test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The result of one `concord` run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `concord` with `args` in `dir`.
pub(crate) fn concord(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the concord binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the `concord` binary in `dir` with `stdin` on its standard input.
pub(crate) fn concord_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the concord binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `contents` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A small, unambiguous label file: three annotators, four items, two classes.
pub(crate) const LABELS: &str = "item,annotator,label
t1,a,yes
t1,b,yes
t1,c,no
t2,a,no
t2,b,no
t2,c,no
t3,a,yes
t3,b,yes
t3,c,yes
t4,a,no
t4,b,yes
t4,c,no
";

/// The shared data sets, if present (the CI requires them).
pub(crate) fn datasets_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CONCORD_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/truth-inference")
        });
    if dir.join("BASELINE.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CONCORD_REQUIRE_DATASETS").as_deref() == Ok("1") {
        panic!(
            "CONCORD_REQUIRE_DATASETS=1 but no data sets at {}",
            dir.display()
        );
    }
    eprintln!("notice: skipping, no shared data sets at {}", dir.display());
    None
}

/// The project root (two levels above this crate).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
