"""Research for issue 21: which phone-conditioned features tell Common Voice accents apart?

    python benchmarks/phonetic_dev.py extract [--shared ../shared] [--work data/real_dev/phonetic]
    python benchmarks/phonetic_dev.py evaluate [--work data/real_dev/phonetic] [--seeds 0 1 2]
    python benchmarks/phonetic_dev.py figure

Data (read-only): ``SHARED/real-dev/cv-v1``, the five largest accents (us, england, australia,
indian, canada; chance 0.20 balanced accuracy), each clip with its sentence (``text``).

``extract`` caches, once per clip (``WORK/clips/<sample>.npz``, git-ignored): the stored log-mels
(``FeatureConfig()``: 16 kHz, 64 mels, 10 ms, trimmed and loudness-normalised), the espeak phones
mapped onto those frames (:func:`accent.phones.phone_segments`, pauses kept: ``evaluate`` cuts them
with :func:`accent.phones.trim_pauses` unless ``--no-pause-trim``), formant tracks F1-F3 of the same
waveform at four Burg ceilings (praat-parselmouth), F0, and the Resemblyzer embedding.

``evaluate`` infers speakers (CV v1 names none) by agglomerative clustering of the Resemblyzer
embeddings within each label (average linkage, cosine distance below ``1 - SAME_SPEAKER``), makes
speaker-grouped, label-stratified 5-fold splits (``accent.splits.speaker_kfold``, seed 0), and scores
every feature set with StandardScaler + class-balanced logistic regression on the same folds:
balanced accuracy, mean ± std over the folds.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accent.phonetic import is_vowel  # noqa: E402  (after the path: runs from a checkout)

ACCENTS = ("us", "england", "australia", "indian", "canada")
CEILINGS = (4500.0, 5000.0, 5500.0, 6000.0)   # Burg maximum formant (Hz)
SAME_SPEAKER = 0.62                            # cosine similarity: same speaker ~0.71, different ~0.50


def clip_table(shared: Path) -> pd.DataFrame:
    root = shared / "real-dev" / "cv-v1"
    df = pd.read_csv(root / "cv-valid-dev.csv")
    df = df[df["accent"].isin(ACCENTS)].reset_index(drop=True)
    df["path"] = [str(root / f) for f in df["filename"]]
    df["clip"] = [Path(f).stem for f in df["filename"]]
    return df


# -- extract -------------------------------------------------------------------------------------

def formant_tracks(wave: np.ndarray, sr: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F1-F3 per ceiling (n_ceilings, n_times, 3), F0 (n_times,)), NaN where Praat finds none."""
    import parselmouth

    snd = parselmouth.Sound(wave.astype(np.float64), sampling_frequency=sr)
    out = np.full((len(CEILINGS), len(times), 3), np.nan, np.float32)
    for c, ceiling in enumerate(CEILINGS):
        formant = snd.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=ceiling,
                                      window_length=0.025)
        for k in range(3):
            out[c, :, k] = [formant.get_value_at_time(k + 1, t) for t in times]
    pitch = snd.to_pitch(time_step=0.01)
    f0 = pitch.selected_array["frequency"]
    f0 = np.where(f0 > 0, f0, np.nan)
    return out, np.interp(times, pitch.xs(), f0, left=np.nan, right=np.nan).astype(np.float32)


def extract(args) -> None:
    import torch

    from accent.audio import load_audio
    from accent.backbones.resemblyzer import ResemblyzerBackbone
    from accent.features import FeatureConfig, log_mel, preprocess
    from accent.phones import phone_segments, render

    torch.set_num_threads(1)
    cfg = FeatureConfig()
    df = clip_table(args.shared)
    out = args.work / "clips"
    out.mkdir(parents=True, exist_ok=True)
    encoder = ResemblyzerBackbone()
    t0 = time.time()
    for n, row in df.iterrows():
        dest = out / f"{row['clip']}.npz"
        if dest.exists():
            continue
        raw = load_audio(row["path"], cfg.sample_rate, cfg.resampler)
        wave = preprocess(raw, cfg)
        logmel = log_mel(wave, cfg)
        segments = phone_segments(logmel, render(row["text"]), cfg, pause_db=None)   # pauses cut in evaluate
        times = np.arange(len(logmel)) * cfg.hop_length / cfg.sample_rate
        formants, f0 = formant_tracks(wave, cfg.sample_rate, times)
        ren = render(row["text"])
        np.savez(dest, logmel=logmel, names=np.array([s[0] for s in segments]),
                 bounds=np.array([s[1:] for s in segments], np.int32),
                 render_durations=np.array([p.end - p.start for p in ren.phones], np.float32),
                 formants=formants, f0=f0, embedding=encoder.embed_waveform(raw))
        if n % 50 == 0:
            print(f"{n}/{len(df)} clips, {time.time() - t0:.0f} s", flush=True)
    print(f"extracted {len(df)} clips in {time.time() - t0:.0f} s")


# -- evaluate -------------------------------------------------------------------------------------

def load_clips(work: Path, df: pd.DataFrame, pause_trim: bool = True) -> list[dict]:
    """The cached clips; the cached (untrimmed) segments with their pause edges cut as
    :func:`accent.phones.phone_segments` now does, unless ``pause_trim`` is off."""
    from accent.phones import trim_pauses

    clips = []
    for clip in df["clip"]:
        with np.load(work / "clips" / f"{clip}.npz", allow_pickle=False) as z:
            c = {k: z[k] for k in z.files}
        if pause_trim:
            segments = trim_pauses([(n, int(s), int(e)) for n, (s, e) in zip(c["names"], c["bounds"])], c["logmel"])
            c["bounds"] = np.array([s[1:] for s in segments], np.int32).reshape(-1, 2)
        clips.append(c)
    return clips


def infer_speakers(embeddings: np.ndarray, labels: np.ndarray, threshold: float = SAME_SPEAKER) -> np.ndarray:
    """A speaker name per clip: clusters of the embeddings within each label (research only)."""
    from sklearn.cluster import AgglomerativeClustering

    speakers = np.empty(len(labels), dtype=object)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if len(rows) == 1:
            speakers[rows] = f"{label}-0"
            continue
        clusters = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                           distance_threshold=1 - threshold).fit_predict(embeddings[rows])
        speakers[rows] = [f"{label}-{c}" for c in clusters]
    return speakers.astype(str)


def score(components, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Balanced accuracy per fold of StandardScaler + balanced LR on each component ``(X, C, transform)``
    (``transform(Xtr, ytr, Xte)`` first); several components are fused by averaging their log-probabilities."""
    classes = np.unique(y)
    return np.array([balanced_accuracy(y[folds == f], np.mean(
        [predict_log_proba(X, y, folds, f, C, transform) for X, C, transform in components], axis=0).argmax(1), classes)
        for f in np.unique(folds)])


def predict_log_proba(X, y, folds, f, C, transform=None) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = folds != f, folds == f
    Xtr, Xte = X[train], X[test]
    if transform is not None:
        Xtr, Xte = transform(Xtr, y[train], Xte)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=3000))
    model.fit(Xtr, y[train])
    return model.predict_log_proba(Xte)


def balanced_accuracy(y_true, pred_index, classes) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, classes[pred_index]))


HOP_S = 0.01


def formant_features(clip: dict, inventory: tuple[str, ...], ceiling_index: int, formants: int = 3) -> np.ndarray:
    """:func:`accent.phonetic.vowel_formants` of a cached clip at one of the ceilings."""
    from accent.phonetic import vowel_formants

    segments = [(n, int(s), int(e)) for n, (s, e) in zip(clip["names"].tolist(), clip["bounds"])]
    return vowel_formants(clip["formants"][ceiling_index], segments, inventory, formants)


SONORANT_CONSONANTS = ("r", "r-", "l", "w", "j", "m", "n", "N")


def class_formants(clip: dict, inventory, tracks: np.ndarray, which=(2,), sonorants: bool = False) -> np.ndarray:
    """Per phone class (vowels, and sonorant consonants when asked) of the inventory: the mean over its
    segments of the median log formant over the middle third, Lobanov-normalised within the clip."""
    names, bounds = clip["names"].tolist(), clip["bounds"]
    keep = lambda n: is_vowel(n) or (sonorants and n in SONORANT_CONSONANTS)
    classes = [v for v in inventory if keep(v)]
    index = {v: i for i, v in enumerate(classes)}
    rows, meds = [], []
    for name, (s, e) in zip(names, bounds):
        if name in index and e > s:
            n = e - s
            frames = np.log(tracks[s + n // 3: max(s + n // 3 + 1, e - n // 3)][:, list(which)])
            if np.isfinite(frames).any():
                rows.append(index[name])
                meds.append(np.nanmedian(frames, axis=0))
    out = np.zeros((len(classes), len(which)))
    if len(meds) < 2:
        return out.ravel()
    M = np.array(meds)
    Z = np.nan_to_num((M - np.nanmean(M, 0)) / np.maximum(np.nanstd(M, 0), 1e-3))
    counts = np.bincount(rows, minlength=len(classes))
    np.add.at(out, rows, Z)
    return (out / np.maximum(counts, 1)[:, None]).ravel()


def formant_trajectories(clip: dict, inventory, ceiling_index: int = 2) -> np.ndarray:
    """Per vowel class, z-scored log F1-F3 near 25 %, 50 % and 75 % of each segment (diphthong glides)."""
    from accent.phonetic import vowel_formants

    parts = []
    for lo, hi in ((0.15, 0.35), (0.4, 0.6), (0.65, 0.85)):
        segments = []
        for n, (s, e) in zip(clip["names"].tolist(), clip["bounds"]):
            # a sub-segment whose middle third is the window [lo, hi] of the segment
            a, b = s + (e - s) * lo, s + (e - s) * hi
            width = max(1.0, b - a)
            segments.append((n, int(round(a - width)), int(round(b + width))) if e > s else (n, s, s))
        segments = [(n, max(0, a), max(max(0, a), b)) for n, a, b in segments]
        parts.append(vowel_formants(clip["formants"][ceiling_index], segments, inventory)[:-2])
    return np.concatenate(parts)


def best_ceiling(clip: dict) -> int:
    """The ceiling whose vowel-midpoint F1/F2 vary least within the clip's vowel classes (log Hz)."""
    costs = []
    names, bounds = clip["names"].tolist(), clip["bounds"]
    for c in range(len(CEILINGS)):
        per_class: dict[str, list] = {}
        for name, (s, e) in zip(names, bounds):
            if is_vowel(name) and e > s:
                per_class.setdefault(name, []).append(np.nanmedian(np.log(clip["formants"][c, s:e, :2]), axis=0))
        spread = [np.nanvar(np.array(v), axis=0).sum() for v in per_class.values() if len(v) > 1]
        costs.append(np.nanmean(spread) if spread else 0.0)
    return int(np.nanargmin(costs)) if np.isfinite(costs).any() else 2


def rhythm_features(clip: dict) -> np.ndarray:
    """%V, deltaV, deltaC (log durations), varcoV, nPVI of vowels, and F0 spread in semitones."""
    names, bounds = clip["names"].tolist(), clip["bounds"]
    d = (bounds[:, 1] - bounds[:, 0]) * HOP_S + HOP_S / 2
    v = np.array([is_vowel(n) for n in names])
    dv, dc = d[v], d[~v]
    npvi = 100 * np.mean(np.abs(np.diff(dv)) / ((dv[1:] + dv[:-1]) / 2)) if len(dv) > 1 else 0.0
    f0 = clip["f0"][np.isfinite(clip["f0"])]
    st = 12 * np.log2(f0 / np.median(f0)) if len(f0) > 2 else np.zeros(1)
    return np.array([dv.sum() / d.sum(), np.std(np.log(dv)) if len(dv) else 0, np.std(np.log(dc)) if len(dc) else 0,
                     np.std(dv) / np.mean(dv) if len(dv) else 0, npvi, np.std(st),
                     np.percentile(st, 90) - np.percentile(st, 10)])


def feature_blocks(clips: list[dict], df: pd.DataFrame, inventory: tuple[str, ...]) -> dict[str, np.ndarray]:
    from accent import phonetic
    from accent.features import mfcc_statistics

    gender_ceiling = {"male": CEILINGS.index(5000.0), "female": CEILINGS.index(5500.0)}
    blocks: dict[str, list] = {k: [] for k in ("mfcc_stats", "resemblyzer", "phone_mfcc", "phone_mfcc_full",
                                               "phone_mfcc20", "presence", "durations", "formants_gender",
                                               "formants_best", "formants_5500", "rhythm")}
    recipe = phonetic.PhoneticConfig()
    core = phonetic.PhoneticConfig(n_mfcc=13, core=0.5)
    full = phonetic.PhoneticConfig(n_mfcc=13, core=1.0)
    wide = phonetic.PhoneticConfig(n_mfcc=20, core=0.5)
    for clip, gender in zip(clips, df["gender"].fillna("")):
        logmel = clip["logmel"].astype(np.float32)
        segments = [(n, int(s), int(e)) for n, (s, e) in zip(clip["names"].tolist(), clip["bounds"])]
        blocks["mfcc_stats"].append(mfcc_statistics(logmel))
        blocks["resemblyzer"].append(clip["embedding"])
        means, present = phonetic.phone_means(logmel, segments, inventory, core)
        blocks["phone_mfcc"].append(means.ravel())
        blocks["presence"].append(present)
        blocks["phone_mfcc_full"].append(phonetic.phone_means(logmel, segments, inventory, full)[0].ravel())
        blocks["phone_mfcc20"].append(phonetic.phone_means(logmel, segments, inventory, wide)[0].ravel())
        blocks["durations"].append(phonetic.duration_features(segments, clip["render_durations"], inventory, HOP_S))
        blocks["formants_gender"].append(formant_features(clip, inventory, gender_ceiling.get(gender, 2)))
        blocks["formants_best"].append(formant_features(clip, inventory, best_ceiling(clip)))
        for c in range(len(CEILINGS)):
            blocks.setdefault(f"formants_{c}", []).append(formant_features(clip, inventory, c))
        blocks["formants_5500"].append(blocks["formants_2"][-1])
        blocks.setdefault("trajectories", []).append(formant_trajectories(clip, inventory))
        blocks.setdefault("formants_f1f2", []).append(formant_features(clip, inventory, 2, formants=2))
        blocks["rhythm"].append(rhythm_features(clip))
        blocks.setdefault("recipe", []).append(phonetic.features_from_segments(
            logmel, segments, clip["render_durations"], clip["formants"][CEILINGS.index(recipe.ceiling_hz)],
            recipe, HOP_S))
        t5500 = clip["formants"][2].astype(np.float64)
        tmean = np.exp(np.nanmean(np.log(clip["formants"].astype(np.float64)), axis=0))
        for key, tracks, which, son in (("F3_vowels", t5500, (2,), False), ("F3_sonorants", t5500, (2,), True),
                                        ("F23_sonorants", t5500, (1, 2), True), ("F3_ceilmean", tmean, (2,), True),
                                        ("F123_sonorants", t5500, (0, 1, 2), True)):
            blocks.setdefault(key, []).append(class_formants(clip, inventory, tracks, which, son))
    return {k: np.nan_to_num(np.array(v, np.float64)) for k, v in blocks.items()}


def nap_transform(n: int):
    from accent.aligned import NAP

    def transform(Xtr, ytr, Xte):
        nap = NAP(n).fit(Xtr, ytr)
        return nap.transform(Xtr), nap.transform(Xte)
    return transform


def candidate_sets(b: dict[str, np.ndarray], y) -> dict[str, tuple]:
    """name -> (X, C, transform) for every row of the table."""
    cat = lambda *names: np.concatenate([b[n] for n in names], axis=1)
    from accent.phonetic import PhoneticConfig

    sets = {"phonetic recipe (accent.phonetic defaults: F1-F3 per vowel, 5500 Hz)": (b["recipe"], PhoneticConfig().C, None)}
    for C in (0.01, 0.1, 1.0):
        sets[f"MFCC statistics, C={C}"] = (b["mfcc_stats"], C, None)
        sets[f"Resemblyzer, C={C}"] = (b["resemblyzer"], C, None)
    for C in (0.001, 0.003, 0.01, 0.03):
        sets[f"phone MFCC (core 0.5), C={C}"] = (b["phone_mfcc"], C, None)
    sets["phone MFCC (whole segment), C=0.003"] = (b["phone_mfcc_full"], 0.003, None)
    sets["phone MFCC c0..c19, C=0.003"] = (b["phone_mfcc20"], 0.003, None)
    sets["phone MFCC + presence, C=0.003"] = (cat("phone_mfcc", "presence"), 0.003, None)
    for C in (0.003, 0.03):
        sets[f"durations, C={C}"] = (b["durations"], C, None)
        sets[f"rhythm + F0 spread, C={C}"] = (b["rhythm"], C * 10, None)
        sets[f"formants (gender ceiling), C={C}"] = (b["formants_gender"], C, None)
        sets[f"formants (best ceiling per clip), C={C}"] = (b["formants_best"], C, None)
        sets[f"formants (5500 Hz), C={C}"] = (b["formants_5500"], C, None)
    sets["phone MFCC + durations, C=0.003"] = (cat("phone_mfcc", "durations"), 0.003, None)
    sets["phone MFCC + durations + formants + rhythm, C=0.003"] = (
        cat("phone_mfcc", "durations", "formants_gender", "rhythm"), 0.003, None)
    for n in (10, 30, 60):
        sets[f"phone MFCC + durations, NAP {n}, C=0.003"] = (cat("phone_mfcc", "durations"), 0.003, nap_transform(n))
    sets["phone MFCC + durations + Resemblyzer, C=0.003"] = (cat("phone_mfcc", "durations", "resemblyzer"), 0.003, None)
    sets["phone MFCC + durations + formants + rhythm + Resemblyzer, C=0.003"] = (
        cat("phone_mfcc", "durations", "formants_gender", "rhythm", "resemblyzer"), 0.003, None)
    f, m, r = (b["formants_5500"], 0.003, None), (b["phone_mfcc_full"], 0.003, None), (b["resemblyzer"], 0.1, None)
    sets["formants (all four ceilings), C=0.003"] = (cat(*[f"formants_{c}" for c in range(len(CEILINGS))]), 0.003, None)
    sets["formants F1 F2 only (5500 Hz), C=0.003"] = (b["formants_f1f2"], 0.003, None)
    n_vowels = (b["formants_5500"].shape[1] - 2) // 3
    sets["formants (5500 Hz), C=0.001"] = (b["formants_5500"], 0.001, None)
    for C in (0.001, 0.003):
        sets[f"formant trajectories (25/50/75 %, 5500 Hz), C={C}"] = (b["trajectories"], C, None)
    sets["formants F3 only (5500 Hz), C=0.003"] = (b["formants_5500"][:, 2:3 * n_vowels:3], 0.003, None)
    sets["rhoticity only (2 numbers, 5500 Hz), C=0.1"] = (b["formants_5500"][:, -2:], 0.1, None)
    for key in ("F3_vowels", "F3_sonorants", "F23_sonorants", "F3_ceilmean", "F123_sonorants"):
        for C in (0.001, 0.003, 0.01):
            sets[f"{key}, C={C}"] = (b[key], C, None)
    f3 = (b["F3_vowels"], 0.003, None)
    sets["late fusion: F3_vowels + Resemblyzer"] = [f3, r]
    sets["late fusion: F3_vowels + phone MFCC"] = [f3, m]
    sets["late fusion: F3_vowels + phone MFCC + Resemblyzer"] = [f3, m, r]
    sets["late fusion: F3_vowels + formants"] = [f3, f]
    sets["F3_vowels + rhoticity + durations, C=0.003"] = (np.concatenate([b["F3_vowels"], b["formants_5500"][:, -2:], b["durations"]], 1), 0.003, None)
    sets["late fusion: formants + phone MFCC"] = [f, m]
    sets["late fusion: formants + Resemblyzer"] = [f, r]
    sets["late fusion: formants + phone MFCC + Resemblyzer"] = [f, m, r]
    sets["late fusion: formants(4 ceilings) + phone MFCC + Resemblyzer"] = [
        (cat(*[f"formants_{c}" for c in range(len(CEILINGS))]), 0.003, None), m, r]
    return sets


def per_class_recall(blocks, y, folds) -> None:
    """Recall per accent of the out-of-fold predictions (first fold seed) of the recipe and the baselines."""
    classes = np.unique(y)
    sets = candidate_sets(blocks, y)
    print("| method | " + " | ".join(ACCENTS) + " |")
    print("|---|" + "---|" * len(ACCENTS))
    for name in (next(iter(sets)), "Resemblyzer, C=0.1", "MFCC statistics, C=0.01"):
        X, C, transform = sets[name]
        pred = np.empty(len(y), dtype=object)
        for f in np.unique(folds):
            pred[folds == f] = classes[predict_log_proba(X, y, folds, f, C, transform).argmax(1)]
        print(f"| {name} | " + " | ".join(f"{np.mean(pred[y == a] == a):.2f}" for a in ACCENTS) + " |")


def evaluate(args) -> None:
    from accent.splits import speaker_kfold
    from accent import phonetic

    df = clip_table(args.shared)
    clips = load_clips(args.work, df, not args.no_pause_trim)
    y = df["accent"].to_numpy()
    emb = np.stack([c["embedding"] for c in clips])
    df["speaker"] = infer_speakers(emb, y, args.same_speaker)
    df["label"] = y
    print(f"{len(df)} clips, {df['speaker'].nunique()} inferred speakers: "
          + ", ".join(f"{a} {df[df.label == a].speaker.nunique()}/{(y == a).sum()}" for a in ACCENTS))
    inventory = phonetic.phone_inventory([c["names"] for c in clips], args.min_count)
    blocks = feature_blocks(clips, df, inventory)
    rows = []
    for seed in args.seeds:
        folds = speaker_kfold(df, 5, seed).to_numpy()
        for name, components in candidate_sets(blocks, y).items():
            if args.only and not any(o in name for o in args.only):
                continue
            s = score(components if isinstance(components, list) else [components], y, folds)
            rows.append({"method": name, "seed": seed, "mean": s.mean(), "std": s.std(), "folds": s})
            print(f"seed {seed} {name:45s} {s.mean():.3f} ± {s.std():.3f}  {np.round(s, 3)}", flush=True)
    per_class_recall(blocks, y, speaker_kfold(df, 5, args.seeds[0]).to_numpy())
    table = pd.DataFrame(rows)
    summary = table.groupby("method", sort=False).agg(mean=("mean", "mean"), fold_std=("std", "mean"),
                                                       seed_std=("mean", "std"))
    print("| method | balanced accuracy, mean ± fold std | seeds |")
    print("|---|---|---|")
    for name, r in summary.iterrows():
        spread = f" (seed std {r.seed_std:.3f})" if np.isfinite(r.seed_std) else ""
        print(f"| {name} | {r['mean']:.3f} ± {r.fold_std:.3f}{spread} | {len(args.seeds)} |")
    summary.to_csv(args.work / "results.csv")


def figure(args) -> None:
    """docs/figures/phones_cv.png: one real clip's log-mels with the phones of its sentence on them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = clip_table(args.shared)
    row = df.iloc[0]
    clip = load_clips(args.work, df.iloc[:1])[0]
    logmel, names, bounds = clip["logmel"], clip["names"], clip["bounds"]
    fig, ax = plt.subplots(figsize=(12, 3.2))
    ax.imshow(logmel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, len(logmel) * HOP_S, 0, logmel.shape[1]))
    for name, (start, end) in zip(names, bounds):
        ax.axvspan(start * HOP_S, end * HOP_S, ymin=0, ymax=0.03, color="cyan")
        ax.axvline(start * HOP_S, color="white", lw=0.6)
        ax.text((start + end) / 2 * HOP_S, logmel.shape[1] + 1, name, ha="center", va="bottom", fontsize=7)
    ax.set(xlabel="seconds (after trimming)", ylabel="mel bin")
    ax.set_title(f"{row['clip']} ({row['accent']}): \"{row['text']}\", espeak-ng phones carried over by DTW", pad=14, fontsize=9)
    out = ROOT / "docs" / "figures" / "phones_cv.png"
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("extract", "evaluate", "figure"))
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "real_dev" / "phonetic")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="fold seeds (accent.splits.speaker_kfold)")
    parser.add_argument("--no-pause-trim", action="store_true",
                        help="keep the pauses the DTW path gives the neighbouring phones (before trim_pauses)")
    parser.add_argument("--same-speaker", type=float, default=SAME_SPEAKER,
                        help="cosine similarity above which clips of one accent join one inferred speaker")
    parser.add_argument("--only", nargs="*", help="run only the rows whose name contains one of these")
    parser.add_argument("--min-count", type=int, default=20, help="phone classes seen fewer times are left out")
    args = parser.parse_args()
    {"extract": extract, "evaluate": evaluate, "figure": figure}[args.stage](args)


if __name__ == "__main__":
    main()
