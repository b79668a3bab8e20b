"""Duplicate audio on the one real pair of redistributions we have: real-samples/saa against saa-8k.

    python benchmarks/duplicates.py [--shared ../shared] [--work data/cache/duplicates]

``real-samples/saa`` holds 108 Speech Accent Archive readings at their original rates (16-48 kHz
mp3); ``real-dev/saa-8k`` holds 412 readings redistributed at 8 kHz (mp3, 32 kbit/s) with their
pauses cut. The SAA file names survive both (``english123`` / ``english_123``), which gives the
truth: 28 names occur in both. Every other pair is two different people reading the same passage,
the hardest case for a fingerprint. The stores are featurized as a user would: the originals with
the default config (16 kHz), the 8 kHz copies at 8 kHz, into WORK (git-ignored).

Prints: the match score (:func:`accent.duplicates.match_scores`, both directions, the larger) of the
28 same-name pairs and the highest of the other 44,468 pairs; what :func:`duplicates_between` finds
against the names; what :func:`store_duplicates` finds within each store, and the highest score of
two recordings there (no store has a duplicate by name); the seconds each took.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.corpora import build_manifest  # noqa: E402
from accent.duplicates import MIN_SCORE, Fingerprints, duplicates_between, match_scores, store_duplicates  # noqa: E402
from accent.features import FeatureConfig  # noqa: E402
from accent.featurize import featurize  # noqa: E402
from accent.store import FeatureStore  # noqa: E402


def saa_name(path: str) -> str:
    """``.../english_123.mp3`` and ``.../english123.mp3`` -> ``english123``."""
    match = re.search(r"([a-z]+)_?0*(\d+)\.mp3$", path)
    return match.group(1) + match.group(2)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--work", default=str(REPO / "data" / "cache" / "duplicates"))
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    shared, work = Path(args.shared), Path(args.work)
    originals, _ = build_manifest("saa", shared / "real-samples" / "saa")
    copies, _ = build_manifest("folder", shared / "real-dev" / "saa-8k")
    featurize(originals, work / "originals", FeatureConfig(), workers=args.workers, progress=False)
    featurize(copies, work / "saa8k", FeatureConfig(sample_rate=8000), workers=args.workers, progress=False)
    a, b = FeatureStore.open(work / "originals"), FeatureStore.open(work / "saa8k")
    (fa, fb), fp_s = timed(lambda: (Fingerprints.of_store(a), Fingerprints.of_store(b)))
    names_a, names_b = [saa_name(p) for p in a.index["path"]], [saa_name(p) for p in b.index["path"]]
    truth = np.array([[x == y for y in names_b] for x in names_a])
    scores, score_s = timed(lambda: np.maximum(match_scores(fa.parts, fb.parts), match_scores(fb.parts, fa.parts).T))
    found, _ = timed(lambda: duplicates_between(a, b))
    named = {(u, v) for u, v in zip(a.index["utt_id"].to_numpy()[np.nonzero(truth)[0]],
                                    b.index["utt_id"].to_numpy()[np.nonzero(truth)[1]])}
    hits = set(zip(found["utt_id"], found["duplicate_of"]))
    within = {}
    for name, store, prints in (("originals", a, fa), ("saa-8k", b, fb)):
        pairs, seconds = timed(lambda: store_duplicates(store))
        self_scores = match_scores(prints.parts, prints.parts)
        self_scores = np.maximum(self_scores, self_scores.T)[np.triu_indices(len(prints.parts), k=1)]
        within[name] = (len(pairs), seconds, float(self_scores.max()))
    hours = [float(s.index["n_frames"].sum()) / s.config.frames_per_second / 3600 for s in (a, b)]
    print(f"stores: originals {len(a.index)} clips ({hours[0]:.2f} h, 16 kHz), saa-8k {len(b.index)} clips "
          f"({hours[1]:.2f} h, 8 kHz); fingerprints of both: {fp_s:.1f} s\n")
    print("| pairs | n | match score |")
    print("|---|---|---|")
    print(f"| same SAA name (one recording) | {int(truth.sum())} | min {scores[truth].min():.3f}, "
          f"median {np.median(scores[truth]):.3f} |")
    print(f"| every other pair (two readers of the passage) | {int((~truth).sum())} | max {scores[~truth].max():.3f}, "
          f"99.9th percentile {np.percentile(scores[~truth], 99.9):.3f} |")
    print(f"\nduplicates_between (threshold {MIN_SCORE}): {len(hits)} pairs found, {len(hits & named)} of the "
          f"{len(named)} same-name pairs, {len(hits - named)} others; scores of all pairs: {score_s:.1f} s")
    for name, (n_pairs, seconds, highest) in within.items():
        print(f"store_duplicates on {name}: {n_pairs} pairs ({seconds:.1f} s); highest score of two of its "
              f"recordings: {highest:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
