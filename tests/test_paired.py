"""The paired rule (accent.report.paired) and the verdicts it gives, on curves with known structure.

Each curve is a directory in `accent curve`'s layout (curve.csv, and per run predictions.csv and
run.json) whose test predictions are built speaker by speaker, so the true paired difference of two
methods is known: which test speakers one gets right that the other gets wrong, seed by seed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent.curve import summarize_curve
from accent.evaluate import recording_metrics
from accent.layout import CURVE_COLUMNS
from accent.report import transfer_answer
from accent.report.paired import Evidence, critical_value

LABELS = ["a", "b", "c", "d"]
N_SPEAKERS = 200          # one test recording each, 50 per class
SEEDS = (0, 1, 2)
MAX_LINE_WORDS = 40


def speakers_of_class(k: int) -> np.ndarray:
    return np.arange(k, N_SPEAKERS, len(LABELS))


def correct_set(fraction: float, seed: int) -> np.ndarray:
    """A per-class balanced set of correct speakers: ``fraction`` of each class, drawn by ``seed``."""
    rng = np.random.default_rng(seed)
    correct = np.zeros(N_SPEAKERS, bool)
    for k in range(len(LABELS)):
        members = speakers_of_class(k)
        correct[rng.choice(members, int(round(fraction * len(members))), replace=False)] = True
    return correct


def flip(correct: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` wrong speakers of each class made right (or right made wrong, when negative)."""
    rng = np.random.default_rng(1000 + seed)
    out = correct.copy()
    for k in range(len(LABELS)):
        members = speakers_of_class(k)
        pool = members[~correct[members]] if per_class > 0 else members[correct[members]]
        out[rng.choice(pool, abs(per_class), replace=False)] = per_class > 0
    return out


def write_curve(root: Path, runs: dict[tuple[str, str, int], np.ndarray]) -> pd.DataFrame:
    """Run directories and curve.csv from which test speakers each (series, size, seed) gets right."""
    labels = [LABELS[s % len(LABELS)] for s in range(N_SPEAKERS)]
    rows = []
    for (series, size, seed), correct in runs.items():
        preds = [lab if ok else LABELS[(LABELS.index(lab) + 1) % len(LABELS)] for lab, ok in zip(labels, correct)]
        table = pd.DataFrame({"utt_id": [f"u{s}" for s in range(N_SPEAKERS)],
                              "speaker": [f"spk{s}" for s in range(N_SPEAKERS)], "split": "test",
                              "label": labels, "pred": preds})
        metrics = recording_metrics(labels, preds, LABELS)
        run_dir = f"{series}/n{size}/seed{seed}"
        (root / run_dir).mkdir(parents=True)
        table.to_csv(root / run_dir / "predictions.csv", index=False)
        (root / run_dir / "run.json").write_text(json.dumps({"mode": series.split("-")[0], "labels": LABELS,
                                                             "metrics": {"test": metrics}}))
        rows.append({"series": series, "mode": series.split("-")[0], "backbone": "", "size": size, "seed": seed,
                     "n_train_recordings": 4 * (400 if size == "all" else int(size)), "n_test_recordings": N_SPEAKERS,
                     **{m: metrics[m] for m in ("accuracy", "balanced_accuracy", "macro_f1")},
                     "best_epoch": None, "epochs_run": None, "train_seconds": 1.0, "run_dir": run_dir})
    table = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    table.to_csv(root / "curve.csv", index=False)
    return pd.read_csv(root / "curve.csv", dtype={"size": str})


def answer_of(root: Path, runs: dict, chance: float | None = None):
    return transfer_answer(write_curve(root, runs), root, chance=chance, n_boot=400)


def test_consistent_small_gain_counts_although_the_seeds_vary(tmp_path):
    """finetune gets 4 more speakers per class right than scratch on every seed (+0.08), while the
    seeds move both by far more than that: the paired rule sees the gain, the old sum of spreads did not."""
    runs = {}
    for seed, level in zip(SEEDS, (0.35, 0.45, 0.55)):
        scratch = correct_set(level, seed)
        runs[("scratch", "20", seed)] = scratch
        runs[("finetune", "20", seed)] = flip(scratch, 4, seed)
    answer = answer_of(tmp_path, runs)
    (comp,) = answer.questions[0].comparisons
    assert comp.estimate.value == pytest.approx(0.08)
    assert comp.estimate.low > 0 and comp.won
    summary = summarize_curve(pd.read_csv(tmp_path / "curve.csv", dtype={"size": str}))
    assert summary["balanced_accuracy_std"].sum() > comp.estimate.value      # the old rule's "within the spread"
    assert answer.questions[0].verdict == "Yes"
    assert answer.questions[0].line.startswith("Did pretraining on the same-passage source help? **Yes.** Gains at "
                                               "every size measured; weakest: finetune over scratch at 20 per class, "
                                               "+0.080 (95 % interval +0.")


def test_noisy_large_gain_does_not_count(tmp_path):
    """Per-seed differences +0.30, -0.10, +0.40: a mean gain of +0.20 that three seeds cannot pin down."""
    runs = {}
    for seed, per_class in zip(SEEDS, (15, -5, 20)):
        scratch = correct_set(0.5, seed)
        runs[("scratch", "20", seed)] = scratch
        runs[("finetune", "20", seed)] = flip(scratch, per_class, seed)
    answer = answer_of(tmp_path, runs)
    (comp,) = answer.questions[0].comparisons
    assert comp.estimate.value == pytest.approx(0.20)
    assert comp.estimate.low < 0 < comp.estimate.high and comp.outcome == "no clear difference"
    assert answer.questions[0].verdict == "No"
    assert "No clear gain at any size; closest: finetune vs scratch at 20 per class, +0.200" in answer.questions[0].line


@pytest.mark.parametrize("right, wrong", [(0, 0), (2, 1)])
def test_zero_spread_tie_is_no(tmp_path, right, wrong):
    """Deterministic runs (the same predictions on every seed, spread 0): identical predictions, or
    predictions that disagree on 12 speakers, 8 in finetune's favour (+0.02), are within the test
    set's own error: No. (The old rule counted such leads when the test set's size was unknown.)"""
    scratch = correct_set(0.5, 0)
    made_right, made_wrong = flip(scratch, right, 0) & ~scratch, scratch & ~flip(scratch, -wrong, 1)
    finetune = (scratch | made_right) & ~made_wrong
    assert (finetune != scratch).sum() == 4 * (right + wrong)
    runs = {**{("scratch", "all", s): scratch for s in SEEDS}, **{("finetune", "all", s): finetune for s in SEEDS}}
    answer = answer_of(tmp_path, runs)
    (comp,) = answer.questions[0].comparisons
    assert comp.estimate.value == pytest.approx(0.02 * (right - wrong))
    assert comp.estimate.se > 0 if right else comp.estimate.se == 0     # the bootstrap keeps an error
    assert not comp.won and answer.questions[0].verdict == "No"


def test_choosing_among_more_candidates_widens_the_interval(tmp_path):
    scratch = correct_set(0.5, 0)
    write_curve(tmp_path, {**{("scratch", "5", s): scratch for s in SEEDS},
                           **{("finetune", "5", s): flip(scratch, 3, s) for s in SEEDS}})
    evidence = Evidence(pd.read_csv(tmp_path / "curve.csv", dtype={"size": str}), tmp_path, n_boot=300)
    one, three = (evidence.difference("finetune", "scratch", "5", candidates=m) for m in (1, 3))
    assert one.value == three.value and three.low < one.low
    assert critical_value(1) == pytest.approx(1.96, abs=0.01) and critical_value(3) == pytest.approx(2.39, abs=0.01)


def test_the_bootstrap_is_paired(tmp_path):
    """Two methods with identical predictions on a seed differ by exactly 0 on every resample;
    their difference has no test error, while each level alone has one."""
    scratch = correct_set(0.5, 0)
    write_curve(tmp_path, {("scratch", "5", 0): scratch, ("extract", "5", 0): scratch})
    evidence = Evidence(pd.read_csv(tmp_path / "curve.csv", dtype={"size": str}), tmp_path, n_boot=300)
    assert evidence.difference("extract", "scratch", "5").se == 0
    level = evidence.level("scratch", "5")
    assert level.value == pytest.approx(0.5) and 0.02 < level.se < 0.06   # about sqrt(0.25 / 200)


def test_without_predictions_the_test_error_is_the_binomial_bound(tmp_path):
    scratch = correct_set(0.5, 0)
    table = write_curve(tmp_path, {("scratch", "5", 0): scratch, ("extract", "5", 0): scratch})
    evidence = Evidence(table, None)
    diff = evidence.difference("extract", "scratch", "5")
    assert not diff.bootstrapped and diff.se == pytest.approx(np.sqrt(2 * 0.25 / N_SPEAKERS))


def test_advice_recommends_only_above_chance(tmp_path):
    """At 5 per class the best method is barely above chance (0.27 against 0.25 on 200 speakers):
    nothing is recommended there; at 20 per class scratch clearly is."""
    runs = {}
    for seed in SEEDS:
        runs[("baseline", "5", seed)] = correct_set(0.24, seed)
        runs[("scratch", "5", seed)] = correct_set(0.27, seed)
        runs[("baseline", "20", seed)] = correct_set(0.40, seed)
        runs[("scratch", "20", seed)] = correct_set(0.60, seed)
    answer = answer_of(tmp_path, runs, chance=0.25)
    assert answer.advice == ("Which mode to use: nothing measured beats chance (0.250) at 5 per class: collect more "
                             "data; scratch at 20 per class.")
    unknown = answer_of(tmp_path / "again", runs)       # chance unknown: the best source-free mode everywhere
    assert unknown.advice == "Which mode to use: scratch at 5, 20 per class."


def test_verdict_lines_are_short(tmp_path):
    """Every verdict line of a curve with every kind of outcome has at most 40 words."""
    runs = {}
    for size, gain in (("5", 6), ("10", 0), ("20", -6), ("all", 6)):
        for seed in SEEDS:
            scratch = correct_set(0.45, seed)
            runs[("scratch", size, seed)] = scratch
            runs[("extract", size, seed)] = flip(scratch, gain, seed)
            runs[("finetune", size, seed)] = flip(scratch, gain // 2, seed)
            runs[("extract-resemblyzer", size, seed)] = flip(scratch, 3, seed)
    answer = answer_of(tmp_path, runs, chance=0.25)
    assert [q.verdict for q in answer.questions] == ["Partly", "Yes"]
    for line in answer.lines:
        assert len(line.split()) <= MAX_LINE_WORDS, line
