"""The answer to "did transfer help?", generated from the learning curve's numbers.

A difference counts when it exceeds both the sum of the two standard deviations over seeds and the
test set's sampling error; when nothing clearly beats the comparison, the answer says No.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from accent.curve import ALL, size_key
from accent.layout import Mode
from accent.report.document import DIGITS, _missing, fmt_mean_std

BACKBONE_MODES = tuple(m.value for m in Mode if m.uses_backbone)   # the transfer results: extract, finetune
COMPARATORS = (Mode.SCRATCH.value, Mode.BASELINE.value)            # what they are measured against
FINETUNE, SCRATCH = Mode.FINETUNE.value, Mode.SCRATCH.value


def _size_phrase(size: str, n_train: float) -> str:
    if size == ALL:
        return f"the full train split ({n_train:.0f} recordings)"
    return f"{size} recording{'' if size == '1' else 's'} per class"


@dataclass
class Comparison:
    """The best transfer series against one comparator at one size."""

    other: str
    diff: float
    spread: float        # sum of the two standard deviations over seeds
    other_mean: float
    other_std: float
    sampling: float = 0.0  # the test set's sampling error, 0.5 / sqrt(n test recordings)

    @property
    def clear(self) -> bool:
        return abs(self.diff) > max(self.spread, self.sampling)

    @property
    def noise(self) -> str:
        """What a difference too small to count is within."""
        return "the seed spread" if self.spread >= self.sampling else "the test-set sampling error"


def _compare_at(summary: pd.DataFrame, size: str) -> tuple[pd.Series, list[Comparison]]:
    at = summary[summary["size"] == size]
    transfer = at[at["mode"].isin(BACKBONE_MODES)]
    best = transfer.loc[transfer["balanced_accuracy_mean"].idxmax()]
    comps = []
    for other in COMPARATORS:
        rows = at[at["series"] == other]
        if rows.empty:
            continue
        row = rows.iloc[0]
        std_best, std_other = _zero(best["balanced_accuracy_std"]), _zero(row["balanced_accuracy_std"])
        comps.append(Comparison(other, best["balanced_accuracy_mean"] - row["balanced_accuracy_mean"],
                                std_best + std_other, row["balanced_accuracy_mean"], std_other,
                                sampling_error(best.get("n_test_mean"))))
    return best, comps


def sampling_error(n_test) -> float:
    """The largest standard error of a proportion measured on ``n_test`` recordings (p = 0.5).

    Seeds that only change the training subset say nothing about the test set's own noise: with the
    full train split, baseline and extract are deterministic (seed spread 0), yet a 0.01 difference
    on 128 test recordings means nothing. Differences must exceed this as well as the seed spread."""
    return 0.0 if _missing(n_test) or not n_test else 0.5 / math.sqrt(float(n_test))


def _zero(value) -> float:
    return 0.0 if _missing(value) else float(value)


def _outcome(comps: list[Comparison]) -> str:
    """``beat scratch and baseline``, ``beat scratch but lost to baseline``, ..."""
    groups = {"beat": [], "lost to": [], "was within the seed spread of": [],
              "was within the test-set sampling error of": []}
    for c in comps:
        groups["beat" if c.clear and c.diff > 0 else "lost to" if c.clear else f"was within {c.noise} of"].append(c.other)
    parts = [f"{verb} {' and '.join(names)}" for verb, names in groups.items() if names]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " but " + parts[-1]


def _overall(all_comps: list[Comparison]) -> str:
    """Yes when transfer clearly beat every comparison at every size compared, No when it never
    clearly beat any, Partly otherwise."""
    wins = [c.clear and c.diff > 0 for c in all_comps]
    return "Yes" if all(wins) else "No" if not any(wins) else "Partly"


def _size_clause(size: str, best: pd.Series, comps: list[Comparison]) -> str:
    against = " and ".join(
        f"{fmt_mean_std(c.other_mean, c.other_std)} for {c.other} ({c.diff:+.{DIGITS}f})" for c in comps)
    return (f"with {_size_phrase(size, best['n_train_mean'])} {best['series']} reached balanced accuracy "
            f"{fmt_mean_std(best['balanced_accuracy_mean'], best['balanced_accuracy_std'])} against {against}")


def _epoch_clause(summary: pd.DataFrame, sizes: list[str], helped_at_largest: bool) -> str | None:
    """Compare the epochs fine-tuning and scratch needed to reach their best validation score."""
    rows = {s: summary[(summary["series"] == s) & summary["size"].isin(sizes)] for s in (FINETUNE, SCRATCH)}
    if any(r.empty or r["best_epoch_mean"].isna().all() for r in rows.values()):
        return None
    ft, sc = (rows[s]["best_epoch_mean"].mean() for s in (FINETUNE, SCRATCH))
    spread = rows[FINETUNE]["best_epoch_std"].fillna(0).mean() + rows[SCRATCH]["best_epoch_std"].fillna(0).mean()
    numbers = f"fine-tuning reached its best validation score after {ft:.1f} epochs on average against {sc:.1f} for scratch"
    if sc - ft > spread:
        if helped_at_largest:
            return (f"{numbers}, so pretraining both sped up training and raised accuracy, more than the "
                    "capstone's conclusion that it mostly sped up training")
        return f"{numbers}, which confirms the capstone's conclusion that pretraining mostly sped up training"
    if abs(sc - ft) <= spread:
        return (f"{numbers} (within the seed spread), which does not support the capstone's conclusion that "
                "pretraining mostly sped up training")
    return f"{numbers}, which refutes the capstone's conclusion that pretraining mostly sped up training"


def transfer_answer(summary: pd.DataFrame) -> str:
    """One sentence, generated from the curve summary, answering "did transfer help?".

    A difference counts when it exceeds both the sum of the two standard deviations over seeds (the
    ±1 std error bars do not overlap) and the test set's sampling error (:func:`sampling_error`).
    """
    if summary.empty or not summary["mode"].isin(BACKBONE_MODES).any():
        return "The curve has no extract or finetune runs, so it cannot say whether transfer helped."
    if not summary["series"].isin(COMPARATORS).any():
        return "The curve has no scratch or baseline runs, so there is nothing to measure transfer against."
    transfer_sizes = set(summary.loc[summary["mode"].isin(BACKBONE_MODES), "size"])
    other_sizes = set(summary.loc[summary["series"].isin(COMPARATORS), "size"])
    sizes = sorted(transfer_sizes & other_sizes, key=size_key)
    if not sizes:
        return "The transfer and comparison runs share no training size, so they cannot be compared."
    small, large = sizes[0], sizes[-1]
    best_s, comps_s = _compare_at(summary, small)
    best_l, comps_l = _compare_at(summary, large)
    if small == large:
        lead = f"{_overall(comps_l)} — at the only size measured the best transfer mode {_outcome(comps_l)}"
        clauses = [_size_clause(large, best_l, comps_l)]
    else:
        outcome_s, outcome_l = _outcome(comps_s), _outcome(comps_l)
        lead = (f"{_overall(comps_s + comps_l)} — both with the least and with the most target data the best "
                f"transfer mode {outcome_s}" if outcome_s == outcome_l else
                f"{_overall(comps_s + comps_l)} — with the least target data the best transfer mode {outcome_s}, "
                f"and with the most it {outcome_l}")
        clauses = [_size_clause(small, best_s, comps_s), _size_clause(large, best_l, comps_l)]
    epochs = _epoch_clause(summary, sizes, helped_at_largest=all(c.clear and c.diff > 0 for c in comps_l))
    if epochs:
        clauses.append(epochs)
    return f"{lead}: " + "; ".join(clauses) + "."
