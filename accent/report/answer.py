"""The answer to "did transfer help?", generated from the learning curve's numbers, as two questions.

1. Did pretraining on the same-passage source help? The series that use the source (extract and
   finetune with our SAA-pretrained network, ``aligned-source``) against the best method that does not
   (baseline, scratch, ``aligned`` without the source, ``extract-mfcc``).
2. Did a pretrained literature backbone (Resemblyzer, wav2vec 2.0, ...) help? Its series against the
   same source-free methods.

At each training size the best series of a group is compared with the best source-free series. A
difference counts when it exceeds both the sum of the two standard deviations over seeds and the
test set's sampling error; when nothing clearly beats the source-free methods, the answer says No
and names the method to use instead. The answer ends with which mode to use at which size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from accent.curve import ALL, WITH_SOURCE, size_key
from accent.layout import Mode
from accent.methods import find_method
from accent.report.document import DIGITS, _missing, fmt_mean_std

FINETUNE, SCRATCH = Mode.FINETUNE.value, Mode.SCRATCH.value
OUR_NETWORK, MFCC = "accent", "mfcc"
SOURCE, LITERATURE, SOURCE_FREE = "source", "literature", "source-free"
QUESTIONS = {SOURCE: "Did pretraining on the same-passage source help?",
             LITERATURE: "Did a pretrained literature backbone help?"}
WHAT = {SOURCE: "the best mode that uses the source", LITERATURE: "the best pretrained literature backbone"}


def series_group(series: str, mode: str) -> str | None:
    """What a curve series is: ``source`` (uses the pretrained source), ``literature`` (a backbone
    pretrained elsewhere) or ``source-free`` (baseline, scratch, aligned without the source, MFCC)."""
    method = find_method(mode)
    return None if method is None else method.series_group(series)


def _size_phrase(size: str, n_train: float) -> str:
    if size == ALL:
        return f"the full train split ({n_train:.0f} recordings)"
    return f"{size} recording{'' if size == '1' else 's'} per class"


def _short_size(size: str) -> str:
    return "the full train split" if size == ALL else f"{size} per class"


@dataclass
class Comparison:
    """The best series of a group against the best source-free series at one size."""

    size: str
    best: pd.Series
    other: pd.Series
    diff: float
    spread: float        # sum of the two standard deviations over seeds
    sampling: float = 0.0  # the test set's sampling error, 0.5 / sqrt(n test recordings)
    baseline: pd.Series | None = None   # the classical baseline at this size, quoted beside every comparison

    @property
    def clear(self) -> bool:
        return abs(self.diff) > max(self.spread, self.sampling)

    @property
    def won(self) -> bool:
        return self.clear and self.diff > 0

    @property
    def noise(self) -> str:
        """What a difference too small to count is within."""
        return "the seed spread" if self.spread >= self.sampling else "the test-set sampling error"

    @property
    def verdict(self) -> str:
        return "beat" if self.won else "lost to" if self.clear else f"was within {self.noise} of"

    def clause(self) -> str:
        b, o = self.best, self.other
        return (f"with {_size_phrase(self.size, b['n_train_mean'])} {b['series']} reached balanced accuracy "
                f"{fmt_mean_std(b['balanced_accuracy_mean'], b['balanced_accuracy_std'])} and {self.verdict} "
                f"{o['series']} ({fmt_mean_std(o['balanced_accuracy_mean'], o['balanced_accuracy_std'])}, "
                f"{self.diff:+.{DIGITS}f}"
                + (f"; baseline {fmt_mean_std(self.baseline['balanced_accuracy_mean'], self.baseline['balanced_accuracy_std'])})"
                   if self.baseline is not None and o["series"] != Mode.BASELINE.value else ")"))


def sampling_error(n_test) -> float:
    """The largest standard error of a proportion measured on ``n_test`` recordings (p = 0.5).

    Seeds that only change the training subset say nothing about the test set's own noise: with the
    full train split, baseline and extract are deterministic (seed spread 0), yet a 0.01 difference
    on 128 test recordings means nothing. Differences must exceed this as well as the seed spread."""
    return 0.0 if _missing(n_test) or not n_test else 0.5 / math.sqrt(float(n_test))


def _zero(value) -> float:
    return 0.0 if _missing(value) else float(value)


def _grouped(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.assign(group=[series_group(s, m) for s, m in zip(summary["series"], summary["mode"])])


def _best(rows: pd.DataFrame) -> pd.Series | None:
    return None if rows.empty else rows.loc[rows["balanced_accuracy_mean"].idxmax()]


def compare(summary: pd.DataFrame, group: str) -> list[Comparison]:
    """At each size where both are measured: the best series of ``group`` against the best source-free series."""
    summary = _grouped(summary)
    comps = []
    for size in sorted(set(summary["size"]), key=size_key):
        at = summary[summary["size"] == size]
        best, other = _best(at[at["group"] == group]), _best(at[at["group"] == SOURCE_FREE])
        if best is None or other is None:
            continue
        spread = _zero(best["balanced_accuracy_std"]) + _zero(other["balanced_accuracy_std"])
        comps.append(Comparison(size, best, other, best["balanced_accuracy_mean"] - other["balanced_accuracy_mean"],
                                spread, sampling_error(best.get("n_test_mean")),
                                _best(at[at["series"] == Mode.BASELINE.value])))
    return comps


def _overall(comps: list[Comparison]) -> str:
    """Yes when the group clearly won at every size compared, No when it never did, Partly otherwise."""
    wins = [c.won for c in comps]
    return "Yes" if all(wins) else "No" if not any(wins) else "Partly"


def _sizes_text(sizes: list[str]) -> str:
    names = [_short_size(s) for s in sizes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def question_answer(summary: pd.DataFrame, group: str) -> str:
    """One paragraph: the question, Yes/Partly/No with the numbers at each size, and for No the method to use."""
    question = QUESTIONS[group]
    groups = set(_grouped(summary)["group"])
    if group not in groups:
        what = ("no run that uses the source (extract or finetune with our network, aligned with --source)"
                if group == SOURCE else "no pretrained literature backbone (curve --backbones resemblyzer, ...)")
        return f"{question} Not measured: the curve has {what}."
    comps = compare(summary, group)
    if not comps:
        return (f"{question} Cannot say: the curve has no source-free run (baseline, scratch, aligned) at the sizes "
                "of those runs to measure them against.")
    verdict = _overall(comps)
    won = [c.size for c in comps if c.won]
    if verdict == "Yes":
        lead = f"Yes — at every size measured {WHAT[group]} clearly beat the best method without it"
    elif verdict == "No":
        lead = f"No — at no size measured did {WHAT[group]} clearly beat the best method without it"
    else:
        lead = f"Partly — {WHAT[group]} clearly beat the best method without it only at {_sizes_text(won)}"
    text = f"{question} {lead}: " + "; ".join(c.clause() for c in comps) + "."
    if verdict == "No":
        text += f" Use {_recommend_free(comps)} instead."
    if group == SOURCE:
        epochs = _epoch_clause(summary, [c.size for c in comps], helped_at_largest=comps[-1].won)
        if epochs:
            text += f" {epochs[0].upper()}{epochs[1:]}."
    return text


def _recommend_free(comps: list[Comparison]) -> str:
    """The source-free series that was best at the sizes compared (per size when it changes)."""
    names = [str(c.other["series"]) for c in comps]
    if len(set(names)) == 1:
        return names[0]
    return ", ".join(f"{n} at {_short_size(c.size)}" for n, c in zip(names, comps))


def recommendation(summary: pd.DataFrame) -> str:
    """Which mode to use at which size: a pretrained series only where it clearly beat the best
    source-free one (the better of source and literature when both did), else the best source-free."""
    summary = _grouped(summary)
    wins = {g: {c.size: c for c in compare(summary, g) if c.won} for g in (SOURCE, LITERATURE)}
    picks = []
    for size in sorted(set(summary["size"]), key=size_key):
        winners = [wins[g][size].best for g in wins if size in wins[g]]
        at = summary[(summary["size"] == size) & (summary["group"] == SOURCE_FREE)]
        best = max(winners, key=lambda r: r["balanced_accuracy_mean"]) if winners else _best(at)
        if best is not None:
            picks.append((size, str(best["series"])))
    if not picks:
        return ""
    runs: list[tuple[str, list[str]]] = []          # consecutive sizes with the same series
    for size, series in picks:
        if runs and runs[-1][0] == series:
            runs[-1][1].append(size)
        else:
            runs.append((series, [size]))
    if len(runs) == 1:
        return f"Which mode to use: {runs[0][0]} at every size measured ({_sizes_text(runs[0][1])})."
    return "Which mode to use: " + "; ".join(f"{s} at {_sizes_text(sizes)}" for s, sizes in runs) + "."


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


def answer_paragraphs(summary: pd.DataFrame) -> list[str]:
    """The two questions, each answered from the curve summary, then which mode to use at which size."""
    if summary.empty:
        return ["The learning curve has no runs, so it cannot say whether transfer helped."]
    paragraphs = [question_answer(summary, SOURCE), question_answer(summary, LITERATURE)]
    use = recommendation(summary)
    return paragraphs + ([use] if use else [])


def transfer_answer(summary: pd.DataFrame) -> str:
    """:func:`answer_paragraphs` as one text (paragraphs separated by blank lines)."""
    return "\n\n".join(answer_paragraphs(summary))
