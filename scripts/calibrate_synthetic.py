#!/usr/bin/env python
"""How hard is a synthetic corpus? MFCC statistics + logistic regression, speaker-disjoint 5-fold.

    .venv/bin/python scripts/calibrate_synthetic.py --layout cv --root data/corpora/synth-cv

Prints balanced accuracy per fold and the mean: the number docs/synthetic.md records. For
multi-clip speakers it also prints the score of a clip-level split that lets a speaker's clips fall
on both sides: the gap is what recognising voices would be worth, which speaker-disjoint splits deny.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from accent.splits import speaker_kfold

SAMPLE_RATE = 16000
N_MFCC = 20
FOLDS = 5


def mfcc_stats(path: str) -> np.ndarray:
    wave, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    mfcc = librosa.feature.mfcc(y=wave, sr=SAMPLE_RATE, n_mfcc=N_MFCC)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), librosa.feature.delta(mfcc).std(1)])


def corpus_table(layout: str, root: Path) -> pd.DataFrame:
    if layout == "saa":
        meta = pd.read_csv(root / "speakers_all.csv", dtype=str, keep_default_na=False)
        return pd.DataFrame({"path": [str(root / "recordings" / f"{f}.mp3") for f in meta["filename"]],
                             "speaker": meta["speakerid"], "label": meta["native_language"]})
    meta = pd.read_csv(root / "validated.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    return pd.DataFrame({"path": [str(root / "clips" / p) for p in meta["path"]],
                         "speaker": meta["client_id"], "label": meta["accents"]})


def cross_validate(X: np.ndarray, df: pd.DataFrame, folds: np.ndarray) -> list[float]:
    scores = []
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
        model.fit(X[train], df["label"].to_numpy()[train])
        scores.append(balanced_accuracy_score(df["label"].to_numpy()[test], model.predict(X[test])))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=["saa", "cv"], required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    df = corpus_table(args.layout, args.root)
    X = np.stack(Parallel(n_jobs=args.jobs)(delayed(mfcc_stats)(p) for p in df["path"]))
    scores = cross_validate(X, df, speaker_kfold(df, k=FOLDS, seed=0).to_numpy())
    print(f"{args.layout}: {len(df)} clips, {df['speaker'].nunique()} speakers, {df['label'].nunique()} classes")
    print("MFCC-stats + logistic regression, speaker-disjoint 5-fold balanced accuracy: "
          + " ".join(f"{s:.3f}" for s in scores) + f"  mean {np.mean(scores):.3f}  (chance {1 / df['label'].nunique():.3f})")
    if df["speaker"].nunique() < len(df):
        leaky = cross_validate(X, df, np.random.default_rng(0).integers(0, FOLDS, len(df)))
        print(f"clip-level split (speakers leak across folds), for comparison: mean {np.mean(leaky):.3f}")


if __name__ == "__main__":
    main()
