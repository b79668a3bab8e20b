"""Issue 23: what would a shorter early-stopping patience change? Replayed on finished runs' histories.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_patience.py RUN_ROOT [RUN_ROOT ...] [--patience 2,3,4]

Every ``run.json`` under the roots that has a per-epoch ``history`` is replayed: the loop of
:func:`accent.training.loop.fit` stops once ``patience`` epochs in a row have not improved on the
best (the same rule, :func:`accent.training.loop._improves`), so a shorter patience sees a prefix of
the same epochs (the learning-rate schedule depends on ``max_epochs``, not on patience). Where the
best epoch of that prefix is the run's own best epoch, the run's weights, predictions and test score
would be identical; elsewhere the run would keep an earlier epoch (its validation score is printed,
its test score was never measured). Prints, per recorded patience and per shorter patience: runs,
runs whose kept epoch would change, epochs that would not run, and the largest validation loss.
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from accent.training.loop import _improves


def replay(history: list[dict], select: str, patience: int) -> tuple[int, int]:
    """(kept epoch, epochs run) of a history replayed with ``patience``."""
    best = {"epoch": 0, "bacc": -1.0, "loss": math.inf}
    bad = 0
    for row in history:
        if bad >= patience:
            break
        if _improves(select, row["val_bacc"], row["val_loss"], best):
            best, bad = {"epoch": row["epoch"], "bacc": row["val_bacc"], "loss": row["val_loss"]}, 0
        else:
            bad += 1
        last = row["epoch"]
    return best["epoch"], last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--patience", default="2,3,4")
    args = parser.parse_args()
    shorter = [int(p) for p in args.patience.split(",")]
    groups: dict[tuple, list] = defaultdict(list)
    for root in args.roots:
        for path in sorted(root.rglob("run.json")):
            run = json.loads(path.read_text())
            cfg, history = run.get("train_config") or {}, run.get("history") or []
            if not history or cfg.get("guard") or cfg.get("ema"):
                continue
            groups[(root.name, run.get("mode"), cfg["patience"], cfg["max_epochs"])].append((path, run, cfg))
    print("| runs under | mode | recorded patience | runs | epochs run | patience | kept epoch changes | epochs saved | "
          "largest val balanced-accuracy loss |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (root, mode, recorded, _), runs in sorted(groups.items()):
        total = sum(len(r["history"]) for _, r, _ in runs)
        for p in [p for p in shorter if p < recorded]:
            changed, saved, worst = 0, 0, 0.0
            for path, run, cfg in runs:
                history = run["history"]
                select = cfg.get("select", "val_bacc")
                own, last_own = replay(history, select, recorded)
                kept, last = replay(history, select, p)
                if own != run["best_epoch"] or last_own != len(history):
                    raise SystemExit(f"{path}: the replay does not reproduce the run ({own}, {last_own})")
                saved += last_own - last
                if kept != own:
                    changed += 1
                    by_epoch = {row["epoch"]: row for row in history}
                    worst = max(worst, by_epoch[own]["val_bacc"] - by_epoch[kept]["val_bacc"])
            print(f"| {root} | {mode} | {recorded} | {len(runs)} | {total} | {p} | {changed} | {saved} | {worst:.3f} |")


if __name__ == "__main__":
    main()
