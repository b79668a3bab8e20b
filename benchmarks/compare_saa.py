"""Speaker-disjoint comparison of recording-level features on real Speech Accent Archive recordings.

    python benchmarks/compare_saa.py [--root ../shared/real-samples/saa] [--cnn-run RUNDIR]

Feature sets: ``baseline`` (MFCC statistics of the stored log-mels), ``resemblyzer`` (GE2E speaker
embedding), ``fusion`` (both side by side), and with ``--cnn-run`` our pretrained CNN
(``accent:RUNDIR``, i.e. transfer mode extract) alone and fused with the other two (a RUNDIR path
must not contain '+'). Each is scored with the same classifier (StandardScaler fit on the training
folds, then class-balanced logistic regression) over speaker-disjoint, label-stratified folds
(accent.splits.speaker_kfold), repeated over several fold-assignment seeds because 108 recordings
make single folds noisy. Prints a markdown table: balanced accuracy and accuracy, mean ± std over
all test folds.

Our CNN trained on these recordings alone is the ``scratch`` row: ``accent.transfer.run_transfer(...,
"scratch", folds=k, seed=s)`` with the ``tdnn`` preset, whose k-fold uses the same
``speaker_kfold(index, k, seed=s)`` assignment as the rows above, so every row is tested on the same
folds. It trains on the other folds minus 15 % of their speakers, kept for early stopping, and at
most ``--cnn-epochs`` epochs; the fold-assignment seeds run in ``--jobs`` processes of one thread.
``--cnn-epochs 0`` leaves the row out.

The clips are featurized once into ``--work`` (a normal feature store, default config), the
embeddings are cached there and the scratch runs are kept there (``cnn_scratch_e<epochs>/seed<s>``),
so a rerun only refits the classifiers.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.corpora import build_manifest  # noqa: E402
from accent.embeddings import recording_embeddings  # noqa: E402
from accent.errors import AccentError  # noqa: E402
from accent.featurize import featurize  # noqa: E402
from accent.splits import speaker_kfold  # noqa: E402
from accent.store import FeatureStore  # noqa: E402

DEFAULT_ROOT = REPO.parent / "shared" / "real-samples" / "saa"
DEFAULT_WORK = REPO / "data" / "cache" / "compare_saa"
MAX_ITER = 5000
CNN_PRESET = "tdnn"
CNN_EPOCHS = 10   # about 150 s per fold-assignment seed (5 folds) on one loaded core


def feature_sets(cnn_run: str | None) -> dict[str, str]:
    """Display name -> embedding spec understood by accent.embeddings.recording_embeddings."""
    sets = {"baseline (MFCC statistics)": "mfcc",
            "speaker encoder (resemblyzer)": "resemblyzer",
            "fusion (mfcc+resemblyzer)": "mfcc+resemblyzer"}
    if cnn_run:
        sets["our pretrained CNN, frozen (extract, accent:RUN)"] = f"accent:{cnn_run}"
        sets["fusion (mfcc+resemblyzer+CNN)"] = f"mfcc+resemblyzer+accent:{cnn_run}"
    return sets


def cross_validate(X: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per-fold balanced accuracy and accuracy; rows with a NaN (failed clips) are left out."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ok = np.isfinite(X).all(axis=1)
    bacc, acc = [], []
    for k in np.unique(folds):
        train, test = ok & (folds != k), ok & (folds == k)
        model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=MAX_ITER,
                                                                   random_state=seed))
        model.fit(X[train], y[train])
        pred = model.predict(X[test])
        with warnings.catch_warnings():  # a fold can miss a small class: balanced accuracy still defined
            warnings.simplefilter("ignore")
            bacc.append(balanced_accuracy_score(y[test], pred))
        acc.append(accuracy_score(y[test], pred))
    return {"balanced_accuracy": np.array(bacc), "accuracy": np.array(acc), "n": int(ok.sum())}


def _scratch_cv(task: tuple) -> Path:
    """One fold-assignment seed of the scratch CNN (in a worker process); returns its run directory."""
    import torch

    from accent.transfer import run_transfer

    features, out, folds, seed, max_epochs = task
    torch.set_num_threads(1)
    run_transfer(features, "scratch", out, folds=folds, seed=seed, preset=CNN_PRESET, max_epochs=max_epochs,
                 progress=False, resume=True)
    return out


def cnn_scratch_scores(features: Path, work: Path, index, folds: int, seeds: list[int], max_epochs: int,
                       jobs: int) -> dict[str, np.ndarray]:
    """Per-test-fold balanced accuracy and accuracy of our CNN trained from scratch, computed from
    its out-of-fold predictions with the same functions and folds as :func:`cross_validate`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    tasks = [(features, work / f"cnn_scratch_e{max_epochs}" / f"seed{s}", folds, s, max_epochs) for s in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            outs = list(pool.map(_scratch_cv, tasks))
    else:
        outs = [_scratch_cv(task) for task in tasks]
    bacc, acc = [], []
    for out, seed in zip(outs, seeds):
        preds = pd.read_csv(out / "predictions.csv", keep_default_na=False).set_index("utt_id")
        fold_of = pd.Series(speaker_kfold(index, k=folds, seed=seed).to_numpy(), index=index["utt_id"])
        for k in range(folds):
            test = preds.loc[fold_of.index[fold_of.to_numpy() == k]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bacc.append(balanced_accuracy_score(test["label"], test["pred"]))
            acc.append(accuracy_score(test["label"], test["pred"]))
    return {"balanced_accuracy": np.array(bacc), "accuracy": np.array(acc), "n": len(index)}


def prepare_store(root: Path, work: Path, workers: int) -> FeatureStore:
    manifest, _ = build_manifest("saa", root)
    featurize(manifest, work / "features", workers=workers, progress=True)
    return FeatureStore.open(work / "features")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="SAA root (speakers_all.csv + recordings/)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="feature store and embedding cache")
    parser.add_argument("--cnn-run", help="RUNDIR of a pretrained accent CNN to include")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="first fold-assignment seed")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeat the k-fold CV with seeds seed..seed+repeats-1 (folds are small and noisy)")
    parser.add_argument("--workers", type=int, default=2, help="featurize processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the backbones")
    parser.add_argument("--cnn-epochs", type=int, default=CNN_EPOCHS,
                        help=f"epoch cap of the scratch CNN (default {CNN_EPOCHS}; 0 leaves the row out)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the scratch CNN seeds")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    try:
        store = prepare_store(args.root, args.work, args.workers)
        y = store.index["label"].to_numpy()
        seeds = range(args.seed, args.seed + args.repeats)
        assignments = [speaker_kfold(store.index, k=args.folds, seed=s).to_numpy() for s in seeds]
        rows = []
        for title, spec in feature_sets(args.cnn_run).items():
            _, X = recording_embeddings(spec, store)
            runs = [cross_validate(X, y, folds, s) for folds, s in zip(assignments, seeds)]
            scores = {m: np.concatenate([r[m] for r in runs]) for m in ("balanced_accuracy", "accuracy")}
            rows.append((title, X.shape[1], {**scores, "n": runs[0]["n"]}))
        if args.cnn_epochs > 0:
            scores = cnn_scratch_scores(args.work / "features", args.work, store.index, args.folds, list(seeds),
                                        args.cnn_epochs, args.jobs)
            rows.append((f"our CNN from scratch ({CNN_PRESET}, at most {args.cnn_epochs} epochs)", "-", scores))
    except AccentError as exc:
        print(f"compare_saa: error: {exc}", file=sys.stderr)
        return 2
    counts = store.index["label"].value_counts()
    print(f"\n{len(store.index)} recordings, {store.index['speaker'].nunique()} speakers, {len(counts)} native "
          f"languages ({', '.join(f'{k} {v}' for k, v in counts.items())}); {args.folds}-fold speaker-disjoint CV "
          f"repeated with seeds {args.seed}..{args.seed + args.repeats - 1}, mean ± std over the "
          f"{args.folds * args.repeats} test folds; chance balanced accuracy {1 / len(counts):.3f}\n")
    print("| features | dim | balanced accuracy | accuracy | recordings |")
    print("|---|---:|---:|---:|---:|")
    for title, dim, s in rows:
        b, a = s["balanced_accuracy"], s["accuracy"]
        print(f"| {title} | {dim} | {b.mean():.3f} ± {b.std():.3f} | {a.mean():.3f} ± {a.std():.3f} | {s['n']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
