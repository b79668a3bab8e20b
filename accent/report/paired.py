"""The report's decision rule: paired differences in balanced accuracy with a stated error.

The runs of a learning curve share their splits: at one size, seed ``s`` of every method trains on
the same subset and all are scored on the same test recordings. A comparison is therefore paired:

- the estimate is the mean over seeds of the per-seed difference ``bacc_a(s) - bacc_b(s)``;
- its error has two parts. The *seed part* is the variance of the per-seed differences over the
  seeds, divided by their number (the training draw and initialisation). The *test part* is the
  variance of that mean over a speaker bootstrap of the test set: test speakers are resampled with
  replacement, and each resample is applied to *both* methods and *every* seed at once (the seeds
  share one test set, so its noise does not average out over seeds). Deterministic runs (seed spread
  0) thus keep the test set's own error, and what both methods get right or wrong together cancels.
- with few seeds the seed part is itself uncertain: it is widened by ``t(n-1) / z`` so that it alone
  would give a Student-t interval.

A gain counts when the lower end of its 95 % interval is above zero; a method is worth
recommending when the lower end of its own level (the same error, without the other method) is above
chance.

Choosing the best of several methods from the same data biases the comparison in its favour (the
winner's curse). The report asks, per question and size, whether *any* of the ``m`` methods of a group
beats the reference, so each of the ``m`` intervals is widened by Bonferroni to ``1 - 0.05 / m``.
Holm's procedure would reject "no method of the group helps" exactly when Bonferroni's smallest
p-value does (its first step is Bonferroni), so it adds nothing here; declaring one pair per question
instead would need a choice of pair made before the data, which the curve's methods do not give
(extract, finetune and aligned-source are all ways to use the source). Sizes are separate claims,
each reported on its own line, and are not corrected for.

The interval is normal (mean ± z standard errors). When two methods disagree on only a handful of
test speakers, all in one direction, it is optimistic (4 speakers of 200, all one way: +0.02 ± 0.01,
counted, where an exact sign test gives p = 0.125); such gains are small and the report prints them
with their interval.

Without ``predictions.csv`` a run gets no bootstrap; its test part falls back to the largest binomial
variance on ``n_test`` recordings, ``0.25 / n_test`` (twice that for an unpaired difference).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from accent.layout import read_predictions

CONFIDENCE = 0.95
DEFAULT_BOOT = 1000
WORST_BINOMIAL_VARIANCE = 0.25   # p (1 - p) at p = 0.5


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds (a level or a paired difference) with its standard error and critical value."""

    value: float
    seed_se: float       # the seeds' part (widened for few seeds)
    test_se: float       # the test set's part
    z: float
    n_seeds: int
    bootstrapped: bool   # False: the test part is the binomial bound (no predictions.csv)

    @property
    def se(self) -> float:
        return math.hypot(self.seed_se, self.test_se)

    @property
    def low(self) -> float:
        return self.value - self.z * self.se

    @property
    def high(self) -> float:
        return self.value + self.z * self.se


def critical_value(candidates: int = 1) -> float:
    """z of a two-sided interval at ``CONFIDENCE``, Bonferroni-widened for ``candidates`` comparisons."""
    return float(stats.norm.ppf(1 - (1 - CONFIDENCE) / (2 * max(1, candidates))))


def _seed_factor(n_seeds: int, candidates: int) -> float:
    """(t / z)^2 for ``n_seeds - 1`` degrees of freedom: few seeds estimate their own spread poorly."""
    q = 1 - (1 - CONFIDENCE) / (2 * max(1, candidates))
    return float(stats.t.ppf(q, n_seeds - 1) / stats.norm.ppf(q)) ** 2


class Evidence:
    """Per-seed test balanced accuracy of every curve run, observed and on shared speaker resamples.

    ``table`` is curve.csv's frame; ``curve_dir`` holds each run's ``run_dir`` (with predictions.csv).
    One set of ``n_boot`` speaker resamples (multinomial counts over every test speaker of the curve,
    fixed by ``seed``) is applied to every run, which is what pairs the bootstrap.
    """

    def __init__(self, table: pd.DataFrame, curve_dir: str | Path | None, n_boot: int = DEFAULT_BOOT,
                 seed: int = 0):
        self.table = table.assign(size=table["size"].astype(str))
        predictions = {}
        if curve_dir is not None:
            for key, rel in zip(self._keys(self.table), self.table["run_dir"]):
                preds = read_predictions(Path(curve_dir) / str(rel), split="test")
                if preds is not None and len(preds):
                    predictions[key] = preds
        speakers = sorted({s for p in predictions.values() for s in p["speaker"]})
        self._speaker_code = {s: k for k, s in enumerate(speakers)}
        rng = np.random.default_rng(seed)
        self._weights = (rng.multinomial(len(speakers), np.full(len(speakers), 1 / len(speakers)), size=n_boot)
                         .astype(float) if speakers else np.zeros((n_boot, 0)))
        self._boot = {key: self._resampled(preds) for key, preds in predictions.items()}

    @staticmethod
    def _keys(table: pd.DataFrame) -> list[tuple[str, str, int]]:
        return [(str(a), str(b), int(c)) for a, b, c in zip(table["series"], table["size"], table["seed"])]

    def _resampled(self, preds: pd.DataFrame) -> np.ndarray:
        """Balanced accuracy of one run on each resample: mean recall over the classes drawn."""
        weights = self._weights[:, preds["speaker"].map(self._speaker_code).to_numpy()]
        correct = (preds["label"] == preds["pred"]).to_numpy(float)
        labels = preds["label"].to_numpy()
        recalls = []
        for label in np.unique(labels):
            rows = labels == label
            total = weights[:, rows].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recalls.append(np.where(total > 0, weights[:, rows] @ correct[rows] / total, np.nan))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # a resample may miss every speaker of a class
            return np.nanmean(np.column_stack(recalls), axis=1)

    def _runs(self, series: str, size: str) -> pd.DataFrame:
        at = self.table[(self.table["series"] == series) & (self.table["size"] == str(size))]
        return at.dropna(subset=["balanced_accuracy"]).drop_duplicates("seed").set_index("seed").sort_index()

    def _test_variance(self, series: str, size: str, seeds: list[int], other: str | None = None) -> tuple[float, bool]:
        """Variance over resamples of the mean over ``seeds`` of ``series`` (minus ``other``'s), and
        whether it was bootstrapped; else the binomial bound on the test recordings (0 when unknown)."""
        names = [series] + ([other] if other else [])
        boots = [[self._boot.get((name, str(size), int(s))) for s in seeds] for name in names]
        if any(b is None for runs in boots for b in runs):
            n_test = self._runs(series, size).get("n_test_recordings", pd.Series(dtype=float)).mean()
            bound = 0.0 if pd.isna(n_test) or not n_test else len(names) * WORST_BINOMIAL_VARIANCE / float(n_test)
            return bound, False
        mean = np.mean(boots[0], axis=0) - (np.mean(boots[1], axis=0) if other else 0.0)
        return float(np.nanvar(mean, ddof=1)), True

    def _estimate(self, per_seed: pd.Series, test_var: float, bootstrapped: bool, candidates: int) -> Estimate:
        n = len(per_seed)   # one seed has no seed part: only the test part is known
        seed_var = float(per_seed.var(ddof=1)) / n * _seed_factor(n, candidates) if n > 1 else 0.0
        return Estimate(float(per_seed.mean()), math.sqrt(seed_var), math.sqrt(test_var), critical_value(candidates),
                        n, bootstrapped)

    def level(self, series: str, size: str, candidates: int = 1) -> Estimate | None:
        """Mean balanced accuracy of ``series`` at ``size`` over its seeds, with its error."""
        runs = self._runs(series, size)
        if runs.empty:
            return None
        test_var, boot = self._test_variance(series, size, list(runs.index))
        return self._estimate(runs["balanced_accuracy"], test_var, boot, candidates)

    def difference(self, a: str, b: str, size: str, candidates: int = 1) -> Estimate | None:
        """Mean over the seeds both ran of ``bacc_a - bacc_b`` at ``size``, with its paired error."""
        ra, rb = self._runs(a, size), self._runs(b, size)
        seeds = sorted(set(ra.index) & set(rb.index))
        if not seeds:
            return None
        per_seed = ra.loc[seeds, "balanced_accuracy"] - rb.loc[seeds, "balanced_accuracy"]
        test_var, boot = self._test_variance(a, size, seeds, other=b)
        return self._estimate(per_seed, test_var, boot, candidates)
