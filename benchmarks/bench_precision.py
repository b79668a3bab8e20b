"""Issue 23: does bfloat16 autocast (``train.precision = "auto"`` on a CPU with AMX) change what our
network learns? The same speaker-disjoint folds trained in float32 and in bfloat16, on real speech.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_precision.py [--shared ../shared] [--work data/precision]

Tasks (every stage skipped when its output is already under WORK; the full shipped recipes, no epoch cap):

- ``cv5 scratch``: cv-v1's five largest accents, speakers inferred (``--infer-speakers``), 5-fold;
- ``cv5 finetune``: the same folds, fine-tuned from a tdnn pretrained on saa-en by birth country
  (pretrained in the same precision as the fine-tuning);
- ``saa8k scratch``: saa-8k's nine languages at 8 kHz, 5-fold (one speaker per recording).

Prints, per task, each precision's fold balanced accuracies (mean ± std), the paired per-fold
difference bfloat16 - float32 (mean ± std, and its t-interval), and the CPU seconds of training
(``train_seconds`` summed over the folds) with epochs run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("float32", "bfloat16")
CV5 = "us,england,australia,indian,canada"
FOLDS = 5


def accent(*argv) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "accent", *map(str, argv)]
    print("$ accent " + " ".join(map(str, argv)), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=REPO)


def stores(shared: Path, work: Path) -> dict[str, Path]:
    out = {"cv5": work / "features" / "cv5", "saa-en": work / "features" / "saa-en", "saa8k": work / "features" / "saa8k"}
    if not (out["cv5"] / "store.json").is_file():
        accent("featurize", "--corpus", "commonvoice", "--root", shared / "real-dev" / "cv-v1", "--classes", CV5,
               "--infer-speakers", "--out", out["cv5"])
    if not (out["saa-en"] / "store.json").is_file():
        accent("featurize", "--corpus", "saa", "--root", shared / "real-dev" / "saa-en", "--label-column", "country",
               "--label-map", "saa_country_to_cv_bucket.csv", "--classes", CV5, "--out", out["saa-en"])
    if not (out["saa8k"] / "store.json").is_file():
        config = work / "features" / "8k.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"sample_rate": 8000}))
        accent("featurize", "--corpus", "folder", "--root", shared / "real-dev" / "saa-8k", "--config", config,
               "--out", out["saa8k"])
    return out


def k_fold(work: Path, name: str, store: Path, precision: str, *flags) -> Path:
    out = work / "runs" / f"{name}-{precision}"
    if not (out / "run.json").is_file():
        accent("transfer", "--features", store, "--out", out, "--folds", FOLDS, "--resume", "--quiet",
               "--set", f"train.precision={precision}", *flags)
    return out


def pretrained(work: Path, store: Path, precision: str) -> Path:
    out = work / "runs" / f"pretrain-saa-en-{precision}"
    if not (out / "run.json").is_file():
        accent("pretrain", "--features", store, "--out", out, "--resume", "--quiet",
               "--set", f"train.precision={precision}")
    return out


def fold_summary(run: Path) -> dict:
    folds = [json.loads((run / f"fold{k}" / "run.json").read_text()) for k in range(FOLDS)]
    return {"bacc": np.array([f["metrics"]["test"]["balanced_accuracy"] for f in folds]),
            "seconds": sum(f["train_seconds"] for f in folds), "epochs": sum(f["epochs_run"] for f in folds),
            "precision": sorted({f.get("precision", "?") for f in folds})}


def table(results: dict[str, dict[str, dict]]) -> str:
    lines = ["| task | float32 | bfloat16 | bfloat16 - float32 (paired, 5 folds) | 95 % interval | "
             "training s (epochs) float32 / bfloat16 |", "|---|---|---|---|---|---|"]
    for task, by in results.items():
        a, b = by["float32"], by["bfloat16"]
        d = b["bacc"] - a["bacc"]
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        lines.append(f"| {task} | {a['bacc'].mean():.3f} ± {a['bacc'].std(ddof=1):.3f} | "
                     f"{b['bacc'].mean():.3f} ± {b['bacc'].std(ddof=1):.3f} | {d.mean():+.3f} ± {d.std(ddof=1):.3f} | "
                     f"{d.mean() - half:+.3f} to {d.mean() + half:+.3f} | "
                     f"{a['seconds']:.0f} ({a['epochs']}) / {b['seconds']:.0f} ({b['epochs']}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--work", type=Path, default=REPO / "data" / "precision")
    parser.add_argument("--tasks", default="cv5 scratch,cv5 finetune,saa8k scratch")
    args = parser.parse_args()
    if not (args.shared / "real-dev").is_dir():
        sys.exit(f"bench_precision: {args.shared / 'real-dev'} not found: give --shared (the read-only real recordings)")
    paths = stores(args.shared, args.work)
    results: dict[str, dict[str, dict]] = {}
    for task in [t.strip() for t in args.tasks.split(",")]:
        results[task] = {}
        for precision in PRECISIONS:
            if task == "cv5 scratch":
                run = k_fold(args.work, "cv5-scratch", paths["cv5"], precision, "--mode", "scratch")
            elif task == "cv5 finetune":
                source = pretrained(args.work, paths["saa-en"], precision)
                run = k_fold(args.work, "cv5-finetune", paths["cv5"], precision, "--mode", "finetune", "--source", source)
            elif task == "saa8k scratch":
                run = k_fold(args.work, "saa8k-scratch", paths["saa8k"], precision, "--mode", "scratch")
            else:
                sys.exit(f"bench_precision: unknown task {task!r}")
            results[task][precision] = fold_summary(run)
            print(task, precision, results[task][precision], file=sys.stderr, flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
