"""Recording-level metrics, speaker-bootstrap confidence intervals, and `accent evaluate`.

A recording's prediction is the arg-max of its crop log-probabilities averaged over crops that tile
it (see :func:`accent.train.predict_recordings`). Intervals resample *speakers*, not recordings,
because recordings of one speaker are not independent evidence.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from accent.errors import AccentError
from accent.fileio import write_csv_atomic, write_json_atomic

BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
CONFIDENCE = 0.95
EVALUATION_JSON = "evaluation.json"


def recording_metrics(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict:
    """Accuracy, balanced accuracy, macro F1 (over the classes present in ``y_true``), per-class
    precision/recall/F1/support and the confusion matrix (rows true, columns predicted, ``labels`` order)."""
    y_true, y_pred = list(map(str, y_true)), list(map(str, y_pred))
    labels = list(labels)
    if not y_true:
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "macro_f1": float("nan"),
                "n": 0, "per_class": {}, "confusion": []}
    present = [lab for lab in labels if lab in set(y_true)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(np.mean(np.array(y_true) == np.array(y_pred))),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "n": len(y_true),
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                            "support": int(s[i])} for i, lab in enumerate(labels)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _balanced_accuracy(y_true: list[str], y_pred: list[str]) -> float:
    """Mean recall over the classes in ``y_true``; predicting a class absent from this split is
    simply an error (scikit-learn warns about it on every small split, which is noise here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def _headline(true_codes: np.ndarray, pred_codes: np.ndarray, n_labels: int) -> dict:
    """Accuracy, balanced accuracy and macro F1 from integer codes (fast: the bootstrap calls it
    thousands of times); classes absent from ``true_codes`` are left out, as in scikit-learn."""
    conf = np.bincount(true_codes * n_labels + pred_codes, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    support, predicted, hits = conf.sum(1), conf.sum(0), np.diag(conf)
    present = support > 0
    recall = hits[present] / support[present]
    precision = np.divide(hits, predicted, out=np.zeros(n_labels), where=predicted > 0)[present]
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall), where=precision + recall > 0)
    return {"accuracy": float(hits.sum() / conf.sum()), "balanced_accuracy": float(recall.mean()),
            "macro_f1": float(f1.mean())}


def bootstrap_intervals(predictions: pd.DataFrame, labels: list[str], n_boot: int = 1000,
                        seed: int = 0) -> dict:
    """95 % percentile intervals of accuracy, balanced accuracy and macro F1, resampling speakers
    with replacement (all recordings of a drawn speaker come along)."""
    missing = [c for c in ("speaker", "label", "pred") if c not in predictions.columns]
    if missing:
        raise AccentError(f"predictions lack column(s) {', '.join(missing)}: expected utt_id,speaker,label,pred")
    if predictions.empty:
        return {m: (float("nan"), float("nan")) for m in BOOTSTRAP_METRICS}
    rng = np.random.default_rng(seed)
    speakers, codes = np.unique(predictions["speaker"].astype(str).to_numpy(), return_inverse=True)
    rows_of = [np.flatnonzero(codes == k) for k in range(len(speakers))]
    vocab = {lab: k for k, lab in enumerate(sorted(set(labels) | set(predictions["label"].astype(str))
                                                   | set(predictions["pred"].astype(str))))}
    y_true = predictions["label"].astype(str).map(vocab).to_numpy()
    y_pred = predictions["pred"].astype(str).map(vocab).to_numpy()
    samples = {m: [] for m in BOOTSTRAP_METRICS}
    for _ in range(n_boot):
        rows = np.concatenate([rows_of[k] for k in rng.integers(0, len(speakers), len(speakers))])
        for metric, value in _headline(y_true[rows], y_pred[rows], len(vocab)).items():
            samples[metric].append(value)
    tail = (1 - CONFIDENCE) / 2 * 100
    return {m: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))) for m, v in samples.items()}


def evaluate_run(model_dir: str | Path, features: str | Path, split: str = "test",
                 out: str | Path | None = None, progress: bool = True) -> dict:
    """Score a trained run on (a split of) another store; labels the model does not know are
    reported and excluded from the metrics."""
    from accent.modelfile import load_model
    from accent.store import FeatureStore
    from accent.train import PREDICTIONS, check_feature_config, predict_store_rows, predictions_table

    run = load_model(model_dir)
    store = FeatureStore.open(features)
    check_feature_config(run.feature_config, store.config, features)
    index = store.index
    rows = np.flatnonzero((index["split"] == split).to_numpy()) if split != "all" else np.arange(len(index))
    if len(rows) == 0:
        raise AccentError(f"{features} has no rows in split {split!r}: choose --split train|val|test|all")
    known = index["label"].iloc[rows].isin(run.labels).to_numpy()
    unknown_labels = sorted(set(index["label"].iloc[rows[~known]]))
    rows = rows[known]
    if len(rows) == 0:
        raise AccentError(f"none of the labels in {features} ({', '.join(unknown_labels[:10])}) are known to "
                          f"the model in {model_dir} ({', '.join(run.labels)})")
    probs = predict_store_rows(run, store, rows, progress=progress)
    scored = np.isfinite(probs).all(axis=1)  # NaN: a clip the run's backbone could not embed (already warned)
    rows, probs = rows[scored], probs[scored]
    table = predictions_table(index, rows, probs, run.labels)
    result = {"model": str(model_dir), "features": str(features), "split": split,
              "metrics": recording_metrics(table["label"], table["pred"], run.labels),
              "intervals": bootstrap_intervals(table, run.labels),
              "excluded_labels": unknown_labels, "n_excluded": int((~known).sum())}
    if out is not None:
        write_csv_atomic(table, Path(out) / PREDICTIONS)
        write_json_atomic(Path(out) / EVALUATION_JSON, result)
    return result


def _run_cli(args) -> int:
    result = evaluate_run(args.model, args.features, split=args.split, out=args.out)
    m, ci = result["metrics"], result["intervals"]
    print(f"{result['split']}: n={m['n']}  accuracy={m['accuracy']:.3f}  "
          f"balanced_accuracy={m['balanced_accuracy']:.3f} "
          f"[{ci['balanced_accuracy'][0]:.3f}, {ci['balanced_accuracy'][1]:.3f}]  macro_f1={m['macro_f1']:.3f}")
    if result["excluded_labels"]:
        print(f"excluded {result['n_excluded']} recording(s) with labels unknown to the model: "
              f"{', '.join(result['excluded_labels'])}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a trained run on a feature store (recording level)")
    p.add_argument("--model", required=True, help="RUNDIR of a trained run (pretrain or transfer) or a .accent model file")
    p.add_argument("--features", required=True, help="FEATDIR to score")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    p.add_argument("--out", default=None, help="folder for predictions.csv and evaluation.json")
    p.set_defaults(func=_run_cli)
