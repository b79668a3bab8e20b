"""Shared fixtures. ``tiny_stores``: small feature stores of generated log-mels for training tests.

The generated "accents" are phone inventories: a bank of spectral templates shared by everyone,
and each class uses them with its own frequencies. Speakers shift the templates along the mel axis
and add a spectral colouring of their own, so a classifier must learn to ignore the voice: easy
with many source speakers, impossible from two or three target speakers alone. The target corpus reuses the first
classes of the source world with new speakers and a channel shift, so a source model is
informative for the target, while a handful of target recordings is not enough to learn it alone.
"""
from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from accent import phones
from accent.backbones import get_backbone
from accent.errors import AccentError
from accent.features import FeatureConfig
from accent.store import StoreWriter

TINY_N_MELS = 16
N_TEMPLATES = 10
WORLD_SEED = 1234
MAX_SHIFT = 3  # speakers move the templates by up to this many mel bins


def _smooth(x: np.ndarray) -> np.ndarray:
    kernel = np.array([0.25, 0.5, 0.25])
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), -1, x)


def _world(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(WORLD_SEED)
    templates = _smooth(rng.normal(0, 1.0, (N_TEMPLATES, TINY_N_MELS)))
    logits = rng.normal(0, 2.0, (n_classes, N_TEMPLATES))
    weights = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return templates, weights


def tiny_logmel(rng: np.random.Generator, templates: np.ndarray, class_weights: np.ndarray,
                speaker: np.ndarray, shift: int, n_frames: int) -> np.ndarray:
    """A recording: segments of 3-9 frames, each one template drawn with the class's frequencies,
    moved ``shift`` mel bins (a vocal-tract-length-like voice difference) and coloured by ``speaker``."""
    templates = np.roll(templates, shift, axis=1)
    frames, total = [], 0
    while total < n_frames:
        k = rng.choice(len(templates), p=class_weights)
        length = int(rng.integers(3, 10))
        frames.append(np.repeat(templates[k][None], length, axis=0))
        total += length
    x = np.concatenate(frames)[:n_frames]
    return (x + speaker + rng.normal(0, 0.6, x.shape) - 4.0).astype(np.float32)


def make_tiny_store(root, classes: list[int], speakers: dict[str, int], seed: int, channel: float = 0.0,
                    clips_per_speaker: int = 1, frames: tuple[int, int] = (200, 400),
                    n_mels: int = TINY_N_MELS) -> str:
    """Write a store under ``root``; ``speakers`` gives per class how many speakers each split gets."""
    templates, weights = _world(max(classes) + 1)
    rng = np.random.default_rng(seed)
    cfg = FeatureConfig(n_mels=n_mels)
    writer = StoreWriter(root, cfg)
    writer.mark_incomplete()
    rows = []
    for c in classes:
        for split, n_spk in speakers.items():
            for s in range(n_spk):
                spk = f"c{c}_{split}_{s}_{seed}"
                colour = _smooth(rng.normal(0, 1.2, TINY_N_MELS)) + channel
                shift = int(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1))
                for u in range(clips_per_speaker):
                    utt = f"{spk}_u{u}"
                    x = tiny_logmel(rng, templates, weights[c], colour, shift, int(rng.integers(*frames)))
                    if n_mels != TINY_N_MELS:
                        x = np.resize(x, (len(x), n_mels))
                    writer.append(utt, f"/synthetic/{utt}.wav", x, len(x) / 100)
                    rows.append({"utt_id": utt, "path": f"/synthetic/{utt}.wav", "speaker": spk,
                                 "label": f"accent{c}", "split": split, "duration_s": len(x) / 100,
                                 "text": "", "corpus": "tiny"})
    writer.finish(pd.DataFrame(rows))
    return str(root)


@pytest.fixture(scope="session")
def tiny_stores(tmp_path_factory):
    """{"source": 6-class store, "target": 3-class store (3 train speakers per class),
    "target_big": same target world with more training speakers, "other_config": 20 mel bins}."""
    base = tmp_path_factory.mktemp("tiny_stores")
    return {
        "source": make_tiny_store(base / "source", list(range(6)), {"train": 20, "val": 4, "test": 4}, seed=1),
        "target": make_tiny_store(base / "target", [0, 1, 2], {"train": 3, "val": 6, "test": 10}, seed=2,
                                  channel=0.5, frames=(150, 300)),
        "target_big": make_tiny_store(base / "target_big", [0, 1, 2], {"train": 8, "val": 3, "test": 4}, seed=3,
                                      channel=0.5, frames=(150, 300)),
        "other_config": make_tiny_store(base / "other", [0, 1], {"train": 3, "val": 2, "test": 2}, seed=4,
                                        n_mels=20),
    }


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models on a shared 2-core machine: one thread avoids OpenMP spin-wait stalls (10x here)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# A sox as Debian's plain `sox` package installs it: no mp3 handler (libsox-fmt-mp3 missing).
# It forwards everything else to the real sox, so effects still work.
FAKE_SOX = """#!/bin/sh
REAL="{real}"
if [ "$1" = "-h" ]; then "$REAL" -h | sed 's/ mp3 / /; s/ mp2 / /'; exit 0; fi
for a in "$@"; do
  case "$a" in *.mp3|*.mp3.tmp|mp3) echo "sox FAIL formats: no handler for given file type \\`mp3'" >&2; exit 2;; esac
done
exec "$REAL" "$@"
"""


@pytest.fixture
def sox_without_mp3(tmp_path, monkeypatch):
    """PATH starts with a folder whose `sox` lacks the mp3 plugin; returns that folder."""
    import os
    import shutil

    real = shutil.which("sox")
    if real is None:
        pytest.skip("sox is needed to fake one without its mp3 plugin")
    folder = tmp_path / "fakebin"
    folder.mkdir()
    (folder / "sox").write_text(FAKE_SOX.format(real=real))
    (folder / "sox").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def interrupt_training_after(monkeypatch, epochs: int) -> None:
    """Make the next training run stop with KeyboardInterrupt (as Ctrl-C would) once ``epochs``
    epochs have saved their training state: the following save raises instead of writing. This
    goes through ``torch.save``, so it holds for every training loop whatever its module layout."""
    real_save, saves = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        if str(f).split("/")[-1].startswith("train_state"):
            saves["n"] += 1
            if saves["n"] > epochs:
                raise KeyboardInterrupt
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


TINY_SERVE_MODEL = {"channels": [16, 16], "kernels": [5, 3], "dilations": [1, 2], "pool_channels": 32, "embed_dim": 16}


@pytest.fixture(scope="session")
def tiny_runs(tiny_stores, tmp_path_factory):
    """Quick runs for inference tests: {"network": a 2-epoch pretrained tdnn on the 6-class source,
    "sklearn": a baseline (MFCC statistics + logistic regression) on the 3-class target,
    "extract": the network's embeddings + logistic regression on the target}."""
    from accent.training.pretrain import pretrain
    from accent.transfer import run_transfer

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("tiny_runs")
    pretrain(tiny_stores["source"], base / "network", crop_s=1.0, max_epochs=2, progress=False,
             model_overrides=TINY_SERVE_MODEL)
    run_transfer(tiny_stores["target"], "baseline", base / "sklearn", progress=False)
    run_transfer(tiny_stores["target"], "extract", base / "extract", source=base / "network", progress=False)
    torch.set_num_threads(previous)
    return {"network": base / "network", "sklearn": base / "sklearn", "extract": base / "extract"}


def write_clip(path, seconds: float = 1.5, sample_rate: int = 16000, seed: int = 0, silent: bool = False):
    """A synthetic voiced clip: a harmonic tone with a wandering pitch and noise (zeros when ``silent``)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 110 + 60 * seed % 200 + 20 * np.sin(2 * np.pi * (0.5 + 0.3 * seed) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wave = 0.2 * wave / np.abs(wave).max() + 0.01 * rng.normal(size=t.size)
    sf.write(path, np.zeros_like(wave) if silent else wave.astype(np.float32), sample_rate)
    return path


PASSAGE_TEXT = "Please call Stella."


def make_passage_store(root, n_classes: int, speakers: dict[str, int], seed: int, text: str = PASSAGE_TEXT,
                       labels: list[str] | None = None) -> str:
    """A store of readings of one passage (text column = ``text``): a fixed phone sequence where each
    class pronounces four phones, at its own places in the text, differently; every reader has a
    speaking rate per phone, a voice colouring and noise. The accent cue sits at fixed places in the
    passage, which the aligned recipe finds and whole-recording statistics blur."""
    world = np.random.default_rng(99)
    templates = world.normal(0, 1.0, (12, TINY_N_MELS))
    passage = world.integers(0, 12, 40)
    variants = world.normal(0, 1.0, (n_classes, 4, TINY_N_MELS))
    places = np.stack([world.choice(40, 4, replace=False) for _ in range(n_classes)])
    labels = labels or [f"accent{c}" for c in range(n_classes)]
    rng = np.random.default_rng(seed)
    writer = StoreWriter(root, FeatureConfig(n_mels=TINY_N_MELS))
    writer.mark_incomplete()
    rows = []
    for c in range(n_classes):
        for split, n_spk in speakers.items():
            for s in range(n_spk):
                phones = templates[passage].copy()
                phones[places[c]] = variants[c]
                durations = rng.integers(6, 18, len(phones))
                x = (np.repeat(phones, durations, axis=0) + rng.normal(0, 1.0, TINY_N_MELS)
                     + rng.normal(0, 0.5, (durations.sum(), TINY_N_MELS)) - 4.0).astype(np.float32)
                utt = f"p{c}_{split}_{s}_{seed}"
                writer.append(utt, f"/synthetic/{utt}.wav", x, len(x) / 100)
                rows.append({"utt_id": utt, "path": f"/synthetic/{utt}.wav", "speaker": utt, "label": labels[c],
                             "split": split, "duration_s": len(x) / 100, "text": text, "corpus": "tiny"})
    writer.finish(pd.DataFrame(rows))
    return str(root)


def speak(text: str, path, voice: str = "en"):
    """``text`` spoken by espeak-ng into the WAV file ``path``."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


def resemblyzer_or_skip():
    """The Resemblyzer backbone, or a skip that says its weights are missing."""
    try:
        return get_backbone("resemblyzer")
    except AccentError as exc:
        pytest.skip(f"resemblyzer weights unavailable: {exc}")


SHARED = Path(__file__).resolve().parents[2] / "shared"
SAA_8K = SHARED / "real-dev" / "saa-8k"
CV_DEV = SHARED / "real-dev" / "cv-v1" / "cv-valid-dev"
PASSAGE_LANGUAGES = ("english", "spanish", "arabic", "mandarin")


@pytest.fixture(scope="session")
def saa_aligned_run(tmp_path_factory):
    """An aligned run trained on real saa-8k readings (8 per language of 4, 8 kHz, the passage text in
    the manifest), and one held-out reading per language: {"run", "held": {language: path}}. Skips
    without ../shared."""
    if not SAA_8K.is_dir():
        pytest.skip("../shared/real-dev/saa-8k absent: the passage tests need real readings")
    from accent.corpora import build_manifest
    from accent.corpora.saa import STELLA_PARAGRAPH
    from accent.featurize import featurize
    from accent.transfer import run_transfer

    manifest, _ = build_manifest("folder", SAA_8K, passage=STELLA_PARAGRAPH)
    manifest = manifest[manifest["label"].isin(PASSAGE_LANGUAGES)].sort_values("utt_id")
    chosen = manifest.groupby("label").head(10).copy()
    chosen["split"] = np.tile(["train"] * 8 + ["val", "test"], len(PASSAGE_LANGUAGES))
    held = manifest.drop(chosen.index).groupby("label").nth(0)
    base = tmp_path_factory.mktemp("saa_aligned")
    featurize(chosen.reset_index(drop=True), base / "store", FeatureConfig(sample_rate=8000), workers=1,
              progress=False)
    run_transfer(base / "store", "aligned", base / "run", progress=False)
    return {"run": base / "run", "held": dict(zip(held["label"], held["path"]))}


def have_espeak_library() -> bool:
    """Whether espeak-ng's shared library loads (what accent.phones renders with)."""
    try:
        ctypes.CDLL(phones.LIBRARY)
        return True
    except OSError:
        return False
