"""Transfer a pretrained source model to a target store, in five modes compared on the same splits.

* ``finetune``: the source network with a new head; the head alone first (``freeze_epochs``), then the
  whole network with a lower learning rate for the body; early stopping on validation like pretraining.
* ``extract``: the frozen network embeds each recording (mean over crops); the embeddings are
  standardised and given to a scikit-learn classifier (logistic regression by default).
* ``scratch``: the same architecture and training procedure from random initialisation: the baseline
  every transfer result is compared with.
* ``baseline``: MFCC statistics of the same stored log-mels, standardised, logistic regression.
* ``aligned``: the passage-aligned recipe (:mod:`accent.aligned`) for same-passage corpora (SAA): each
  recording aligned to reference readings of the passage, NAP, per-reference logistic regression.
  References and NAP come from the target's training rows, or with ``--source`` from the source
  run's ``aligned_source.npz`` (written by ``accent pretrain`` on a same-passage store).

``--backbone`` picks the pretrained network of extract and finetune: ``accent`` (the ``--source``
run, default), a registered pretrained speech backbone (``resemblyzer``, see :mod:`accent.backbones`),
which reads each clip's audio and is fine-tuned on waveform crops (:class:`accent.training.tasks.WaveformTask`),
or, for extract only, ``mfcc`` or a fusion such as ``mfcc+resemblyzer`` or ``accent+resemblyzer``
(the parts' vectors side by side, standardised together). Pretrained-backbone embeddings are cached
per (backbone, store) by :mod:`accent.embeddings`; a clip a backbone cannot embed is left out of
every split with a warning.

All modes subsample only the training split (by speaker), and score the same val/test recordings.
This module only orchestrates: recipes are in :mod:`accent.training.config`, the training loop in
:mod:`accent.training.loop`, the saved classifiers in :mod:`accent.classifiers`, and every run
directory is written by :mod:`accent.training.rundir`.
"""
from __future__ import annotations

import copy
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from accent.classifiers import CLASSIFIERS, classifier_proba, fit_classifier
from accent.embeddings import ACCENT, ACCENT_PREFIX, MFCC, can_finetune, embed_rows, fusion_parts
from accent.errors import AccentError
from accent.features import check_feature_config
from accent.inference import Run, load_run
from accent.layout import ALIGNED_SOURCE, PREDICTIONS, TRANSFER_MODES, Mode, finished_run
from accent.manifest import same_passage
from accent.metrics import split_metrics
from accent.models import DEFAULT_PRESET, build_model, model_config
from accent.models.outputs import recording_outputs
from accent.models.waveform import WaveformClassifier, waveform_model_config
from accent.splits import SplitData, check_classes, speaker_disjoint_split, speaker_kfold, splits_from_index, target_index
from accent.store import FeatureStore, StoreView
from accent.training import config
from accent.training.loop import train_and_record
from accent.training.rundir import (aligned_checkpoint, classifier_checkpoint, classifier_fields, dataset_summary,
                                    record_run, write_aggregate)
from accent.training.tasks import LogmelTask, WaveformTask, drop_unembedded, linear_probe

MODES = TRANSFER_MODES
FOLD_VAL_FRACTION = 0.15


# ---------------------------------------------------------------------------------------- modes
def _classifier_run(mode: str, X: np.ndarray, view: StoreView, data: SplitData, out: Path, info: dict,
                    classifier: str, seed: int, extra_ckpt: dict) -> dict:
    """baseline and extract: a scikit-learn classifier on one vector per recording."""
    mode = str(mode)
    t0 = time.perf_counter()
    train_labels = view.index["label"].iloc[data.train].tolist()
    arrays = fit_classifier(X[data.train], train_labels, classifier, seed, out)
    seconds = round(time.perf_counter() - t0, 2)
    if arrays["classes"] != data.labels:
        raise AccentError(f"classifier classes {arrays['classes']} differ from the training labels {data.labels}")
    rows = np.concatenate([data.val, data.test])
    probs = classifier_proba(arrays, X[rows], out)
    return record_run(out, mode=mode, labels=data.labels, index=view.index, rows=rows, probs=probs,
                      train_rows=data.train, info=info, fields=classifier_fields(classifier, seconds),
                      ckpt=classifier_checkpoint(mode, data.labels, view, arrays, classifier, seed, extra_ckpt))


def _aligned_run(view: StoreView, data: SplitData, out: Path, info: dict, seed: int, source, progress: bool) -> dict:
    """aligned: sequences of the used rows, the aligned model fitted on the training rows (references
    and NAP from ``source`` = (featurizer, naps) when given), val and test scored."""
    from accent.aligned import AlignedConfig, AlignedModel, store_sequences

    featurizer, naps = source if source is not None else (None, None)
    cfg = featurizer.config if featurizer is not None else AlignedConfig()
    t0 = time.perf_counter()
    rows = np.concatenate([data.val, data.test])
    train_seqs = store_sequences(view, data.train, cfg)
    model = AlignedModel(cfg, featurizer, naps, seed).fit(train_seqs, view.index["label"].iloc[data.train].to_numpy(),
                                                          progress=progress)
    if list(model.classes_) != data.labels:
        raise AccentError(f"aligned classes {list(model.classes_)} differ from the training labels {data.labels}")
    probs = model.predict_proba(store_sequences(view, rows, cfg), progress=progress)
    fields = {**classifier_fields("aligned", round(time.perf_counter() - t0, 2)),
              "recipe": {"aligned": cfg.to_dict()}}
    return record_run(out, mode=Mode.ALIGNED.value, labels=data.labels, index=view.index, rows=rows, probs=probs,
                      train_rows=data.train, info=info, fields=fields, ckpt=aligned_checkpoint(model, view.config))


def load_aligned_source(source, store, features) -> tuple:
    """(featurizer, naps) of ``--source``: a pretrained run's ``aligned_source.npz`` or that file itself."""
    from accent.aligned import load_source
    from accent.features import FeatureConfig

    path = Path(source)
    path = path / ALIGNED_SOURCE if path.is_dir() else path
    if not path.is_file():
        raise AccentError(f"{path} not found: --mode aligned --source needs a run pretrained on a same-passage corpus "
                          "(accent pretrain writes aligned_source.npz there); or leave out --source to take the "
                          "references and NAP from the target's training rows")
    featurizer, naps, meta = load_source(path)
    if meta.get("feature_config"):
        check_feature_config(FeatureConfig.from_dict(meta["feature_config"]), store.config, features)
    return featurizer, naps


def _network_recipe(name: str, overlay: dict | None, seed: int, device: str | None, max_epochs: int | None,
                    crop_s: float) -> tuple[dict, config.TrainConfig]:
    """The resolved recipe and TrainConfig of a trained transfer mode. The crop length is the
    source's unless the user's recipe sets train.crop_s."""
    recipe = config.resolve(name, overlay)
    fixed = {"seed": seed, "device": device or "cpu"}
    if "crop_s" not in (overlay or {}).get("train", {}):
        fixed["crop_s"] = crop_s
    cfg = config.train_config(recipe, **fixed)
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    return recipe, cfg


def run_single(view: StoreView, mode: str, out: Path, *, source_run: Run | None, source, backbone: str,
               classifier: str, seed: int, preset: str | None, max_epochs: int | None, device: str | None,
               progress: bool, resume: bool, info: dict, recipe: dict | None = None,
               aligned_source: tuple | None = None) -> dict:
    """One mode on one split assignment (the index of ``view``)."""
    where = str(info["features"])
    check_classes(view.index, where)
    data = splits_from_index(view.index, where)
    if mode == Mode.ALIGNED:
        return _aligned_run(view, data, out, info, seed, aligned_source, progress)
    if mode == Mode.BASELINE:
        X = embed_rows(MFCC, view, np.arange(len(view.index)))
        return _classifier_run(mode, X, view, data, out, info, classifier, seed, {})
    if mode == Mode.FINETUNE and backbone != ACCENT:
        return _finetune_pretrained(view, data, out, backbone, seed, max_epochs, device, info, resume, progress, recipe)
    if mode == Mode.FINETUNE and isinstance(source_run.model, WaveformClassifier):  # `pretrain --init BACKBONE`
        return _finetune_pretrained(view, data, out, source_run.model.config["backbone"], seed, max_epochs, device,
                                    info, resume, progress, recipe, source=source_run)
    if mode == Mode.EXTRACT:
        X = embed_rows(backbone, view, np.arange(len(view.index)), source=source, progress=progress)
        data = drop_unembedded(X, view, data, backbone)
        extra = {"backbone": backbone}
        if source_run is not None and ACCENT in fusion_parts(backbone):
            extra.update({"state_dict": source_run.model.state_dict(), "model_config": source_run.model.config,
                          "crop_frames": source_run.crop_frames,
                          "norm_mean": torch.as_tensor(getattr(source_run.model, "norm_mean", source_run.norm_mean)).clone(),
                          "norm_std": torch.as_tensor(getattr(source_run.model, "norm_std", source_run.norm_std)).clone()})
        return _classifier_run(mode, X, view, data, out, info, classifier, seed, extra)
    crop_s = 3.0 if source_run is None else source_run.crop_frames / view.config.frames_per_second
    torch.manual_seed(seed)
    if mode == Mode.FINETUNE:
        model = copy.deepcopy(source_run.model)
        model.replace_head(len(data.labels))
        X = recording_outputs(model, view, data.train, source_run.crop_frames, torch.device("cpu"), embed=True)
        linear_probe(model, X, view.index["label"].iloc[data.train].to_numpy(), seed)
        resolved, cfg = _network_recipe("finetune", recipe, seed, device, max_epochs, crop_s)
    else:  # scratch: the source's architecture when given, trained from random weights
        resolved, cfg = _network_recipe("scratch", recipe, seed, device, max_epochs, crop_s)
        if source_run is not None and source_run.model is not None and not isinstance(source_run.model,
                                                                                      WaveformClassifier):
            mcfg = {**source_run.model.config, "n_classes": len(data.labels)}
        else:
            chosen, overrides = config.model_choice(resolved, preset)
            mcfg = model_config(chosen or DEFAULT_PRESET, view.n_mels, len(data.labels), overrides)
        model = build_model(mcfg)
        model.set_normalization(view.mean, view.std)
    task = LogmelTask(view, data, cfg.crop_s)
    return train_and_record(model, task, cfg, out, mode=str(mode), info=info, resume=resume, progress=progress,
                            recipe=config.as_record(resolved, cfg))


def _finetune_pretrained(view: StoreView, data: SplitData, out: Path, backbone_name: str, seed: int,
                         max_epochs: int | None, device: str | None, info: dict, resume: bool, progress: bool,
                         recipe: dict | None, source: Run | None = None) -> dict:
    """finetune with a registered pretrained backbone, or with the fine-tuned one of a ``source`` run
    (``accent pretrain --init BACKBONE``): linear probe on its frozen embeddings (the extract
    features), then the waveform recipe through the same training loop."""
    from accent.backbones import get_backbone

    if not can_finetune(backbone_name):
        raise AccentError(f"--mode finetune needs one network to update, not {backbone_name!r} (mfcc or a fusion): "
                          "use --mode extract for it")
    rows = np.arange(len(view.index))
    # the linear probe's features
    X = embed_rows(ACCENT, view, rows, source=source.rundir, progress=progress) if source is not None else \
        embed_rows(backbone_name, view, rows, progress=progress)
    data = drop_unembedded(X, view, data, backbone_name)
    # a source run brings its own weights: the backbone is then needed for its preprocessing only
    backbone = get_backbone(backbone_name, random_init=True) if source is not None else get_backbone(backbone_name)
    resolved = config.resolve("waveform_finetune", recipe)
    cfg = config.train_config(resolved, seed=seed, device=device or "cpu")
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if source is not None:
        model = copy.deepcopy(source.model)
        model.replace_head(len(data.labels))
    else:
        model = WaveformClassifier(backbone.torch_module(),
                                   waveform_model_config(backbone_name, backbone.dim, len(data.labels)))
    linear_probe(model, X[data.train], data.codes(view.index, data.train), seed)
    task = WaveformTask(backbone, view, data, cfg.crop_s, progress, spec=backbone_name)
    return train_and_record(model, task, cfg, out, mode=Mode.FINETUNE.value, info=info, resume=resume,
                            progress=progress, recipe=config.as_record(resolved, cfg))


def run_transfer(features, mode: str, out, *, source=None, per_class: int | None = None,
                 train_fraction: float | None = None, seed: int = 0, folds: int | None = None,
                 backbone: str = ACCENT, classifier: str = "logreg", preset: str | None = None,
                 max_epochs: int | None = None, progress: bool = True, device: str | None = None,
                 resume: bool = False, recipe: dict | None = None) -> dict:
    """Train one transfer mode on a target store; writes RUNDIR and returns its run.json dict.
    ``recipe`` is a user overlay of the mode's shipped recipe (:func:`accent.training.config.user_overlay`)."""
    if mode not in MODES:
        raise AccentError(f"unknown --mode {mode!r}: choose one of {', '.join(MODES)}")
    mode = Mode(mode)
    if per_class is not None and train_fraction is not None:
        raise AccentError("give --per-class or --train-fraction, not both")
    if mode == Mode.FINETUNE and backbone.startswith(ACCENT_PREFIX):  # our network, spelled with its run
        if source is not None and str(source) != backbone[len(ACCENT_PREFIX):]:
            raise AccentError(f"--backbone {backbone} and --source {source} name two networks: give one")
        source, backbone = backbone[len(ACCENT_PREFIX):], ACCENT
    out = Path(out)
    if resume and (done := finished_run(out)) is not None:
        return done
    store = FeatureStore.open(features)
    source_run, aligned_source = None, None
    needs_source = mode.uses_backbone and ACCENT in fusion_parts(backbone)
    if source is not None and (needs_source or mode == Mode.SCRATCH):
        source_run = load_run(source)
        check_feature_config(source_run.feature_config, store.config, features)
    elif needs_source:
        raise AccentError(f"--mode {mode} needs --source RUNDIR (a run written by `accent pretrain`)")
    if mode == Mode.ALIGNED:
        if not same_passage(store.index):
            warnings.warn(f"{features} is not a same-passage corpus (its recordings read different texts): the "
                          "aligned recipe compares readings of one passage and is weaker than the MFCC baseline "
                          "here; if every recording does read one passage, mark it with `accent manifest --passage`",
                          stacklevel=2)
        if source is not None:
            aligned_source = load_aligned_source(source, store, features)
    info = {"backbone": backbone if mode.uses_backbone else None,
            "source": str(source) if source_run is not None or aligned_source is not None else None,
            "features": str(features), "seed": seed, "per_class": per_class, "train_fraction": train_fraction,
            "folds": folds, "fold": None}
    kwargs = dict(source_run=source_run, source=source if source_run is not None else None, backbone=backbone,
                  classifier=classifier, seed=seed, preset=preset, max_epochs=max_epochs, device=device,
                  progress=progress, resume=resume, recipe=recipe, aligned_source=aligned_source)
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
    run_json = {**info, "mode": str(mode), "labels": labels, "folds": k, "fold": None,
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
                                    "its aligned_source.npz, else references and NAP come from the target)")
    p.add_argument("--features", required=True, help="FEATDIR of the target corpus")
    p.add_argument("--mode", required=True, choices=list(MODES))
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
