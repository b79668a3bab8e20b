"""Recording-level metrics, speaker-bootstrap confidence intervals, and probabilities from scores.

A recording's prediction is the arg-max of its mean crop log-probability (see
:func:`accent.models.outputs.recording_outputs`). Intervals resample *speakers*, not recordings,
because recordings of one speaker are not independent evidence.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from accent.errors import AccentError

BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
CONFIDENCE = 0.95


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


def balanced_accuracy_codes(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (integer codes): the early-stopping score."""
    return float(np.mean([(pred[y == k] == k).mean() for k in np.unique(y)]))


def per_class_recall(y_true, y_pred, labels) -> dict[str, float]:
    """Recall of each of ``labels`` (NaN for a label absent from ``y_true``)."""
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    return {str(lab): float(np.mean(y_pred[y_true == lab] == lab)) if (y_true == lab).any() else float("nan")
            for lab in labels}


def split_metrics(table: pd.DataFrame, labels: list[str]) -> dict:
    """recording_metrics of the val and test rows of a predictions table; the test split's also has
    ``per_class_recall`` over the classes it holds (what the report's recall table shows)."""
    metrics = {s: recording_metrics(table.loc[table["split"] == s, "label"], table.loc[table["split"] == s, "pred"],
                                    labels) for s in ("val", "test")}
    test = table[table["split"] == "test"]
    present = [lab for lab in labels if lab in set(test["label"].astype(str))]
    metrics["test"]["per_class_recall"] = per_class_recall(test["label"], test["pred"], present)
    return metrics


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax (probabilities from log-probabilities or classifier scores)."""
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)
