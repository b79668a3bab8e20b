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

import json
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from accent.aligned import NAP, LinearHead
from accent.errors import AccentError
from accent.features import FeatureConfig, log_mel_numpy, mfcc_from_logmel
from accent.fileio import atomic_path
from accent.phones import phone_segments, render

FORMAT = "accent-phonetic/1"
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


def formant_tracks(wave: np.ndarray, sample_rate: int, n_frames: int, hop_s: float, ceiling_hz: float) -> np.ndarray:
    """F1-F3 (Hz) at the centre of each of ``n_frames`` frames (frame k at k * hop_s), NaN where Praat's
    Burg analysis finds none: (n_frames, 3) float64."""
    try:
        import parselmouth
    except ImportError:
        raise AccentError("the phonetic recipe measures formants with praat-parselmouth: "
                          "pip install praat-parselmouth") from None
    sound = parselmouth.Sound(np.asarray(wave, np.float64), sampling_frequency=sample_rate)
    formant = sound.to_formant_burg(time_step=hop_s, max_number_of_formants=5, maximum_formant=ceiling_hz,
                                    window_length=0.025)
    times = np.arange(n_frames) * hop_s
    return np.array([[formant.get_value_at_time(k, t) for k in (1, 2, 3)] for t in times], np.float64).reshape(-1, 3)


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
            medians.append(np.nanmedian(values, axis=0))
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
            measured.append((k, name, np.log(np.nanmedian(frames, axis=0))))
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
    logmel = log_mel_numpy(wave, feature_config)
    rendering = render(text, cfg.voice)
    segments = phone_segments(logmel, rendering, feature_config)
    hop_s = feature_config.hop_ms / 1000
    tracks = (formant_tracks(wave, feature_config.sample_rate, len(logmel), hop_s, cfg.ceiling_hz)
              if {"f3", "formants"} & set(cfg.blocks) else None)
    return features_from_segments(logmel, segments, [p.end - p.start for p in rendering.phones], tracks, cfg, hop_s)


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
    class-balanced logistic regression, all kept as plain arrays."""

    def __init__(self, config: PhoneticConfig = PhoneticConfig(), seed: int = 0):
        self.config = config
        self.seed = seed

    def fit(self, vectors, y) -> "PhoneticModel":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = np.asarray(vectors, np.float64), np.asarray(y)
        if len(np.unique(y)) < 2:
            raise AccentError("the phonetic classifier needs at least two classes in its training rows")
        self.nap_ = NAP(self.config.n_nap).fit(X, y)
        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=self.config.C, class_weight="balanced", max_iter=self.config.max_iter, random_state=self.seed))
        model.fit(self.nap_.transform(X), y)
        self.head_ = LinearHead.from_pipeline(model)
        self.classes_ = model.classes_
        return self

    def predict_log_proba(self, vectors) -> np.ndarray:
        return self.head_.log_proba(self.nap_.transform(np.asarray(vectors, np.float64)))

    def predict_proba(self, vectors) -> np.ndarray:
        return np.exp(self.predict_log_proba(vectors))

    def predict(self, vectors) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_log_proba(vectors), axis=1)]

    def save(self, path: str | Path) -> Path:
        """One ``.npz`` of plain arrays and a JSON string (the config); loads without pickle."""
        meta = {"format": FORMAT, "config": self.config.to_dict()}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)), classes=np.asarray(self.classes_, dtype=str),
                         **self.nap_.to_arrays("nap_"), **self.head_.to_arrays("head_"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PhoneticModel":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays["meta"]))
        except FileNotFoundError:
            raise AccentError(f"phonetic model {path} not found: fit one and save it with PhoneticModel.save") from None
        except (KeyError, ValueError, OSError) as exc:
            raise AccentError(f"{path} is not a readable phonetic model ({exc}): save it with PhoneticModel.save") from None
        if meta.get("format") != FORMAT:
            raise AccentError(f"{path} is not a phonetic model (format {meta.get('format')!r}): "
                              "save one with PhoneticModel.save")
        model = cls(PhoneticConfig.from_dict(meta["config"]))
        model.nap_ = NAP.from_arrays(arrays, "nap_")
        model.head_ = LinearHead.from_arrays(arrays, "head_")
        model.classes_ = np.asarray(arrays["classes"])
        return model
