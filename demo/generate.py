#!/usr/bin/env python3
"""Generate Concord's bundled demo data: chest X-ray findings read by a mixed panel.

    python3 demo/generate.py demo/

Synthetic (so it can ship under the project's licence), standard library only, and a pure
function of the seed below: running it again rewrites byte-identical files.

Model: 400 studies; true finding ~ Categorical(normal .45, pneumonia .25, effusion .18,
nodule .12). 16 readers: 4 thoracic radiologists (accuracy .90-.96), 6 general radiologists
(.78-.88), 4 residents (.60-.75, and they over-call pneumonia), 1 medical student (.45) and one
reader who answers "normal" most of the time whatever the image. Each study is read by 3 to 5
distinct readers. Writes labels.csv (item,annotator,label), truth.csv (item,label), gold.csv
(every tenth study, the known answers a project would interleave) and items.jsonl (the studies
as `concord import items` reads them, gold answers on every tenth).
"""
import csv
import json
import random
import sys

CLASSES = ["normal", "pneumonia", "effusion", "nodule"]
PRIOR = [0.45, 0.25, 0.18, 0.12]


def readers(rng):
    out = []
    for i in range(4):
        out.append((f"thoracic-{i + 1}", rng.uniform(0.90, 0.96), None))
    for i in range(6):
        out.append((f"radiologist-{i + 1}", rng.uniform(0.78, 0.88), None))
    for i in range(4):
        out.append((f"resident-{i + 1}", rng.uniform(0.60, 0.75), "pneumonia"))
    out.append(("student-1", 0.45, None))
    out.append(("reader-normal", None, "normal"))
    return out


def read(rng, truth, accuracy, bias):
    if accuracy is None:  # answers "normal" 85% of the time, whatever the truth
        return "normal" if rng.random() < 0.85 else rng.choice(CLASSES)
    if rng.random() < accuracy:
        return truth
    wrong = [c for c in CLASSES if c != truth]
    if bias is not None and bias != truth and rng.random() < 0.6:
        return bias
    return rng.choice(wrong)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    rng = random.Random(20261128)
    panel = readers(rng)
    studies = []
    for i in range(400):
        truth = rng.choices(CLASSES, PRIOR)[0]
        studies.append((f"CXR-{i + 1:04d}", truth))
    with open(f"{out}/labels.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["item", "annotator", "label"])
        for item, truth in studies:
            for name, accuracy, bias in rng.sample(panel, rng.randint(3, 5)):
                w.writerow([item, name, read(rng, truth, accuracy, bias)])
    with open(f"{out}/truth.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["item", "label"])
        w.writerows(studies)
    with open(f"{out}/gold.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["item", "label"])
        w.writerows(studies[::10])
    with open(f"{out}/items.jsonl", "w") as f:
        for i, (item, truth) in enumerate(studies):
            row = {"id": item, "text": f"Frontal chest radiograph, synthetic study {item}."}
            if i % 10 == 0:
                row["gold"] = truth
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
