"""The real-speech development protocols of issues 14 (SAA, the default task) and 21 (``--task cv``).

    python benchmarks/real_dev.py [--shared ../shared] [--work data/real_dev] [--write-docs]
    python benchmarks/real_dev.py --task cv [--cv-epochs 5] [--no-curve]

``--task cv`` (issue 21) runs everything through the ``accent`` command line, each stage skipped
when its output is already under ``WORK/cv`` (delete it to rerun with other settings), and prints
markdown tables (the commands it ran are in ``WORK/cv/results*.json``):

- the five largest cv-v1 accents (us, england, australia, indian, canada), speakers inferred by
  ``accent featurize --infer-speakers`` (default threshold), speaker-disjoint 5-fold
  (``accent transfer --folds 5``): baseline, scratch, extract with Resemblyzer, phonetic, and with the
  SAA source (saa-en by birth country, ``accent pretrain``) extract, finetune and phonetic-source; a
  late fusion of the phonetic and Resemblyzer fold runs' probabilities; the issue's "Done when" line;
- the capstone's task, us vs indian, the same way, beside the SAA source's own test accuracy;
- SAA -> CV: ``accent curve`` on the five-accent store at 5, 10, 20 and 50 per class x 3 seeds, and
  ``accent report`` on it.

Network runs stop at ``--cv-epochs`` (default 5) epochs.

The SAA task:

Data (read-only, never copied): ``SHARED/real-dev/saa-8k`` (Speech Accent Archive readings at
8 kHz, one speaker each, ``<language>/<file>.mp3``) and ``SHARED/real-samples/saa`` (108 SAA
recordings at their original rates; the two redistributions share speakers, so the recordings of
real-samples/saa that saa-8k also holds are found by audio fingerprint, ``accent.duplicates.duplicates_between``,
and dropped). Both are featurized with one feature config, 8 kHz log-mels
(``FeatureConfig(sample_rate=8000)``), into ``WORK/features/``.

Tasks, all speaker-disjoint, scored by balanced accuracy:

- **within-corpus**: the 9 languages of saa-8k, 5-fold (``accent.splits.speaker_kfold``, seed 0);
  mean ± std over the folds.
- **transfer**: source = every language of real-samples/saa plus the english, arabic and dutch
  readings of saa-8k; target = the other six saa-8k languages. A fixed test set (per language, all
  speakers beyond the largest training size, at least ``MIN_TEST``); training sets of 5, 10 and 20
  recordings per language drawn from the rest with seeds 0, 1, 2. Mean ± std over the seeds, and the
  test sampling error (std of balanced accuracy over stratified bootstrap resamples of the test set).

Methods:

- ``aligned``: the passage-aligned recipe (:mod:`accent.aligned`). Within-corpus its references
  are the training folds' English readings and its NAP is fitted on the training folds; in transfer
  both come from the source (this is what pretraining on the source contributes), with two ablations:
  NAP fitted on the target's few training rows, and no NAP.
- ``baseline``: MFCC statistics (``accent.features.mfcc_statistics``) + StandardScaler + balanced LR.
- ``resemblyzer``: the frozen Resemblyzer speaker encoder + the same classifier.
- ``scratch``: our ``tdnn`` network trained from random weights (``accent.transfer``), at most
  ``--scratch-epochs`` epochs with early stopping on 15 % of its training speakers.
- ``finetune`` (transfer only): our ``tdnn`` pretrained on the source store (``accent pretrain``,
  at most ``--source-epochs``), then ``extract`` and ``finetune`` on each training set, the latter
  with each model-selection setting of the recipe (``train.select``, ``train.ema``, ``train.guard``).
- ``chain`` (transfer only): the two-stage chain, ``accent pretrain --init resemblyzer`` on the
  source store, then ``extract`` with and ``finetune`` of the SAA-fine-tuned encoder.

Methods not run in an invocation keep their rows from the previous one (``WORK/results.json``).

Everything expensive is cached under WORK (git-ignored): stores, aligned features per reference,
embeddings (inside the stores), scratch runs; ``WORK/timings.json`` keeps the seconds each cached
stage took when it was computed, so the wall times printed are compute times, also on a cached rerun.
Prints markdown tables; ``--write-docs`` also replaces the real-speech section of docs/benchmarks.md
and writes docs/figures/real_dev.png.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.aligned import (NAP, AlignedClassifier, AlignedConfig, PassageFeaturizer,  # noqa: E402
                            select_references, store_sequences)
from accent.alignment import store_alignments  # noqa: E402
from accent.corpora import build_manifest  # noqa: E402
from accent.duplicates import duplicates_between  # noqa: E402
from accent.errors import AccentError  # noqa: E402
from accent.features import FeatureConfig  # noqa: E402
from accent.featurize import featurize  # noqa: E402
from accent.fileio import write_json_atomic, write_text_atomic  # noqa: E402
from accent.splits import speaker_kfold, speaker_labels  # noqa: E402
from accent.store import FeatureStore  # noqa: E402

DEFAULT_SHARED = REPO.parent / "shared"
DEFAULT_WORK = REPO / "data" / "real_dev"
DOCS = REPO / "docs" / "benchmarks.md"
FIGURE = REPO / "docs" / "figures" / "real_dev.png"
FEATURES = FeatureConfig(sample_rate=8000)
SOURCE_FROM_DEV = ("english", "arabic", "dutch")
SIZES = (5, 10, 20)
SEEDS = (0, 1, 2)
FOLDS = 5
MIN_TEST = 4
TEST_SEED = 1000
SCRATCH_EPOCHS = 10   # about 30 s per epoch of the 9-way task on one loaded core
SCRATCH_PRESET = "tdnn"
SOURCE_EPOCHS = 20        # transfer: our tdnn pretrained on the source (early stopping usually ends sooner)
FINETUNE_EPOCHS = 10
CHAIN_SOURCE_EPOCHS = 4   # pretrain --init resemblyzer: about 2 min per epoch on one loaded core
CHAIN_EPOCHS = 4
METHODS = ("aligned", "baseline", "resemblyzer", "scratch", "finetune", "chain")
N_BOOT = 1000
MAX_ITER = 5000
DOC_START = "<!-- real_dev:start (written by benchmarks/real_dev.py --write-docs) -->"
DOC_END = "<!-- real_dev:end -->"


# -- data ----------------------------------------------------------------------------------------

def limit_per_label(manifest: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The first ``limit`` recordings (by utt_id) of each label: the smoke test's tiny subset."""
    if limit is None:
        return manifest
    return manifest.sort_values("utt_id").groupby("label").head(limit).reset_index(drop=True)


def prepare_stores(shared: Path, work: Path, limit: int | None, workers: int) -> tuple[FeatureStore, FeatureStore]:
    """(saa-8k store, real-samples/saa store without the recordings saa-8k also holds), both at 8 kHz."""
    suffix = f"_first{limit}" if limit else ""
    stores = []
    for name, corpus, root in (("saa8k", "folder", shared / "real-dev" / "saa-8k"),
                               ("samples", "saa", shared / "real-samples" / "saa")):
        manifest, _ = build_manifest(corpus, root)
        out = work / "features" / f"{name}{suffix}"
        featurize(limit_per_label(manifest, limit), out, FEATURES, workers=workers, progress=True)
        stores.append(FeatureStore.open(out))
    dev, samples = stores
    manifest, _ = build_manifest("saa", shared / "real-samples" / "saa")
    distinct = limit_per_label(manifest, limit)
    distinct = distinct[~distinct["utt_id"].isin(sample_duplicates(work, samples, dev))]
    out = work / "features" / f"samples_distinct{suffix}"
    featurize(distinct.reset_index(drop=True), out, FEATURES, workers=workers, progress=True)
    return dev, FeatureStore.open(out)


def sample_duplicates(work: Path, samples: FeatureStore, dev: FeatureStore) -> list[str]:
    """utt_ids of real-samples/saa recordings that saa-8k also holds (the two redistributions share
    speakers, at other rates and codecs, with pauses cut: :func:`accent.duplicates.duplicates_between`
    finds them by audio fingerprint), cached in WORK by the two stores' rows."""
    path = work / f"duplicates_fp_{samples.meta['rows_hash']}_{dev.meta['rows_hash']}.json"
    if not path.is_file():
        found = duplicates_between(samples, dev)["utt_id"].drop_duplicates().tolist()
        write_json_atomic(path, found)
        print(f"real-samples/saa: {len(found)} recordings duplicate saa-8k ones; dropped", file=sys.stderr)
    return json.loads(path.read_text())


def prepare_source_store(shared: Path, work: Path, limit: int | None, workers: int) -> FeatureStore:
    """The transfer task's source as one 8 kHz store: real-samples/saa (without saa-8k's recordings)
    plus the english, arabic and dutch readings of saa-8k (each corpus keeps its own speaker-disjoint
    train/val/test split)."""
    suffix = f"_first{limit}" if limit else ""
    dev_store, samples_store = (FeatureStore.open(work / "features" / f"{n}{suffix}") for n in ("saa8k", "samples"))
    dev, _ = build_manifest("folder", shared / "real-dev" / "saa-8k")
    samples, _ = build_manifest("saa", shared / "real-samples" / "saa")
    samples = samples[~samples["utt_id"].isin(sample_duplicates(work, samples_store, dev_store))]
    manifest = pd.concat([limit_per_label(samples, limit),
                          limit_per_label(dev[dev["label"].isin(SOURCE_FROM_DEV)], limit)], ignore_index=True)
    out = work / "features" / f"source_distinct{suffix}"
    featurize(manifest, out, FEATURES, workers=workers, progress=True)
    return FeatureStore.open(out)


class Timings:
    """Seconds each cached stage took when computed, kept in WORK/timings.json."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = json.loads(path.read_text()) if path.is_file() else {}

    def run(self, key: str, fn):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        if key not in self.seconds or elapsed > self.seconds[key]:  # a cache hit is faster than the compute
            self.seconds[key] = round(elapsed, 2)
            write_json_atomic(self.path, self.seconds)
        return result

    def get(self, key: str) -> float:
        return float(self.seconds.get(key, 0.0))


class AlignedBlocks:
    """Aligned features of every recording of a store against one reference, from the alignment
    engine's cache beside the store (keyed by the feature config, the rows, the alignment settings
    and the reference's content); the timing key names the recipe's settings too."""

    def __init__(self, timings: Timings, cfg: AlignedConfig):
        self.timings, self.cfg = timings, cfg

    def get(self, store: FeatureStore, seqs: list[np.ndarray], ref_key: str, ref: np.ndarray) -> tuple[np.ndarray, str]:
        """(features (n, dim), timing key)."""
        settings = hashlib.sha1(json.dumps([self.cfg.to_dict(), store.config.hash()]).encode()).hexdigest()[:12]
        key = f"aligned/{store.root.name}/{ref_key}/{settings}"

        def compute():
            found = store_alignments(store, ref, self.cfg.spec(), progress=True)
            return PassageFeaturizer(self.cfg, [ref]).from_alignments(seqs, [found])[0][0]
        return self.timings.run(key, compute), key


# -- scoring ---------------------------------------------------------------------------------------

def balanced_accuracy(y_true, y_pred) -> float:
    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():  # a fold can miss a small class: balanced accuracy is still defined
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y_true, y_pred))


def bootstrap_std(y_true: np.ndarray, y_pred: np.ndarray, seed: int = 0) -> float:
    """Std of balanced accuracy over resamples of the test set, stratified by class: each class's
    recall is the hit rate of its resampled rows, and balanced accuracy their mean (vectorised)."""
    rng = np.random.default_rng(seed)
    hits = np.asarray(y_true) == np.asarray(y_pred)
    recalls = [rng.choice(hits[y_true == c], (N_BOOT, int((y_true == c).sum()))).mean(1) for c in np.unique(y_true)]
    return float(np.mean(recalls, axis=0).std())


def logreg_predict(X_train, y_train, X_test, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=MAX_ITER,
                                                               random_state=seed))
    return model.fit(X_train, y_train).predict(X_test)


def recording_vectors(name: str, store: FeatureStore, timings: Timings) -> tuple[np.ndarray, str]:
    from accent.embeddings import recording_embeddings

    key = f"{name}/{store.root.name}"
    _, X = timings.run(key, lambda: recording_embeddings(name, store, progress=True))
    return X, key


def scratch_info(features: Path, seed: int, per_class) -> dict:
    return {"backbone": None, "source": None, "features": str(features), "seed": seed, "per_class": per_class,
            "train_fraction": None, "folds": None, "fold": None}


# -- within-corpus -----------------------------------------------------------------------------------

def within_corpus(dev: FeatureStore, samples: FeatureStore, args, timings: Timings, cfg: AlignedConfig) -> dict:
    """method -> {"scores": per-fold balanced accuracy, "seconds": compute time}."""
    idx = dev.index
    y = idx["label"].to_numpy()
    folds = speaker_kfold(idx, args.folds, seed=0).to_numpy()
    seqs = store_sequences(dev, cfg=cfg)
    blocks = AlignedBlocks(timings, cfg)
    results = {}

    def aligned(ref_for_fold, name):
        fit_s, keys, scores = 0.0, set(), []
        for k in range(args.folds):
            train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
            feats = []
            for ref_key, ref in ref_for_fold(train):
                X, tkey = blocks.get(dev, seqs, ref_key, ref)
                feats.append(X)
                keys.add(tkey)
            start = time.perf_counter()
            clf = AlignedClassifier(cfg).fit([X[train] for X in feats], y[train])
            scores.append(balanced_accuracy(y[test], clf.predict([X[test] for X in feats])))
            fit_s += time.perf_counter() - start
        results[name] = {"scores": scores, "seconds": fit_s + sum(timings.get(t) for t in keys)}

    def training_refs(train):
        picks = train[select_references([len(seqs[i]) for i in train], y[train], cfg.reference_quantiles)]
        return [(f"{dev.root.name}-{idx['utt_id'].iloc[i]}", seqs[i]) for i in picks]

    sample_seqs = store_sequences(samples, cfg=cfg)
    sample_y = samples.index["label"].to_numpy()
    outside = select_references([len(s) for s in sample_seqs], sample_y, cfg.reference_quantiles)
    outside_refs = [(f"{samples.root.name}-{samples.index['utt_id'].iloc[i]}", sample_seqs[i]) for i in outside]

    if "aligned" in args.methods:
        aligned(training_refs, "aligned (references and NAP from the training folds)")
        aligned(lambda train: outside_refs, "aligned, references from real-samples/saa (outside saa-8k)")
    for name, title in (("baseline", "baseline (MFCC statistics + LR)"),
                        ("resemblyzer", "frozen Resemblyzer + LR")):
        if name not in args.methods:
            continue
        X, key = recording_vectors("mfcc" if name == "baseline" else name, dev, timings)
        start = time.perf_counter()
        ok = np.isfinite(X).all(axis=1)
        scores = []
        for k in range(args.folds):
            train, test = ok & (folds != k), ok & (folds == k)
            scores.append(balanced_accuracy(y[test], logreg_predict(X[train], y[train], X[test])))
        results[title] = {"scores": scores, "seconds": timings.get(key) + time.perf_counter() - start}
    if "scratch" in args.methods and args.scratch_epochs > 0:
        from accent.transfer import run_transfer

        out = args.work / "runs" / f"within_scratch_e{args.scratch_epochs}{'' if not args.limit else f'_first{args.limit}'}"
        run = run_transfer(dev.root, "scratch", out, folds=args.folds, seed=0, preset=SCRATCH_PRESET,
                           max_epochs=args.scratch_epochs, progress=True, resume=True)
        results[f"scratch {SCRATCH_PRESET} (at most {args.scratch_epochs} epochs)"] = {
            "scores": [f["test"] for f in run["fold_runs"]], "seconds": run["train_seconds"]}
    return results


# -- transfer ----------------------------------------------------------------------------------------

def fixed_test(index: pd.DataFrame, sizes) -> np.ndarray:
    """Boolean mask of the fixed test rows: per label, the speakers beyond max(sizes) (at least MIN_TEST)."""
    rng = np.random.default_rng(TEST_SEED)
    spk = speaker_labels(index)
    test_speakers = []
    for label in sorted(spk.unique()):
        speakers = spk.index[spk == label].to_numpy()
        speakers = speakers[rng.permutation(len(speakers))]
        test_speakers.extend(speakers[:max(MIN_TEST, len(speakers) - max(sizes))])
    return index["speaker"].isin(test_speakers).to_numpy()


def training_rows(index: pd.DataFrame, pool: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` recordings per label from the pool rows, chosen by speaker with ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in sorted(index["label"].iloc[pool].unique()):
        rows = pool[(index["label"].iloc[pool] == label).to_numpy()]
        speakers = index["speaker"].iloc[rows].unique()
        speakers = speakers[rng.permutation(len(speakers))]
        picked = rows[np.isin(index["speaker"].iloc[rows], speakers[:size])][:size]
        chosen.extend(picked)
    return np.sort(np.array(chosen))


def transfer(dev: FeatureStore, samples: FeatureStore, args, timings: Timings, cfg: AlignedConfig) -> dict:
    """method -> size -> {"scores": per-seed, "boot": per-seed test sampling std, "seconds": per-seed}."""
    idx = dev.index
    y = idx["label"].to_numpy()
    is_source = np.isin(y, SOURCE_FROM_DEV)
    target = np.flatnonzero(~is_source)
    tindex = idx.iloc[target].reset_index(drop=True)
    ty = y[target]
    test_mask = fixed_test(tindex, args.sizes)
    test, pool = np.flatnonzero(test_mask), np.flatnonzero(~test_mask)
    plan = {(size, seed): training_rows(tindex, pool, size, seed) for size in args.sizes for seed in args.seeds}
    results: dict = {}

    def record(name, size, seed, pred, seconds):
        cell = results.setdefault(name, {}).setdefault(size, {"scores": [], "boot": [], "seconds": []})
        cell["scores"].append(balanced_accuracy(ty[test], pred))
        cell["boot"].append(bootstrap_std(ty[test], pred))
        cell["seconds"].append(seconds)

    if "aligned" in args.methods:
        dev_seqs = store_sequences(dev, cfg=cfg)
        sample_seqs = store_sequences(samples, cfg=cfg)
        source_seqs = sample_seqs + [dev_seqs[i] for i in np.flatnonzero(is_source)]
        source_y = np.concatenate([samples.index["label"].to_numpy(), y[is_source]])
        source_keys = ([f"{samples.root.name}-{u}" for u in samples.index["utt_id"]]
                       + [f"{dev.root.name}-{u}" for u in idx["utt_id"].iloc[np.flatnonzero(is_source)]])
        picks = select_references([len(s) for s in source_seqs], source_y, cfg.reference_quantiles)
        blocks = AlignedBlocks(timings, cfg)
        dev_feats, src_feats, keys = [], [], []
        for p in picks:
            Xd, kd = blocks.get(dev, dev_seqs, source_keys[p], source_seqs[p])
            Xs, ks = blocks.get(samples, sample_seqs, source_keys[p], source_seqs[p])
            dev_feats.append(Xd)
            src_feats.append(np.concatenate([Xs, Xd[is_source]]))
            keys += [kd, ks]
        start = time.perf_counter()
        source_naps = [NAP(cfg.n_nap).fit(X, source_y) for X in src_feats]
        source_s = sum(timings.get(k) for k in keys) + time.perf_counter() - start
        target_feats = [X[target] for X in dev_feats]
        variants = {"aligned (source references + source NAP)": lambda: source_naps,
                    "aligned, source references, NAP from the target rows": lambda: None,
                    "aligned, source references, no NAP": lambda: [identity_nap(X.shape[1]) for X in target_feats]}
        for name, naps in variants.items():
            for (size, seed), train in plan.items():
                start = time.perf_counter()
                clf = AlignedClassifier(cfg, naps(), seed=seed).fit([X[train] for X in target_feats], ty[train])
                pred = clf.predict([X[test] for X in target_feats])
                record(name, size, seed, pred, source_s + time.perf_counter() - start)
        name = "aligned, no source: references and NAP from the target rows"
        for (size, seed), train in plan.items():
            target_seqs = [dev_seqs[i] for i in target]
            refs = train[select_references([len(target_seqs[i]) for i in train], ty[train], cfg.reference_quantiles)]
            feats, keys = [], []
            for r in refs:
                X, key = blocks.get(dev, dev_seqs, f"{dev.root.name}-{tindex['utt_id'].iloc[r]}",
                                    target_seqs[r])
                feats.append(X[target])
                keys.append(key)
            start = time.perf_counter()
            clf = AlignedClassifier(cfg, seed=seed).fit([X[train] for X in feats], ty[train])
            pred = clf.predict([X[test] for X in feats])
            record(name, size, seed, pred, sum(timings.get(k) for k in keys) + time.perf_counter() - start)
    for name, title in (("baseline", "baseline (MFCC statistics + LR)"),
                        ("resemblyzer", "frozen Resemblyzer + LR")):
        if name not in args.methods:
            continue
        X, key = recording_vectors("mfcc" if name == "baseline" else name, dev, timings)
        X = X[target]
        for (size, seed), train in plan.items():
            start = time.perf_counter()
            ok_train = train[np.isfinite(X[train]).all(axis=1)]
            pred = logreg_predict(X[ok_train], ty[ok_train], np.nan_to_num(X[test]), seed)
            record(title, size, seed, pred, timings.get(key) * len(target) / len(idx) + time.perf_counter() - start)
    if "scratch" in args.methods and args.scratch_epochs > 0:
        for (size, seed), train in plan.items():
            pred, seconds = scratch_transfer(dev, target, tindex, train, test, size, seed, args)
            record(f"scratch {SCRATCH_PRESET} (at most {args.scratch_epochs} epochs)", size, seed, pred, seconds)
    for method, source_of, variants in (("finetune", tdnn_source, FINETUNE_VARIANTS),
                                        ("chain", resemblyzer_source, CHAIN_VARIANTS)):
        if method not in args.methods:
            continue
        source, source_s = source_of(samples, args, timings)
        for key, (title, mode, overlay, epochs) in variants(args).items():
            for (size, seed), train in plan.items():
                done = network_transfer(dev, target, tindex, train, test, size, seed, args, mode=mode,
                                        key=key, source=source, recipe=overlay, max_epochs=epochs)
                if done is not None:  # None: --cached-only and not run yet
                    record(title, size, seed, done[0], done[1] + source_s)
    return results


def tdnn_source(samples: FeatureStore, args, timings: Timings) -> tuple[Path, float]:
    """Our tdnn pretrained on the source store (shipped pretrain recipe, at most --source-epochs)."""
    from accent.training.pretrain import pretrain

    out = args.work / "runs" / f"source_tdnn_e{args.source_epochs}{'' if not args.limit else f'_first{args.limit}'}"
    run = pretrain(source_store(args), out, preset=SCRATCH_PRESET, max_epochs=args.source_epochs, resume=True)
    return out, float(run["train_seconds"])


def resemblyzer_source(samples: FeatureStore, args, timings: Timings) -> tuple[Path, float]:
    """The two-stage chain's first stage: `accent pretrain --init resemblyzer` on the source store
    (waveform_finetune recipe, at most --chain-source-epochs, half a pass over the crops per epoch)."""
    from accent.training.pretrain import pretrain

    out = args.work / "runs" / f"source_resemblyzer_e{args.chain_source_epochs}{'' if not args.limit else f'_first{args.limit}'}"
    run = pretrain(source_store(args), out, init="resemblyzer", max_epochs=args.chain_source_epochs, resume=True,
                   recipe={"train": {"passes_per_epoch": 0.5}})
    return out, float(run["train_seconds"])


def source_store(args) -> Path:
    return prepare_source_store(args.shared, args.work, args.limit, args.workers).root


def FINETUNE_VARIANTS(args) -> dict:
    """run key -> (table row, mode, recipe overlay, epoch cap): our SAA-pretrained tdnn transferred."""
    cap = args.finetune_epochs
    return {"extract_tdnn": ("extract, our SAA-pretrained tdnn + LR", "extract", None, None),
            "finetune_tdnn": (f"finetune tdnn, select val_bacc (shipped; at most {cap} epochs)", "finetune", None, cap),
            "finetune_tdnn_loss": ("finetune tdnn, select val_loss", "finetune", {"train": {"select": "val_loss"}}, cap),
            "finetune_tdnn_guard": ("finetune tdnn, select val_bacc + guard (keep the probe)", "finetune",
                                    {"train": {"guard": True}}, cap),
            "finetune_tdnn_loss_guard": ("finetune tdnn, select val_loss + guard", "finetune",
                                         {"train": {"select": "val_loss", "guard": True}}, cap),
            "finetune_tdnn_ema": ("finetune tdnn, select val_loss, EMA 0.5 of the weights", "finetune",
                                  {"train": {"select": "val_loss", "ema": 0.5}}, cap)}


def CHAIN_VARIANTS(args) -> dict:
    """The two-stage chain's second stage: extract with, and finetune, the SAA-fine-tuned Resemblyzer."""
    cap = args.chain_epochs
    return {"extract_chain": ("chain: Resemblyzer fine-tuned on the source, extract + LR", "extract", None, None),
            "finetune_chain": (f"chain: Resemblyzer fine-tuned on the source, finetune (val_loss + guard; at most "
                               f"{cap} epochs)", "finetune", {"train": {"select": "val_loss", "guard": True}}, cap)}


def cell_tag(args) -> str:
    """What else a cached transfer run depends on: the fixed test set (and so the training pool) is
    set by the largest size asked for, and --limit picks another store."""
    tag = "" if max(args.sizes) == max(SIZES) else f"_test{max(args.sizes)}"
    return tag + ("" if not args.limit else f"_first{args.limit}")


def network_transfer(dev, target, tindex, train, test, size, seed, args, *, mode: str, key: str, source: Path,
                     recipe: dict | None, max_epochs: int | None) -> tuple[np.ndarray, float]:
    """One transfer mode from a source run on one training set, split as :func:`scratch_transfer` splits."""
    from accent.inference import load_run

    out = args.work / "runs" / f"transfer_{key}{cell_tag(args)}" / f"n{size}_seed{seed}"
    if args.cached_only and not (out / "run.json").is_file():
        return None
    return _cell_run(dev, target, tindex, train, test, size, seed, out, mode=mode, source_run=load_run(source),
                     source=source, recipe=recipe, max_epochs=max_epochs)


def identity_nap(dim: int) -> NAP:
    """A NAP that changes nothing (the classifier standardises anyway): the no-NAP ablation."""
    return NAP(0, np.zeros(dim), np.ones(dim), np.zeros((dim, 0)))


def scratch_transfer(dev, target, tindex, train, test, size, seed, args) -> tuple[np.ndarray, float]:
    """Our network from random weights on one training set: 15 % of its speakers (at least one per
    language when it has two or more) are held out for early stopping, as `accent transfer` does."""
    out = args.work / "runs" / f"transfer_scratch_e{args.scratch_epochs}{cell_tag(args)}" / f"n{size}_seed{seed}"
    return _cell_run(dev, target, tindex, train, test, size, seed, out, mode="scratch", source_run=None, source=None,
                     recipe=None, max_epochs=args.scratch_epochs)


def _cell_run(dev, target, tindex, train, test, size, seed, out: Path, *, mode: str, source_run, source, recipe,
              max_epochs) -> tuple[np.ndarray, float]:
    """(test predictions, seconds) of one `accent transfer` mode on one training set, cached in ``out``."""
    from accent.layout import finished_run
    from accent.splits import speaker_disjoint_split
    from accent.store import StoreView
    from accent.transfer import run_single

    run = finished_run(out)
    if run is None:
        index = dev.index.copy()
        index["split"] = "unused"
        chosen = tindex.iloc[train]
        split = speaker_disjoint_split(chosen, val_frac=0.15, test_frac=0.0, seed=seed).to_numpy()
        index.loc[index.index[target[train]], "split"] = split
        index.loc[index.index[target[test]], "split"] = "test"
        info = {**scratch_info(dev.root, seed, size), "source": None if source is None else str(source),
                "backbone": None if mode == "scratch" else "accent"}
        run = run_single(StoreView(dev, index), mode, out, source_run=source_run, source=source, backbone="accent",
                         classifier="logreg", seed=seed, preset=SCRATCH_PRESET, max_epochs=max_epochs,
                         device=None, progress=True, resume=True, info=info, recipe=recipe)
    preds = pd.read_csv(out / "predictions.csv", keep_default_na=False).set_index("utt_id")
    pred = preds.loc[tindex["utt_id"].iloc[test], "pred"].to_numpy()
    return pred, float(run["train_seconds"] or 0.0)


# -- the Common Voice task (issue 21) ---------------------------------------------------------------

CV_ACCENTS = ("us", "england", "australia", "indian", "canada")
CV_BINARY = ("us", "indian")          # the capstone's own task
CV_EPOCHS = 5                         # scratch, pretrain, finetune and curve runs: modest, for a shared 2-core box
CV_SIZES = "5,10,20,50"
CV_CURVE_MODES = "baseline,scratch,extract,finetune,phonetic"   # phonetic: also phonetic-source
LABEL_MAP = ("--label-column", "country", "--label-map", "saa_country_to_cv_bucket.csv")
CAPSTONE_TEST_ACCURACY = 0.71         # the capstone's published us-vs-indian test accuracy (48 SAA clips)


def accent_cli(log: list[str], *argv) -> None:
    """Run one ``accent`` command (PYTHONPATH = this checkout, one thread) and log it for the docs."""
    argv = [str(a) for a in argv]
    log.append("accent " + " ".join(a.replace(str(REPO) + "/", "") for a in argv))
    print("$ " + log[-1], file=sys.stderr, flush=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "accent", *argv], check=True, cwd=REPO, env=env)


def rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def epoch_tag(args) -> str:
    """What a cached pretrain, curve or report also depends on: an epoch cap other than the default."""
    return "" if args.cv_epochs == CV_EPOCHS else f"_e{args.cv_epochs}"


def cv_stores(args, log: list[str], classes: tuple[str, ...], name: str) -> tuple[Path, Path]:
    """(cv-v1 store with speakers inferred by `--infer-speakers`, SAA-pretrained run) for ``classes``;
    each stage is skipped when its output is already in WORK/cv."""
    work = args.work / "cv"
    cv, saa, source = (work / "features" / f"cv{name}", work / "features" / f"saa{name}",
                       work / "runs" / f"pretrain{name}{epoch_tag(args)}")
    if not (cv / "store.json").is_file():
        accent_cli(log, "featurize", "--corpus", "commonvoice", "--root", rel(args.shared / "real-dev" / "cv-v1"),
                   "--classes", ",".join(classes), "--infer-speakers", "--out", rel(cv), "--workers", args.workers)
    if not (saa / "store.json").is_file():
        accent_cli(log, "featurize", "--corpus", "saa", "--root", rel(args.shared / "real-dev" / "saa-en"), *LABEL_MAP,
                   "--classes", ",".join(classes), "--out", rel(saa), "--workers", args.workers)
    from accent.layout import finished_run

    if finished_run(source) is None:
        accent_cli(log, "pretrain", "--features", rel(saa), "--out", rel(source), "--max-epochs", args.cv_epochs,
                   "--resume", "--quiet")
    return cv, source


def cv_fold_specs(args, source: Path, with_source: bool) -> dict[str, list]:
    """Table row -> `accent transfer` flags of one speaker-disjoint k-fold run."""
    e = args.cv_epochs
    specs = {"baseline (MFCC statistics + LR)": ["--mode", "baseline"],
             f"scratch tdnn (at most {e} epochs)": ["--mode", "scratch", "--max-epochs", e],
             "extract, Resemblyzer + LR": ["--mode", "extract", "--backbone", "resemblyzer"]}
    specs["phonetic (the recipe, no source)"] = ["--mode", "phonetic"]
    if with_source:
        specs["phonetic-source (SAA's phonetic classifier as a prior)"] = ["--mode", "phonetic", "--source", rel(source)]
        specs["extract, our SAA-pretrained tdnn + LR"] = ["--mode", "extract", "--source", rel(source)]
        specs[f"finetune, our SAA-pretrained tdnn (at most {e} epochs)"] = [
            "--mode", "finetune", "--source", rel(source), "--max-epochs", e]
    return specs


def fold_tables(run: Path, folds: int) -> list[pd.DataFrame]:
    """Each fold's test predictions (utt_id, label, pred, p_<label>...) of a k-fold `accent transfer` run."""
    tables = [pd.read_csv(run / f"fold{k}" / "predictions.csv", keep_default_na=False) for k in range(folds)]
    return [t[t["split"] == "test"].reset_index(drop=True) for t in tables]


def fold_scores(tables: list[pd.DataFrame]) -> dict:
    """{"bacc": per fold, "acc": per fold} of fold test tables."""
    return {"bacc": [balanced_accuracy(t["label"], t["pred"]) for t in tables],
            "acc": [float((t["label"] == t["pred"]).mean()) for t in tables]}


def fused_folds(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Late fusion: the mean of two methods' log-probabilities, fold by fold."""
    out = []
    for ta, tb in zip(a, b):
        tb = tb.set_index("utt_id").loc[ta["utt_id"]]
        cols = [c for c in ta.columns if c.startswith("p_")]
        logp = (np.log(np.clip(ta[cols].to_numpy(float), 1e-12, 1))
                + np.log(np.clip(tb[cols].to_numpy(float), 1e-12, 1))) / 2
        out.append(pd.DataFrame({"utt_id": ta["utt_id"], "label": ta["label"],
                                 "pred": np.array([c[2:] for c in cols])[logp.argmax(1)]}))
    return out


def cv_within(args, log: list[str], classes: tuple[str, ...], name: str, with_source: bool) -> dict:
    """Row -> fold scores on the cv-v1 store of ``classes``: every method on one speaker-disjoint k-fold."""
    store_path, source = cv_stores(args, log, classes, name)
    store = FeatureStore.open(store_path)
    results, tables = {}, {}
    for row, flags in cv_fold_specs(args, source, with_source).items():
        out = args.work / "cv" / "folds" / f"{name}_{hashlib.sha1(' '.join(map(str, flags)).encode()).hexdigest()[:8]}"
        if not (out / "run.json").is_file():
            accent_cli(log, "transfer", "--features", rel(store_path), "--out", rel(out), "--folds", args.folds,
                       "--resume", "--quiet", *flags)
        tables[row] = fold_tables(out, args.folds)
        results[row] = fold_scores(tables[row])
    results["late fusion: phonetic + Resemblyzer (mean log-probabilities of the two fold runs)"] = fold_scores(
        fused_folds(tables["phonetic (the recipe, no source)"], tables["extract, Resemblyzer + LR"]))
    results["_store"] = {"n": len(store.index), "counts": store.index["label"].value_counts().to_dict(),
                         "speakers": store.index.groupby("label")["speaker"].nunique().to_dict()}
    if with_source:
        run = json.loads((source / "run.json").read_text())
        results["_source_test"] = run["metrics"]["test"]
    return results


def cv_curve(args, log: list[str]) -> Path:
    """SAA -> CV: `accent curve` on the five-accent cv-v1 store from the SAA-pretrained run, then `accent report`."""
    store, source = cv_stores(args, log, CV_ACCENTS, "5")
    curve, report = args.work / "cv" / f"curve{epoch_tag(args)}", args.work / "cv" / f"report{epoch_tag(args)}"
    if not (curve / "curve.csv").is_file():
        accent_cli(log, "curve", "--source", rel(source), "--features", rel(store), "--out", rel(curve),
                   "--sizes", CV_SIZES, "--seeds", "0,1,2", "--modes", args.cv_curve_modes,
                   "--max-epochs", args.cv_epochs, "--jobs", 1)
    if not (report / "report.md").is_file():
        runs = sorted(str(rel(p)) for p in curve.glob("*/n20/seed*"))
        accent_cli(log, "report", "--curve", rel(curve), "--runs", rel(source), *runs, "--out", rel(report),
                   "--no-embeddings")
    return report


def cv_table(results: dict, title: str) -> str:
    s = results["_store"]
    lines = [(f"{title}: {s['n']} clips ({', '.join(f'{k} {v}' for k, v in s['counts'].items())}; inferred "
              f"speakers {', '.join(f'{k} {v}' for k, v in s['speakers'].items())}); chance balanced accuracy "
              f"{1 / len(s['counts']):.3f}; mean ± std over the folds."), "",
             "| method | balanced accuracy | accuracy | folds (balanced accuracy) |", "|---|---:|---:|---|"]
    for row, r in results.items():
        if row.startswith("_"):
            continue
        b, a = np.array(r["bacc"]), np.array(r["acc"])
        lines.append(f"| {row} | {b.mean():.3f} ± {b.std():.3f} | {a.mean():.3f} ± {a.std():.3f} | "
                     f"{' '.join(f'{v:.2f}' for v in b)} |")
    return "\n".join(lines)


def done_when(results: dict) -> str:
    """The issue's bar: the best method at 0.45 or more, and Resemblyzer + LR + 0.08 beyond the fold spread."""
    rows = {k: np.array(v["bacc"]) for k, v in results.items() if not k.startswith("_")}
    best = max(rows, key=lambda k: rows[k].mean())
    ref = rows["extract, Resemblyzer + LR"]
    gap = rows[best].mean() - ref.mean()
    spread = rows[best].std() + ref.std()
    return (f"Done when? Best: {best}, {rows[best].mean():.3f} (bar 0.45: {'reached' if rows[best].mean() >= 0.45 else 'not reached'}); "
            f"against Resemblyzer + LR {ref.mean():.3f}: {gap:+.3f}, bar +0.08 beyond the fold spread "
            f"(sum of the two fold stds {spread:.3f}): {'reached' if gap >= 0.08 + spread else 'not reached'}.")


def run_cv(args) -> int:
    """--task cv: the five-accent table, the SAA -> CV curve and report, the capstone's binary task."""
    log: list[str] = []
    five = cv_within(args, log, CV_ACCENTS, "5", with_source=True)
    binary = cv_within(args, log, CV_BINARY, "2", with_source=True)
    report = cv_curve(args, log) if not args.no_curve else None
    src = binary["_source_test"]
    parts = [cv_table(five, f"cv-v1, five accents, speaker-disjoint {args.folds}-fold"), done_when(five),
             cv_table(binary, f"cv-v1, us vs indian, speaker-disjoint {args.folds}-fold"),
             (f"The SAA source itself (saa-en us vs indian by birth country, its own test split of {src['n']} "
              f"recordings): accuracy {src['accuracy']:.3f}, balanced accuracy {src['balanced_accuracy']:.3f}; "
              f"the capstone's published test accuracy: {CAPSTONE_TEST_ACCURACY} on 48 SAA clips.")]
    if report is not None:
        parts.append(f"Report: {rel(report)}/report.md")
    print("\n\n".join(parts))
    write_json_atomic(args.work / "cv" / f"results{epoch_tag(args)}.json",
                      {"five": five, "binary": binary, "commands": log}, default=float)
    return 0


# -- output ------------------------------------------------------------------------------------------

def within_table(results: dict, dev: FeatureStore, folds: int) -> str:
    counts = dev.index["label"].value_counts()
    lines = [f"Within-corpus: saa-8k, {len(dev.index)} recordings, {len(counts)} languages "
             f"({', '.join(f'{k} {v}' for k, v in counts.items())}), speaker-disjoint {folds}-fold (seed 0); "
             f"balanced accuracy, mean ± std over the folds; chance {1 / len(counts):.3f}.", "",
             "| method | balanced accuracy | folds | compute s |", "|---|---:|---|---:|"]
    for name, r in results.items():
        s = np.array(r["scores"])
        lines.append(f"| {name} | {s.mean():.3f} ± {s.std():.3f} | {' '.join(f'{v:.2f}' for v in s)} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def transfer_table(results: dict, sizes, seeds, n_test: int, n_labels: int) -> str:
    lines = [f"Transfer: target = {n_labels} saa-8k languages unseen by the source, fixed test set of {n_test} "
             f"recordings; mean ± std over seeds {', '.join(map(str, seeds))} of the training draw, "
             f"[test sampling std by bootstrap]; chance {1 / n_labels:.3f}.", "",
             "| method | " + " | ".join(f"{n} per class" for n in sizes) + " | compute s (per run, largest size) |",
             "|---|" + "---:|" * len(sizes) + "---:|"]
    for name, by_size in results.items():
        cells = []
        for n in sizes:
            c = by_size.get(n)
            s = np.array(c["scores"]) if c else None
            cells.append("–" if c is None else f"{s.mean():.3f} ± {s.std():.3f} [{np.mean(c['boot']):.3f}]"
                         + ("" if len(s) == len(seeds) else f" ({len(s)} seeds)"))
        largest = by_size[max(by_size)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(largest['seconds']):.0f} |")
    return "\n".join(lines)


def figure(within: dict, trans: dict, sizes, path: Path) -> Path:
    from accent.plots import SERIES_MARKERS, new_figure, save_figure

    fig, (a, b) = new_figure(13, 4.8, ncols=2)
    names = list(within)
    means = [np.mean(within[n]["scores"]) for n in names]
    stds = [np.std(within[n]["scores"]) for n in names]
    a.barh(range(len(names)), means, xerr=stds, color="tab:blue", alpha=0.8)
    a.set_yticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    a.invert_yaxis()
    a.axvline(1 / 9, color="grey", ls=":", label="chance")
    a.set_xlabel("balanced accuracy (5-fold, ± fold std)")
    a.set_title("within-corpus, saa-8k, 9 languages", fontsize=10)
    a.legend(fontsize=8)
    for i, (name, by_size) in enumerate(trans.items()):
        have = [n for n in sizes if n in by_size]
        m = [np.mean(by_size[n]["scores"]) for n in have]
        s = [np.std(by_size[n]["scores"]) for n in have]
        b.errorbar(have, m, yerr=s, marker=SERIES_MARKERS[i % len(SERIES_MARKERS)], capsize=3, label=name)
    b.axhline(1 / 6, color="grey", ls=":", label="chance")
    b.set_xticks(list(sizes))
    b.set_xlabel("target training recordings per language")
    b.set_ylabel("balanced accuracy (± seed std)")
    b.set_title("transfer to 6 unseen languages (fixed test set)", fontsize=10)
    b.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path)


def with_earlier_rows(path: Path, within: dict, trans: dict, args) -> tuple[dict, dict]:
    """The rows of this invocation after those of earlier ones (WORK/results.json) for methods not
    run now, so a run of a few ``--methods`` extends the tables instead of replacing them (a size
    not measured shows as a dash)."""
    if not path.is_file() or args.limit:
        return within, trans
    earlier = json.loads(path.read_text())
    old_within = {k: v for k, v in earlier.get("within", {}).items() if k not in within}
    old_trans = {}
    for name, by_size in earlier.get("transfer", {}).items():
        cells = {int(n): c for n, c in by_size.items()}
        if name not in trans and any(n in cells for n in args.sizes):
            old_trans[name] = {n: c for n, c in cells.items() if n in args.sizes}
    return {**old_within, **within}, {**old_trans, **trans}


def write_docs(text: str, path: Path = DOCS) -> None:
    """Replace the marked real-speech section of docs/benchmarks.md (append it the first time)."""
    doc = path.read_text(encoding="utf-8")
    block = f"{DOC_START}\n{text.rstrip()}\n{DOC_END}"
    if DOC_START in doc and DOC_END in doc:
        head, rest = doc.split(DOC_START, 1)
        doc = head + block + rest.split(DOC_END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    write_text_atomic(path, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared real data folder")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache folder (stores, features, runs)")
    parser.add_argument("--task", choices=("saa", "cv"), default="saa",
                        help="saa: the issue-14 SAA protocol; cv: the real Common Voice protocol of issue 21")
    parser.add_argument("--cv-epochs", type=int, default=CV_EPOCHS, help="cv: epoch cap of every network run")
    parser.add_argument("--cv-curve-modes", default=CV_CURVE_MODES, help="cv: the curve's --modes")
    parser.add_argument("--no-curve", action="store_true", help="cv: skip the SAA -> CV curve and report")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="transfer training sizes per language")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="transfer training-draw seeds")
    parser.add_argument("--scratch-epochs", type=int, default=SCRATCH_EPOCHS)
    parser.add_argument("--source-epochs", type=int, default=SOURCE_EPOCHS, help="transfer: tdnn source epoch cap")
    parser.add_argument("--finetune-epochs", type=int, default=FINETUNE_EPOCHS, help="transfer: finetune epoch cap")
    parser.add_argument("--chain-source-epochs", type=int, default=CHAIN_SOURCE_EPOCHS,
                        help="transfer: epoch cap of pretrain --init resemblyzer on the source")
    parser.add_argument("--chain-epochs", type=int, default=CHAIN_EPOCHS, help="transfer: chain finetune epoch cap")
    parser.add_argument("--cached-only", action="store_true",
                        help="finetune/chain: table only the training runs already in WORK (train none)")
    parser.add_argument("--folds", type=int, default=FOLDS, help="within-corpus folds")
    parser.add_argument("--references", type=int, default=3,
                        help="how many of the recipe's reference quantiles (0.5, 0.2, 0.8) to use")
    parser.add_argument("--limit", type=int, help="only the first N recordings per language (smoke test)")
    parser.add_argument("--workers", type=int, default=2, help="featurize processes")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md and the figure")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--docs", type=Path, default=DOCS, help="the markdown file whose real-speech section is replaced")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    args.sizes = tuple(int(s) for s in args.sizes.split(","))
    args.seeds = tuple(int(s) for s in args.seeds.split(","))
    import torch

    torch.set_num_threads(1)
    if args.task == "cv":
        try:
            return run_cv(args)
        except (AccentError, subprocess.CalledProcessError) as exc:
            print(f"real_dev: error: {exc}", file=sys.stderr)
            return 2
    cfg = AlignedConfig()
    cfg = replace(cfg, reference_quantiles=cfg.reference_quantiles[:args.references])
    begin = time.perf_counter()
    try:
        args.work.mkdir(parents=True, exist_ok=True)
        dev, samples = prepare_stores(args.shared, args.work, args.limit, args.workers)
        timings = Timings(args.work / "timings.json")
        within = within_corpus(dev, samples, args, timings, cfg)
        trans = transfer(dev, samples, args, timings, cfg)
        within, trans = with_earlier_rows(args.work / "results.json", within, trans, args)
    except AccentError as exc:
        print(f"real_dev: error: {exc}", file=sys.stderr)
        return 2
    target = ~np.isin(dev.index["label"], SOURCE_FROM_DEV)
    n_test = int(fixed_test(dev.index[target].reset_index(drop=True), args.sizes).sum())
    text = "\n\n".join([within_table(within, dev, args.folds),
                        transfer_table(trans, args.sizes, args.seeds, n_test, int(dev.index.loc[target, "label"].nunique()))])
    print("\n" + text + f"\n\nwall time of this invocation: {time.perf_counter() - begin:.0f} s")
    write_json_atomic(args.work / "results.json", {"within": within, "transfer": {
        m: {str(n): c for n, c in v.items()} for m, v in trans.items()}}, default=float)
    if args.write_docs:
        path = figure(within, trans, args.sizes, args.figure)
        machine = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
        header = ("## Real speech (issue 14 development protocol)\n\n"
                  f"```\nPYTHONPATH=$PWD .venv/bin/python benchmarks/real_dev.py --write-docs\n```\n\n"
                  f"Measured {time.strftime('%Y-%m-%d')} on the {machine} CPU box (shared with other jobs, so the "
                  "compute seconds are upper bounds). 8 kHz log-mels for every method. Figure: "
                  f"`docs/figures/{path.name}`.\n\n![real-speech benchmark](figures/{path.name})\n")
        write_docs(header + "\n" + text + "\n", args.docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
