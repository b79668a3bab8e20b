"""The answer to "did transfer help?", generated from the learning curve, as verdict lines.

1. Did pretraining on the same-passage source help? The series that use the source (extract and
   finetune with our SAA-pretrained network, ``aligned-source``) against the best method that does not
   (baseline, scratch, ``aligned`` without the source, ``extract-mfcc``).
2. Did a pretrained literature backbone (Resemblyzer, wav2vec 2.0, ...) help? Its series against the
   same source-free methods.

Each question gets one line: Yes (a gain at every size measured), Partly, No or Not measured, and one
sentence with the deciding number and its 95 % interval. At each size every series of the group is
compared, paired by seed, with the best source-free series (:mod:`accent.report.paired`, Bonferroni
over the group's series); the line ends with which mode to use at which size, recommending a mode only
where its own lower bound is above chance.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accent.curve import ALL, size_key, summarize_curve
from accent.layout import Mode
from accent.methods import find_method
from accent.report.document import DIGITS
from accent.report.paired import DEFAULT_BOOT, Estimate, Evidence

FINETUNE, SCRATCH = Mode.FINETUNE.value, Mode.SCRATCH.value
OUR_NETWORK, MFCC = "accent", "mfcc"
SOURCE, LITERATURE, SOURCE_FREE = "source", "literature", "source-free"
RULE = ("Rule: a method beats another at a size when the lower end of the 95 % interval of their mean paired "
        "difference in balanced accuracy over seeds is above zero (standard error from the seed-to-seed "
        "variation and a speaker bootstrap of the shared test set, Bonferroni-widened for the number of methods "
        "of the group), and a mode is recommended only when its own lower end is above chance.")
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
    return "all training data" if size == ALL else f"{size} per class"


def _sizes_text(sizes: list[str]) -> str:
    """``5, 10, 20 per class and all training data``."""
    numbers = [s for s in sizes if s != ALL]
    parts = ([", ".join(numbers) + " per class"] if numbers else []) + (["all training data"] if ALL in sizes else [])
    return " and ".join(parts)


def _interval(est: Estimate) -> str:
    return f"{est.value:+.{DIGITS}f} (95 % interval {est.low:+.{DIGITS}f} to {est.high:+.{DIGITS}f})"


@dataclass
class Comparison:
    """One series of a group against the best source-free series at one size, paired by seed."""

    size: str
    series: str
    reference: str
    estimate: Estimate

    @property
    def won(self) -> bool:
        return self.estimate.low > 0

    @property
    def lost(self) -> bool:
        return self.estimate.high < 0

    @property
    def outcome(self) -> str:
        return "gain" if self.won else "loss" if self.lost else "no clear difference"

    def case(self) -> str:
        """``finetune over scratch at 5 per class, +0.150 (95 % interval ...)``."""
        return f"{self.series} {'over' if self.won else 'vs'} {self.reference} at {_short_size(self.size)}, " \
               f"{_interval(self.estimate)}"


@dataclass
class QuestionAnswer:
    group: str
    verdict: str                      # Yes, Partly, No or Not measured
    sentence: str
    comparisons: list[Comparison]     # every series of the group at every size
    deciding: list[Comparison]        # per size, the group's series with the highest lower bound

    @property
    def line(self) -> str:
        return f"{QUESTIONS[self.group]} **{self.verdict}.** {self.sentence}"


@dataclass
class Pick:
    """The mode to use at one size (None: nothing measured beats chance there), with its level."""

    size: str
    series: str | None
    level: Estimate | None


@dataclass
class Answer:
    questions: list[QuestionAnswer]
    picks: list[Pick]
    chance: float | None
    epochs: str | None                # how fast fine-tuning converged against scratch, when both ran

    @property
    def advice(self) -> str:
        return advice_line(self.picks, self.chance)

    @property
    def lines(self) -> list[str]:
        """The verdict lines, then which mode to use."""
        return [q.line for q in self.questions] + ([self.advice] if self.picks else [])


def _grouped(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.assign(group=[series_group(s, m) for s, m in zip(summary["series"], summary["mode"])])


def _best(rows: pd.DataFrame) -> pd.Series | None:
    return None if rows.empty else rows.loc[rows["balanced_accuracy_mean"].idxmax()]


def compare(summary: pd.DataFrame, evidence: Evidence, group: str) -> list[Comparison]:
    """At each size where both ran: every series of ``group`` against the best source-free series."""
    summary = _grouped(summary)
    comps = []
    for size in sorted(set(summary["size"]), key=size_key):
        at = summary[summary["size"] == size]
        members, reference = at[at["group"] == group], _best(at[at["group"] == SOURCE_FREE])
        if members.empty or reference is None:
            continue
        for series in members["series"]:
            est = evidence.difference(series, str(reference["series"]), size, candidates=len(members))
            if est is not None:
                comps.append(Comparison(size, series, str(reference["series"]), est))
    return comps


def _deciding(comps: list[Comparison]) -> list[Comparison]:
    """Per size, the comparison with the highest lower bound: the group's strongest case there."""
    sizes = sorted({c.size for c in comps}, key=size_key)
    return [max((c for c in comps if c.size == size), key=lambda c: c.estimate.low) for size in sizes]


def question_answer(summary: pd.DataFrame, evidence: Evidence, group: str) -> QuestionAnswer:
    """Yes when the group gained at every size compared, No when at none, Partly otherwise."""
    if group not in set(_grouped(summary)["group"]):
        what = ("no run that uses the source (extract or finetune with our network, aligned with --source)"
                if group == SOURCE else "no pretrained literature backbone (curve --backbones resemblyzer, ...)")
        return QuestionAnswer(group, "Not measured", f"The curve has {what}.", [], [])
    comps = compare(summary, evidence, group)
    deciding = _deciding(comps)
    if not deciding:
        return QuestionAnswer(group, "Not measured", "The curve has no source-free run (baseline, scratch, aligned) "
                              "at the sizes of those runs to measure them against.", comps, [])
    won = [c for c in deciding if c.won]
    if len(won) == len(deciding):
        weakest = min(won, key=lambda c: c.estimate.low)
        verdict, sentence = "Yes", f"Gains at every size measured; weakest: {weakest.case()}."
    elif won:
        strongest = max(won, key=lambda c: c.estimate.low)
        verdict, sentence = "Partly", (f"Gains at {_sizes_text([c.size for c in won])} only; strongest: "
                                       f"{strongest.case()}.")
    else:
        closest = max(deciding, key=lambda c: c.estimate.low)
        lead = "Losses at every size measured" if all(c.lost for c in deciding) else "No clear gain at any size"
        verdict, sentence = "No", f"{lead}; closest: {closest.case()}."
    return QuestionAnswer(group, verdict, sentence, comps, deciding)


def pick_modes(summary: pd.DataFrame, evidence: Evidence, questions: list[QuestionAnswer],
               chance: float | None) -> list[Pick]:
    """Which mode to use at each size: among the pretrained series that gained there (else the
    source-free series), the best by mean whose lower bound is above chance; failing that, any series
    above chance; else none. Every level is Bonferroni-widened for the series at that size."""
    summary = _grouped(summary)
    gained = {(c.size, c.series) for q in questions for c in q.comparisons if c.won}
    picks = []
    for size in sorted(set(summary["size"]), key=size_key):
        at = summary[summary["size"] == size].sort_values("balanced_accuracy_mean", ascending=False)
        levels = {s: evidence.level(s, size, candidates=len(at)) for s in at["series"]}
        above = [s for s in at["series"] if chance is None or (levels[s] is not None and levels[s].low > chance)]
        preferred = ([s for s in at["series"] if (size, s) in gained]
                     or list(at.loc[at["group"] == SOURCE_FREE, "series"]))
        choice = next((s for s in preferred if s in above), None) or next(iter(above), None)
        best = choice or str(at["series"].iloc[0])
        picks.append(Pick(size, choice, levels.get(best)))
    return picks


def advice_line(picks: list[Pick], chance: float | None) -> str:
    """``Which mode to use: aligned at 5, 10 per class; nothing measured beats chance (0.200) at ...``."""
    runs: list[tuple[str | None, list[str]]] = []          # consecutive sizes with the same pick
    for pick in picks:
        if runs and runs[-1][0] == pick.series:
            runs[-1][1].append(pick.size)
        else:
            runs.append((pick.series, [pick.size]))
    parts = [f"{series} at {_sizes_text(sizes)}" if series else
             f"nothing measured beats chance ({chance:.{DIGITS}f}) at {_sizes_text(sizes)}: collect more data"
             for series, sizes in runs]
    return "Which mode to use: " + "; ".join(parts) + "."


def _epoch_clause(summary: pd.DataFrame, sizes: list[str], helped_at_largest: bool) -> str | None:
    """Compare the epochs fine-tuning and scratch needed to reach their best validation score."""
    rows = {s: summary[(summary["series"] == s) & summary["size"].isin(sizes)] for s in (FINETUNE, SCRATCH)}
    if any(r.empty or r["best_epoch_mean"].isna().all() for r in rows.values()):
        return None
    ft, sc = (rows[s]["best_epoch_mean"].mean() for s in (FINETUNE, SCRATCH))
    spread = rows[FINETUNE]["best_epoch_std"].fillna(0).mean() + rows[SCRATCH]["best_epoch_std"].fillna(0).mean()
    numbers = (f"Fine-tuning reached its best validation score after {ft:.1f} epochs on average against {sc:.1f} "
               "for scratch")
    if sc - ft > spread:
        if helped_at_largest:
            return (f"{numbers}, so pretraining both sped up training and raised accuracy, more than the "
                    "capstone's conclusion that it mostly sped up training.")
        return f"{numbers}, which confirms the capstone's conclusion that pretraining mostly sped up training."
    if abs(sc - ft) <= spread:
        return (f"{numbers} (within the seed spread), which does not support the capstone's conclusion that "
                "pretraining mostly sped up training.")
    return f"{numbers}, which refutes the capstone's conclusion that pretraining mostly sped up training."


def transfer_answer(table: pd.DataFrame, curve_dir: str | Path | None = None, *, chance: float | None = None,
                    n_boot: int = DEFAULT_BOOT) -> Answer:
    """The answer from curve.csv's frame; ``curve_dir`` holds the runs' predictions (the speaker
    bootstrap), ``chance`` is 1 / number of classes (None: no chance check)."""
    summary = summarize_curve(table)
    if summary.empty:
        return Answer([], [], chance, None)
    evidence = Evidence(table, curve_dir, n_boot=n_boot)
    questions = [question_answer(summary, evidence, g) for g in (SOURCE, LITERATURE)]
    source = questions[0]
    epochs = (_epoch_clause(summary, [c.size for c in source.deciding], helped_at_largest=source.deciding[-1].won)
              if source.deciding else None)
    return Answer(questions, pick_modes(summary, evidence, questions, chance), chance, epochs)
