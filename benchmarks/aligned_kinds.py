"""Does the passage-aligned recipe apply to a corpus? Speaker-disjoint k-fold on any feature store,
the aligned recipe (references and NAP from the training folds) beside the MFCC baseline.

    python benchmarks/aligned_kinds.py FEATDIR [FEATDIR ...] [--folds 5]

The recipe assumes every speaker reads the same text (Speech Accent Archive). On a corpus where
each clip says a different sentence (Common Voice) the alignment has nothing to align, and this
shows how far it falls. References are the training folds' recordings at the length quantiles
(English ones when the store has an ``english`` label).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.aligned import AlignedClassifier, AlignedConfig, PassageFeaturizer, select_references, store_sequences  # noqa: E402
from accent.embeddings import recording_embeddings  # noqa: E402
from accent.splits import speaker_kfold  # noqa: E402
from accent.store import FeatureStore  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from real_dev import balanced_accuracy, logreg_predict  # noqa: E402


def compare(root: Path, folds: int, cfg: AlignedConfig) -> dict[str, np.ndarray]:
    store = FeatureStore.open(root)
    y = store.index["label"].to_numpy()
    fold_of = speaker_kfold(store.index, folds, seed=0).to_numpy()
    seqs = store_sequences(store, cfg=cfg)
    _, mfcc = recording_embeddings("mfcc", store, progress=False)
    cache: dict[int, np.ndarray] = {}
    scores: dict[str, list[float]] = {"aligned": [], "baseline (MFCC statistics + LR)": []}
    for k in range(folds):
        train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        refs = train[select_references([len(seqs[i]) for i in train], y[train], cfg.reference_quantiles)]
        for r in refs:
            if r not in cache:
                cache[r] = PassageFeaturizer(cfg, [seqs[r]]).transform(seqs)[0]
        feats = [cache[r] for r in refs]
        clf = AlignedClassifier(cfg).fit([X[train] for X in feats], y[train])
        scores["aligned"].append(balanced_accuracy(y[test], clf.predict([X[test] for X in feats])))
        scores["baseline (MFCC statistics + LR)"].append(
            balanced_accuracy(y[test], logreg_predict(mfcc[train], y[train], mfcc[test])))
    return {name: np.array(v) for name, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    print("| store | recordings | classes | aligned | baseline (MFCC + LR) | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for root in args.stores:
        start = time.perf_counter()
        scores = compare(root, args.folds, AlignedConfig())
        store = FeatureStore.open(root)
        cells = " | ".join(f"{s.mean():.3f} ± {s.std():.3f}" for s in scores.values())
        print(f"| {root} | {len(store.index)} | {len(store.labels)} | {cells} | {time.perf_counter() - start:.0f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
