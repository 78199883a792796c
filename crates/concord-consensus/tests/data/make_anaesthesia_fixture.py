#!/usr/bin/env python3
"""Regenerates anaesthesia-crowdkit.json: crowd-kit 1.4.2's Dawid-Skene and one-coin
Dawid-Skene on Dawid & Skene's 1979 anaesthesia data (repeated reads kept), run for a fixed
number of EM iterations (tol=-inf), as an oracle for Concord's maximum-likelihood kernels.

    bench/.venv/bin/python crates/concord-consensus/tests/data/make_anaesthesia_fixture.py \
        ../shared/data/truth-inference/ds1979-anaesthesia/labels.csv > .../anaesthesia-crowdkit.json
"""
import json
import sys

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote

df = pd.read_csv(sys.argv[1], dtype=str).rename(columns={"item": "task", "annotator": "worker"})
out = {"source": "crowd-kit 1.4.2 DawidSkene(n_iter=N, tol=-inf) on ds1979-anaesthesia, labels as strings",
       "classes": sorted(df.label.unique().tolist()), "cases": []}
mv = MajorityVote().fit_predict_proba(df)
out["majority_vote"] = {t: mv.loc[t, out["classes"]].tolist() for t in mv.index}
for n_iter in [1, 5, 50]:
    ds = DawidSkene(n_iter=n_iter, tol=-np.inf).fit(df)
    probas = ds.probas_
    errors = ds.errors_
    conf = {}
    for w in sorted(df.worker.unique()):
        # errors_ rows: (worker, observed label), columns: true label.
        m = errors.loc[w].reindex(index=out["classes"], columns=out["classes"], fill_value=0.0)
        conf[w] = m.values.tolist()
    out["cases"].append({
        "n_iter": n_iter,
        "posteriors": {t: probas.loc[t, out["classes"]].tolist() for t in probas.index},
        "priors": ds.priors_.reindex(out["classes"]).tolist(),
        "errors_observed_by_true": conf,
        "labels": {t: str(l) for t, l in ds.labels_.items()},
    })
json.dump(out, sys.stdout, indent=1)
