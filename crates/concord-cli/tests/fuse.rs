//! `concord fuse …` and `concord overlap` on files written here.

use concord_consensus::fusion::LabelVolume;
use concord_imageio::{read_labels, write_labels};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The one place that runs the binary.
fn concord(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes a mask file from rows of `0`/`1` characters (2D) or slices of them (3D).
fn mask(dir: &Path, name: &str, shape: &[usize], text: &str, spacing: &[f64]) -> PathBuf {
    let data: Vec<u8> = text
        .bytes()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect();
    let volume = LabelVolume::new(shape.to_vec(), data)
        .unwrap()
        .with_spacing(spacing.to_vec())
        .unwrap();
    let path = dir.join(name);
    write_labels(&path, &volume, None).unwrap();
    path
}

const A: &str = "0110 0110 0000";
const B: &str = "0110 0111 0000";
const C: &str = "0100 0110 0010";

#[test]
fn staple_on_png_masks() {
    let dir = tempfile::tempdir().unwrap();
    let readers: Vec<PathBuf> = [("a.png", A), ("b.png", B), ("c.png", C)]
        .iter()
        .map(|(name, text)| mask(dir.path(), name, &[3, 4], text, &[1.0, 1.0]))
        .collect();
    let out = dir.path().join("fused.png");
    let prob = dir.path().join("prob.json");
    let run = concord(&[
        "fuse",
        "masks",
        "--method",
        "staple",
        s(&readers[0]),
        s(&readers[1]),
        s(&readers[2]),
        "-o",
        s(&out),
        "--prob",
        s(&prob),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["readers"].as_array().unwrap().len(), 3);
    for (reader, path) in report["readers"].as_array().unwrap().iter().zip(&readers) {
        assert_eq!(reader["file"], s(path));
        assert!(reader["sensitivity"].is_number() && reader["specificity"].is_number());
    }
    assert!(report["iterations"].as_u64().unwrap() >= 1);
    // The voxels two of three readers marked.
    let fused = read_labels(&out).unwrap().volume;
    assert_eq!(fused.data(), &[0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    let prob: Value = serde_json::from_str(&std::fs::read_to_string(&prob).unwrap()).unwrap();
    assert_eq!(prob["data"].as_array().unwrap().len(), 12);

    // The table form names every reader.
    let run = concord(&[
        "fuse",
        "masks",
        s(&readers[0]),
        s(&readers[1]),
        s(&readers[2]),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("a.png") && run.stdout.contains("sensitivity"),
        "{}",
        run.stdout
    );
}

#[test]
fn vote_on_nifti_keeps_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let spacing = [2.5, 0.5, 0.5];
    let slices = |t: &str| format!("{t} {t}");
    let readers: Vec<PathBuf> = [("a.nii.gz", A), ("b.nii.gz", B), ("c.nii", C)]
        .iter()
        .map(|(name, text)| mask(dir.path(), name, &[2, 3, 4], &slices(text), &spacing))
        .collect();
    let out = dir.path().join("vote.nii");
    let run = concord(&[
        "fuse",
        "masks",
        "--method",
        "vote",
        s(&readers[0]),
        s(&readers[1]),
        s(&readers[2]),
        "-o",
        s(&out),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fused = read_labels(&out).unwrap().volume;
    assert_eq!(fused.spacing(), &spacing);
    assert_eq!(&fused.data()[..12], &[0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["iterations"], 0);
    assert_eq!(report["readers"][0]["dice"], 1.0);
}

#[test]
fn bad_mask_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = mask(dir.path(), "a.png", &[3, 4], A, &[1.0, 1.0]);
    let small = mask(dir.path(), "small.png", &[2, 4], "0110 0110", &[1.0, 1.0]);
    let empty = mask(
        dir.path(),
        "empty.png",
        &[3, 4],
        "0000 0000 0000",
        &[1.0, 1.0],
    );
    let labels = mask(
        dir.path(),
        "labels.png",
        &[3, 4],
        "0120 0110 0000",
        &[1.0, 1.0],
    );
    let spaced = mask(dir.path(), "spaced.nii", &[3, 4], A, &[2.0, 1.0]);
    let plain = mask(dir.path(), "plain.nii", &[3, 4], B, &[1.0, 1.0]);
    let corrupt = dir.path().join("corrupt.nii.gz");
    std::fs::write(&corrupt, b"\x1f\x8bnot really gzip").unwrap();
    let missing = dir.path().join("missing.png");
    let cases: [(&[&Path], &str, &str); 6] = [
        (&[&a, &small], "small.png", "shape"),
        (&[&a, &empty], "empty.png", "empty"),
        (&[&a, &labels], "labels.png", "not a binary mask"),
        (&[&plain, &spaced], "spaced.nii", "spacing"),
        (&[&a, &corrupt], "corrupt.nii.gz", ""),
        (&[&a, &missing], "missing.png", "cannot read"),
    ];
    for (files, culprit, what) in cases {
        let mut args = vec!["fuse", "masks", "--method", "staple"];
        args.extend(files.iter().map(|p| s(p)));
        let run = concord(&args);
        assert_eq!(run.code, 2, "{culprit}: {}", run.stderr);
        assert!(
            run.stderr.contains(culprit) && run.stderr.contains(what),
            "{culprit}: {}",
            run.stderr
        );
    }
    // --allow-empty accepts a reader who marked nothing.
    let run = concord(&["fuse", "masks", "--allow-empty", s(&a), s(&empty)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A 0/255 mask: the message suggests the foreground value.
    let white = dir.path().join("white.png");
    let v = LabelVolume::new(vec![1, 2], vec![0, 255]).unwrap();
    write_labels(&white, &v, None).unwrap();
    let run = concord(&["fuse", "masks", s(&white), s(&white)]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--foreground 255"), "{}", run.stderr);
    assert_eq!(
        concord(&["fuse", "masks", "--foreground", "255", s(&white), s(&white)]).code,
        0
    );
}

#[test]
fn overlap_of_two_masks() {
    let dir = tempfile::tempdir().unwrap();
    let a = mask(dir.path(), "a.nii", &[1, 5], "10000", &[1.0, 2.0]);
    let b = mask(dir.path(), "b.nii", &[1, 5], "10001", &[1.0, 2.0]);
    let run = concord(&["overlap", s(&a), s(&b), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!((report["dice"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(report["hausdorff"], 8.0); // 4 voxels of 2 mm
    assert_eq!(report["volume_difference"], 2.0);
    let empty = mask(dir.path(), "empty.nii", &[1, 5], "00000", &[1.0, 2.0]);
    let run = concord(&["overlap", s(&a), s(&empty)]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("empty.nii"), "{}", run.stderr);
}

#[test]
fn fuse_boxes_csv() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("boxes.csv");
    std::fs::write(
        &input,
        "item,annotator,x,y,w,h,label\n\
         ct1,dr_a,10,10,20,20,nodule\nct1,dr_b,12,10,20,20,nodule\nct1,dr_c,14,10,20,20,nodule\n\
         ct1,dr_c,100,100,5,5,nodule\nct2,dr_a,0,0,4,4,mass\n",
    )
    .unwrap();
    let out = dir.path().join("fused.csv");
    let run = concord(&["fuse", "boxes", s(&input), "-o", s(&out)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "item,x,y,w,h,label,support,confidence,readers,missing"
    );
    assert_eq!(lines[1], "ct1,12,10,20,20,nodule,3,1,dr_a;dr_b;dr_c,");
    assert_eq!(
        lines[2],
        "ct1,100,100,5,5,nodule,1,0.3333333333333333,dr_c,dr_a;dr_b"
    );
    assert_eq!(
        lines[3],
        "ct2,0,0,4,4,mass,1,0.3333333333333333,dr_a,dr_b;dr_c"
    );
    // --min-support drops boxes few readers drew; weights come from a CSV.
    let weights = dir.path().join("w.csv");
    std::fs::write(&weights, "annotator,weight\ndr_a,1\ndr_b,1\ndr_c,2\n").unwrap();
    let run = concord(&[
        "fuse",
        "boxes",
        s(&input),
        "--min-support",
        "2",
        "--weights",
        s(&weights),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("ct1,12.5,10,20,20,nodule,3,1,"),
        "{}",
        run.stdout
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "item,annotator,x,y,w,h,label\nct1,dr_a,1,1,0,3,nodule\n",
    )
    .unwrap();
    let run = concord(&["fuse", "boxes", s(&bad)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.csv:2") && run.stderr.contains("`w`"),
        "{}",
        run.stderr
    );
}

#[test]
fn fuse_spans_csv() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("spans.csv");
    std::fs::write(
        &input,
        "item,annotator,start,end,label\n\
         r1,a,10,20,finding\nr1,b,10,22,finding\nr1,c,11,20,negation\nr1,a,40,45,device\nr1,b,41,45,device\n",
    )
    .unwrap();
    let out = dir.path().join("fused.csv");
    let pairs = dir.path().join("pairs.csv");
    let run = concord(&[
        "fuse",
        "spans",
        s(&input),
        "-o",
        s(&out),
        "--agreement",
        s(&pairs),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("span F1"), "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "item,start,end,label,support,confidence,label_agreement,readers,missing"
    );
    assert_eq!(lines[1], "r1,10,20,finding,3,1,0.6666666666666666,a;b;c,");
    assert_eq!(lines[2], "r1,40,45,device,2,0.6666666666666666,1,a;b,c");
    let pairs = std::fs::read_to_string(&pairs).unwrap();
    assert!(
        pairs.starts_with(
            "annotator_a,annotator_b,spans_a,spans_b,exact_f1,overlap_f1\na,b,2,2,0,1\n"
        ),
        "{pairs}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "item,annotator,start,end,label\nr1,a,5,5,finding\n").unwrap();
    let run = concord(&["fuse", "spans", s(&bad)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.csv:2") && run.stderr.contains("`end`"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_teaches_with_examples() {
    for command in [
        &["fuse", "masks", "--help"][..],
        &["fuse", "boxes", "--help"],
        &["fuse", "spans", "--help"],
        &["overlap", "--help"],
    ] {
        let run = concord(command);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Examples:\n  concord "),
            "{command:?}: {}",
            run.stdout
        );
    }
}
