"""The phonetic recipe: compare the same sounds across speakers who read different sentences.

Every clip comes with its transcript; :mod:`accent.phones` renders it with espeak-ng and carries the
phone boundaries onto the clip. Then, torch-free:

1. :func:`phone_means`: per phone class of a fixed inventory, the mean MFCC (c0..c{n_mfcc-1}) over
   the middle of the clip's segments of that phone, the MFCCs mean- and variance-normalised within
   the clip (voice level and channel cancel); a phone the sentence lacks gets zeros (the clip's
   mean) and a presence flag, so every clip pools to one fixed-length vector;
2. :func:`duration_features`: per phone class, the log ratio of the clip's to the rendering's
   duration, relative to the clip's median ratio (its speaking rate);
3. :class:`PhoneticModel`: optional nuisance attribute projection (:class:`accent.aligned.NAP`),
   StandardScaler and class-balanced logistic regression, saved as plain arrays (``.npz``, no pickle).

:func:`clip_features` chains 1-2 for one clip; the settings are in :class:`PhoneticConfig`, chosen on
real Common Voice (benchmarks/phonetic_dev.py, docs/benchmarks.md "Phonetic method on real Common
Voice (issue 21)").
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from accent.aligned import NAP, LinearHead
from accent.errors import AccentError
from accent.features import FeatureConfig, mfcc_from_logmel
from accent.fileio import atomic_path

FORMAT = "accent-phonetic/1"
STD_FLOOR = 1e-6
MIN_FRAMES = 1


@dataclass(frozen=True)
class PhoneticConfig:
    """Settings of the recipe (chosen on cv-v1, see the module docstring)."""
    n_mfcc: int = 13                 # c0..c12 per phone class
    core: float = 0.5                # the middle fraction of each segment that is averaged (edges are transitions)
    durations: bool = True           # append the per-phone duration features
    presence: bool = False           # append a 0/1 flag per phone class (the sentence has it)
    n_nap: int = 0                   # within-accent directions removed before the classifier
    C: float = 0.01                  # inverse L2 strength of the logistic regression
    max_iter: int = 3000
    voice: str = "en-us"             # espeak voice of the transcripts

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PhoneticConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise AccentError(f"unknown phonetic-recipe setting(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**d)


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


def clip_features(logmel: np.ndarray, text: str, inventory: tuple[str, ...],
                  cfg: PhoneticConfig = PhoneticConfig(), feature_config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """One clip's fixed-length vector from its stored log-mels (made with ``feature_config``) and its transcript."""
    from accent.phones import phone_segments, render

    rendering = render(text, cfg.voice)
    segments = phone_segments(logmel, rendering, feature_config)
    return features_from_segments(logmel, segments, [p.end - p.start for p in rendering.phones], inventory,
                                  cfg, feature_config.hop_ms / 1000)


def features_from_segments(logmel, segments, rendering_durations, inventory, cfg: PhoneticConfig,
                           hop_s: float) -> np.ndarray:
    """:func:`clip_features` once the segments are known (cached alignments)."""
    means, present = phone_means(logmel, segments, inventory, cfg)
    parts = [means.ravel()]
    if cfg.presence:
        parts.append(present)
    if cfg.durations:
        parts.append(duration_features(segments, rendering_durations, inventory, hop_s))
    return np.concatenate(parts).astype(np.float32)


class PhoneticModel:
    """Per-clip vectors in, accent probabilities out: NAP (when ``n_nap``), StandardScaler and
    class-balanced logistic regression, all kept as plain arrays."""

    def __init__(self, config: PhoneticConfig = PhoneticConfig(), inventory: tuple[str, ...] = (), seed: int = 0):
        self.config = config
        self.inventory = tuple(inventory)
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
        """One ``.npz`` of plain arrays and a JSON string (config, inventory); loads without pickle."""
        meta = {"format": FORMAT, "config": self.config.to_dict(), "inventory": list(self.inventory)}
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
        model = cls(PhoneticConfig.from_dict(meta["config"]), tuple(meta["inventory"]))
        model.nap_ = NAP.from_arrays(arrays, "nap_")
        model.head_ = LinearHead.from_arrays(arrays, "head_")
        model.classes_ = np.asarray(arrays["classes"])
        return model
