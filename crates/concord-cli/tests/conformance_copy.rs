//! The reference cases bundled into the binary are the shared ones, byte for byte.

use crate::util::project_root;

#[test]
fn conformance_copy_matches_shared() {
    let shared = project_root().join("../shared/conformance");
    if !shared.is_dir() {
        eprintln!(
            "notice: skipping, no shared conformance cases at {}",
            shared.display()
        );
        return;
    }
    let ours = project_root().join("conformance");
    let mut names: Vec<_> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let mut our_names: Vec<_> = std::fs::read_dir(&ours)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    our_names.sort();
    assert_eq!(
        names, our_names,
        "conformance/ must hold the same files as ../shared/conformance"
    );
    for name in names {
        let a = std::fs::read(shared.join(&name)).unwrap();
        let b = std::fs::read(ours.join(&name)).unwrap();
        assert!(
            a == b,
            "conformance/{} differs from ../shared/conformance",
            name.to_string_lossy()
        );
    }
}
