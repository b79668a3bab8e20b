"""`accent pretrain`: train a source model on a feature store's train split; writes RUNDIR.

The recipe is ``accent/recipes/pretrain.toml``, overlaid by ``--recipe FILE`` and ``--set``
(see :mod:`accent.training.config`); ``--preset``, ``--crop-s`` and ``--max-epochs`` override it.
On a same-passage store (:func:`accent.manifest.same_passage`, or ``--same-passage``) it also writes
``aligned_source.npz``, the references and NAP of the passage-aligned recipe, for
``accent transfer --mode aligned --source RUNDIR``. On a store whose clips all have their text and
audio it also writes ``phonetic_source.npz``, the phonetic classifier over the source's labels
(:func:`accent.phonetic.fit_store_source`), for ``accent transfer --mode phonetic --source RUNDIR``.

``--init BACKBONE`` (a registered pretrained waveform backbone such as ``resemblyzer``) is the first
stage of a two-stage chain: the source network is that speech encoder, with a linear probe on its
frozen embeddings as head, fine-tuned on the store's audio with the ``waveform_finetune`` recipe.
``accent transfer --source RUNDIR`` then extracts with, or fine-tunes, the encoder fine-tuned here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from accent.aligned import fit_store_source
from accent.backbones import get_backbone
from accent.backbones.names import ACCENT, can_finetune
from accent.devices import world
from accent.embeddings import embed_rows
from accent.errors import AccentError
from accent.layout import ALIGNED_SOURCE, PHONETIC_SOURCE, Mode, finished_run
from accent.manifest import same_passage
from accent.models import PRESETS, build_model, model_config
from accent.models.waveform import WaveformClassifier, waveform_model_config
from accent.phonetic import fit_store_source as fit_phonetic_source, has_texts_and_audio
from accent.splits import splits_from_index
from accent.store import FeatureStore
from accent.training import config
from accent.training.loop import train_and_record
from accent.training.tasks import LogmelTask, WaveformTask, drop_unembedded, linear_probe


def pretrain(features, out, *, preset: str | None = None, crop_s: float | None = None,
             max_epochs: int | None = None, seed: int = 0, resume: bool = False, device: str | None = None,
             progress: bool = True, compile: bool = False, model_overrides: dict | None = None,
             train_overrides: dict | None = None, recipe: dict | None = None, init: str | None = None,
             force_same_passage: bool = False) -> dict:
    """Train a source model; ``recipe`` is a user overlay (:func:`accent.training.config.user_overlay`),
    ``model_overrides``/``train_overrides`` the same from Python; ``init`` a pretrained waveform
    backbone to start from (the module docstring). Returns run.json as a dict."""
    out = Path(out)
    if resume and (done := finished_run(out)) is not None:
        aligned_source(FeatureStore.open(features), out, force_same_passage, progress)
        phonetic_source(FeatureStore.open(features), out, progress)
        return done
    store = FeatureStore.open(features)
    data = splits_from_index(store.index, str(features))
    aligned_source(store, out, force_same_passage, progress, data.train)
    phonetic_source(store, out, progress, data.train)
    explicit = {"train": {k: v for k, v in (("crop_s", crop_s), ("max_epochs", max_epochs)) if v is not None}}
    overlay = config.merge(recipe, explicit, {"model": model_overrides or {}, "train": train_overrides or {}})
    if init is not None:
        return _pretrain_from(init, store, data, out, overlay, seed=seed, device=device, compile=compile,
                              resume=resume, progress=progress, features=features)
    resolved = config.resolve("pretrain", overlay)
    cfg = config.train_config(resolved, seed=seed, device=device or "cpu", compile=compile)
    chosen, overrides = config.model_choice(resolved, preset)
    torch.manual_seed(seed)
    model = build_model(model_config(chosen, store.n_mels, len(data.labels), overrides))
    model.set_normalization(store.mean, store.std)
    info = {"backbone": "accent", "source": None, "features": str(features), "seed": seed, "per_class": None,
            "train_fraction": None, "folds": None, "fold": None, "preset": chosen, "init": None}
    return train_and_record(model, LogmelTask(store, data, cfg.crop_s), cfg, out, mode=Mode.PRETRAIN.value, info=info,
                            resume=resume, progress=progress, recipe=config.as_record(resolved, cfg))


def aligned_source(store, out: Path, force: bool, progress: bool, rows=None) -> Path | None:
    """``out/aligned_source.npz`` from the training rows of a same-passage store (kept when present);
    None for other stores."""
    path = out / ALIGNED_SOURCE
    if world()[0] != 0 or not (force or same_passage(store.index)):  # torchrun: rank 0 writes the run's files
        return None
    if not path.is_file():
        if rows is None:
            rows = splits_from_index(store.index, str(store.root)).train
        fit_store_source(store, rows, path, progress=progress)
    return path


def phonetic_source(store, out: Path, progress: bool, rows=None) -> Path | None:
    """``out/phonetic_source.npz`` from the training rows of a store whose clips all have their text
    and audio (kept when present); None for other stores."""
    path = out / PHONETIC_SOURCE
    if world()[0] != 0 or not has_texts_and_audio(store.index):
        return None
    if not path.is_file():
        if rows is None:
            rows = splits_from_index(store.index, str(store.root)).train
        fit_phonetic_source(store, rows, path, progress=progress)
    return path


def _pretrain_from(init: str, store, data, out: Path, overlay: dict, *, seed: int, device, compile: bool,
                  resume: bool, progress: bool, features) -> dict:
    """The first stage of the two-stage chain: the pretrained waveform backbone ``init`` with a
    linear probe on its frozen embeddings, fine-tuned on the store (WaveformTask, waveform_finetune recipe)."""
    if init.startswith(ACCENT) or not can_finetune(init):
        raise AccentError(f"--init {init!r}: give a pretrained waveform backbone (e.g. resemblyzer; see "
                          "`accent doctor`), or leave --init out to start from random weights")
    if overlay.get("model"):
        raise AccentError(f"--init {init}: the network is the backbone's; [model] settings "
                          f"({', '.join(sorted(overlay['model']))}) do not apply")
    X = embed_rows(init, store, np.arange(len(store.index)), progress=progress)  # the linear probe's features
    data = drop_unembedded(X, store, data, init)
    backbone = get_backbone(init)
    resolved = config.resolve("waveform_finetune", overlay)
    cfg = config.train_config(resolved, seed=seed, device=device or "cpu", compile=compile)
    torch.manual_seed(seed)
    model = WaveformClassifier(backbone.torch_module(), waveform_model_config(init, backbone.dim, len(data.labels)))
    linear_probe(model, X[data.train], data.codes(store.index, data.train), seed)
    info = {"backbone": init, "source": None, "features": str(features), "seed": seed, "per_class": None,
            "train_fraction": None, "folds": None, "fold": None, "preset": None, "init": init}
    task = WaveformTask(backbone, store, data, cfg.crop_s, progress, spec=init)
    return train_and_record(model, task, cfg, out, mode=Mode.PRETRAIN.value, info=info, resume=resume,
                            progress=progress, recipe=config.as_record(resolved, cfg))


def _run_cli(args) -> int:
    result = pretrain(args.features, args.out, preset=args.preset, crop_s=args.crop_s, max_epochs=args.max_epochs,
                      seed=args.seed, resume=args.resume, device=args.device, compile=args.compile,
                      progress=not args.quiet, recipe=config.user_overlay(args.recipe, args.set), init=args.init,
                      force_same_passage=args.same_passage)
    if world()[0] != 0:  # torchrun: rank 0 wrote the run and reports it
        return 0
    test = result["metrics"]["test"]
    print(f"pretrained {result['preset'] or result['init']} in {result['train_seconds']:.0f} s: best epoch {result['best_epoch']}/"
          f"{result['epochs_run']}, test balanced accuracy {test['balanced_accuracy']:.3f} "
          f"(n={test['n']}) -> {args.out}")
    if (Path(args.out) / ALIGNED_SOURCE).is_file():
        print(f"same-passage source: references and NAP for --mode aligned -> {Path(args.out) / ALIGNED_SOURCE}")
    if (Path(args.out) / PHONETIC_SOURCE).is_file():
        print(f"source with text: phonetic classifier for --mode phonetic -> {Path(args.out) / PHONETIC_SOURCE}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("pretrain", help="train a source model on a feature store")
    p.add_argument("--features", required=True, help="FEATDIR written by `accent featurize`")
    p.add_argument("--out", required=True, help="RUNDIR to write (checkpoint.pt, run.json, predictions.csv)")
    p.add_argument("--preset", default=None, choices=list(PRESETS))
    p.add_argument("--init", default=None, metavar="BACKBONE",
                   help="start from a pretrained waveform backbone (resemblyzer, ...) and fine-tune it on the store "
                        "with the waveform_finetune recipe; default: our network from random weights")
    p.add_argument("--crop-s", type=float, default=None, help="training crop length in seconds (default 3)")
    p.add_argument("--max-epochs", type=int, default=None, help="upper bound; early stopping usually ends sooner")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    p.add_argument("--same-passage", action="store_true",
                   help="every recording reads one passage (detected for saa and a shared text column): also "
                        f"write {ALIGNED_SOURCE} for `accent transfer --mode aligned --source`")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    config.add_recipe_options(p)
    p.set_defaults(func=_run_cli)
