"""Transfer a pretrained source model to a target store, in every method compared on the same splits.

The methods (``baseline``, ``scratch``, ``extract``, ``finetune``, ``aligned``) are classes in
:mod:`accent.methods`, one per file; ``--mode`` names one of them through its registry, and what a
method needs (a source run, a backbone, a same-passage store) is declared on its class.

``--backbone`` picks the pretrained network of extract and finetune: ``accent`` (the ``--source``
run, default), a registered pretrained speech backbone (``resemblyzer``, see :mod:`accent.backbones`),
which reads each clip's audio and is fine-tuned on waveform crops (:class:`accent.training.tasks.WaveformTask`),
or, for extract only, ``mfcc`` or a fusion such as ``mfcc+resemblyzer`` or ``accent+resemblyzer``
(the parts' vectors side by side, standardised together). Pretrained-backbone embeddings are cached
per (backbone, store) by :mod:`accent.embeddings`; a clip a backbone cannot embed is left out of
every split with a warning.

All modes subsample only the training split (by speaker), and score the same val/test recordings.
This module only orchestrates: the methods are in :mod:`accent.methods`, recipes in
:mod:`accent.training.config`, the training loop in :mod:`accent.training.loop`, and every run
directory is written by :mod:`accent.training.rundir`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from accent.backbones.names import ACCENT
from accent.classifiers import CLASSIFIERS
from accent.errors import AccentError
from accent.features import check_feature_config
from accent.inference import load_run
from accent.layout import PREDICTIONS, finished_run
from accent.methods import get_method, method_names
from accent.methods.base import Method
from accent.metrics import split_metrics
from accent.splits import check_classes, speaker_disjoint_split, speaker_kfold, splits_from_index, target_index
from accent.store import FeatureStore, StoreView
from accent.training import config
from accent.training.rundir import dataset_summary, write_aggregate

FOLD_VAL_FRACTION = 0.15


def run_single(view: StoreView, method: Method, out: Path, info: dict) -> dict:
    """One method on one split assignment (the index of ``view``)."""
    where = str(info["features"])
    check_classes(view.index, where)
    return method.run(view, splits_from_index(view.index, where), out, info)


def run_transfer(features, mode: str, out, *, source=None, per_class: int | None = None,
                 train_fraction: float | None = None, seed: int = 0, folds: int | None = None,
                 backbone: str = ACCENT, classifier: str = "logreg", preset: str | None = None,
                 max_epochs: int | None = None, progress: bool = True, device: str | None = None,
                 resume: bool = False, recipe: dict | None = None, executor=None) -> dict:
    """Train one transfer mode on a target store; writes RUNDIR and returns its run.json dict.
    ``recipe`` is a user overlay of the mode's shipped recipe (:func:`accent.training.config.user_overlay`).
    ``executor`` (anything with ``submit``, :mod:`accent.executors`) runs a method's store-wide work
    in shards, for every fold (aligned: the alignments, cached beside the store)."""
    method_class = get_method(mode)
    if per_class is not None and train_fraction is not None:
        raise AccentError("give --per-class or --train-fraction, not both")
    source, backbone = method_class.spell(source, backbone)
    out = Path(out)
    if resume and (done := finished_run(out)) is not None:
        return done
    store = FeatureStore.open(features)
    method = method_class(backbone=backbone, classifier=classifier, seed=seed, preset=preset, max_epochs=max_epochs,
                          device=device, progress=progress, resume=resume, recipe=recipe, executor=executor)
    if source is not None and method.reads_source_run():
        method.source_run, method.source_path = load_run(source), source
        check_feature_config(method.source_run.feature_config, store.config, features)
    elif method.needs_source_run():
        raise AccentError(f"--mode {mode} needs --source RUNDIR (a run written by `accent pretrain`)")
    method.prepare(store, features, source)
    info = {**method.run_fields(), "features": str(features), "seed": seed, "per_class": per_class,
            "train_fraction": train_fraction, "folds": folds, "fold": None}
    if folds is None:
        view = StoreView(store, target_index(store.index, per_class, train_fraction, seed))
        return run_single(view, method, out, info)
    return _run_folds(store, method, out, folds, per_class, train_fraction, seed, info)


def _run_folds(store, method: Method, out: Path, k: int, per_class, train_fraction, seed, info) -> dict:
    """Speaker-disjoint k-fold CV: each fold tests one fold's speakers; val comes from the others."""
    fold_of = speaker_kfold(store.index, k, seed=seed).to_numpy()
    runs, tables = [], []
    for fold in range(k):
        index = store.index.copy()
        rest = index[fold_of != fold]
        index["split"] = "test"
        index.loc[rest.index, "split"] = speaker_disjoint_split(rest, val_frac=FOLD_VAL_FRACTION, test_frac=0.0,
                                                                seed=seed + fold).to_numpy()
        index = target_index(index, per_class, train_fraction, seed)
        fold_out = out / f"fold{fold}"
        # the aggregate has no checkpoint of its own, so resuming means reusing each finished fold
        result = finished_run(fold_out) if method.resume else None
        if result is None:
            result = run_single(StoreView(store, index), method, fold_out, {**info, "fold": fold})
        runs.append(result)
        tables.append(pd.read_csv(fold_out / PREDICTIONS, keep_default_na=False))
    labels = sorted(set().union(*[r["labels"] for r in runs]))
    table = pd.concat(tables, ignore_index=True)
    prob_cols = [f"p_{lab}" for lab in labels]
    table = table.reindex(columns=["utt_id", "speaker", "split", "label", "pred"] + prob_cols).fillna({c: 0.0 for c in prob_cols})
    test = table[table["split"] == "test"]
    metrics = split_metrics(table, labels)
    run_json = {**info, "mode": method.name, "labels": labels, "folds": k, "fold": None,
                "best_epoch": None, "epochs_run": None, "history": [], "metrics": metrics,
                "train_seconds": round(sum(r["train_seconds"] for r in runs), 2),
                "n_train_recordings": int(np.mean([r["n_train_recordings"] for r in runs])),
                "n_train_speakers": int(np.mean([r["n_train_speakers"] for r in runs])),
                "fold_runs": [{"fold": i, "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"],
                               "test": r["metrics"]["test"]["balanced_accuracy"]} for i, r in enumerate(runs)],
                "dataset": {**dataset_summary(store.index), "splits": {"test": int(len(test))}}}
    return write_aggregate(out, run_json, test)


def _run_cli(args) -> int:
    result = run_transfer(args.features, args.mode, args.out, source=args.source, per_class=args.per_class,
                          train_fraction=args.train_fraction, seed=args.seed, folds=args.folds,
                          backbone=args.backbone, classifier=args.classifier, preset=args.preset,
                          max_epochs=args.max_epochs, device=args.device, resume=args.resume,
                          recipe=config.user_overlay(args.recipe, args.set), progress=not args.quiet)
    test = result["metrics"]["test"]
    print(f"{args.mode}: test balanced accuracy {test['balanced_accuracy']:.3f} accuracy {test['accuracy']:.3f} "
          f"(n={test['n']}, {result['n_train_recordings']} training recordings) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("transfer", help="fine-tune / extract / scratch / baseline / aligned on a target store")
    p.add_argument("--source", help="RUNDIR of the pretrained source (needed for finetune and extract; for aligned: "
                                    "its aligned_source.npz, else references and NAP come from the target; for phonetic: "
                                    "its phonetic_source.npz, the source's classifier as extra features)")
    p.add_argument("--features", required=True, help="FEATDIR of the target corpus")
    p.add_argument("--mode", required=True, choices=list(method_names()))
    p.add_argument("--out", required=True, help="RUNDIR to write")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--per-class", type=int, help="training recordings per class (whole speakers, seeded)")
    size.add_argument("--train-fraction", type=float, help="fraction of each class's training speakers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, help="speaker-disjoint k-fold cross-validation (small corpora)")
    p.add_argument("--classifier", default="logreg",
                   help=f"extract/baseline classifier: {', '.join(CLASSIFIERS)} or a dotted sklearn class")
    p.add_argument("--backbone", default="accent",
                   help="network for extract/finetune: accent (the --source run, default), a pretrained backbone "
                        "(resemblyzer, hubert_base@8, ...), or for extract mfcc or a fusion such as mfcc+resemblyzer")
    p.add_argument("--preset", default=None, help="scratch without --source: model preset (default tdnn)")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    config.add_recipe_options(p)
    p.set_defaults(func=_run_cli)
