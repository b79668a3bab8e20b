"""The phonetic recipe: compare the same sounds across speakers who read different sentences.

Every clip comes with its transcript; :mod:`accent.phones` renders it with espeak-ng and carries the
phone boundaries onto the clip. Then, torch-free:

1. :func:`vowel_formants`: per vowel class of a fixed inventory (espeak's en-us vowels), the median
   log F1, F2 and F3 over the middle third of each segment of that vowel (Praat's Burg tracks through
   praat-parselmouth, one ceiling), each z-scored over the clip's vowels (Lobanov: the speaker's
   vocal-tract length and the channel cancel), averaged per class; a vowel the sentence lacks gets 0
   (the clip's mean). F1/F2 are vowel quality; F3 carries rhoticity (low where an r colours the
   vowel), summarised in two more numbers (r-coloured segments against the other vowels);
2. optional blocks: :func:`class_formants` (one formant per class), :func:`phone_means` (mean
   normalised MFCC per phone class) and :func:`duration_features` (per phone class, log duration
   against the rendering, rate removed);
3. :class:`PhoneticModel`: optional nuisance attribute projection (:class:`accent.aligned.NAP`),
   StandardScaler and class-balanced logistic regression, saved as plain arrays (``.npz``, no pickle).

:func:`clip_features` chains them for one clip. The settings in :class:`PhoneticConfig` were chosen on
real Common Voice (benchmarks/phonetic_dev.py; docs/benchmarks.md, "Phonetic method on real Common
Voice (issue 21)"), where vowel formants were the strongest block and the others did not add to them.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import scipy.fft

from accent.aligned import MATCH_SLOPE, NAP, LinearHead, PassageCalibration, match_statistics
from accent.errors import AccentError, AudioError
from accent.executors import Shard, n_workers, run_file_shards, shard_count
from accent.features import FeatureConfig, log_mel_numpy, mfcc_from_logmel
from accent.featurize import prepare_clip
from accent.fileio import atomic_path, read_meta_npz, write_meta_npz
from accent.phones import (align_to_rendering, alignment_sequence, phone_segments, reference_sequence, render,
                           rendering_logmel)

FORMAT = "accent-phonetic/1"
CACHE_DIR = "phonetic"   # FEATDIR/phonetic/<key>.npz: every row's vector and match statistics
CACHE_FORMAT = "accent-phonetic-cache/2"   # 2: formants of a clip resampled by brickwall_resample
N_MATCH_STATS = 3
# robust z (PassageCalibration.z) beyond which a clip does not read its own text: on 74 real cv-v1 test
# clips 2.5 flagged 4 % of them against 37 % of the same clips paired with another clip's sentence
# (3.5, the passage recipe's threshold: 0 % and 18 %); docs/benchmarks.md
OFF_TEXT_Z = 2.5
STD_FLOOR = 1e-6
MIN_FRAMES = 1
LOBANOV_FLOOR = 1e-3     # floor of a formant's std over a clip's vowels (log Hz)
VOWEL_START = set("aeiouAEIOUV03@")
BLOCKS = ("formants", "f3", "mfcc", "durations")
# espeak en-us vowel phonemes seen at least 20 times in cv-v1's five accents, most frequent first
VOWELS = ("I", "V", "a", "E", "@", "aI", "i:", "@2", "eI", "3", "u:", "oU", "a#", "i", "I2", "3:", "aU", "I#",
          "0", "U", "@L", "O:", "O2", "A@", "e@", "O@", "i@3", "OI", "o@", "aa", "U@")


@dataclass(frozen=True)
class PhoneticConfig:
    """Settings of the recipe (chosen on cv-v1, see the module docstring)."""
    blocks: tuple[str, ...] = ("formants",)   # of BLOCKS: F1-F3 per vowel + rhoticity, F3 per class, MFCC per phone, durations
    inventory: tuple[str, ...] = VOWELS  # phone classes, in vector order
    ceiling_hz: float = 5500.0       # Burg's maximum formant: the best of 4500-6000 Hz on cv-v1
    n_mfcc: int = 13                 # c0..c12 per phone class (block "mfcc")
    core: float = 1 / 3              # blocks f3 and mfcc: the middle fraction of each segment measured ("formants": a third)
    n_nap: int = 0                   # within-accent directions removed before the classifier (0: none helped)
    C: float = 0.003                 # inverse L2 strength of the logistic regression
    max_iter: int = 3000
    voice: str = "en-us"             # espeak voice of the transcripts

    def __post_init__(self):
        unknown = set(self.blocks) - set(BLOCKS)
        if unknown or not self.blocks:
            raise AccentError(f"phonetic-recipe blocks {list(self.blocks)}: choose among {', '.join(BLOCKS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PhoneticConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise AccentError(f"unknown phonetic-recipe setting(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def phone_inventory(name_lists, min_count: int = 20) -> tuple[str, ...]:
    """The phone classes seen at least ``min_count`` times over the clips' phone lists, most frequent first."""
    counts = Counter(name for names in name_lists for name in names)
    return tuple(name for name, n in counts.most_common() if n >= min_count)


def normalised_mfcc(logmel: np.ndarray, n_mfcc: int) -> np.ndarray:
    mfcc = mfcc_from_logmel(np.asarray(logmel, np.float32), n_mfcc).astype(np.float64)
    return (mfcc - mfcc.mean(0)) / np.maximum(mfcc.std(0), STD_FLOOR)


def core_frames(start: int, end: int, core: float) -> range:
    """The middle ``core`` fraction of a segment's frames (at least one frame when it has any)."""
    n = end - start
    if n <= 0:
        return range(start, start)
    keep = max(MIN_FRAMES, int(round(n * core)))
    first = start + (n - keep) // 2
    return range(first, first + keep)


def phone_means(logmel: np.ndarray, segments, inventory: tuple[str, ...],
                cfg: PhoneticConfig = PhoneticConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(means (len(inventory), n_mfcc), present (len(inventory),)) of one clip.

    ``segments``: ``(name, start frame, end frame)`` as :func:`accent.phones.phone_segments` gives.
    """
    mfcc = normalised_mfcc(logmel, cfg.n_mfcc)
    index = {name: k for k, name in enumerate(inventory)}
    sums = np.zeros((len(inventory), cfg.n_mfcc))
    counts = np.zeros(len(inventory))
    for name, start, end in segments:
        k = index.get(name)
        frames = core_frames(int(start), min(int(end), len(mfcc)), cfg.core)
        if k is None or not len(frames):
            continue
        sums[k] += mfcc[frames.start:frames.stop].sum(0)
        counts[k] += len(frames)
    return sums / np.maximum(counts, 1)[:, None], (counts > 0).astype(np.float64)


def duration_features(segments, rendering_durations, inventory: tuple[str, ...], hop_s: float) -> np.ndarray:
    """Per phone class, mean log(clip duration / rendering duration) minus the clip's median of it
    (0 where the class is absent): which sounds a speaker lengthens or shortens, rate removed."""
    clip = np.array([(end - start) for _, start, end in segments], np.float64) * hop_s
    rendered = np.asarray(rendering_durations, np.float64)
    if len(clip) != len(rendered):
        raise AccentError(f"{len(segments)} phone segments but {len(rendered)} rendered phones")
    ratio = np.log((clip + hop_s / 2) / (rendered + hop_s / 2))   # half a frame keeps empty segments finite
    ratio -= np.median(ratio) if len(ratio) else 0.0
    index = {name: k for k, name in enumerate(inventory)}
    sums, counts = np.zeros(len(inventory)), np.zeros(len(inventory))
    for (name, _, _), r in zip(segments, ratio):
        if name in index:
            sums[index[name]] += r
            counts[index[name]] += 1
    return sums / np.maximum(counts, 1)


def brickwall_resample(wave: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    """``wave`` at ``rate`` by FFT (an ideal low-pass at the new Nyquist), float64.

    Praat's Burg analysis first resamples to twice the maximum formant unless the sound is already
    at that rate, and its resampling cost about as much as the analysis. This one is several times
    faster and close to Praat's: on 20 cv-v1 clips the formants differ by a median 0.06 % (95th
    percentile 3 %), where soxr's gentler filter moved them by 0.8 % (23 %) and lowered the recipe's
    5-fold score (docs/benchmarks.md, issue 23). Zero-padded to a 2-3-5-smooth length for the FFT.
    """
    wave = np.asarray(wave, np.float64)
    if sample_rate == rate or not len(wave):
        return wave
    from scipy.signal import resample  # here, not at the top: 2.5 s of import on every `accent` start that reads this module

    n = len(wave)
    padded = scipy.fft.next_fast_len(n, real=True)
    out = resample(np.concatenate([wave, np.zeros(padded - n)]), int(round(padded * rate / sample_rate)))
    return out[:int(round(n * rate / sample_rate))]


def formant_tracks(wave: np.ndarray, sample_rate: int, n_frames: int, hop_s: float, ceiling_hz: float) -> np.ndarray:
    """F1-F3 (Hz) at the centre of each of ``n_frames`` frames (frame k at k * hop_s), NaN where Praat's
    Burg analysis finds none: (n_frames, 3) float64."""
    try:
        import parselmouth
    except ImportError:
        raise AccentError("the phonetic recipe measures formants with praat-parselmouth: "
                          "pip install praat-parselmouth") from None
    rate = int(round(2 * ceiling_hz))
    sound = parselmouth.Sound(brickwall_resample(wave, sample_rate, rate), sampling_frequency=rate)
    formant = sound.to_formant_burg(time_step=hop_s, max_number_of_formants=5, maximum_formant=ceiling_hz,
                                    window_length=0.025)
    times = np.arange(n_frames) * hop_s
    return np.array([[formant.get_value_at_time(k, t) for k in (1, 2, 3)] for t in times], np.float64).reshape(-1, 3)


def column_nanmedian(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=0)`` of a 2-d float array, the same values (NaN for a column without
    a number, without numpy's warning) at a fraction of its cost on the few rows of a segment: NaNs
    sort last, and the median is (low + high) / 2 of the middle of each column's numbers, as numpy's is."""
    ordered = np.sort(values, axis=0)
    count = np.count_nonzero(~np.isnan(values), axis=0)
    high = count // 2
    low = np.where(count % 2 == 1, high, np.maximum(high - 1, 0))
    columns = np.arange(values.shape[1])
    out = (ordered[low, columns] + ordered[high, columns]) / 2.0
    out[count == 0] = np.nan
    return out


def class_formants(tracks: np.ndarray, segments, inventory: tuple[str, ...], which=(2,), core: float = 1 / 3) -> np.ndarray:
    """Per class of ``inventory``: the mean over its segments of the median log formant(s) ``which``
    (0: F1, 1: F2, 2: F3) over the segment's middle ``core``, each formant z-scored over all measured
    segments of the clip; 0 for an absent class. Shape (len(inventory) * len(which),)."""
    index = {name: k for k, name in enumerate(inventory)}
    rows, medians = [], []
    log_tracks = np.log(np.asarray(tracks, np.float64)[:, list(which)])
    for name, start, end in segments:
        frames = core_frames(int(start), min(int(end), len(log_tracks)), core)
        if name not in index or not len(frames):
            continue
        values = log_tracks[frames.start:frames.stop]
        if np.isfinite(values).any():
            rows.append(index[name])
            medians.append(column_nanmedian(values))
    out = np.zeros((len(inventory), len(which)))
    if len(medians) < 2:
        return out.ravel()
    M = np.array(medians)
    Z = np.nan_to_num((M - np.nanmean(M, 0)) / np.maximum(np.nanstd(M, 0), STD_FLOOR))
    np.add.at(out, rows, Z)
    return (out / np.maximum(np.bincount(rows, minlength=len(inventory)), 1)[:, None]).ravel()


def is_vowel(name: str) -> bool:
    """An espeak vowel mnemonic (they start with one of these; consonants never do)."""
    return name[:1] in VOWEL_START


def is_rhotic(names, k: int) -> bool:
    """Phone ``k`` is r-coloured in the en-us rendering ("3", "3:", "i@3", "A@", ...), or an r after a vowel."""
    name = names[k]
    return ((is_vowel(name) and ("3" in name or (name.endswith("@") and len(name) > 1)))
            or (name in ("r", "r-") and k > 0 and is_vowel(names[k - 1])))


def vowel_formants(tracks: np.ndarray, segments, inventory: tuple[str, ...], n_formants: int = 3) -> np.ndarray:
    """Per vowel class of ``inventory``: the mean over its segments of log F1..F{n_formants} (median over
    the segment's middle third), each z-scored over the clip's vowel and rhotic segments (Lobanov);
    with three formants, then two rhoticity numbers: the mean z-scored F3, and F3 - F2, of the
    r-coloured segments minus that of the other vowels. Absent classes get 0."""
    names = [name for name, _, _ in segments]
    measured = []
    for k, (name, start, end) in enumerate(segments):
        if end <= start or not (is_vowel(name) or is_rhotic(names, k)):
            continue
        n = end - start
        frames = np.asarray(tracks[start + n // 3:max(start + n // 3 + 1, end - n // 3)], np.float64)
        if np.isfinite(frames).any():
            measured.append((k, name, np.log(column_nanmedian(frames))))
    classes = [v for v in inventory if is_vowel(v)]
    out, rhoticity = np.zeros((len(classes), 3)), np.zeros(2)
    if len(measured) >= 2:
        M = np.array([m for _, _, m in measured])
        Z = np.nan_to_num((M - np.nanmean(M, 0)) / np.maximum(np.nanstd(M, 0), LOBANOV_FLOOR))
        index = {v: i for i, v in enumerate(classes)}
        rows = [(index[name], z) for (_, name, _), z in zip(measured, Z) if name in index]
        counts = np.zeros(len(classes))
        for i, z in rows:
            out[i] += z
            counts[i] += 1
        out /= np.maximum(counts, 1)[:, None]
        r = np.array([is_rhotic(names, k) for k, _, _ in measured])
        if r.any() and (~r).any():
            rhoticity = np.array([Z[r, 2].mean() - Z[~r, 2].mean(),
                                  (Z[r, 2] - Z[r, 1]).mean() - (Z[~r, 2] - Z[~r, 1]).mean()])
    return np.concatenate([out[:, :n_formants].ravel(), rhoticity if n_formants == 3 else []])


def clip_features(wave: np.ndarray, text: str, cfg: PhoneticConfig = PhoneticConfig(),
                  feature_config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """One clip's fixed-length vector from its waveform and its transcript.

    ``wave``: the clip as the feature store computes its log-mels from it (``feature_config``'s rate,
    trimmed and loudness-normalised: :func:`accent.featurize.prepare_clip`), so that the phone
    segments fall on the same frames as the stored log-mels.
    """
    return clip_measurements(wave, text, cfg, feature_config)[0]


def clip_measurements(wave: np.ndarray, text: str, cfg: PhoneticConfig = PhoneticConfig(),
                      feature_config: FeatureConfig = FeatureConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`clip_features`, match statistics (3,)) of one clip.

    The statistics say whether the clip reads its own text (:func:`accent.aligned.match_statistics`
    with the rendering as the one reference): the DTW cost per step against the rendering, its ratio
    to the cost against the rendering played backwards (same sounds, wrong order: a clip of other
    words or noise aligns about as badly to both), and the log length of the clip against the rendering.
    """
    logmel = log_mel_numpy(wave, feature_config)
    rendering = render(text, cfg.voice)
    ref_logmel = rendering_logmel(rendering, feature_config)
    clip_seq, ref_seq = alignment_sequence(logmel), reference_sequence(rendering, feature_config)
    alignment = align_to_rendering(clip_seq, ref_seq)
    null = align_to_rendering(clip_seq, ref_seq[::-1])
    segments = phone_segments(logmel, rendering, feature_config, path=alignment.path())
    hop_s = feature_config.hop_ms / 1000
    tracks = (formant_tracks(wave, feature_config.sample_rate, len(logmel), hop_s, cfg.ceiling_hz)
              if {"f3", "formants"} & set(cfg.blocks) else None)
    vector = features_from_segments(logmel, segments, [p.end - p.start for p in rendering.phones], tracks, cfg, hop_s)
    stats = match_statistics([[alignment.cost]], [[null.cost]], [len(logmel) / len(ref_logmel)])[0]
    return vector, stats


def file_measurements(path, text, cfg: PhoneticConfig, feature_config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clip_measurements` of an audio file, prepared as the feature store prepares it."""
    return clip_measurements(prepare_clip(path, feature_config)[0], text, cfg, feature_config)


def feature_dim(cfg: PhoneticConfig) -> int:
    """Length of :func:`clip_features`' vector."""
    n_vowels = sum(is_vowel(v) for v in cfg.inventory)
    sizes = {"formants": 3 * n_vowels + 2, "f3": len(cfg.inventory), "mfcc": len(cfg.inventory) * cfg.n_mfcc,
             "durations": len(cfg.inventory)}
    return sum(sizes[b] for b in cfg.blocks)


# -- every row of a store, cached beside it ------------------------------------------------------

def store_texts(store, where) -> list:
    """The transcripts of a store's rows (its ``text`` column); a one-line AccentError without one."""
    if "text" not in store.index.columns or not store.index["text"].fillna("").astype(str).str.strip().any():
        raise AccentError(f"{where}: this model needs the transcript of every clip, and the store has no text "
                          "column: featurize a manifest with a text column (CV's sentence, SAA's passage)")
    return [str(t) if isinstance(t, str) and t.strip() else "" for t in store.index["text"]]


def has_texts_and_audio(index) -> bool:
    """Every row has a transcript and its audio file is at hand: what the phonetic recipe measures."""
    if "text" not in index.columns or not len(index):
        return False
    texts = index["text"].fillna("").astype(str).str.strip()
    return bool((texts != "").all()) and all(Path(p).is_file() for p in index["path"])


def cache_path(store, cfg: PhoneticConfig, rows: np.ndarray | None = None) -> Path:
    """``FEATDIR/phonetic/<key>.npz``: the key covers the recipe, the feature config, which clips
    (``rows`` of the store, default all) and their texts."""
    idx, texts = _rows_of(store, rows)
    clips = idx[["utt_id", "path", "offset", "n_frames"]].astype(str).to_csv(index=False)
    key = hashlib.sha1(json.dumps([CACHE_FORMAT, cfg.to_dict(), store.config.hash(), clips, "\n".join(texts)])
                       .encode()).hexdigest()[:16]
    return Path(store.root).resolve() / CACHE_DIR / f"{key}.npz"


def _measure_shard(paths: list, texts: list, cfg: PhoneticConfig, feature_config: FeatureConfig, out: str) -> str:
    """Worker task: vectors and statistics of some clips (NaN and a reason where a clip is unusable)."""
    X = np.full((len(paths), feature_dim(cfg)), np.nan, np.float32)
    S = np.full((len(paths), N_MATCH_STATS), np.nan)
    reasons = []
    for i, (path, text) in enumerate(zip(paths, texts)):
        try:
            if not text:
                raise AccentError("no transcript")
            X[i], S[i] = file_measurements(path, text, cfg, feature_config)
            reasons.append("")
        except (AccentError, AudioError, OSError) as exc:
            reasons.append(f"{path}: {str(exc).splitlines()[0][:200]}")
    with atomic_path(Path(out)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, vectors=X, stats=S, reasons=np.array(reasons, dtype=str))
    return out


def _rows_of(store, rows: np.ndarray | None) -> tuple:
    """(index, texts) of the store's ``rows`` (all when None)."""
    texts = store_texts(store, store.root)
    if rows is None:
        return store.index, texts
    return store.index.iloc[rows], [texts[int(i)] for i in rows]


def store_measurements(store, cfg: PhoneticConfig = PhoneticConfig(), *, rows: np.ndarray | None = None,
                       executor=None, n_shards: int | None = None,
                       progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, d) float32, match statistics (n, 3)) of every row of ``store`` (or of its ``rows``,
    in that order), NaN rows for clips without a usable transcript or audio (one warning names how
    many and the first reason).

    Computed once per store, recipe and texts, in shards (through ``executor`` when given, e.g.
    :func:`accent.executors.open_executor`'s; finished shards survive an interruption), and kept at
    :func:`cache_path`, so folds and curve points reuse it.
    """
    final = cache_path(store, cfg, rows)
    if not final.is_file():
        index, texts = _rows_of(store, rows)
        paths = list(index["path"].astype(str))
        n = len(paths)
        count = shard_count(n, n_workers(executor) if executor is not None else 1, n_shards, max_items=200)
        parts = final.parent / f"{final.stem}.shards-{count}"
        shards = [Shard(f"{i}/{count}", (paths[a:b], texts[a:b], cfg, store.config, str(parts / f"{i:05d}.npz")), b - a)
                  for i in range(count) for a, b in [(i * n // count, (i + 1) * n // count)]]
        run_file_shards(executor, _measure_shard, shards, desc="phonetic", progress=progress)
        loaded = [dict(np.load(s.args[-1], allow_pickle=False)) for s in shards]
        with atomic_path(final) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, format=np.array(CACHE_FORMAT), **{k: np.concatenate([p[k] for p in loaded])
                                                               for k in ("vectors", "stats", "reasons")})
        shutil.rmtree(parts, ignore_errors=True)
    with np.load(final, allow_pickle=False) as z:
        if str(z["format"]) != CACHE_FORMAT:
            raise AccentError(f"{final} is not a phonetic cache file: delete it and run again")
        vectors, stats, reasons = z["vectors"], z["stats"], z["reasons"]
    failed = [r for r in reasons if r]
    if failed:
        warnings.warn(f"{len(failed)} of {len(reasons)} clips of {store.root} have no phonetic features (NaN rows, "
                      f"left out of training, unscored): first {failed[0]}", stacklevel=2)
    return vectors, stats


def features_from_segments(logmel, segments, rendering_durations, tracks, cfg: PhoneticConfig,
                           hop_s: float) -> np.ndarray:
    """:func:`clip_features` once the segments (and formant tracks, when a block needs them) are known."""
    parts = []
    for block in cfg.blocks:
        if block == "f3":
            parts.append(class_formants(tracks, segments, cfg.inventory, (2,), cfg.core))
        elif block == "formants":
            parts.append(vowel_formants(tracks, segments, cfg.inventory))
        elif block == "mfcc":
            parts.append(phone_means(logmel, segments, cfg.inventory, cfg)[0].ravel())
        else:
            parts.append(duration_features(segments, rendering_durations, cfg.inventory, hop_s))
    return np.concatenate(parts).astype(np.float32)


class PhoneticModel:
    """Per-clip vectors in, accent probabilities out: NAP (when ``n_nap``), StandardScaler and
    class-balanced logistic regression, all kept as plain arrays.

    ``prior``: a model fitted on a source corpus (``accent pretrain`` on a store with text writes
    one); its log-probabilities over the source's labels join each vector as extra features, so the
    target learns how far to trust what the source learnt from the same measurements.
    ``calibration`` (fitted with ``stats``): whether a clip reads its own text at all.
    """

    def __init__(self, config: PhoneticConfig = PhoneticConfig(), seed: int = 0, prior: "PhoneticModel | None" = None):
        self.config = config
        self.seed = seed
        self.prior = prior
        self.calibration: PassageCalibration | None = None

    def inputs(self, vectors) -> np.ndarray:
        X = np.asarray(vectors, np.float64)
        return np.hstack([X, self.prior.predict_log_proba(X)]) if self.prior is not None else X

    def fit(self, vectors, y, stats=None) -> "PhoneticModel":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = self.inputs(vectors), np.asarray(y)
        if len(np.unique(y)) < 2:
            raise AccentError("the phonetic classifier needs at least two classes in its training rows")
        self.nap_ = NAP(self.config.n_nap).fit(X, y)
        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=self.config.C, class_weight="balanced", max_iter=self.config.max_iter, random_state=self.seed))
        model.fit(self.nap_.transform(X), y)
        self.head_ = LinearHead.from_pipeline(model)
        self.classes_ = model.classes_
        self.calibration = PassageCalibration.fit(np.asarray(stats, np.float64)) if stats is not None else None
        return self

    def predict_log_proba(self, vectors) -> np.ndarray:
        return self.head_.log_proba(self.nap_.transform(self.inputs(vectors)))

    def predict_proba(self, vectors) -> np.ndarray:
        return np.exp(self.predict_log_proba(vectors))

    def predict(self, vectors) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_log_proba(vectors), axis=1)]

    def match(self, stats) -> np.ndarray:
        """0..1 per clip: how well it reads its own text, judged against the training clips; NaN
        without a calibration or where a clip has no statistics."""
        S = np.atleast_2d(np.asarray(stats, np.float64))
        out = np.full(len(S), np.nan)
        ok = np.isfinite(S).all(1)
        if self.calibration is not None and ok.any():
            out[ok] = 1.0 / (1.0 + np.exp(MATCH_SLOPE * (self.calibration.z(S[ok]) - OFF_TEXT_Z)))
        return out

    def to_arrays(self, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, numeric arrays): what a file or a model file holds, no pickle, no strings among the arrays."""
        meta = {"format": FORMAT, "config": self.config.to_dict(), "classes": [str(c) for c in self.classes_],
                "prior": None}
        arrays = {**self.nap_.to_arrays(f"{prefix}nap_"), **self.head_.to_arrays(f"{prefix}head_")}
        if self.calibration is not None:
            arrays.update({f"{prefix}{k}": v for k, v in self.calibration.to_arrays().items()})
        if self.prior is not None:
            meta["prior"], prior_arrays = self.prior.to_arrays(f"{prefix}prior_")
            arrays.update(prior_arrays)
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: dict, arrays, prefix: str = "") -> "PhoneticModel":
        if meta.get("format") != FORMAT:
            raise AccentError(f"not a phonetic model (format {meta.get('format')!r})")
        prior = cls.from_arrays(meta["prior"], arrays, f"{prefix}prior_") if meta.get("prior") else None
        model = cls(PhoneticConfig.from_dict(meta["config"]), prior=prior)
        model.nap_ = NAP.from_arrays(arrays, f"{prefix}nap_")
        model.head_ = LinearHead.from_arrays(arrays, f"{prefix}head_")
        model.classes_ = np.asarray(meta["classes"])
        model.calibration = PassageCalibration.from_arrays(
            {k[len(prefix):]: np.asarray(v) for k, v in arrays.items() if k.startswith(prefix + "match_")})
        return model

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """One ``.npz`` of plain arrays and a JSON string (the config, classes and ``extra``); loads without pickle."""
        meta, arrays = self.to_arrays()
        return write_meta_npz(path, {**meta, **(extra or {})}, arrays)

    @staticmethod
    def read(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
        """(meta, arrays) of a saved model; a one-line AccentError when it is missing or not one."""
        meta, arrays = read_meta_npz(path, "phonetic model", "fit one and save it with PhoneticModel.save")
        if meta.get("format") != FORMAT:
            raise AccentError(f"{path} is not a phonetic model (format {meta.get('format')!r}): "
                              "save one with PhoneticModel.save")
        return meta, arrays

    @classmethod
    def load(cls, path: str | Path) -> "PhoneticModel":
        return cls.from_arrays(*cls.read(path))


def fit_store_source(store, rows, path: str | Path, cfg: PhoneticConfig = PhoneticConfig(),
                     executor=None, progress: bool = False) -> Path:
    """A source corpus's phonetic classifier over its labels (``accent pretrain``'s ``phonetic_source.npz``),
    fitted on the ``rows`` that have measurements; a target reads its log-probabilities as extra features.
    ``executor``: measures the store in shards there (:func:`store_measurements`)."""
    rows = np.asarray(rows, np.int64)
    X, stats = store_measurements(store, cfg, rows=rows, executor=executor, progress=progress)   # only what it fits on
    ok = np.isfinite(X).all(1)
    model = PhoneticModel(cfg).fit(X[ok], store.index["label"].iloc[rows[ok]].to_numpy(), stats[ok])
    return model.save(path, {"feature_config": store.config.to_dict()})
