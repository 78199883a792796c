#!/usr/bin/env python3
"""crowd-kit's side of the truth-inference benchmark (see ../README.md).

    python crowdkit_bench.py fit METHOD LABELS.csv [--n-iter N] [--tol X] [-o OUT.csv]
    python crowdkit_bench.py score TRUTH.csv OUT.csv [OTHER.csv]

`fit` is what a crowd-kit user runs: import crowd-kit, load LABELS.csv (header
`item,annotator,label`) with pandas, fit METHOD, write `item,label` to OUT.csv. Run as a
whole process it is the "import + load + fit" row of the benchmark. It prints one JSON
object on stdout: the seconds of each phase (`import_s`, `load_s`, `fit_s`, `write_s`),
the EM iterations the method ran (`null` where the method has no such count), and the
process's own peak RSS (`self_peak_rss_mb`). `fit_s` is the fit alone (crowd-kit's
`fit_predict`).

`score` reads labels written by either side (`item,label` header, extra columns ignored)
and prints JSON: the accuracy of OUT.csv on TRUTH.csv (a truth item without a label counts
as wrong), and with OTHER.csv the fraction of OUT.csv's items on which both files agree.
It imports only the standard library, so it does not disturb the timings.

METHOD is Concord's short name: mv wawa zbs ds ods glad mace (kos and mmsr exist in
crowd-kit too but are not part of this benchmark: KOS is binary-only, MMSR needed 7.1 GB
on 100k labels). Stochastic methods are seeded as in BASELINE.md: MACE with
`random_state=0`, everything else with `np.random.seed(0)`.
"""
import argparse
import csv
import json
import resource
import sys
import time

METHODS = ("mv", "wawa", "zbs", "ds", "ods", "glad", "mace")


def peak_rss_mb():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(agg, method, n_iter, tol):
    """The crowd-kit aggregator for METHOD; None for n_iter/tol keeps crowd-kit's default."""
    kw = {}
    if n_iter is not None:
        kw["n_iter"] = n_iter
    if tol is not None:
        kw["tol"] = tol
    if method == "mv":
        return agg.MajorityVote()
    if method == "wawa":
        return agg.Wawa()
    if method == "zbs":
        kw.pop("tol", None)  # ZeroBasedSkill always runs n_iter rounds
        return agg.ZeroBasedSkill(**kw)
    if method == "ds":
        return agg.DawidSkene(**kw)
    if method == "ods":
        return agg.OneCoinDawidSkene(**kw)
    if method == "glad":
        return agg.GLAD(**kw)
    if method == "mace":
        kw.pop("tol", None)  # MACE: n_restarts x n_iter, no tolerance
        return agg.MACE(random_state=0, **kw)
    raise SystemExit(f"crowdkit_bench: unknown method {method!r}; expected one of {' '.join(METHODS)}")


def iterations(model, method):
    hist = getattr(model, "loss_history_", None)
    if hist is not None:
        return len(hist)
    if method == "zbs":
        return model.n_iter
    if method == "mace":
        return model.n_restarts * model.n_iter
    return None


def cmd_fit(a):
    if a.method not in METHODS:
        print(f"crowdkit_bench: unknown method {a.method!r}; expected one of {' '.join(METHODS)}",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd
    import crowdkit.aggregation as agg
    t1 = time.perf_counter()
    df = pd.read_csv(a.labels)
    df = df.rename(columns={"item": "task", "annotator": "worker"})
    t2 = time.perf_counter()
    np.random.seed(0)
    model = build(agg, a.method, a.n_iter, a.tol)
    labels = model.fit_predict(df)
    t3 = time.perf_counter()
    if a.output:
        out = labels.rename("label").rename_axis("item").reset_index()
        out.to_csv(a.output, index=False)
    t4 = time.perf_counter()
    print(json.dumps({
        "method": a.method,
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "fit_s": t3 - t2,
        "write_s": t4 - t3,
        "iterations": iterations(model, a.method),
        "labels": int(len(df)),
        "items": int(labels.shape[0]),
        "self_peak_rss_mb": peak_rss_mb(),
    }))
    return 0


def read_labels(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        i, l = header.index("item"), header.index("label")
        return {row[i]: row[l] for row in r}


def cmd_score(a):
    truth = read_labels(a.truth)
    out = read_labels(a.output)
    res = {
        "truth_items": len(truth),
        "accuracy": sum(out.get(k) == v for k, v in truth.items()) / max(1, len(truth)),
    }
    if a.other:
        other = read_labels(a.other)
        res["agreement"] = sum(other.get(k) == v for k, v in out.items()) / max(1, len(out))
        res["items_compared"] = len(out)
    print(json.dumps(res))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="import crowd-kit, load LABELS.csv, fit METHOD, write labels")
    f.add_argument("method")
    f.add_argument("labels")
    f.add_argument("--n-iter", type=int, default=None, help="iteration cap (default: crowd-kit's)")
    f.add_argument("--tol", type=float, default=None,
                   help="convergence tolerance (default: crowd-kit's; -inf runs every iteration)")
    f.add_argument("-o", "--output", help="write item,label here")
    s = sub.add_parser("score", help="accuracy of a label file, and agreement with another")
    s.add_argument("truth")
    s.add_argument("output")
    s.add_argument("other", nargs="?")
    a = ap.parse_args()
    return cmd_fit(a) if a.cmd == "fit" else cmd_score(a)


if __name__ == "__main__":
    sys.exit(main())
