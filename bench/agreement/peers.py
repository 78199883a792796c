"""The Python side of the agreement benchmark (bench/agreement/run).

  peers.py generate DIR        write the data sets (fixed seeds) as raw arrays and CSV files
  peers.py time DIR            time the reference libraries in-process, one JSON line per task
  peers.py whole DIR TASK      one whole run from a CSV file (imports, parsing, computation)
  peers.py wall N -- CMD...    median wall time of N runs of a command, as a JSON line
  peers.py report FILES...     the comparison table (Markdown) from the JSON lines
"""

import json
import os
import subprocess
import sys
import time

SEED = 20261128
ALPHA_RATERS, ALPHA_UNITS, MISSING = 20, 100_000, 0.10
FLEISS_ITEMS, FLEISS_CATEGORIES, FLEISS_RATERS = 1_000_000, 5, 5
COHEN_ITEMS = 1_000_000
BOOT_ALPHA_UNITS, BOOT_FLEISS_ITEMS, RESAMPLES = 10_000, 100_000, 1000


def generate(out):
    import numpy as np
    import pandas as pd

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)

    def shape(name, dims):
        with open(os.path.join(out, name + ".shape"), "w") as f:
            f.write(" ".join(str(d) for d in dims) + "\n")

    # Alpha: 20 raters x 100,000 units, values 1..5; a rater gives the unit's value with
    # probability 0.7, else a random value; 10% of cells missing.
    truth = rng.integers(1, 6, size=ALPHA_UNITS)
    noise = rng.random((ALPHA_RATERS, ALPHA_UNITS)) < 0.3
    data = np.where(noise, rng.integers(1, 6, size=(ALPHA_RATERS, ALPHA_UNITS)), truth[None, :]).astype("<f8")
    data[rng.random((ALPHA_RATERS, ALPHA_UNITS)) < MISSING] = np.nan
    data.tofile(os.path.join(out, "alpha.f64"))
    shape("alpha", data.shape)
    rater, unit = np.nonzero(~np.isnan(data))
    order = np.lexsort((rater, unit))
    pd.DataFrame(
        {"item": unit[order], "annotator": rater[order], "label": data[rater, unit][order].astype(int)}
    ).to_csv(os.path.join(out, "alpha.csv"), index=False)
    counts = np.stack([(data == v).sum(axis=0) for v in range(1, 6)], axis=1).astype("<u4")
    counts.tofile(os.path.join(out, "alpha_counts.u32"))
    shape("alpha_counts", counts.shape)
    boot = np.ascontiguousarray(data[:, :BOOT_ALPHA_UNITS])
    boot.tofile(os.path.join(out, "boot_alpha.f64"))
    shape("boot_alpha", boot.shape)

    # Fleiss: 1,000,000 items x 5 categories, 5 raters each (labels as in alpha).
    truth = rng.integers(0, FLEISS_CATEGORIES, size=FLEISS_ITEMS)
    noise = rng.random((FLEISS_ITEMS, FLEISS_RATERS)) < 0.4
    labels = np.where(noise, rng.integers(0, FLEISS_CATEGORIES, size=(FLEISS_ITEMS, FLEISS_RATERS)), truth[:, None])
    table = np.zeros((FLEISS_ITEMS, FLEISS_CATEGORIES), dtype="<u4")
    for r in range(FLEISS_RATERS):
        np.add.at(table, (np.arange(FLEISS_ITEMS), labels[:, r]), 1)
    table.tofile(os.path.join(out, "fleiss.u32"))
    shape("fleiss", table.shape)
    pd.DataFrame(
        {
            "item": np.repeat(np.arange(FLEISS_ITEMS), FLEISS_RATERS),
            "annotator": np.tile(np.arange(FLEISS_RATERS), FLEISS_ITEMS),
            "label": labels.reshape(-1),
        }
    ).to_csv(os.path.join(out, "fleiss.csv"), index=False)
    boot = np.ascontiguousarray(table[:BOOT_FLEISS_ITEMS])
    boot.tofile(os.path.join(out, "boot_fleiss.u32"))
    shape("boot_fleiss", boot.shape)

    # Cohen: two raters x 1,000,000 items, 5 categories.
    truth = rng.integers(0, 5, size=COHEN_ITEMS)
    y = [np.where(rng.random(COHEN_ITEMS) < 0.3, rng.integers(0, 5, size=COHEN_ITEMS), truth) for _ in range(2)]
    np.concatenate(y).astype("<u4").tofile(os.path.join(out, "cohen.u32"))
    shape("cohen", (2, COHEN_ITEMS))


def load(out, name, dtype):
    import numpy as np

    with open(os.path.join(out, name + ".shape")) as f:
        dims = tuple(int(x) for x in f.read().split())
    extension = {"<f8": "f64", "<u4": "u32"}[dtype]
    return np.fromfile(os.path.join(out, name + "." + extension), dtype=dtype).reshape(dims)


def timed(reps, f):
    times, out = [], None
    for _ in range(reps):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2], out


def emit(task, seconds, value, ci=None):
    print(json.dumps({"side": "python", "task": task, "seconds": seconds, "value": value, "ci": ci}), flush=True)


def percentile(values):
    import numpy as np

    values = np.asarray([v for v in values if np.isfinite(v)])
    return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]


def time_all(out):
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import fleiss_kappa

    data = load(out, "alpha", "<f8")
    for task, level in [("alpha_nominal", "nominal"), ("alpha_interval", "interval")]:
        seconds, value = timed(3, lambda: krippendorff.alpha(reliability_data=data, level_of_measurement=level))
        emit(task, seconds, float(value))

    counts = load(out, "alpha_counts", "<u4").astype(np.int64)
    domain = [1, 2, 3, 4, 5]
    for task, level in [("alpha_nominal_counts", "nominal"), ("alpha_interval_counts", "interval")]:
        seconds, value = timed(
            3, lambda: krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        )
        emit(task, seconds, float(value))

    table = load(out, "fleiss", "<u4").astype(np.int64)
    seconds, value = timed(5, lambda: fleiss_kappa(table, method="fleiss"))
    emit("fleiss", seconds, float(value))

    y = load(out, "cohen", "<u4").astype(np.int64)
    seconds, value = timed(3, lambda: cohen_kappa_score(y[0], y[1]))
    emit("cohen", seconds, float(value))

    # Bootstrap over items: resample units with replacement, recompute with the library.
    boot = load(out, "boot_alpha", "<f8")
    rng = np.random.default_rng(SEED)

    def alpha_boot():
        n = boot.shape[1]
        reps = [krippendorff.alpha(reliability_data=boot[:, rng.integers(0, n, n)], level_of_measurement="nominal") for _ in range(RESAMPLES)]
        return percentile(reps)

    seconds, ci = timed(1, alpha_boot)
    emit("boot_alpha", seconds, float(krippendorff.alpha(reliability_data=boot, level_of_measurement="nominal")), ci)

    boot = load(out, "boot_fleiss", "<u4").astype(np.int64)

    def fleiss_boot():
        n = boot.shape[0]
        return percentile([fleiss_kappa(boot[rng.integers(0, n, n)]) for _ in range(RESAMPLES)])

    seconds, ci = timed(1, fleiss_boot)
    emit("boot_fleiss", seconds, float(fleiss_kappa(boot)), ci)


def whole(out, task):
    """One whole run from CSV, the way a Python user would do it."""
    import numpy as np
    import pandas as pd

    if task == "alpha":
        import krippendorff

        df = pd.read_csv(os.path.join(out, "alpha.csv"))
        matrix = df.pivot(index="annotator", columns="item", values="label").to_numpy(dtype=float)
        print(krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval"))
    elif task == "fleiss":
        from statsmodels.stats.inter_rater import fleiss_kappa

        df = pd.read_csv(os.path.join(out, "fleiss.csv"))
        table = pd.crosstab(df["item"], df["label"]).to_numpy()
        print(fleiss_kappa(table, method="fleiss"))
    else:
        raise SystemExit(f"unknown task {task}")


def wall(reps, cmd, task, side):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"side": side, "task": task, "seconds": times[len(times) // 2]}), flush=True)


TASKS = [
    ("alpha_nominal", "Krippendorff's alpha, nominal, 20 raters x 100,000 units, 10% missing", "krippendorff.alpha"),
    ("alpha_interval", "Krippendorff's alpha, interval, 20 raters x 100,000 units, 10% missing", "krippendorff.alpha"),
    ("alpha_nominal_counts", "same, nominal, from units x values counts", "krippendorff.alpha(value_counts)"),
    ("alpha_interval_counts", "same, interval, from units x values counts", "krippendorff.alpha(value_counts)"),
    ("fleiss", "Fleiss' kappa, 1,000,000 items x 5 categories", "statsmodels fleiss_kappa"),
    ("cohen", "Cohen's kappa, 2 raters x 1,000,000 items", "sklearn cohen_kappa_score"),
    ("boot_alpha", "bootstrap CI, alpha nominal, 1,000 resamples of 10,000 units (20 raters)", "loop of krippendorff.alpha"),
    ("boot_fleiss", "bootstrap CI, Fleiss, 1,000 resamples of 100,000 items", "loop of statsmodels fleiss_kappa"),
    ("boot_alpha_hk", "Hayes-Krippendorff bootstrap, alpha interval, 1,000 resamples, 100,000 units", "(no Python peer)"),
    ("whole_alpha", "whole run from CSV: alpha interval (1.8M labels)", "pandas + krippendorff"),
    ("whole_fleiss", "whole run from CSV: Fleiss (5M labels)", "pandas + statsmodels"),
]


def report(files):
    rows = {}
    for path in files:
        with open(path) as f:
            for line in f:
                if line.strip().startswith("{"):
                    r = json.loads(line)
                    rows[(r["side"], r["task"])] = r
    print("| task | peer | peer (s) | Concord (s) | speed-up | values (peer / Concord) |")
    print("|---|---|---:|---:|---:|---|")
    for task, what, peer in TASKS:
        p, c = rows.get(("python", task)), rows.get(("concord", task))
        if c is None:
            continue

        def fmt_value(r):
            if r is None or r.get("value") is None and r.get("ci") is None:
                return "–"
            parts = []
            if r.get("value") is not None:
                parts.append(f"{r['value']:.10f}")
            if r.get("ci"):
                parts.append("[{:.4f}, {:.4f}]".format(*r["ci"]))
            return " ".join(parts)

        ratio = f"{p['seconds'] / c['seconds']:.1f}x" if p else "–"
        peer_s = f"{p['seconds']:.4f}" if p else "–"
        values = f"{fmt_value(p)} / {fmt_value(c)}" if not task.startswith("whole") else "–"
        print(f"| {what} | {peer} | {peer_s} | {c['seconds']:.4f} | {ratio} | {values} |")


def main():
    cmd = sys.argv[1]
    if cmd == "generate":
        generate(sys.argv[2])
    elif cmd == "time":
        time_all(sys.argv[2])
    elif cmd == "whole":
        whole(sys.argv[2], sys.argv[3])
    elif cmd == "wall":
        reps, task, side = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        wall(reps, sys.argv[sys.argv.index("--") + 1 :], task, side)
    elif cmd == "versions":
        import krippendorff, numpy, pandas, sklearn, statsmodels
        from importlib.metadata import version

        print(
            f"Python {sys.version.split()[0]}, krippendorff {version('krippendorff')}, "
            f"statsmodels {statsmodels.__version__}, scikit-learn {sklearn.__version__}, "
            f"numpy {numpy.__version__}, pandas {pandas.__version__}"
        )
    elif cmd == "report":
        report(sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
