"""The passage-aligned recipe: classify accents by aligning every recording to reference readings
of the same passage, then comparing what each speaker does at the same place in the text.

It exploits that every Speech Accent Archive speaker reads one paragraph ("Please call Stella..."),
so position in the reference reading stands in for the phone being spoken, and the classifier
compares like with like instead of averaging a whole recording into one vector. It does not apply
when speakers read different sentences (Common Voice): use the MFCC or speaker-encoder features there.

The chain, torch-free, from stored log-mels (any :class:`accent.features.FeatureConfig`; the
development protocol uses 8 kHz):

1. :func:`recording_sequence` (the alignment engine's, :mod:`accent.alignment`): log-mel frames
   averaged into ``block_ms`` blocks, DCT to ``n_mfcc`` MFCCs, mean and variance normalised per
   recording (removes the channel and most of the voice level);
2. :func:`select_references`: reference recordings of the passage, the English readings at
   length quantiles (0.5, 0.2, 0.8), from the training rows or from a source corpus;
3. :func:`aligned_features`: banded DTW (:func:`accent.alignment.align`) on c1..c9 against a reference
   (or a path from the engine's cache, :func:`path_features`); for each
   ``segment_s`` of the reference, the mean c0..c9 of the recording's blocks aligned to it and log1p of
   how many there are (a local speaking rate);
4. :class:`NAP` (nuisance attribute projection): standardise, then remove the leading eigenvectors of
   the within-language scatter (voice, channel and reading-style directions), fitted on training rows
   or on a source corpus and saved as plain arrays;
5. :class:`AlignedClassifier`: per reference, StandardScaler + class-balanced logistic regression;
   the log-probabilities are averaged over the references.

The DTW cost also says whether a clip reads the passage at all: :class:`PassageCalibration`, fitted
on the training rows, gives each clip a ``passage_match`` in 0..1 (off passage below
:data:`PASSAGE_MATCH_THRESHOLD`). :func:`store_features` and :func:`cross_validate` take every
alignment from the engine's cache beside the store, so folds and curve points never align twice.

:class:`PassageFeaturizer` holds steps 2-3 and :class:`AlignedModel` the whole chain. Both save to
``.npz`` files of plain arrays plus a JSON string (loaded with ``allow_pickle=False``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from accent import alignment
from accent.errors import AccentError, check_keys
from accent.featurize import featurize_clip
from accent.fileio import read_meta_npz, write_meta_npz

FORMAT = "accent-aligned/1"
REFERENCE_LABEL = "english"
STD_FLOOR = alignment.STD_FLOOR
NAP_SPAN_DIVISOR = 2   # NAP removes at most this fraction (1/2) of the within-class span of few rows


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
    C: float = 3e-5                   # inverse L2 strength: strong shrinkage keeps small classes alive (docs/benchmarks.md)
    max_iter: int = 3000
    band: float = alignment.AlignSpec.band   # DTW band, a fraction of the longer sequence

    def spec(self) -> alignment.AlignSpec:
        """The alignment engine's settings of this recipe."""
        return alignment.AlignSpec(self.n_mfcc, self.block_ms, self.align_coeffs, self.band)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AlignedConfig":
        check_keys(d, {f.name for f in fields(cls)}, "aligned-recipe setting")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)


# -- 1. sequences (the alignment engine's) -------------------------------------------------------

def recording_sequence(logmel: np.ndarray, hop_ms: float, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """:func:`accent.alignment.recording_sequence` under the recipe's settings."""
    return alignment.recording_sequence(logmel, hop_ms, cfg.spec())


def store_sequences(store, rows=None, cfg: AlignedConfig = AlignedConfig()) -> list[np.ndarray]:
    """:func:`recording_sequence` of a feature store's rows (positions in ``store.index``; all by default)."""
    return alignment.store_sequences(store, rows, cfg.spec())


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


def path_features(seq: np.ndarray, path: np.ndarray, ref_len: int, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """One recording along its DTW path to a reference of ``ref_len`` blocks:
    (n_segments * (feature_coeffs + 1),) float32.

    Per reference segment: the mean of c0..c{feature_coeffs-1} over the distinct recording blocks the
    path maps into it, then log1p of their count. Every segment receives at least one block
    because a DTW path visits every reference index.
    """
    step = segment_blocks(cfg)
    blk, seg = path[:, 0], path[:, 1] // step
    # a path is monotone in both sequences: its distinct (block, segment) pairs are where either changes
    new = np.r_[True, (np.diff(blk) != 0) | (np.diff(seg) != 0)]
    blk, seg = blk[new], seg[new]
    starts = np.flatnonzero(np.r_[True, np.diff(seg) != 0])   # every segment is visited, in order
    counts = np.diff(np.r_[starts, len(seg)]).astype(np.float64)
    means = np.add.reduceat(seq[blk, :cfg.feature_coeffs].astype(np.float64), starts, axis=0) / counts[:, None]
    return np.concatenate([means, np.log1p(counts)[:, None]], axis=1).ravel().astype(np.float32)


def aligned_features(seq: np.ndarray, ref: np.ndarray, cfg: AlignedConfig = AlignedConfig()) -> np.ndarray:
    """:func:`path_features` of one recording against one reference (aligned here, banded DTW)."""
    return path_features(seq, alignment.align(seq, ref, cfg.spec()).path(), len(ref), cfg)


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
        return self.align(sequences, progress)[0]

    def align(self, sequences: list[np.ndarray], progress: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        """(one feature matrix per reference, normalised DTW costs (n_recordings, n_references)),
        each recording aligned here against every reference."""
        if not self.references:
            raise AccentError("the passage featurizer has no references: fit it first")
        from tqdm import tqdm

        spec = self.config.spec()
        found = [[alignment.align(seq, ref, spec) for ref in self.references]
                 for seq in tqdm(sequences, desc="align", unit="rec", disable=not progress, dynamic_ncols=True)]
        per_ref = [alignment.Alignments.of([row[r] for row in found]) for r in range(len(self.references))]
        return self.from_alignments(sequences, per_ref)

    def null_costs(self, sequences: list[np.ndarray]) -> np.ndarray:
        """(n_recordings, n_references) DTW costs against the time-reversed references: what a
        clip costs when it has the passage's sounds in the wrong order (:func:`match_statistics`)."""
        spec = self.config.spec()
        return np.array([[alignment.align(seq, ref[::-1], spec).cost for ref in self.references]
                         for seq in sequences]).reshape(len(sequences), len(self.references))

    def from_alignments(self, sequences: list[np.ndarray],
                        alignments: list[alignment.Alignments]) -> tuple[list[np.ndarray], np.ndarray]:
        """What :meth:`align` returns, from alignments already computed (one per reference, e.g.
        :func:`accent.alignment.store_alignments`' cache), in the order of ``sequences``."""
        if len(alignments) != len(self.references):
            raise AccentError(f"{len(alignments)} alignments for {len(self.references)} references")
        blocks = [np.stack([path_features(seq, al.path(i), len(ref), self.config) for i, seq in enumerate(sequences)])
                  if sequences else np.zeros((0, self.dim(ref)), np.float32)
                  for ref, al in zip(self.references, alignments)]
        costs = np.stack([al.costs for al in alignments], axis=1).astype(np.float64)
        return blocks, costs.reshape(len(sequences), len(self.references))

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
        # the within scatter has rank at most rows - classes: directions beyond it would be arbitrary, and
        # removing all of it would leave the classifier nothing but the class means: keep half at least
        k = min(self.n_directions, max(0, len(W) - len(classes)) // NAP_SPAN_DIVISOR, W.shape[1])
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
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise AccentError("the aligned classifier needs at least two classes in its training rows")
        if not self.fixed_naps:
            self.naps = [NAP(self.config.n_nap).fit(X, y) for X in blocks]
        if len(self.naps) != len(blocks):
            raise AccentError(f"{len(blocks)} feature blocks but {len(self.naps)} NAP projections")
        self.heads_ = []
        for nap, X in zip(self.naps, blocks):
            model = make_pipeline(StandardScaler(), self._head())
            model.fit(nap.transform(X), y)
            self.heads_.append(LinearHead.from_pipeline(model))
            self.classes_ = model.classes_
        return self

    def _head(self):
        """The linear classifier of one reference: class-balanced logistic regression."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.config.C, class_weight="balanced", max_iter=self.config.max_iter,
                                  random_state=self.seed)

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

# -- "does this clip read the passage?" --------------------------------------------------------

OFF_PASSAGE_Z = 3.5             # robust z beyond which a clip does not read the passage (docs/benchmarks.md)
MATCH_SLOPE = 2.0               # how fast passage_match falls around OFF_PASSAGE_Z
PASSAGE_MATCH_THRESHOLD = 0.5   # passage_match below this: the clip does not read the passage


def match_statistics(costs: np.ndarray, null_costs: np.ndarray, lengths) -> np.ndarray:
    """(n, 3): the DTW cost per path step, its ratio to the cost against the time-reversed
    references, and the log length; each averaged over the references.

    The ratio is what separates readings from other speech: a clip that reads the passage aligns
    much better to a reference than to the same reference backwards (same sounds, wrong order);
    noise, another sentence or a reversed reading align about as well (or as badly) to both.
    The cost catches noise, the length clips too short to hold the passage.
    """
    costs, null_costs = np.atleast_2d(costs), np.atleast_2d(null_costs)
    return np.column_stack([costs.mean(1), (costs / np.maximum(null_costs, STD_FLOOR)).mean(1),
                            np.log(np.asarray(lengths, np.float64))])


@dataclass
class PassageCalibration:
    """Median and robust scale (1.4826 MAD) of :func:`match_statistics` over the training rows.

    A clip's off-passage score is the largest robust z of: a higher cost, a higher ratio, a
    shorter length than the training readings; ``passage_match`` maps it to 0..1, crossing
    :data:`PASSAGE_MATCH_THRESHOLD` at :data:`OFF_PASSAGE_Z`.
    """
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, stats: np.ndarray) -> "PassageCalibration":
        center = np.median(stats, axis=0)
        return cls(center, np.maximum(1.4826 * np.median(np.abs(stats - center), axis=0), STD_FLOOR))

    def z(self, stats: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(stats) - self.center) / self.scale
        return np.max(z * np.array([1.0, 1.0, -1.0]), axis=1)

    def match(self, stats: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(MATCH_SLOPE * (self.z(stats) - OFF_PASSAGE_Z)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"match_center": self.center, "match_scale": self.scale}

    @classmethod
    def from_arrays(cls, arrays) -> "PassageCalibration | None":
        """None for a model file saved before the calibration existed."""
        if "match_center" not in arrays:
            return None
        return cls(np.asarray(arrays["match_center"], np.float64), np.asarray(arrays["match_scale"], np.float64))


# -- the whole chain and its files ---------------------------------------------------------------

class AlignedModel:
    """Sequences in, probabilities out: :class:`PassageFeaturizer` then :class:`AlignedClassifier`,
    with a :class:`PassageCalibration` that tells whether a clip reads the passage at all.

    ``featurizer`` and ``naps`` may come from a source corpus (:meth:`load_source`); otherwise
    :meth:`fit` chooses the references and fits the NAP on its own training rows.
    """

    def __init__(self, config: AlignedConfig = AlignedConfig(), featurizer: PassageFeaturizer | None = None,
                 naps: list[NAP] | None = None, seed: int = 0):
        self.config = config
        self.featurizer = featurizer
        self.naps = naps
        self.seed = seed
        self.calibration: PassageCalibration | None = None

    def fit(self, sequences: list[np.ndarray], y, progress: bool = False) -> "AlignedModel":
        if self.featurizer is None:
            self.featurizer = PassageFeaturizer(self.config).fit(sequences, y)
        blocks, stats = self._features(sequences, progress)
        return self.fit_features(blocks, y, stats)

    def fit_features(self, blocks: list[np.ndarray], y, stats: np.ndarray | None = None) -> "AlignedModel":
        """Fit on features already computed by :attr:`featurizer` (e.g. :func:`store_features`);
        ``stats``: their :func:`match_statistics`, for the passage calibration."""
        self.classifier_ = AlignedClassifier(self.config, self.naps, self.seed).fit(blocks, y)
        self.classes_ = self.classifier_.classes_
        self.calibration = PassageCalibration.fit(stats) if stats is not None else None
        return self

    def _features(self, sequences: list[np.ndarray], progress: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        blocks, costs = self.featurizer.align(sequences, progress)
        stats = match_statistics(costs, self.featurizer.null_costs(sequences), [len(s) for s in sequences])
        return blocks, stats

    def predict_proba(self, sequences: list[np.ndarray], progress: bool = False) -> np.ndarray:
        return self.classifier_.predict_proba(self.featurizer.transform(sequences, progress))

    def predict(self, sequences: list[np.ndarray]) -> np.ndarray:
        return self.classifier_.predict(self.featurizer.transform(sequences))

    def passage_match(self, sequences: list[np.ndarray]) -> np.ndarray:
        """0..1 per clip: how well it matches readings of the passage; below
        :data:`PASSAGE_MATCH_THRESHOLD` it does not read the passage. NaN for a model saved before
        the calibration existed."""
        return self.predict_with_match(sequences)[1]

    def predict_with_match(self, sequences: list[np.ndarray], progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, passage_match), aligning each clip once."""
        if not sequences:
            return np.zeros((0, len(self.classes_))), np.zeros(0)
        return self.predict_features(*self._features(sequences, progress))

    def predict_features(self, blocks: list[np.ndarray], stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, passage_match) of features already computed (e.g. :func:`store_features`)."""
        n = len(stats)
        if n == 0:
            return np.zeros((0, len(self.classes_))), np.zeros(0)
        match = self.calibration.match(stats) if self.calibration is not None else np.full(n, np.nan)
        return self.classifier_.predict_proba(blocks), match


def store_features(store, featurizer: PassageFeaturizer, sequences: list[np.ndarray] | None = None, *,
                   executor=None, progress: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """(one feature matrix per reference, :func:`match_statistics`) of every row of ``store``, from the
    alignment cache (:func:`accent.alignment.store_alignments`: computed once per reference, through
    ``executor`` when given; a warm call only reads paths)."""
    spec = featurizer.config.spec()
    seqs = store_sequences(store, cfg=featurizer.config) if sequences is None else sequences
    found = lambda ref: alignment.store_alignments(store, ref, spec, executor=executor, progress=progress)  # noqa: E731
    blocks, costs = featurizer.from_alignments(seqs, [found(ref) for ref in featurizer.references])
    null = np.stack([found(ref[::-1]).costs for ref in featurizer.references], axis=1)
    return blocks, match_statistics(costs, null, [len(s) for s in seqs])


def cross_validate(store, folds: list[tuple[np.ndarray, np.ndarray]], config: AlignedConfig = AlignedConfig(), *,
                   executor=None, seed: int = 0, progress: bool = False) -> dict:
    """The recipe on (train rows, test rows) pairs of ``store``, references and NAP from each fold's
    training rows, every alignment from the cache. Returns per fold the balanced accuracy, and over
    all test rows the predictions, per-class recall and passage_match."""
    from accent.metrics import per_class_recall  # scikit-learn: kept out of start-up

    y = store.index["label"].to_numpy()
    seqs = store_sequences(store, cfg=config)
    pred = np.full(len(y), "", dtype=object)
    match = np.full(len(y), np.nan)
    scores = []
    for train, test in folds:
        featurizer = PassageFeaturizer(config).fit([seqs[i] for i in train], y[train])
        blocks, stats = store_features(store, featurizer, seqs, executor=executor, progress=progress)
        model = AlignedModel(config, featurizer, seed=seed).fit_features([X[train] for X in blocks], y[train],
                                                                          stats[train])
        pred[test] = model.classifier_.predict([X[test] for X in blocks])
        match[test] = model.calibration.match(stats[test])
        recalls = per_class_recall(y[test], pred[test], sorted(set(y[test])))
        scores.append(float(np.mean(list(recalls.values()))))   # balanced accuracy
    tested = np.concatenate([t for _, t in folds])
    labels = sorted(set(y[tested]))
    return {"scores": scores, "predictions": pred, "passage_match": match,
            "per_class_recall": per_class_recall(y[tested], pred[tested], labels)}


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


def _read_npz(path: str | Path, kind: str, hint: str):
    """(meta, arrays as a dict) of a file written by :func:`write_meta_npz` with ``meta["kind"] == kind``."""
    meta, arrays = read_meta_npz(path, f"aligned-recipe {kind}", hint)
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
    return write_meta_npz(path, _meta("source", featurizer, feature_config, labels), arrays)


def load_source(path: str | Path) -> tuple[PassageFeaturizer, list[NAP], dict]:
    """(featurizer, naps, meta) from :func:`save_source`'s file; plain arrays only, no pickle."""
    meta, z = _read_npz(path, "source", "fit one with accent.aligned.fit_source and save_source")
    cfg = AlignedConfig.from_dict(meta["aligned"])
    n = int(meta["n_references"])
    return (PassageFeaturizer.from_arrays(cfg, z, n),
            [NAP.from_arrays(z, prefix=f"nap_{r}_") for r in range(n)], meta)


def save_model(path: str | Path, model: AlignedModel, feature_config=None, prompt: str | None = None) -> Path:
    """Write a fitted :class:`AlignedModel` (references, NAPs, linear heads, classes, the passage
    calibration) as one ``.npz``; ``prompt``: the passage text its training rows read, when known."""
    arrays = {**model.featurizer.to_arrays(), **model.classifier_.to_arrays(),
              **(model.calibration.to_arrays() if model.calibration is not None else {})}
    meta = _meta("model", model.featurizer, feature_config, model.classes_)
    return write_meta_npz(path, {**meta, **({"prompt": prompt} if prompt else {})}, arrays)


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
    model.calibration = PassageCalibration.from_arrays(arrays)
    return model


def load_model(path: str | Path) -> tuple[AlignedModel, dict]:
    """(model, meta) from :func:`save_model`'s file, ready for ``predict_proba``; no pickle."""
    meta, z = read_model_arrays(path)
    return model_from_arrays(meta, z), meta
