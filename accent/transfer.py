"""Transfer a pretrained source model to a target store, in four modes compared on the same splits.

* ``finetune``: the source network with a new head; the head alone first (``freeze_epochs``), then the
  whole network with a lower learning rate for the body; early stopping on validation like pretraining.
* ``extract``: the frozen network embeds each recording (mean over crops); the embeddings are
  standardised and given to a scikit-learn classifier (logistic regression by default).
* ``scratch``: the same architecture and training procedure from random initialisation: the baseline
  every transfer result is compared with.
* ``baseline``: MFCC statistics of the same stored log-mels, standardised, logistic regression.

``--backbone`` picks the pretrained network of extract and finetune: ``accent`` (the ``--source``
run, default), a registered pretrained speech backbone (``resemblyzer``, see :mod:`accent.backbones`),
which reads each clip's audio and is fine-tuned on waveform crops by :mod:`accent.waveform_finetune`,
or, for extract only, ``mfcc`` or a fusion such as ``mfcc+resemblyzer`` or ``accent+resemblyzer``
(the parts' vectors side by side, standardised together). Pretrained-backbone embeddings are cached
per (backbone, store) by :mod:`accent.embeddings`; a clip a backbone cannot embed is left out of
every split with a warning.

All modes subsample only the training split (by speaker), and score the same val/test recordings.
Logistic regressions are saved as arrays in checkpoint.pt (no pickle). Other scikit-learn
classifiers are saved with joblib in ``classifier.joblib``: joblib files are pickles and execute
code when loaded, so load such runs only from folders you wrote yourself.
"""
from __future__ import annotations

import copy
import importlib
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from accent.embeddings import can_finetune, fusion_parts
from accent.errors import AccentError
from accent.splits import speaker_disjoint_split, speaker_kfold, subsample_train_speakers
from accent.models import DEFAULT_PRESET, build_model, model_config
from accent.fileio import write_csv_atomic, write_json_atomic
from accent.train import (CHECKPOINT, PREDICTIONS, RUN_FORMAT, RUN_JSON, check_feature_config, dataset_summary,
                          finished_run, load_run, mfcc_matrix, predictions_table, recording_outputs, split_metrics,
                          SplitData, splits_from_index, train_network, TrainConfig, training_data_summary, write_run)

MODES = ("baseline", "scratch", "extract", "finetune")
UNUSED = "unused"  # split value of training rows left out by --per-class / --train-fraction
FOLD_VAL_FRACTION = 0.15
JOBLIB_FILE = "classifier.joblib"
PROBE_C = 0.05  # strong L2 for the linear-probe head: a soft start that fine-tuning can still move

# Training recipes. Fine-tuning is "linear probe, then fine-tune" (Kumar et al., 2022): the new head
# starts as a logistic regression on the frozen embeddings, so the first gradient steps do not push
# the body towards a random head; then a short head-only phase and a 10x lower rate for the body.
SCRATCH_CONFIG = {"lr": 3e-3, "max_epochs": 30, "patience": 6}
FINETUNE_CONFIG = {"lr": 1e-3, "max_epochs": 20, "patience": 5, "freeze_epochs": 1, "body_lr_mult": 0.1,
                   "warmup_epochs": 0.0}

CLASSIFIERS = {
    "logreg": ("sklearn.linear_model.LogisticRegression", {"class_weight": "balanced", "max_iter": 3000}),
    "svm": ("sklearn.svm.SVC", {"class_weight": "balanced", "probability": True}),
    "rf": ("sklearn.ensemble.RandomForestClassifier", {"class_weight": "balanced", "n_estimators": 300}),
    "knn": ("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": 5}),
    "lda": ("sklearn.discriminant_analysis.LinearDiscriminantAnalysis", {}),
}


# ---------------------------------------------------------------------------------------- data
class StoreView:
    """A feature store with a replacement index (same rows, other ``split`` values): folds and
    subsampled training sets reuse the memory map without copying frames."""

    def __init__(self, store, index: pd.DataFrame):
        self._store = store
        self.index = index
        self.config, self.mean, self.std, self.n_mels = store.config, store.mean, store.std, store.n_mels
        self.labels, self.root = store.labels, store.root

    def frames(self, i: int) -> np.ndarray:
        return self._store.frames(i)


def target_index(index: pd.DataFrame, per_class: int | None, train_fraction: float | None, seed: int) -> pd.DataFrame:
    """The index with training rows outside the seeded subsample marked ``unused``."""
    if per_class is not None and per_class < 1:
        raise AccentError(f"--per-class must be at least 1 (got {per_class})")
    if train_fraction is not None and not 0 < train_fraction <= 1:
        raise AccentError(f"--train-fraction must be in (0, 1] (got {train_fraction})")
    index = index.copy()
    if (index["split"] == "").all():  # a store made from an unsplit manifest: split it here, seeded
        index["split"] = speaker_disjoint_split(index, seed=0).to_numpy()
    kept = subsample_train_speakers(index, per_class=per_class, fraction=train_fraction, seed=seed)
    dropped = (index["split"] == "train") & ~index.index.isin(kept.index)
    index.loc[dropped, "split"] = UNUSED
    return index


def check_classes(index: pd.DataFrame, where: str) -> None:
    counts = index[index["split"] == "train"].groupby("label").size()
    empty = sorted(set(index["label"]) - set(counts.index) - set(index.loc[index["split"] == UNUSED, "label"]))
    only_test = [lab for lab in empty if set(index.loc[index["label"] == lab, "split"]) <= {"test"}]
    if only_test:
        raise AccentError(f"{where}: class(es) {', '.join(only_test)} occur only in the test split: give each "
                          "class at least 3 speakers or drop it (accent manifest --min-speakers 3)")


# ---------------------------------------------------------------------------------------- embeddings
_ACCENT_CACHE: dict[tuple, np.ndarray] = {}


def _accent_rows(run, store, rows: np.ndarray) -> np.ndarray:
    """Our CNN's recording embeddings (mean over crops tiling each recording), kept in memory per
    checkpoint and store so a learning curve embeds each store once per process."""
    if run is None or run.model is None:
        raise AccentError("backbone 'accent' needs --source RUNDIR (a run written by `accent pretrain`)")
    ckpt_file = run.rundir / CHECKPOINT
    if not ckpt_file.is_file():  # an exported model file (accent.modelfile): the file itself
        ckpt_file = Path(run.rundir)
    key = (str(ckpt_file.resolve()), ckpt_file.stat().st_mtime_ns, str(Path(store.root).resolve()))
    if key not in _ACCENT_CACHE:
        _ACCENT_CACHE.clear()
        _ACCENT_CACHE[key] = recording_outputs(run.model, store, np.arange(len(store.index)), run.crop_frames,
                                               torch.device("cpu"), embed=True)
    return _ACCENT_CACHE[key][rows]


def embed_rows(backbone: str, store, rows: np.ndarray, run=None, progress: bool = False) -> np.ndarray:
    """Recording-level features (rows x dim) of store rows for a run's ``backbone`` setting: THE hook
    where backbones plug in. ``accent`` is the source run's CNN; ``mfcc`` and registered pretrained
    backbones go through :func:`accent.embeddings.recording_embeddings` (cached on disk per backbone
    and store); ``a+b`` concatenates the parts (standardised later by :func:`fit_classifier`).
    Rows a backbone could not embed are NaN."""
    from accent.embeddings import recording_embeddings

    blocks = [_accent_rows(run, store, rows) if part == "accent"
              else recording_embeddings(part, store, rows=rows, progress=progress)[1]
              for part in fusion_parts(backbone)]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def audio_features(run, path) -> np.ndarray:
    """The features an extract run's classifier takes, for one audio file (``accent predict``)."""
    from accent.embeddings import audio_embedding
    from accent.featurize import featurize_clip

    blocks = []
    for part in fusion_parts(run.backbone):
        if part == "accent":
            frames, _ = featurize_clip(path, run.feature_config)
            blocks.append(run.embed_logmel(np.asarray(frames, np.float32)))
        else:
            blocks.append(audio_embedding(part, path, run.feature_config))
    return np.concatenate(blocks).astype(np.float32)


def drop_unembedded(X: np.ndarray, view, data: SplitData, backbone: str) -> SplitData:
    """The splits without the rows whose features hold NaN (clips the backbone could not embed),
    with one warning naming them."""
    used = np.concatenate([data.train, data.val, data.test])
    bad = used[~np.isfinite(X[used]).all(axis=1)]
    if len(bad) == 0:
        return data
    names = ", ".join(view.index["utt_id"].iloc[bad[:3]].astype(str))
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    warnings.warn(f"backbone {backbone}: {len(bad)} recording(s) could not be embedded and are left out of "
                  f"train/val/test: {names}{more}", stacklevel=2)
    keep = lambda rows: rows[~np.isin(rows, bad)]
    kept = SplitData(data.labels, keep(data.train), keep(data.val), keep(data.test))
    if len(kept.train) == 0 or len(kept.val) == 0:
        raise AccentError(f"backbone {backbone}: no train or val recording left after dropping the clips it "
                          f"could not embed (see the warning); check the audio paths in {view.root}/index.csv")
    return kept


# ---------------------------------------------------------------------------------------- sklearn
def make_classifier(name: str, seed: int):
    """A scikit-learn classifier by short name (``logreg``, ``svm``, ``rf``, ``knn``, ``lda``) or by
    full dotted path inside scikit-learn (``sklearn.linear_model.RidgeClassifierCV``)."""
    path, params = CLASSIFIERS.get(name, (name, {}))
    module_name, _, cls_name = path.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise AccentError(f"unknown classifier {name!r}: use one of {', '.join(CLASSIFIERS)} or a dotted "
                          "scikit-learn class such as sklearn.svm.LinearSVC")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError):
        raise AccentError(f"classifier {path!r} does not exist in scikit-learn") from None
    if "random_state" in cls().get_params():
        params = {**params, "random_state": seed}
    return cls(**params)


def fit_classifier(X: np.ndarray, y: list[str], name: str, seed: int, out: Path) -> dict:
    """Standardise and fit; returns the arrays stored in checkpoint.pt (joblib file for non-linear models)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    clf = make_classifier(name, seed).fit(scaler.transform(X), y)
    arrays = {"scaler_mean": torch.from_numpy(scaler.mean_.astype(np.float64)),
              "scaler_scale": torch.from_numpy(scaler.scale_.astype(np.float64)),
              "classes": [str(c) for c in clf.classes_], "classifier": name}
    if name == "logreg":
        arrays["coef"] = torch.from_numpy(clf.coef_.astype(np.float64))
        arrays["intercept"] = torch.from_numpy(clf.intercept_.astype(np.float64))
    else:
        import joblib

        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(clf, out / JOBLIB_FILE)
        arrays["joblib"] = JOBLIB_FILE
    return arrays


def classifier_proba(arrays: dict, X: np.ndarray, rundir: Path) -> np.ndarray:
    from accent.train import sklearn_predict_proba, standardize

    if "coef" in arrays:
        return sklearn_predict_proba(arrays, X)
    import joblib  # a pickle: only for runs this user wrote (see module docstring)

    return joblib.load(rundir / arrays["joblib"]).predict_proba(standardize(arrays, X))


# ---------------------------------------------------------------------------------------- modes
def _sklearn_run(mode: str, X: np.ndarray, view: StoreView, data: SplitData, out: Path, info: dict,
                 classifier: str, seed: int, extra_ckpt: dict) -> dict:
    import time

    t0 = time.perf_counter()
    train_labels = view.index["label"].iloc[data.train].tolist()
    arrays = fit_classifier(X[data.train], train_labels, classifier, seed, out)
    seconds = round(time.perf_counter() - t0, 2)
    if arrays["classes"] != data.labels:
        raise AccentError(f"classifier classes {arrays['classes']} differ from the training labels {data.labels}")
    rows = np.concatenate([data.val, data.test])
    probs = classifier_proba(arrays, X[rows], out)
    table = predictions_table(view.index, rows, probs, data.labels)
    metrics = split_metrics(table, data.labels)
    run_json = {**info, "mode": mode, "labels": data.labels, "classifier": classifier, "best_epoch": None,
                "epochs_run": None, "history": [], "metrics": metrics, "train_seconds": seconds,
                **training_data_summary(view.index, data.train)}
    ckpt = {"format": RUN_FORMAT, "mode": mode, "labels": data.labels, "feature_config": view.config.to_dict(),
            "norm_mean": torch.from_numpy(np.asarray(view.mean, np.float32)),
            "norm_std": torch.from_numpy(np.asarray(view.std, np.float32)), "sklearn": arrays,
            "state_dict": None, "model_config": None, "train_config": {"classifier": classifier, "seed": seed},
            "metrics": metrics, "epoch": None, "optimizer": None, "history": [], **extra_ckpt}
    return write_run(out, ckpt, run_json, table)


def _network_config(overrides: dict, seed: int, device: str | None, max_epochs: int | None, crop_s: float) -> TrainConfig:
    cfg = TrainConfig.from_dict({**asdict(TrainConfig()), **overrides, "seed": seed, "device": device or "cpu",
                                 "crop_s": crop_s})
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    return cfg


def linear_probe_head(model, view: StoreView, data: SplitData, n_frames: int, seed: int) -> None:
    """Set the head to a logistic regression fitted on the frozen recording embeddings of the
    training split. The embeddings are not standardised here: dividing by the tiny spread of an
    almost-dead ReLU unit would give it a huge weight, and augmented training crops then blow up the loss."""
    X = recording_outputs(model, view, data.train, n_frames, torch.device("cpu"), embed=True)
    y = view.index["label"].iloc[data.train].to_numpy()
    set_probe_head(model.head, X, y, seed)


def set_probe_head(head: torch.nn.Linear, X: np.ndarray, y: np.ndarray, seed: int) -> None:
    """Initialise a linear head as a strongly regularised, class-balanced logistic regression on X."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=PROBE_C, class_weight="balanced", max_iter=3000, random_state=seed).fit(X, y)
    weight, bias = clf.coef_, clf.intercept_
    if weight.shape[0] == 1:  # binary LR has one score column for the second class
        weight, bias = np.vstack([-weight / 2, weight / 2]), np.array([-bias[0] / 2, bias[0] / 2])
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def run_single(view: StoreView, mode: str, out: Path, *, source_run, backbone: str, classifier: str, seed: int,
               preset: str | None, max_epochs: int | None, device: str | None, progress: bool, resume: bool,
               info: dict) -> dict:
    """One mode on one split assignment (the index of ``view``)."""
    where = str(info["features"])
    check_classes(view.index, where)
    data = splits_from_index(view.index, where)
    if mode == "baseline":
        X = mfcc_matrix(view, np.arange(len(view.index)))
        return _sklearn_run(mode, X, view, data, out, info, classifier, seed, {})
    if mode == "finetune" and backbone != "accent":
        return _finetune_pretrained(view, data, out, backbone, seed, max_epochs, info, resume, progress)
    if mode == "extract":
        X = embed_rows(backbone, view, np.arange(len(view.index)), run=source_run, progress=progress)
        data = drop_unembedded(X, view, data, backbone)
        extra = {"backbone": backbone}
        if source_run is not None and "accent" in fusion_parts(backbone):
            extra.update({"state_dict": source_run.model.state_dict(), "model_config": source_run.model.config,
                          "crop_frames": source_run.crop_frames,
                          "norm_mean": source_run.model.norm_mean.clone(),
                          "norm_std": source_run.model.norm_std.clone()})
        return _sklearn_run(mode, X, view, data, out, info, classifier, seed, extra)
    crop_s = 3.0 if source_run is None else source_run.crop_frames / view.config.frames_per_second
    torch.manual_seed(seed)
    if mode == "finetune":
        model = copy.deepcopy(source_run.model)
        model.replace_head(len(data.labels))
        linear_probe_head(model, view, data, source_run.crop_frames, seed)
        cfg = _network_config(FINETUNE_CONFIG, seed, device, max_epochs, crop_s)
    else:  # scratch: the source's architecture when given, trained from random weights
        if source_run is not None and source_run.model is not None:
            mcfg = {**source_run.model.config, "n_classes": len(data.labels)}
        else:
            mcfg = model_config(preset or DEFAULT_PRESET, view.n_mels, len(data.labels))
        model = build_model(mcfg)
        model.set_normalization(view.mean, view.std)
        cfg = _network_config(SCRATCH_CONFIG, seed, device, max_epochs, crop_s)
    return train_network(model, view, data, cfg, out, mode=mode, run_info=info, resume=resume, progress=progress)


def _finetune_pretrained(view: StoreView, data: SplitData, out: Path, backbone: str, seed: int,
                         max_epochs: int | None, info: dict, resume: bool, progress: bool) -> dict:
    """finetune with a registered pretrained backbone: the waveform recipe of :mod:`accent.waveform_finetune`."""
    if not can_finetune(backbone):
        raise AccentError(f"--mode finetune needs one network to update, not {backbone!r} (mfcc or a fusion): "
                          "use --mode extract for it")
    from accent.waveform_finetune import finetune_backbone

    X = embed_rows(backbone, view, np.arange(len(view.index)), progress=progress)  # the linear probe's features
    data = drop_unembedded(X, view, data, backbone)
    return finetune_backbone(backbone, view, data, X, out, seed=seed, max_epochs=max_epochs, info=info,
                             resume=resume, progress=progress)


def run_transfer(features, mode: str, out, *, source=None, per_class: int | None = None,
                 train_fraction: float | None = None, seed: int = 0, folds: int | None = None,
                 backbone: str = "accent", classifier: str = "logreg", preset: str | None = None,
                 max_epochs: int | None = None, progress: bool = True, device: str | None = None,
                 resume: bool = False) -> dict:
    """Train one transfer mode on a target store; writes RUNDIR and returns its run.json dict."""
    from accent.store import FeatureStore

    if mode not in MODES:
        raise AccentError(f"unknown --mode {mode!r}: choose one of {', '.join(MODES)}")
    if per_class is not None and train_fraction is not None:
        raise AccentError("give --per-class or --train-fraction, not both")
    out = Path(out)
    if resume and (done := finished_run(out)) is not None:
        return done
    store = FeatureStore.open(features)
    source_run = None
    needs_source = mode in ("extract", "finetune") and "accent" in fusion_parts(backbone)
    if source is not None and (needs_source or mode == "scratch"):
        source_run = load_run(source)
        check_feature_config(source_run.feature_config, store.config, features)
    elif needs_source:
        raise AccentError(f"--mode {mode} needs --source RUNDIR (a run written by `accent pretrain`)")
    info = {"backbone": backbone if mode in ("extract", "finetune") else None,
            "source": str(source) if source_run is not None else None,
            "features": str(features), "seed": seed, "per_class": per_class, "train_fraction": train_fraction,
            "folds": folds, "fold": None}
    kwargs = dict(source_run=source_run, backbone=backbone, classifier=classifier, seed=seed, preset=preset,
                  max_epochs=max_epochs, device=device, progress=progress, resume=resume)
    if folds is None:
        view = StoreView(store, target_index(store.index, per_class, train_fraction, seed))
        return run_single(view, mode, out, info=info, **kwargs)
    return _run_folds(store, mode, out, folds, per_class, train_fraction, seed, info, kwargs)


def _run_folds(store, mode, out: Path, k: int, per_class, train_fraction, seed, info, kwargs) -> dict:
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
        result = finished_run(fold_out) if kwargs["resume"] else None
        if result is None:
            result = run_single(StoreView(store, index), mode, fold_out, info={**info, "fold": fold}, **kwargs)
        runs.append(result)
        tables.append(pd.read_csv(fold_out / PREDICTIONS, keep_default_na=False))
    labels = sorted(set().union(*[r["labels"] for r in runs]))
    table = pd.concat(tables, ignore_index=True)
    prob_cols = [f"p_{lab}" for lab in labels]
    table = table.reindex(columns=["utt_id", "speaker", "split", "label", "pred"] + prob_cols).fillna({c: 0.0 for c in prob_cols})
    test = table[table["split"] == "test"]
    metrics = split_metrics(table, labels)
    run_json = {**info, "mode": mode, "labels": labels, "folds": k, "fold": None,
                "best_epoch": None, "epochs_run": None, "history": [], "metrics": metrics,
                "train_seconds": round(sum(r["train_seconds"] for r in runs), 2),
                "n_train_recordings": int(np.mean([r["n_train_recordings"] for r in runs])),
                "n_train_speakers": int(np.mean([r["n_train_speakers"] for r in runs])),
                "fold_runs": [{"fold": i, "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"],
                               "test": r["metrics"]["test"]["balanced_accuracy"]} for i, r in enumerate(runs)],
                "dataset": {**dataset_summary(store.index), "splits": {"test": int(len(test))}}}
    write_csv_atomic(test, out / PREDICTIONS)
    write_json_atomic(out / RUN_JSON, run_json, default=float)
    return run_json


def _run_cli(args) -> int:
    result = run_transfer(args.features, args.mode, args.out, source=args.source, per_class=args.per_class,
                          train_fraction=args.train_fraction, seed=args.seed, folds=args.folds,
                          backbone=args.backbone, classifier=args.classifier, preset=args.preset,
                          max_epochs=args.max_epochs, device=args.device, resume=args.resume)
    test = result["metrics"]["test"]
    print(f"{args.mode}: test balanced accuracy {test['balanced_accuracy']:.3f} accuracy {test['accuracy']:.3f} "
          f"(n={test['n']}, {result['n_train_recordings']} training recordings) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("transfer", help="fine-tune / extract / scratch / baseline on a target store")
    p.add_argument("--source", help="RUNDIR of the pretrained source (needed for finetune and extract)")
    p.add_argument("--features", required=True, help="FEATDIR of the target corpus")
    p.add_argument("--mode", required=True, choices=MODES)
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
    p.set_defaults(func=_run_cli)
