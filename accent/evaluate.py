"""`accent evaluate`: score a trained run on (a split of) a feature store, recording level, with
speaker-bootstrap intervals (:mod:`accent.metrics`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from accent.errors import AccentError
from accent.features import check_feature_config
from accent.fileio import write_csv_atomic, write_json_atomic
from accent.inference import load_run
from accent.layout import EVALUATION_JSON, PREDICTIONS, predictions_table
from accent.metrics import bootstrap_intervals, recording_metrics
from accent.store import FeatureStore


def evaluate_run(model_dir: str | Path, features: str | Path, split: str = "test",
                 out: str | Path | None = None, progress: bool = True) -> dict:
    """Score a trained run on (a split of) another store; labels the model does not know are
    reported and excluded from the metrics."""
    run = load_run(model_dir)
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
    fitted = run.fitted
    if fitted.needs_text:
        texts = index["text"].iloc[rows].fillna("").astype(str).tolist() if "text" in index else None
        fitted.require_texts(texts, [f"{features} ({u})" for u in index["utt_id"].iloc[rows]],
                             "a text column in the manifest the store was featurized from")
    probs, match = fitted.score(store, rows, progress=progress)
    scored = np.isfinite(probs).all(axis=1)  # NaN: a clip the run's backbone could not embed (already warned)
    rows, probs = rows[scored], probs[scored]
    table = predictions_table(index, rows, probs, run.labels)
    result = {"model": str(model_dir), "features": str(features), "split": split,
              "metrics": recording_metrics(table["label"], table["pred"], run.labels),
              "intervals": bootstrap_intervals(table, run.labels),
              "excluded_labels": unknown_labels, "n_excluded": int((~known).sum()),
              **off_passage_counts(fitted, None if match is None else np.asarray(match, float)[scored], table)}
    if out is not None:
        write_csv_atomic(table, Path(out) / PREDICTIONS)
        write_json_atomic(Path(out) / EVALUATION_JSON, result)
    return result


def off_passage_counts(fitted, match, table) -> dict:
    """``n_off_passage`` (clips whose passage_match is below the model's threshold; None when the
    model has no notion of it) and ``off_passage_share``; the table gains ``passage_match`` and
    ``off_passage`` columns. Off-passage clips stay in the metrics, scored by their accent answer."""
    if match is None:
        return {"n_off_passage": None, "off_passage_share": None}
    off = np.array([fitted.off_passage(m) for m in match], dtype=bool)
    table["passage_match"], table["off_passage"] = match, off
    return {"n_off_passage": int(off.sum()), "off_passage_share": float(off.mean()) if len(off) else 0.0}


def _run_cli(args) -> int:
    result = evaluate_run(args.model, args.features, split=args.split, out=args.out)
    m, ci = result["metrics"], result["intervals"]
    print(f"{result['split']}: n={m['n']}  accuracy={m['accuracy']:.3f}  "
          f"balanced_accuracy={m['balanced_accuracy']:.3f} "
          f"[{ci['balanced_accuracy'][0]:.3f}, {ci['balanced_accuracy'][1]:.3f}]  macro_f1={m['macro_f1']:.3f}")
    if result["n_off_passage"]:
        print(f"off passage: {result['n_off_passage']} of {m['n']} clip(s) do not read what the model knows "
              "(passage_match below its threshold); the metrics above still score their accent answers")
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
