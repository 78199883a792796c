//! Round trips through every format, and the errors bad files give.

use concord_consensus::fusion::{LabelVolume, ProbabilityMap};
use concord_imageio::{
    ImageError, read_labels, require_binary, require_same_geometry, write_labels, write_probability,
};
use std::path::Path;

fn volume(shape: Vec<usize>, spacing: Vec<f64>) -> LabelVolume {
    let n: usize = shape.iter().product();
    let data = (0..n).map(|i| ((i * 7) % 5) as u8).collect();
    LabelVolume::new(shape, data)
        .unwrap()
        .with_spacing(spacing)
        .unwrap()
}

/// Writes `v` as `name` and reads it back.
fn check(dir: &Path, name: &str, v: &LabelVolume) {
    let path = dir.join(name);
    write_labels(&path, v, None).unwrap();
    let back = read_labels(&path).unwrap();
    assert_eq!(&back.volume, v, "{name}");
    // Writing again in the reader's geometry keeps it.
    let again = dir.join(format!("again-{name}"));
    write_labels(&again, &back.volume, Some(&back.geometry)).unwrap();
    assert_eq!(read_labels(&again).unwrap().volume, *v, "{name} again");
}

#[test]
fn round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let flat = volume(vec![5, 7], vec![1.0, 1.0]);
    check(dir.path(), "mask.png", &flat);
    check(dir.path(), "mask.json", &flat);
    check(
        dir.path(),
        "mask2d.nii",
        &volume(vec![5, 7], vec![0.5, 0.25]),
    );
    let cube = volume(vec![4, 5, 6], vec![2.5, 0.75, 0.5]);
    check(dir.path(), "cube.nii", &cube);
    check(dir.path(), "cube.nii.gz", &cube);
    check(dir.path(), "cube.json", &cube);
}

#[test]
fn probability_maps() {
    let dir = tempfile::tempdir().unwrap();
    let map = ProbabilityMap::new(vec![2, 2], vec![0.0, 0.25, f64::NAN, 1.0]).unwrap();
    write_probability(&dir.path().join("p.nii"), &map, None).unwrap();
    let bytes = std::fs::read(dir.path().join("p.nii")).unwrap();
    assert_eq!(bytes.len(), 352 + 4 * 8);
    write_probability(&dir.path().join("p.json"), &map, None).unwrap();
    let text = std::fs::read_to_string(dir.path().join("p.json")).unwrap();
    assert!(text.contains("\"NaN\""));
    assert!(matches!(
        write_probability(&dir.path().join("p.png"), &map, None),
        Err(ImageError::Unsupported { .. })
    ));
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.nii");
    std::fs::write(&garbage, b"not a nifti file").unwrap();
    let err = read_labels(&garbage).unwrap_err().to_string();
    assert!(err.contains("garbage.nii"), "{err}");
    let unknown = read_labels(Path::new("x.tiff")).unwrap_err().to_string();
    assert!(
        unknown.contains("x.tiff") && unknown.contains("unknown format"),
        "{unknown}"
    );
    let missing = read_labels(&dir.path().join("missing.png"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("missing.png"), "{missing}");

    // Non-binary and mismatched grids.
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    write_labels(&a, &volume(vec![2, 3], vec![1.0, 1.0]), None).unwrap();
    write_labels(&b, &volume(vec![3, 2], vec![1.0, 1.0]), None).unwrap();
    let files = [read_labels(&a).unwrap(), read_labels(&b).unwrap()];
    let err = require_same_geometry(&files).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: shape", b.display())), "{err}");
    let err = require_binary(&files[0], 1).unwrap_err().to_string();
    assert!(
        err.contains("a.json") && err.contains("not a binary mask"),
        "{err}"
    );
}
