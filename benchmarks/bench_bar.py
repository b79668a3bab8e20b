"""The accuracy bar: synthetic SAA-like source -> CV-like target, learning curve x seeds x 4 modes.

    .venv/bin/python benchmarks/bench_bar.py --work /tmp/accent_bar [--seeds 3] [--sizes 5,10,all]

Stages (each skipped when its output exists): synth saa + cv, featurize both, pretrain (tdnn),
then every (size, seed, mode) transfer run, two processes at a time with one thread each.
Prints a table of test balanced accuracy (mean +- sd over seeds) and checks the bar:
  (1) at "all", the best neural mode beats baseline by >= 10 points;
  (2) at the two smallest sizes, finetune or extract beats both scratch and baseline.
Writes WORK/bar.json with every run's numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

MODES = ("baseline", "scratch", "extract", "finetune")
NEURAL = ("scratch", "extract", "finetune")
BAR_MARGIN = 0.10


def accent(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "accent", *args], check=True)


def prepare(work: Path, max_epochs: int) -> dict:
    """Synthesise, featurize and pretrain; returns wall-clock seconds per stage."""
    seconds = {}
    t0 = time.perf_counter()
    for layout in ("saa", "cv"):
        accent("synth", "--layout", layout, "--out", str(work / layout))
    seconds["synth"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for corpus, layout in (("saa", "saa"), ("commonvoice", "cv")):
        if not (work / f"feat_{layout}" / "store.json").is_file():
            accent("featurize", "--corpus", corpus, "--root", str(work / layout), "--out", str(work / f"feat_{layout}"),
                   "--quiet")
    seconds["featurize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    import torch

    from accent.training.pretrain import pretrain

    torch.set_num_threads(2)
    result = pretrain(work / "feat_saa", work / "source", max_epochs=max_epochs, seed=0, resume=True, progress=False)
    seconds["pretrain"] = time.perf_counter() - t0
    seconds["source_test_bacc"] = result["metrics"]["test"]["balanced_accuracy"]
    seconds["source_epochs"] = [result["best_epoch"], result["epochs_run"]]
    return seconds


def one_run(job: tuple) -> dict:
    work, size, seed, mode = job
    import torch

    from accent.transfer import run_transfer

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    r = run_transfer(work / "feat_cv", mode, work / "runs" / f"{size}_s{seed}_{mode}", source=work / "source",
                     per_class=None if size == "all" else int(size), seed=seed, progress=False, resume=True)
    return {"size": size, "seed": seed, "mode": mode, "test_bacc": r["metrics"]["test"]["balanced_accuracy"],
            "val_bacc": r["metrics"]["val"]["balanced_accuracy"], "n_train": r["n_train_recordings"],
            "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"], "seconds": time.perf_counter() - t0}


def summarise(runs: list[dict], sizes: list[str]) -> tuple[str, dict]:
    table = {s: {m: [r["test_bacc"] for r in runs if r["size"] == s and r["mode"] == m] for m in MODES} for s in sizes}
    lines = ["| train size | " + " | ".join(MODES) + " |", "|---" * (len(MODES) + 1) + "|"]
    for s in sizes:
        cells = [f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in table[s].values()]
        name = "all" if s == "all" else f"{s} per class"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    mean = {s: {m: float(np.mean(v)) for m, v in table[s].items()} for s in sizes}
    best_all = max(mean["all"][m] for m in NEURAL) if "all" in mean else float("nan")
    checks = {"all_best_neural_minus_baseline": best_all - mean.get("all", {}).get("baseline", float("nan"))}
    small = [s for s in sizes if s != "all"][:2]
    for s in small:
        transfer = max(mean[s]["finetune"], mean[s]["extract"])
        checks[f"{s}_transfer_minus_best_of_scratch_baseline"] = transfer - max(mean[s]["scratch"], mean[s]["baseline"])
    passed = checks["all_best_neural_minus_baseline"] >= BAR_MARGIN and all(
        v > 0 for k, v in checks.items() if k != "all_best_neural_minus_baseline")
    return "\n".join(lines), {"checks": checks, "passed": bool(passed), "mean": mean}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/accent_bar")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="5,10,all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    stages = prepare(work, args.pretrain_epochs)
    sizes = args.sizes.split(",")
    # longest runs first so the two workers finish together
    jobs = [(work, s, seed, m) for s in reversed(sizes) for seed in range(args.seeds) for m in MODES]
    t0 = time.perf_counter()
    with Pool(args.workers) as pool:
        runs = pool.map(one_run, jobs, chunksize=1)
    stages["transfer"] = time.perf_counter() - t0
    stages["total"] = time.perf_counter() - t_start
    table, verdict = summarise(runs, sizes)
    print(table)
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in stages.items()}))
    print(json.dumps(verdict["checks"], indent=1))
    print("BAR", "PASSED" if verdict["passed"] else "NOT MET")
    (work / "bar.json").write_text(json.dumps({"stages": stages, "runs": runs, **verdict}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
