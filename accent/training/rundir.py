"""The one writer of run directories (RUNDIR): checkpoint.pt, predictions.csv, then run.json.

Every kind of run (a trained network of either kind, a scikit-learn classifier, a fitted method that
saves itself such as the passage-aligned model, the aggregate of a k-fold run) goes through :func:`record_run` or :func:`write_aggregate`, so their records have the
same fields in the same order. run.json is written last: its presence marks a finished run.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from accent.checkpoint import save_atomic
from accent.fileio import write_csv_atomic, write_json_atomic
from accent.layout import CHECKPOINT, PREDICTIONS, RUN_FORMAT, RUN_JSON, SPLITS, TRAIN_STATE, predictions_table
from accent.manifest import recordings_with_inferred_speaker, recordings_without_speaker_id
from accent.metrics import split_metrics


def dataset_summary(index: pd.DataFrame) -> dict:
    per_split = {s: int((index["split"] == s).sum()) for s in SPLITS}
    spk_splits = index[index["split"] != ""].groupby("speaker")["split"].nunique()
    return {"n_recordings": int(len(index)), "n_speakers": int(index["speaker"].nunique()),
            "n_classes": int(index["label"].nunique()), "splits": per_split,
            "speaker_disjoint": bool((spk_splits <= 1).all()),
            "speaker_ids": recordings_without_speaker_id(index) == 0,
            "recordings_without_speaker_id": recordings_without_speaker_id(index),
            **({"recordings_with_inferred_speaker": n} if (n := recordings_with_inferred_speaker(index)) else {})}


def training_data_summary(index: pd.DataFrame, train_rows: np.ndarray) -> dict:
    """The run.json fields that say what a run learned from: training size and the whole store."""
    return {"n_train_recordings": int(len(train_rows)),
            "n_train_speakers": int(index["speaker"].iloc[train_rows].nunique()),
            "dataset": dataset_summary(index)}


def write_run(out: Path, ckpt, run_json: dict, table: pd.DataFrame) -> dict:
    """checkpoint.pt (a checkpoint dict), or the model file(s) a fitted method writes itself
    (``ckpt.save(out)``: aligned_model.npz), predictions.csv, then run.json last; the training state
    is then removed."""
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(ckpt, dict):
        save_atomic(ckpt, out / CHECKPOINT)
    else:
        ckpt.save(out)
    write_csv_atomic(table, out / PREDICTIONS)
    write_json_atomic(out / RUN_JSON, run_json, default=float)
    (out / TRAIN_STATE).unlink(missing_ok=True)
    return run_json


def write_aggregate(out: Path, run_json: dict, table: pd.DataFrame) -> dict:
    """A run without a checkpoint of its own (k-fold: its folds hold the models)."""
    write_csv_atomic(table, out / PREDICTIONS)
    write_json_atomic(out / RUN_JSON, run_json, default=float)
    return run_json


def record_run(out: Path, *, mode: str, labels: list[str], index: pd.DataFrame, rows: np.ndarray,
               probs: np.ndarray, train_rows: np.ndarray, info: dict, fields: dict, ckpt,
               write: bool = True) -> dict:
    """Score ``probs`` of ``rows`` (val and test) and write the run.

    ``fields`` are the run's own run.json fields in order, with a ``"metrics"`` slot; ``ckpt`` the
    checkpoint with a ``"metrics"`` slot, or a fitted model that saves itself (:func:`write_run`).
    The slots are filled with the val/test metrics here.
    ``write`` is False on the ranks of a torchrun job other than 0 (they return the record only)."""
    table = predictions_table(index, rows, probs, labels)
    metrics = split_metrics(table, labels)
    run_json = {**info, "mode": mode, "labels": labels, **fields, **training_data_summary(index, train_rows)}
    run_json["metrics"] = metrics
    if isinstance(ckpt, dict):
        ckpt["metrics"] = metrics
    if write:
        write_run(out, ckpt, run_json, table)
    return run_json


def network_fields(fit_result: dict, cfg, model_config: dict, recipe: dict | None) -> dict:
    """run.json fields of a trained network."""
    fields = {"best_epoch": fit_result["best_epoch"], "epochs_run": fit_result["epochs_run"],
              "history": fit_result["history"], "metrics": None, "train_seconds": fit_result["train_seconds"],
              "train_config": asdict(cfg), "model_config": model_config, "precision": fit_result["precision"]}
    if recipe is not None:
        fields["recipe"] = recipe
    if cfg.guard:  # the starting weights (a transfer's linear probe) beat every fine-tuned epoch on validation
        fields["kept_probe"] = bool(fit_result["kept_start"])
    return fields


def network_checkpoint(model, mode: str, labels: list[str], feature_config, norm: tuple, cfg, fit_result: dict,
                       crop_frames: int | None, backbone: str | None = None) -> dict:
    """checkpoint.pt of a trained network (tensors and plain values only)."""
    ckpt = {"format": RUN_FORMAT, "mode": mode}
    if backbone is not None:
        ckpt["backbone"] = backbone
    ckpt.update({"state_dict": model.state_dict(), "model_config": model.config, "labels": list(labels),
                 "feature_config": feature_config.to_dict(), "norm_mean": norm[0], "norm_std": norm[1],
                 "crop_frames": crop_frames, "train_config": asdict(cfg), "metrics": None,
                 "epoch": fit_result.get("best_epoch"), "optimizer": None, "history": fit_result.get("history", [])})
    return ckpt


def classifier_fields(classifier: str, seconds: float) -> dict:
    """run.json fields of a scikit-learn run (no epochs)."""
    return {"classifier": classifier, "best_epoch": None, "epochs_run": None, "history": [], "metrics": None,
            "train_seconds": seconds}


def classifier_checkpoint(mode: str, labels: list[str], store, arrays: dict, classifier: str, seed: int,
                          extra: dict) -> dict:
    return {"format": RUN_FORMAT, "mode": mode, "labels": labels, "feature_config": store.config.to_dict(),
            "norm_mean": torch.from_numpy(np.asarray(store.mean, np.float32)),
            "norm_std": torch.from_numpy(np.asarray(store.std, np.float32)), "sklearn": arrays,
            "state_dict": None, "model_config": None, "train_config": {"classifier": classifier, "seed": seed},
            "metrics": None, "epoch": None, "optimizer": None, "history": [], **extra}
