"""Which quantile of the chunks' best correlations separates copies from readers (docs/benchmarks.md,
"Duplicate audio"): for each quantile given, the scores of the 28 real same-name pairs (real-samples/saa
against saa-8k, pauses cut), of two real readers, and of every pair of a synthetic SAA-like store.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/duplicates_quantile.py SYNTHETIC_FEATDIR 0.9 0.5 0.25 0.1

Featurizes the two real stores into --work the first time, as benchmarks/duplicates.py does.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import accent.duplicates as dup  # noqa: E402
from accent.corpora import build_manifest  # noqa: E402
from accent.features import FeatureConfig  # noqa: E402
from accent.featurize import featurize  # noqa: E402
from accent.store import FeatureStore  # noqa: E402
from duplicates import saa_name  # noqa: E402


def pair_scores(parts: list[np.ndarray]) -> np.ndarray:
    """Every pair of one store, both directions, the larger."""
    scores = dup.match_scores(parts, parts)
    return np.maximum(scores, scores.T)[np.triu_indices(len(parts), k=1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("synthetic", help="FEATDIR of a synthetic SAA-like store (the main job's features/source)")
    ap.add_argument("quantiles", nargs="+", type=float)
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--work", default="/tmp/dupwork")
    args = ap.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    if not (work / "saa8k" / "store.json").is_file():
        originals, _ = build_manifest("saa", shared / "real-samples" / "saa")
        copies, _ = build_manifest("folder", shared / "real-dev" / "saa-8k")
        featurize(originals, work / "originals", FeatureConfig(), workers=2, progress=False)
        featurize(copies, work / "saa8k", FeatureConfig(sample_rate=8000), workers=2, progress=False)
    a, b = FeatureStore.open(work / "originals"), FeatureStore.open(work / "saa8k")
    fa, fb = dup.Fingerprints.of_store(a), dup.Fingerprints.of_store(b)
    synthetic = dup.Fingerprints.of_store(FeatureStore.open(args.synthetic))
    names_a, names_b = [saa_name(p) for p in a.index["path"]], [saa_name(p) for p in b.index["path"]]
    truth = np.array([[x == y for y in names_b] for x in names_a])
    print("| quantile | real copies: min, median | real readers: max | synthetic pairs: max, at or above "
          f"{dup.MIN_SCORE} |\n|---|---|---|---|")
    for q in args.quantiles:
        dup.SCORE_QUANTILE = q
        start = time.time()
        real = np.maximum(dup.match_scores(fa.parts, fb.parts), dup.match_scores(fb.parts, fa.parts).T)
        readers = max(real[~truth].max(), pair_scores(fa.parts).max())
        clones = pair_scores(synthetic.parts)
        print(f"| {q} | {real[truth].min():.3f}, {np.median(real[truth]):.3f} | {readers:.3f} | "
              f"{clones.max():.3f}, {int((clones >= dup.MIN_SCORE).sum())} |  ({time.time() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
