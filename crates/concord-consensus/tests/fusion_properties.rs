//! Box and span fusion: hand-built cases with known answers, and invariances (reader order does
//! not matter; identical readers give the input back).

use concord_consensus::fusion::{
    BoxFusion, FusedBox, FusedSpan, ReaderBox, ReaderSpan, Rect, SpanFusion, span_agreement,
};
use proptest::prelude::*;

fn rect(x: f64, y: f64, w: f64, h: f64) -> Rect {
    Rect { x, y, w, h }
}

fn b(reader: usize, r: Rect, label: u32) -> ReaderBox {
    ReaderBox {
        reader,
        rect: r,
        label,
    }
}

fn s(reader: usize, start: u64, end: u64, label: u32) -> ReaderSpan {
    ReaderSpan {
        reader,
        start,
        end,
        label,
    }
}

/// A fused box as (x, y, w, h, label, support, missing readers).
type WantBox<'a> = (f64, f64, f64, f64, u32, usize, &'a [usize]);

/// One place that calls box fusion: fused boxes as (x, y, w, h, label, support, missing).
fn check_boxes(fusion: &BoxFusion, n_readers: usize, boxes: &[ReaderBox], want: &[WantBox<'_>]) {
    let got = fusion.fuse(n_readers, boxes).unwrap();
    let got: Vec<_> = got
        .iter()
        .map(|f| {
            (
                f.rect.x,
                f.rect.y,
                f.rect.w,
                f.rect.h,
                f.label,
                f.support,
                f.missing.as_slice(),
            )
        })
        .collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        for (a, b) in [(g.0, w.0), (g.1, w.1), (g.2, w.2), (g.3, w.3)] {
            assert!((a - b).abs() < 1e-9, "{g:?} != {w:?}");
        }
        assert_eq!((g.4, g.5, g.6), (w.4, w.5, w.6), "{g:?}");
    }
}

#[test]
fn boxes_known_answers() {
    let fusion = BoxFusion::default();
    // Three readers find the same nodule (shifted by 0, 2, 4 pixels); one also finds another.
    check_boxes(
        &fusion,
        3,
        &[
            b(0, rect(10.0, 10.0, 20.0, 20.0), 0),
            b(1, rect(12.0, 10.0, 20.0, 20.0), 0),
            b(2, rect(14.0, 10.0, 20.0, 20.0), 0),
            b(2, rect(100.0, 100.0, 5.0, 5.0), 0),
        ],
        &[
            (12.0, 10.0, 20.0, 20.0, 0, 3, &[]),
            (100.0, 100.0, 5.0, 5.0, 0, 1, &[0, 1]),
        ],
    );
    // Boxes of different classes never match.
    check_boxes(
        &fusion,
        2,
        &[
            b(0, rect(0.0, 0.0, 10.0, 10.0), 0),
            b(1, rect(0.0, 0.0, 10.0, 10.0), 1),
        ],
        &[
            (0.0, 0.0, 10.0, 10.0, 0, 1, &[1]),
            (0.0, 0.0, 10.0, 10.0, 1, 1, &[0]),
        ],
    );
    // Below the IoU threshold: two boxes (IoU 1/3 < 0.5); with 0.3 they fuse.
    let apart = [
        b(0, rect(0.0, 0.0, 2.0, 2.0), 0),
        b(1, rect(1.0, 0.0, 2.0, 2.0), 0),
    ];
    check_boxes(
        &fusion,
        2,
        &apart,
        &[
            (0.0, 0.0, 2.0, 2.0, 0, 1, &[1]),
            (1.0, 0.0, 2.0, 2.0, 0, 1, &[0]),
        ],
    );
    let loose = BoxFusion {
        iou_threshold: 0.3,
        ..BoxFusion::default()
    };
    check_boxes(&loose, 2, &apart, &[(0.5, 0.0, 2.0, 2.0, 0, 2, &[])]);
    // Skill weights pull the fused box toward the better reader: (3·0 + 1·4) / 4 = 1.
    let weighted = BoxFusion {
        iou_threshold: 0.3,
        weights: vec![3.0, 1.0],
    };
    check_boxes(
        &weighted,
        2,
        &[
            b(0, rect(0.0, 0.0, 10.0, 10.0), 0),
            b(1, rect(4.0, 0.0, 10.0, 10.0), 0),
        ],
        &[(1.0, 0.0, 10.0, 10.0, 0, 2, &[])],
    );
    // Optimal, not greedy: reader 1's box A' overlaps both of reader 0's boxes; greedy pairing
    // of the best IoU first would leave B' unmatched.
    let fused = BoxFusion {
        iou_threshold: 0.2,
        ..BoxFusion::default()
    }
    .fuse(
        2,
        &[
            b(0, rect(0.0, 0.0, 10.0, 10.0), 0),
            b(0, rect(6.0, 0.0, 10.0, 10.0), 0),
            b(1, rect(3.0, 0.0, 10.0, 10.0), 0),
            b(1, rect(9.0, 0.0, 10.0, 10.0), 0),
        ],
    )
    .unwrap();
    assert!(fused.iter().all(|f| f.support == 2), "{fused:?}");
    // Confidence is the skill-weighted share of readers.
    let fused = BoxFusion {
        iou_threshold: 0.5,
        weights: vec![1.0, 1.0, 2.0],
    }
    .fuse(
        3,
        &[
            b(0, rect(0.0, 0.0, 4.0, 4.0), 0),
            b(2, rect(0.0, 0.0, 4.0, 4.0), 0),
        ],
    )
    .unwrap();
    assert_eq!(fused[0].confidence, 0.75);
    assert_eq!(fused[0].missing, [1]);
}

#[test]
fn spans_known_answers() {
    let fusion = SpanFusion::default();
    let fused = fusion
        .fuse(
            3,
            &[
                s(0, 10, 20, 1),
                s(1, 10, 22, 1),
                s(2, 11, 20, 0),
                s(0, 40, 45, 2),
                s(1, 41, 45, 2),
            ],
        )
        .unwrap();
    let got: Vec<_> = fused
        .iter()
        .map(|f| (f.start, f.end, f.label, f.support))
        .collect();
    assert_eq!(got, [(10, 20, 1, 3), (40, 45, 2, 2)]);
    assert_eq!(fused[1].missing, [2]);
    assert!((fused[0].label_agreement - 2.0 / 3.0).abs() < 1e-12);
    // A boundary tie goes to the wider span.
    let fused = fusion.fuse(2, &[s(0, 5, 10, 0), s(1, 6, 12, 0)]).unwrap();
    assert_eq!((fused[0].start, fused[0].end), (5, 12));
    // Span F1: reader 0 has 2 spans, reader 1 has 3; one exact match, two overlapping.
    let item = vec![
        s(0, 0, 5, 0),
        s(0, 10, 15, 0),
        s(1, 0, 5, 0),
        s(1, 11, 15, 0),
        s(1, 30, 31, 0),
    ];
    let pair = span_agreement(2, &[item]).unwrap()[0];
    assert_eq!((pair.exact_matches, pair.overlap_matches), (1, 2));
    assert!((pair.exact_f1 - 0.4).abs() < 1e-12 && (pair.overlap_f1 - 0.8).abs() < 1e-12);
}

/// Fused boxes without the member indices (which depend on the listing order).
fn box_summary(fused: &[FusedBox]) -> Vec<(Rect, u32, usize, Vec<usize>)> {
    fused
        .iter()
        .map(|f| (f.rect, f.label, f.support, f.readers.clone()))
        .collect()
}

fn span_summary(fused: &[FusedSpan]) -> Vec<(u64, u64, u32, usize, Vec<usize>)> {
    fused
        .iter()
        .map(|f| (f.start, f.end, f.label, f.support, f.readers.clone()))
        .collect()
}

fn arb_boxes() -> impl Strategy<Value = (usize, Vec<ReaderBox>)> {
    (2usize..5).prop_flat_map(|n_readers| {
        let one = (
            0..n_readers,
            0u32..60,
            0u32..60,
            5u32..30,
            5u32..30,
            0u32..2,
        )
            .prop_map(|(reader, x, y, w, h, label)| {
                b(
                    reader,
                    rect(f64::from(x), f64::from(y), f64::from(w), f64::from(h)),
                    label,
                )
            });
        (Just(n_readers), prop::collection::vec(one, 0..12))
    })
}

fn arb_spans() -> impl Strategy<Value = (usize, Vec<ReaderSpan>)> {
    (2usize..5).prop_flat_map(|n_readers| {
        let one = (0..n_readers, 0u64..100, 1u64..20, 0u32..3)
            .prop_map(|(reader, start, len, label)| s(reader, start, start + len, label));
        (Just(n_readers), prop::collection::vec(one, 0..12))
    })
}

proptest! {
    #[test]
    fn box_reader_order_does_not_matter((n_readers, boxes) in arb_boxes(), seed in any::<u64>()) {
        let fusion = BoxFusion { iou_threshold: 0.3, weights: (0..n_readers).map(|r| 1.0 + r as f64).collect() };
        let want = fusion.fuse(n_readers, &boxes).unwrap();
        // Renumber readers by a permutation (weights follow their reader) and shuffle the rows.
        let permutation = permutation(n_readers, seed);
        let mut permuted: Vec<ReaderBox> = boxes.iter().map(|x| ReaderBox { reader: permutation[x.reader], ..*x }).collect();
        shuffle(&mut permuted, seed);
        let mut weights = vec![0.0; n_readers];
        for r in 0..n_readers { weights[permutation[r]] = fusion.weights[r]; }
        let got = BoxFusion { weights, ..fusion.clone() }.fuse(n_readers, &permuted).unwrap();
        let mut want = box_summary(&want);
        for f in &mut want { f.3 = f.3.iter().map(|&r| permutation[r]).collect(); f.3.sort_unstable(); }
        prop_assert_eq!(box_summary(&got), want);
    }

    #[test]
    fn identical_box_readers_give_the_input_back((_, boxes) in arb_boxes(), n_copies in 2usize..5) {
        // One reader's boxes, copied to every reader.
        let mut one: Vec<ReaderBox> = boxes.iter().map(|x| ReaderBox { reader: 0, ..*x }).collect();
        one.sort_by(|a, b| (a.label, a.rect.x, a.rect.y, a.rect.w, a.rect.h).partial_cmp(&(b.label, b.rect.x, b.rect.y, b.rect.w, b.rect.h)).unwrap());
        one.dedup();
        // Keep boxes that do not match each other, so each one is its own finding.
        let mut kept: Vec<ReaderBox> = Vec::new();
        for x in one { if kept.iter().all(|k| k.label != x.label || k.rect.iou(&x.rect) < 0.5) { kept.push(x); } }
        let copies: Vec<ReaderBox> = (0..n_copies).flat_map(|r| kept.iter().map(move |x| ReaderBox { reader: r, ..*x })).collect();
        let fused = BoxFusion::default().fuse(n_copies, &copies).unwrap();
        prop_assert_eq!(fused.len(), kept.len());
        for f in &fused {
            prop_assert_eq!(f.support, n_copies);
            prop_assert_eq!(f.confidence, 1.0);
            prop_assert!(kept.iter().any(|k| k.rect == f.rect && k.label == f.label));
        }
    }

    #[test]
    fn span_reader_order_does_not_matter((n_readers, spans) in arb_spans(), seed in any::<u64>()) {
        let want = SpanFusion::default().fuse(n_readers, &spans).unwrap();
        let permutation = permutation(n_readers, seed);
        let mut permuted: Vec<ReaderSpan> = spans.iter().map(|x| ReaderSpan { reader: permutation[x.reader], ..*x }).collect();
        shuffle(&mut permuted, seed);
        let got = SpanFusion::default().fuse(n_readers, &permuted).unwrap();
        let mut want = span_summary(&want);
        for f in &mut want { f.4 = f.4.iter().map(|&r| permutation[r]).collect(); f.4.sort_unstable(); }
        prop_assert_eq!(span_summary(&got), want);
    }

    #[test]
    fn identical_span_readers_give_the_input_back((_, spans) in arb_spans(), n_copies in 2usize..5) {
        // Disjoint spans of one reader, copied to every reader.
        let mut kept: Vec<ReaderSpan> = Vec::new();
        for x in spans { if kept.iter().all(|k| k.end <= x.start || x.end <= k.start) { kept.push(ReaderSpan { reader: 0, ..x }); } }
        let copies: Vec<ReaderSpan> = (0..n_copies).flat_map(|r| kept.iter().map(move |x| ReaderSpan { reader: r, ..*x })).collect();
        let fused = SpanFusion::default().fuse(n_copies, &copies).unwrap();
        let mut want: Vec<_> = kept.iter().map(|k| (k.start, k.end, k.label, n_copies)).collect();
        want.sort_unstable();
        let got: Vec<_> = fused.iter().map(|f| (f.start, f.end, f.label, f.support)).collect();
        prop_assert_eq!(got, want);
        let pairs = span_agreement(n_copies, &[copies]).unwrap();
        prop_assert!(pairs.iter().all(|p| p.exact_f1 == 1.0 || p.n_a + p.n_b == 0));
    }
}

/// A permutation of `0..n` from a seed (no global randomness).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    shuffle(&mut p, seed);
    p
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// STAPLE, voting and distances give the same bits with 1 and 3 threads (fixed chunks, ordered
/// sums), on volumes spanning several chunks.
#[test]
fn mask_fusion_is_identical_for_any_thread_count() {
    use concord_consensus::fusion::{
        LabelVolume, LabelVoting, MultiLabelStaple, Staple, distances,
    };
    let shape = vec![7, 61, 173];
    let n: usize = shape.iter().product();
    let readers: Vec<LabelVolume> = (0..4u64)
        .map(|r| {
            let mut state = 0x9e37_79b9_7f4a_7c15 ^ r;
            let data = (0..n)
                .map(|v| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    u8::from(v % 173 > 60 + (state % 9) as usize)
                })
                .collect();
            LabelVolume::new(shape.clone(), data)
                .unwrap()
                .with_spacing(vec![2.0, 0.7, 0.7])
                .unwrap()
        })
        .collect();
    let refs: Vec<&LabelVolume> = readers.iter().collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let staple = Staple::default().fit(&refs).unwrap();
            let vote = LabelVoting::default().fit(&refs).unwrap();
            let multi = MultiLabelStaple::default().fit(&refs).unwrap();
            let d = distances(refs[0], refs[1]).unwrap().unwrap();
            let bits: Vec<u64> = staple
                .probability
                .data()
                .iter()
                .map(|p| p.to_bits())
                .collect();
            (
                bits,
                staple.sensitivity,
                vote.labels,
                multi.confusion,
                d.average_hausdorff.to_bits(),
                d.hausdorff95.to_bits(),
            )
        })
    };
    assert_eq!(run(1), run(3));
}
