//! Concord's side of the agreement benchmark against krippendorff, statsmodels and
//! scikit-learn. The whole suite (data generation, the Python side, the table) is
//! `bench/agreement/run`; this binary reads the raw arrays the suite wrote, times each
//! computation in-process (median of several runs, data already in memory) and prints one JSON
//! line per task.
//!
//! Run with: `cargo bench -p concord-consensus --bench agreement_peers -- DIR`

use concord_consensus::agreement::{
    Bootstrap, BootstrapMethod, CohenWeights, CountTable, FleissMethod, Level, Metric, Options,
    Ratings, alpha_hayes_krippendorff, cohen_kappa, evaluate, fleiss_kappa_table,
    krippendorff_alpha,
};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .expect("usage: agreement_peers DIR");
    let dir = Path::new(&dir);
    let shape = |name: &str| -> Vec<usize> {
        std::fs::read_to_string(dir.join(format!("{name}.shape")))
            .unwrap_or_else(|e| panic!("{name}.shape: {e}"))
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let threads = rayon::current_num_threads();

    // Krippendorff's alpha on an annotators × units matrix (NaN = missing), from the raw
    // matrix as krippendorff.alpha(reliability_data=…) takes it.
    let alpha_data = read_f64(&dir.join("alpha.f64"));
    let n_raters = shape("alpha")[0];
    for (task, level) in [
        ("alpha_nominal", Level::Nominal),
        ("alpha_interval", Level::Interval),
    ] {
        let (seconds, value) = time(5, || {
            let (table, domain) =
                CountTable::from_reliability_data(black_box(&alpha_data), n_raters, None).unwrap();
            krippendorff_alpha(&table, &domain, level).unwrap().value
        });
        report(task, seconds, value, None, threads);
    }

    // The same from value counts (units × values), as krippendorff.alpha(value_counts=…).
    let counts = read_u32(&dir.join("alpha_counts.u32"));
    let n_values = shape("alpha_counts")[1];
    let domain: Vec<f64> = (1..=n_values).map(|v| v as f64).collect();
    for (task, level) in [
        ("alpha_nominal_counts", Level::Nominal),
        ("alpha_interval_counts", Level::Interval),
    ] {
        let (seconds, value) = time(5, || {
            let table = CountTable::from_dense(black_box(&counts), n_values).unwrap();
            krippendorff_alpha(&table, &domain, level).unwrap().value
        });
        report(task, seconds, value, None, threads);
    }

    // Fleiss' kappa of an items × categories table, as statsmodels' fleiss_kappa(table).
    let table = read_u32(&dir.join("fleiss.u32"));
    let q = shape("fleiss")[1];
    let (seconds, value) = time(5, || {
        fleiss_kappa_table(black_box(&table), q, FleissMethod::Fleiss).unwrap()
    });
    report("fleiss", seconds, value, None, threads);

    // Cohen's kappa of two raters' labels, as scikit-learn's cohen_kappa_score(y1, y2).
    let cohen = read_u32(&dir.join("cohen.u32"));
    let (y1, y2) = cohen.split_at(cohen.len() / 2);
    let (seconds, value) = time(5, || {
        let q = y1.iter().chain(y2).max().map_or(0, |&m| m as usize + 1);
        cohen_kappa(
            black_box(y1),
            black_box(y2),
            q,
            &CohenWeights::Unweighted,
            None,
        )
        .unwrap()
    });
    report("cohen", seconds, value, None, threads);

    // Bootstrap intervals over items, 1000 resamples.
    let bootstrap = |seed| {
        Some((
            Bootstrap {
                resamples: 1000,
                seed,
                level: 0.95,
            },
            BootstrapMethod::Items,
        ))
    };
    let boot_alpha = read_f64(&dir.join("boot_alpha.f64"));
    let n_raters = shape("boot_alpha")[0];
    let ratings = ratings_from_reliability(&boot_alpha, n_raters);
    let options = Options {
        bootstrap: bootstrap(1),
        ..Options::default()
    };
    let (seconds, report_) = time(3, || {
        evaluate(black_box(&ratings), Metric::Alpha, &options).unwrap()
    });
    let interval = report_.interval.unwrap();
    report(
        "boot_alpha",
        seconds,
        report_.value.unwrap(),
        Some((interval.low, interval.high)),
        threads,
    );

    let boot_fleiss = read_u32(&dir.join("boot_fleiss.u32"));
    let q = shape("boot_fleiss")[1];
    let ratings = ratings_from_table(&boot_fleiss, q);
    let options = Options {
        bootstrap: bootstrap(2),
        ..Options::default()
    };
    let (seconds, report_) = time(3, || {
        evaluate(black_box(&ratings), Metric::Fleiss, &options).unwrap()
    });
    let interval = report_.interval.unwrap();
    report(
        "boot_fleiss",
        seconds,
        report_.value.unwrap(),
        Some((interval.low, interval.high)),
        threads,
    );

    // Hayes & Krippendorff's bootstrap of alpha on the full alpha data (no Python peer).
    let n_raters = shape("alpha")[0];
    let (seconds, value) = time(3, || {
        let (table, domain) =
            CountTable::from_reliability_data(&alpha_data, n_raters, None).unwrap();
        let config = Bootstrap {
            resamples: 1000,
            seed: 3,
            level: 0.95,
        };
        alpha_hayes_krippendorff(&table, &domain, Level::Interval, &config)
            .unwrap()
            .interval
    });
    report(
        "boot_alpha_hk",
        seconds,
        f64::NAN,
        Some((value.low, value.high)),
        threads,
    );
}

/// Median wall time of `reps` runs of `f`, and its last result.
fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::with_capacity(reps);
    let mut last = None;
    for _ in 0..reps {
        let start = Instant::now();
        let out = black_box(f());
        times.push(start.elapsed().as_secs_f64());
        last = Some(out);
    }
    times.sort_by(f64::total_cmp);
    (times[reps / 2], last.expect("at least one run"))
}

fn report(task: &str, seconds: f64, value: f64, ci: Option<(f64, f64)>, threads: usize) {
    let value = if value.is_finite() {
        format!("{value}")
    } else {
        "null".into()
    };
    let ci = ci.map_or("null".into(), |(l, h)| format!("[{l}, {h}]"));
    println!(
        "{{\"side\": \"concord\", \"task\": \"{task}\", \"seconds\": {seconds}, \"value\": {value}, \"ci\": {ci}, \"threads\": {threads}}}"
    );
}

fn read_f64(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn read_u32(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Ratings from an annotators × units matrix of small integer values (NaN = missing).
fn ratings_from_reliability(data: &[f64], n_raters: usize) -> Ratings {
    let n_units = data.len() / n_raters;
    let (_, domain) = CountTable::from_reliability_data(data, n_raters, None).unwrap();
    let mut rows = Vec::with_capacity(data.len());
    for unit in 0..n_units {
        for rater in 0..n_raters {
            let v = data[rater * n_units + unit];
            rows.push((!v.is_nan()).then(|| domain.iter().position(|&d| d == v).unwrap() as u32));
        }
    }
    Ratings::from_rows(&rows, n_raters, domain.len()).unwrap()
}

/// Ratings from an items × categories count table (rater identities are arbitrary: Fleiss'
/// kappa does not use them).
fn ratings_from_table(table: &[u32], q: usize) -> Ratings {
    let m = table[..q].iter().sum::<u32>() as usize;
    let mut rows = Vec::with_capacity(table.len() / q * m);
    for row in table.chunks(q) {
        for (c, &n) in row.iter().enumerate() {
            rows.extend(std::iter::repeat_n(Some(c as u32), n as usize));
        }
    }
    Ratings::from_rows(&rows, m, q).unwrap()
}
