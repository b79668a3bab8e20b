"""The alignment engine's cache on a real store: a 5-fold aligned run cold (every alignment
computed) and warm (every alignment read from ``FEATDIR/alignments``), on the folds of
``accent transfer --mode aligned --folds 5`` (speaker k-fold, seed 0; 15 % of each fold's other
speakers held out as val, so the training rows are the same).

    python benchmarks/bench_alignment.py data/real_dev/features/saa8k [--cut 10] [--keep-cache]
    python benchmarks/bench_alignment.py data/real_dev/features/saa8k --dtw
    python benchmarks/bench_alignment.py data/real_dev/features/saa8k --off-passage ../shared

``--cut N`` keeps only N recordings (the first by utt_id) of the four smallest classes: the
small-class measurement of issue 22; ``--per-class N`` trains each fold on N recordings per class
(a curve point); ``--n-nap K`` and ``--C`` override the recipe's settings.
Prints the seconds, per-fold balanced accuracy, per-class recall, and the passage_match of the
held-out rows (the smallest ones: real readings that come nearest the off-passage threshold).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accent.aligned import (PASSAGE_MATCH_THRESHOLD, AlignedConfig, AlignedModel, PassageFeaturizer,  # noqa: E402
                            audio_sequence, cross_validate, store_features)
from accent.alignment import CACHE_DIR, AlignSpec, align, store_sequences  # noqa: E402
from accent.splits import speaker_disjoint_split, speaker_kfold  # noqa: E402
from accent.store import FeatureStore  # noqa: E402

FOLD_VAL_FRACTION = 0.15   # as accent.transfer's k-fold


def transfer_folds(index, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) of each fold of ``accent transfer --folds k`` on ``index``'s rows."""
    fold_of = speaker_kfold(index, k, seed=seed).to_numpy()
    folds = []
    for fold in range(k):
        rest = index[fold_of != fold]
        split = speaker_disjoint_split(rest, val_frac=FOLD_VAL_FRACTION, test_frac=0.0, seed=seed + fold).to_numpy()
        folds.append((rest.index.to_numpy()[split == "train"], index.index.to_numpy()[fold_of == fold]))
    return folds


def cut_small_classes(index, n: int, n_classes: int = 4):
    """``index`` with the ``n_classes`` smallest classes cut to their first ``n`` rows by utt_id."""
    sizes = index.groupby("label").size().sort_values(kind="stable")
    small = list(sizes.index[:n_classes])
    keep = index[~index["label"].isin(small)]
    cut = index[index["label"].isin(small)].sort_values("utt_id").groupby("label").head(n)
    return keep.combine_first(cut).loc[sorted(set(keep.index) | set(cut.index))], small


def per_class_rows(index, rows: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` of ``rows`` per label, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    labels = index["label"].to_numpy()[rows]
    return np.sort(np.concatenate([rng.permutation(rows[labels == lab])[:n] for lab in np.unique(labels)]))


def compare_dtw(store, rows=range(0, 420, 20)) -> int:
    """Seconds per alignment of the engine (several bands), librosa and dtw-python, and whether the
    engine's paths equal librosa's full DTW."""
    import librosa

    seqs = store_sequences(store, [r for r in rows if r < len(store.index)])
    ref, (lo, hi) = seqs[5], AlignSpec().align_coeffs
    full = lambda s: librosa.sequence.dtw(X=s[:, lo:hi].T, Y=ref[:, lo:hi].T, metric="euclidean",  # noqa: E731
                                          backtrack=True)[1][::-1]
    align(seqs[0], ref)   # compile
    full(seqs[0])
    timed = {}
    for band in (0.1, 0.25, 1.0):
        start = time.perf_counter()
        paths = [align(s, ref, AlignSpec(band=band)).path() for s in seqs]
        timed[f"engine, band {band}"] = time.perf_counter() - start
        same = sum(np.array_equal(p, full(s)) for p, s in zip(paths, seqs))
        print(f"engine band {band}: {1000 * timed[f'engine, band {band}'] / len(seqs):.1f} ms per alignment; "
              f"path equal to librosa's full DTW for {same} of {len(seqs)}")
    start = time.perf_counter()
    for s in seqs:
        full(s)
    print(f"librosa.sequence.dtw: {1000 * (time.perf_counter() - start) / len(seqs):.1f} ms per alignment "
          f"(mean length {np.mean([len(s) for s in seqs]):.0f} blocks, reference {len(ref)})")
    try:
        from dtw import dtw
    except ImportError:
        print("dtw-python not installed")
        return 0
    start = time.perf_counter()
    for s in seqs:
        dtw(s[:, lo:hi].astype(np.float64), ref[:, lo:hi].astype(np.float64), step_pattern="symmetric1")
    print(f"dtw-python (unbanded): {1000 * (time.perf_counter() - start) / len(seqs):.1f} ms per alignment")
    return 0


def off_passage(store, shared: Path) -> int:
    """passage_match of clips that do not read the passage and of readings from another source."""
    import tempfile

    import soundfile as sf

    cfg = AlignedConfig()
    seqs = store_sequences(store, spec=cfg.spec())
    featurizer = PassageFeaturizer(cfg).fit(seqs, store.index["label"].to_numpy())
    blocks, stats = store_features(store, featurizer, seqs)
    model = AlignedModel(cfg, featurizer).fit_features(blocks, store.index["label"].to_numpy(), stats)
    rng = np.random.default_rng(0)
    sequence = lambda path: audio_sequence(path, store.config, cfg)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        noise = {}
        for name, level in (("white noise", 0.1), ("near silence (-60 dBFS noise)", 1e-3)):
            path = Path(tmp) / "clip.wav"
            sf.write(path, rng.normal(0, level, 20 * 16000).astype(np.float32), 16000)
            noise[name] = [sequence(path)]
    cv = sorted((shared / "real-dev" / "cv-v1" / "cv-valid-dev").glob("*.mp3"))[:40]
    samples = sorted((shared / "real-samples" / "saa" / "recordings").glob("*.mp3"))
    groups = {**noise, "reversed saa-8k readings (every 20th)": [s[::-1].copy() for s in seqs[::20]],
              f"cv-v1 sentences (first {len(cv)})": [sequence(p) for p in cv],
              f"real-samples/saa readings ({len(samples)}, 28 of them also in saa-8k)": [sequence(p) for p in samples]}
    for name, group in groups.items():
        match = model.passage_match(group)
        print(f"{name}: passage_match min {match.min():.3f} median {np.median(match):.3f} max {match.max():.3f}; "
              f"below {PASSAGE_MATCH_THRESHOLD}: {int((match < PASSAGE_MATCH_THRESHOLD).sum())} of {len(match)}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", type=Path)
    parser.add_argument("--cut", type=int, help="cut the four smallest classes to this many recordings")
    parser.add_argument("--per-class", type=int, help="train each fold on this many recordings per class (seed 0)")
    parser.add_argument("--n-nap", type=int)
    parser.add_argument("--C", type=float)
    parser.add_argument("--dtw", action="store_true", help="only compare the engine's DTW with librosa's "
                        "(and dtw-python's, when installed) on 21 recordings against one reference")
    parser.add_argument("--off-passage", type=Path, metavar="SHARED",
                        help="only the passage_match of off-passage clips (noise, near silence, reversed readings, "
                             "SHARED/real-dev/cv-v1 sentences) and of SHARED/real-samples/saa readings, under a "
                             "model fitted on every row")
    parser.add_argument("--keep-cache", action="store_true", help="skip the cold run (reuse the cache)")
    args = parser.parse_args(argv)
    store = FeatureStore.open(args.features)
    if args.dtw:
        return compare_dtw(store)
    if args.off_passage:
        return off_passage(store, args.off_passage)
    cfg = AlignedConfig()
    cfg = replace(cfg, **{k: v for k, v in (("n_nap", args.n_nap), ("C", args.C)) if v is not None})
    index = store.index
    if args.cut:
        index, small = cut_small_classes(index, args.cut)
        print(f"cut {', '.join(small)} to {args.cut} recordings: {len(index)} rows")
    folds = transfer_folds(index)
    if args.per_class:
        folds = [(per_class_rows(store.index, train, args.per_class), test) for train, test in folds]
    runs = ["warm"] if args.keep_cache else ["cold", "warm"]
    for run in runs:
        if run == "cold":
            shutil.rmtree(store.root / CACHE_DIR, ignore_errors=True)
        start = time.perf_counter()
        result = cross_validate(store, folds, cfg)
        seconds = time.perf_counter() - start
        scores = np.array(result["scores"])
        print(f"{run}: {seconds:.1f} s; balanced accuracy {scores.mean():.3f} ± {scores.std():.3f} "
              f"(folds {' '.join(f'{s:.3f}' for s in scores)})")
    print("per-class recall:", " ".join(f"{k} {v:.2f}" for k, v in result["per_class_recall"].items()))
    tested = np.concatenate([t for _, t in folds])
    match = result["passage_match"][tested]
    print(f"passage_match of held-out readings: min {match.min():.3f}, 1 % quantile {np.quantile(match, 0.01):.3f}, "
          f"below 0.5: {int((match < 0.5).sum())} of {len(match)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
