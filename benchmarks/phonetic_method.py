"""Checks of the ``phonetic`` method on real Common Voice (issue 21; docs/benchmarks.md, "The phonetic
method through the command line").

    python benchmarks/phonetic_method.py dtw [--shared ../shared]
    python benchmarks/phonetic_method.py match --features FEATDIR --run RUNDIR

``dtw``: phone starts on 12 cv-v1 clips (us, indian, england) from librosa's banded DTW (what
:mod:`accent.phones` used) against the alignment engine's (:func:`accent.phones.align_to_rendering`).
``match``: passage_match of a phonetic run on the store's test clips with their own sentence, and with
the next test clip's sentence (a clip that does not read its text): how many each flags.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from accent import phones
from accent.features import FeatureConfig, log_mel_numpy
from accent.featurize import prepare_clip


def first_clip_frames(path: np.ndarray, n_ref: int, n_clip: int) -> np.ndarray:
    first = np.full(n_ref + 1, n_clip)
    np.minimum.at(first, path[:, 1], path[:, 0])
    return np.minimum.accumulate(first[::-1])[::-1][:-1]


def dtw(shared: Path) -> None:
    import librosa

    cv = shared / "real-dev" / "cv-v1"
    df = pd.read_csv(cv / "cv-valid-dev.csv")
    df = df[df["accent"].isin(["us", "indian", "england"])].head(12)
    cfg, diffs = FeatureConfig(), []
    for name, text in zip(df["filename"], df["text"]):
        logmel = log_mel_numpy(prepare_clip(cv / name, cfg)[0], cfg)
        clip = phones.alignment_sequence(logmel)
        ref = phones.alignment_sequence(phones.rendering_logmel(phones.render(text), cfg))
        _, path = librosa.sequence.dtw(X=clip.T, Y=ref.T, metric="euclidean", backtrack=True,
                                       global_constraints=True, band_rad=phones.BAND_RADIUS)
        ours = phones.dtw_path(clip, ref)
        diffs.append(np.abs(first_clip_frames(path[::-1], len(ref), len(clip))
                            - first_clip_frames(ours, len(ref), len(clip))))
    d = np.concatenate(diffs)
    print(f"{len(df)} clips, {len(d)} rendering frames: |librosa - engine| first clip frame: "
          f"median {np.median(d):.0f}, max {d.max():.0f}, identical {np.mean(d == 0):.3f}")


def match(features: str, rundir: str) -> None:
    from accent.inference import load_run
    from accent.phonetic import file_measurements, store_measurements
    from accent.store import FeatureStore

    warnings.simplefilter("ignore")
    store, fitted = FeatureStore.open(features), load_run(rundir).fitted
    model = fitted.phonetic
    rows = np.flatnonzero(store.index["split"].to_numpy() == "test")
    from sklearn.metrics import roc_auc_score

    own_stats = store_measurements(store, model.config)[1][rows]
    texts, paths = store.index["text"].to_numpy(), store.index["path"].to_numpy()
    wrong_stats = np.array([file_measurements(paths[r], texts[o], model.config, fitted.feature_config)[1]
                            for r, o in zip(rows, np.roll(rows, 1))])
    own, wrong = model.match(own_stats), model.match(wrong_stats)
    y = np.r_[np.zeros(len(rows)), np.ones(len(rows))]
    auc = [roc_auc_score(y, np.r_[own_stats[:, k], wrong_stats[:, k]]) for k in range(own_stats.shape[1])]
    print("ROC AUC of each statistic, own against another sentence: cost {:.2f}, ratio {:.2f}, length {:.2f}".format(*auc))
    print(f"{len(rows)} test clips: own sentence flagged {np.mean(own < fitted.match_threshold):.3f} "
          f"(median match {np.median(own):.3f}); another clip's sentence flagged "
          f"{np.mean(wrong < fitted.match_threshold):.3f} (median match {np.median(wrong):.3f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dtw")
    d.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    m = sub.add_parser("match")
    m.add_argument("--features", required=True)
    m.add_argument("--run", required=True)
    args = p.parse_args()
    dtw(args.shared) if args.cmd == "dtw" else match(args.features, args.run)


if __name__ == "__main__":
    main()
