"""The passage-aligned recipe: classify accents by aligning every recording to reference readings
of the same passage, then comparing what each speaker does at the same place in the text.

It exploits that every Speech Accent Archive speaker reads one paragraph ("Please call Stella..."),
so position in the reference reading stands in for the phone being spoken, and the classifier
compares like with like instead of averaging a whole recording into one vector. It does not apply
when speakers read different sentences (Common Voice): use the MFCC or speaker-encoder features there.

The chain, torch-free, from stored log-mels (any :class:`accent.features.FeatureConfig`; the
development protocol uses 8 kHz):

1. :func:`recording_sequence`: log-mel frames averaged into ``block_ms`` blocks, DCT to ``n_mfcc``
   MFCCs, mean and variance normalised per recording (removes the channel and most of the voice level);
2. :func:`select_references`: reference recordings of the passage, the English readings at
   length quantiles (0.5, 0.2, 0.8), from the training rows or from a source corpus;
3. :func:`aligned_features`: DTW (``librosa.sequence.dtw``) on c1..c9 against a reference; for each
   ``segment_s`` of the reference, the mean c0..c9 of the recording's blocks aligned to it and log1p of
   how many there are (a local speaking rate);
4. :class:`NAP` (nuisance attribute projection): standardise, then remove the leading eigenvectors of
   the within-language scatter (voice, channel and reading-style directions), fitted on training rows
   or on a source corpus and saved as plain arrays;
5. :class:`AlignedClassifier`: per reference, StandardScaler + class-balanced logistic regression;
   the log-probabilities are averaged over the references.

:class:`PassageFeaturizer` holds steps 2-3 and :class:`AlignedModel` the whole chain. Both save to
``.npz`` files of plain arrays plus a JSON string (loaded with ``allow_pickle=False``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from accent.errors import AccentError, check_keys
from accent.features import mfcc_from_logmel
from accent.featurize import featurize_clip
from accent.fileio import atomic_path

FORMAT = "accent-aligned/1"
REFERENCE_LABEL = "english"
STD_FLOOR = 1e-6


@dataclass(frozen=True)
class AlignedConfig:
    """Settings of the recipe (tuned on the real SAA development data, see docs/benchmarks.md)."""
    n_mfcc: int = 20
    block_ms: float = 40.0            # log-mel frames are averaged into blocks of this length
    align_coeffs: tuple[int, int] = (1, 10)   # DTW on c1..c9: c0 (loudness) would align on level, not phones
    feature_coeffs: int = 10          # c0..c9 are averaged per reference segment
    segment_s: float = 0.2            # reference segment length
    reference_quantiles: tuple[float, ...] = (0.5, 0.2, 0.8)
    n_nap: int = 30                   # within-language directions removed
    C: float = 0.003                  # inverse L2 strength of the logistic regression
    max_iter: int = 3000

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AlignedConfig":
        check_keys(d, {f.name for f in fields(cls)}, "aligned-recipe setting")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)


# -- 1. sequences ------------------------------------------------------------------------------

def block_frames(hop_ms: float, block_ms: float) -> int:
    """How many stored frames make one block (at least one)."""
    return max(1, int(round(block_ms / hop_ms)))


def recording_sequence(logmel: np.ndarray, hop_ms: float, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """Per-recording normalised MFCC blocks, float32 (n_blocks, n_mfcc), from log-mel frames (n, n_mels)."""
    x = np.asarray(logmel, dtype=np.float32)
    k = block_frames(hop_ms, cfg.block_ms)
    n = len(x) // k
    if n < 2:
        raise AccentError(f"recording too short for the aligned recipe: {len(x)} frames, need {2 * k}")
    blocks = x[:n * k].reshape(n, k, -1).mean(axis=1)
    mfcc = mfcc_from_logmel(blocks, cfg.n_mfcc)
    return ((mfcc - mfcc.mean(0)) / np.maximum(mfcc.std(0), STD_FLOOR)).astype(np.float32)


def store_sequences(store, rows=None, cfg: AlignedConfig = AlignedConfig()) -> list[np.ndarray]:
    """:func:`recording_sequence` of a feature store's rows (positions in ``store.index``; all by default)."""
    rows = range(len(store.index)) if rows is None else rows
    hop_ms = store.config.hop_ms
    return [recording_sequence(store.frames(int(i)), hop_ms, cfg) for i in rows]


def audio_sequence(path: str | Path, feature_config, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """:func:`recording_sequence` of one audio file, featurized exactly as the store would be."""
    frames, _ = featurize_clip(path, feature_config)
    return recording_sequence(frames, feature_config.hop_ms, cfg)


# -- 2. references -----------------------------------------------------------------------------

def select_references(lengths, labels=None, quantiles=(0.5, 0.2, 0.8),
                      label: str = REFERENCE_LABEL) -> list[int]:
    """Positions of the reference recordings: the ``label`` readings (all rows when none has that
    label) whose length is nearest each quantile of their lengths; distinct, in quantile order.

    The median reading is a typical one; the 0.2 and 0.8 quantiles add a faster and a slower reader.
    """
    lengths = np.asarray(lengths, dtype=float)
    pool = np.arange(len(lengths))
    if labels is not None:
        match = np.flatnonzero(np.asarray(labels) == label)
        if len(match):
            pool = match
    if len(pool) < len(quantiles):
        raise AccentError(f"the aligned recipe needs {len(quantiles)} reference recordings; only {len(pool)} available")
    chosen: list[int] = []
    for q in quantiles:
        target = np.quantile(lengths[pool], q)
        order = pool[np.argsort(np.abs(lengths[pool] - target), kind="stable")]
        chosen.append(int(next(i for i in order if i not in chosen)))
    return chosen


# -- 3. alignment features ---------------------------------------------------------------------

def segment_blocks(cfg: AlignedConfig) -> int:
    return max(1, int(round(cfg.segment_s * 1000 / cfg.block_ms)))


def aligned_features(seq: np.ndarray, ref: np.ndarray, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """One recording against one reference: (n_segments * (feature_coeffs + 1),) float32.

    Per reference segment: the mean of c0..c{feature_coeffs-1} over the distinct recording blocks the
    DTW path maps into it, then log1p of their count. Every segment receives at least one block
    because a DTW path visits every reference index.
    """
    import librosa

    lo, hi = cfg.align_coeffs
    _, path = librosa.sequence.dtw(X=seq[:, lo:hi].T, Y=ref[:, lo:hi].T, metric="euclidean", backtrack=True)
    step = segment_blocks(cfg)
    n_seg = int(np.ceil(len(ref) / step))
    pairs = np.unique(np.stack([path[:, 1] // step, path[:, 0]], axis=1), axis=0)  # (segment, block), distinct
    seg, blk = pairs[:, 0], pairs[:, 1]
    counts = np.bincount(seg, minlength=n_seg).astype(np.float64)
    sums = np.zeros((n_seg, cfg.feature_coeffs))
    np.add.at(sums, seg, seq[blk, :cfg.feature_coeffs])
    means = sums / np.maximum(counts, 1)[:, None]
    return np.concatenate([means, np.log1p(counts)[:, None]], axis=1).ravel().astype(np.float32)


@dataclass
class PassageFeaturizer:
    """Steps 2-3: holds the reference sequences; turns recordings into one feature matrix per reference."""
    config: AlignedConfig = field(default_factory=AlignedConfig)
    references: list[np.ndarray] = field(default_factory=list)

    def fit(self, sequences: list[np.ndarray], labels=None) -> "PassageFeaturizer":
        """Choose the references among ``sequences`` (English ones when ``labels`` name any)."""
        picks = select_references([len(s) for s in sequences], labels, self.config.reference_quantiles)
        self.references = [np.asarray(sequences[i], dtype=np.float32) for i in picks]
        return self

    def transform(self, sequences: list[np.ndarray], progress: bool = False) -> list[np.ndarray]:
        """One (n_recordings, dim_r) float32 matrix per reference."""
        if not self.references:
            raise AccentError("the passage featurizer has no references: fit it first")
        from tqdm import tqdm

        out = [np.empty((len(sequences), self.dim(ref)), np.float32) for ref in self.references]
        for n, seq in enumerate(tqdm(sequences, desc="align", unit="rec", disable=not progress, dynamic_ncols=True)):
            for r, ref in enumerate(self.references):
                out[r][n] = aligned_features(seq, ref, self.config)
        return out

    def dim(self, ref: np.ndarray) -> int:
        """Length of the feature vector against ``ref``."""
        return int(np.ceil(len(ref) / segment_blocks(self.config))) * (self.config.feature_coeffs + 1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"reference_{r}": ref for r, ref in enumerate(self.references)}

    @classmethod
    def from_arrays(cls, config: AlignedConfig, arrays, n_references: int) -> "PassageFeaturizer":
        return cls(config, [np.asarray(arrays[f"reference_{r}"], np.float32) for r in range(n_references)])


# -- 4. nuisance attribute projection ----------------------------------------------------------

@dataclass
class NAP:
    """Standardise, then project out the ``n_directions`` leading within-class scatter directions.

    What varies most among speakers of one language (voice, channel, reading pace) is nuisance for
    accent; removing it before the classifier is what lets a source corpus help a small target,
    since the projection is learned where there are many speakers per language.
    """
    n_directions: int = 30
    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None
    directions_: np.ndarray | None = None   # (dim, k), orthonormal columns

    def fit(self, X: np.ndarray, y) -> "NAP":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        self.mean_ = X.mean(0)
        self.scale_ = np.maximum(X.std(0), STD_FLOOR)
        Z = (X - self.mean_) / self.scale_
        classes = np.unique(y)
        W = np.concatenate([Z[y == c] - Z[y == c].mean(0) for c in classes])
        # the within scatter has rank at most rows - classes: directions beyond it would be arbitrary
        k = min(self.n_directions, max(0, len(W) - len(classes)), W.shape[1])
        if k == 0:
            self.directions_ = np.zeros((X.shape[1], 0))
            return self
        # leading right singular vectors of the centred rows = leading eigenvectors of the within scatter
        _, _, vt = np.linalg.svd(W, full_matrices=False)
        self.directions_ = vt[:k].T
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.directions_ is None:
            raise AccentError("NAP is not fitted: call fit(X, y) first")
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        V = self.directions_
        return (Z - (Z @ V) @ V.T).astype(np.float32)

    def fit_transform(self, X, y) -> np.ndarray:
        return self.fit(X, y).transform(X)

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}mean": self.mean_, f"{prefix}scale": self.scale_, f"{prefix}directions": self.directions_}

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "") -> "NAP":
        V = np.asarray(arrays[f"{prefix}directions"], np.float64)
        return cls(V.shape[1], np.asarray(arrays[f"{prefix}mean"], np.float64),
                   np.asarray(arrays[f"{prefix}scale"], np.float64), V)


# -- 5. classifier -----------------------------------------------------------------------------

@dataclass
class LinearHead:
    """A fitted StandardScaler + logistic regression as plain arrays: log-probabilities of
    ``(X - mean) / scale`` under a softmax over ``X @ coef.T + intercept``."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray        # (n_classes, dim)
    intercept: np.ndarray   # (n_classes,)

    @classmethod
    def from_pipeline(cls, pipeline) -> "LinearHead":
        scaler, lr = pipeline[0], pipeline[-1]
        coef, intercept = lr.coef_, lr.intercept_
        if coef.shape[0] == 1:  # binary: sklearn's sigmoid of z is the softmax of (0, z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.array([0.0, intercept[0]])
        return cls(scaler.mean_, scaler.scale_, coef, intercept)

    def log_proba(self, X: np.ndarray) -> np.ndarray:
        logits = ((np.asarray(X, np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "LinearHead":
        return cls(*(np.asarray(arrays[f"{prefix}{f.name}"], np.float64) for f in fields(cls)))


class AlignedClassifier:
    """Per reference: NAP, StandardScaler, balanced logistic regression; log-probabilities averaged.

    ``naps``: one fitted :class:`NAP` per reference (from a source corpus), kept fixed; ``None`` fits
    them on the training rows of :meth:`fit`. A fitted classifier is plain arrays (NAPs and
    :class:`LinearHead` s), so it saves without pickle (:meth:`to_arrays`).
    """

    def __init__(self, config: AlignedConfig = AlignedConfig(), naps: list[NAP] | None = None, seed: int = 0):
        self.config = config
        self.naps = naps
        self.seed = seed
        self.fixed_naps = naps is not None

    def fit(self, blocks: list[np.ndarray], y) -> "AlignedClassifier":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            raise AccentError("the aligned classifier needs at least two classes in its training rows")
        if not self.fixed_naps:
            self.naps = [NAP(self.config.n_nap).fit(X, y) for X in blocks]
        if len(self.naps) != len(blocks):
            raise AccentError(f"{len(blocks)} feature blocks but {len(self.naps)} NAP projections")
        self.heads_ = []
        for nap, X in zip(self.naps, blocks):
            model = make_pipeline(StandardScaler(), LogisticRegression(
                C=self.config.C, class_weight="balanced", max_iter=self.config.max_iter, random_state=self.seed))
            model.fit(nap.transform(X), y)
            self.heads_.append(LinearHead.from_pipeline(model))
            self.classes_ = model.classes_
        return self

    def predict_log_proba(self, blocks: list[np.ndarray]) -> np.ndarray:
        logs = [head.log_proba(nap.transform(X)) for head, nap, X in zip(self.heads_, self.naps, blocks)]
        mean = np.mean(logs, axis=0)
        return mean - np.logaddexp.reduce(mean, axis=1, keepdims=True)   # renormalised

    def predict_proba(self, blocks: list[np.ndarray]) -> np.ndarray:
        return np.exp(self.predict_log_proba(blocks))

    def predict(self, blocks: list[np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_log_proba(blocks), axis=1)]

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"classes": np.asarray(self.classes_, dtype=str)}
        for r, (nap, head) in enumerate(zip(self.naps, self.heads_)):
            arrays.update(nap.to_arrays(prefix=f"nap_{r}_"))
            arrays.update(head.to_arrays(prefix=f"head_{r}_"))
        return arrays

    @classmethod
    def from_arrays(cls, config: AlignedConfig, arrays, n_references: int) -> "AlignedClassifier":
        clf = cls(config, [NAP.from_arrays(arrays, prefix=f"nap_{r}_") for r in range(n_references)])
        clf.heads_ = [LinearHead.from_arrays(arrays, prefix=f"head_{r}_") for r in range(n_references)]
        clf.classes_ = np.asarray(arrays["classes"])
        return clf


def fit_source_naps(featurizer: PassageFeaturizer, sequences: list[np.ndarray], labels,
                    n_directions: int | None = None, progress: bool = False) -> list[NAP]:
    """NAP projections (one per reference) fitted on a source corpus, for a target's classifier."""
    k = featurizer.config.n_nap if n_directions is None else n_directions
    return [NAP(k).fit(X, labels) for X in featurizer.transform(sequences, progress)]


# -- the whole chain and its files ---------------------------------------------------------------

class AlignedModel:
    """Sequences in, probabilities out: :class:`PassageFeaturizer` then :class:`AlignedClassifier`.

    ``featurizer`` and ``naps`` may come from a source corpus (:meth:`load_source`); otherwise
    :meth:`fit` chooses the references and fits the NAP on its own training rows.
    """

    def __init__(self, config: AlignedConfig = AlignedConfig(), featurizer: PassageFeaturizer | None = None,
                 naps: list[NAP] | None = None, seed: int = 0):
        self.config = config
        self.featurizer = featurizer
        self.naps = naps
        self.seed = seed

    def fit(self, sequences: list[np.ndarray], y, progress: bool = False) -> "AlignedModel":
        if self.featurizer is None:
            self.featurizer = PassageFeaturizer(self.config).fit(sequences, y)
        self.classifier_ = AlignedClassifier(self.config, self.naps, self.seed).fit(
            self.featurizer.transform(sequences, progress), y)
        self.classes_ = self.classifier_.classes_
        return self

    def predict_proba(self, sequences: list[np.ndarray], progress: bool = False) -> np.ndarray:
        return self.classifier_.predict_proba(self.featurizer.transform(sequences, progress))

    def predict(self, sequences: list[np.ndarray]) -> np.ndarray:
        return self.classifier_.predict(self.featurizer.transform(sequences))


def fit_source(sequences: list[np.ndarray], labels, config: AlignedConfig = AlignedConfig(),
               progress: bool = False) -> tuple[PassageFeaturizer, list[NAP]]:
    """What a source corpus gives a target: its reference readings and its NAP projections."""
    featurizer = PassageFeaturizer(config).fit(sequences, labels)
    return featurizer, fit_source_naps(featurizer, sequences, labels, progress=progress)


def fit_store_source(store, rows, path: str | Path, config: AlignedConfig = AlignedConfig(),
                     progress: bool = False) -> Path:
    """:func:`fit_source` on a same-passage store's ``rows`` (its training split), saved with
    :func:`save_source` at ``path``: what `accent pretrain` leaves beside the network for
    ``accent transfer --mode aligned --source``."""
    labels = store.index["label"].iloc[rows].to_numpy()
    featurizer, naps = fit_source(store_sequences(store, rows, config), labels, config, progress)
    return save_source(path, featurizer, naps, store.config, sorted(set(labels)))


def _write_npz(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
    return path


def _read_npz(path: str | Path, kind: str, hint: str):
    """(meta, arrays as a dict) of a file written by :func:`_write_npz` with ``meta["kind"] == kind``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except FileNotFoundError:
        raise AccentError(f"aligned {kind} {path} not found: {hint}") from None
    except (KeyError, ValueError, OSError) as exc:
        raise AccentError(f"{path} is not a readable aligned-recipe {kind} ({exc}): {hint}") from None
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise AccentError(f"{path} is not an aligned-recipe {kind} (format {meta.get('format')!r}, "
                          f"kind {meta.get('kind')!r}): {hint}")
    return meta, arrays


def _meta(kind: str, featurizer: PassageFeaturizer, feature_config, labels) -> dict:
    return {"format": FORMAT, "kind": kind, "aligned": featurizer.config.to_dict(),
            "n_references": len(featurizer.references),
            "feature_config": feature_config.to_dict() if feature_config is not None else None,
            "labels": [str(x) for x in (labels if labels is not None else [])]}


def save_source(path: str | Path, featurizer: PassageFeaturizer, naps: list[NAP],
                feature_config=None, labels: list[str] | None = None) -> Path:
    """Write the transferable part of a source (references and NAP projections) as one ``.npz``."""
    arrays = featurizer.to_arrays()
    for r, nap in enumerate(naps):
        arrays.update(nap.to_arrays(prefix=f"nap_{r}_"))
    return _write_npz(path, _meta("source", featurizer, feature_config, labels), arrays)


def load_source(path: str | Path) -> tuple[PassageFeaturizer, list[NAP], dict]:
    """(featurizer, naps, meta) from :func:`save_source`'s file; plain arrays only, no pickle."""
    meta, z = _read_npz(path, "source", "fit one with accent.aligned.fit_source and save_source")
    cfg = AlignedConfig.from_dict(meta["aligned"])
    n = int(meta["n_references"])
    return (PassageFeaturizer.from_arrays(cfg, z, n),
            [NAP.from_arrays(z, prefix=f"nap_{r}_") for r in range(n)], meta)


def save_model(path: str | Path, model: AlignedModel, feature_config=None) -> Path:
    """Write a fitted :class:`AlignedModel` (references, NAPs, linear heads, classes) as one ``.npz``."""
    arrays = {**model.featurizer.to_arrays(), **model.classifier_.to_arrays()}
    return _write_npz(path, _meta("model", model.featurizer, feature_config, model.classes_), arrays)


def read_model_arrays(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) of :func:`save_model`'s file, unparsed: what a run's inference and export carry."""
    return _read_npz(path, "model", "train the aligned run again (accent transfer --mode aligned)")


def model_from_arrays(meta: dict, arrays) -> AlignedModel:
    """The fitted :class:`AlignedModel` of :func:`read_model_arrays` (arrays may be any array-likes,
    torch tensors included; the classes come from ``meta["labels"]`` when ``arrays`` lacks them)."""
    cfg = AlignedConfig.from_dict(meta["aligned"])
    n = int(meta["n_references"])
    if "classes" not in arrays:
        arrays = {**arrays, "classes": np.asarray(meta["labels"], dtype=str)}
    model = AlignedModel(cfg, PassageFeaturizer.from_arrays(cfg, arrays, n))
    model.classifier_ = AlignedClassifier.from_arrays(cfg, arrays, n)
    model.naps = model.classifier_.naps
    model.classes_ = model.classifier_.classes_
    return model


def load_model(path: str | Path) -> tuple[AlignedModel, dict]:
    """(model, meta) from :func:`save_model`'s file, ready for ``predict_proba``; no pickle."""
    meta, z = read_model_arrays(path)
    return model_from_arrays(meta, z), meta
