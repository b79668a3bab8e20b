"""The report: report.md and report.html with PNG figures, built only from run directories.

Every number comes from a file a reader can open: test metrics from each ``run.json`` (printed
with one rounding rule, :data:`DIGITS` decimals), 95 % intervals by resampling speakers from
``predictions.csv``, the learning curve from ``curve.csv``. The answer to "did transfer help?" is a
sentence generated from the curve's numbers by :func:`transfer_answer`; nothing in it is written
in advance.
"""
from __future__ import annotations

import html
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from accent import plots
from accent.curve import ALL, size_key, summarize_curve
from accent.errors import AccentError
from accent.fileio import read_json_or_none, write_text_atomic
from accent.layout import CURVE_CSV, CURVE_JSON, Mode, mode_rank, read_curve, read_predictions, read_run_json, \
    require_run_json

DIGITS = 3                      # every metric in the report is rounded to this many decimals
METRIC_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1"}
TRANSFER_MODES = ("extract", "finetune")
COMPARATORS = ("scratch", "baseline")
PRETRAIN_MODE = Mode.PRETRAIN.value
MAX_EMBEDDED_RECORDINGS = 400   # per store: enough for a readable scatter, quick on a CPU
FIGURES = "figures"


def fmt(value, digits: int = DIGITS) -> str:
    """The report's one rounding rule; missing values print as n/a."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def fmt_interval(value, interval) -> str:
    if interval is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(interval[0])}, {fmt(interval[1])}]"


def fmt_mean_std(mean, std, digits: int = DIGITS) -> str:
    return f"{fmt(mean, digits)} ± {fmt(0.0 if _missing(std) else std, digits)}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------- a tiny document model

@dataclass
class Document:
    """Blocks rendered twice: as Markdown and as a self-contained HTML page (no extra dependency)."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", header, [[str(c) for c in row] for row in rows]))

    def image(self, path: str, alt: str) -> None:
        self.blocks.append(("img", path, alt))

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out += ["#" * block[1] + " " + block[2], ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "table":
                cells = lambda row: "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                out += [cells(block[1]), "|" + "---|" * len(block[1])] + [cells(r) for r in block[2]] + [""]
            elif kind == "img":
                out += [f"![{block[2]}]({block[1]})", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        body = [f"<h1>{_inline_html(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline_html(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline_html(block[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{_inline_html(c)}</th>" for c in block[1])
                rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in block[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                body.append(f'<p><img src="{html.escape(block[1])}" alt="{html.escape(block[2])}"></p>')
        style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
                 "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.2em .5em}"
                 "th{background:#eee}img{max-width:100%}code{background:#f4f4f4}")
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline_html(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


# ---------------------------------------------------------------- runs

@dataclass
class RunRecord:
    """A run directory as the report sees it: its name in the report, run.json and test predictions."""

    name: str
    path: Path
    run: dict
    test_predictions: pd.DataFrame | None

    @property
    def mode(self) -> str:
        return str(self.run.get("mode", "?"))

    @property
    def test_metrics(self) -> dict:
        return (self.run.get("metrics") or {}).get("test") or {}

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_") or "run"


def run_names(paths: list[Path]) -> list[str]:
    """Names relative to the runs' common parent (``pretrain``, ``curve/finetune/nall/seed0``)."""
    resolved = [p.resolve() for p in paths]
    if len(resolved) == 1:
        return [resolved[0].name]
    parts = [p.parts for p in resolved]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    common = Path(*parts[0][:depth])
    return [str(p.relative_to(common)) for p in resolved]


def load_runs(paths: list[str | Path]) -> list[RunRecord]:
    unique = list(dict.fromkeys(Path(p) for p in paths))
    records = [RunRecord(name, p, require_run_json(p), read_predictions(p, split="test"))
               for name, p in zip(run_names(unique), unique)]
    order = lambda r: (r.mode != PRETRAIN_MODE, mode_rank(r.mode), r.name)  # noqa: E731
    return sorted(records, key=order)


def speaker_intervals(record: RunRecord, n_boot: int) -> dict | None:
    """95 % intervals resampling speakers of the test predictions, or None without predictions."""
    if record.test_predictions is None or record.test_predictions.empty:
        return None
    from accent.evaluate import bootstrap_intervals

    with warnings.catch_warnings():   # a resample that misses a class is expected, not news
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return bootstrap_intervals(record.test_predictions, list(record.run.get("labels") or []),
                                   n_boot=n_boot, seed=0)


def confusion_of(record: RunRecord) -> tuple[np.ndarray, list[str]] | None:
    """The test confusion matrix from run.json, or recomputed from the predictions if absent."""
    labels = list(record.run.get("labels") or [])
    confusion = record.test_metrics.get("confusion")
    if confusion is None and record.test_predictions is not None and len(record.test_predictions):
        from accent.evaluate import recording_metrics

        preds = record.test_predictions
        confusion = recording_metrics(preds["label"].tolist(), preds["pred"].tolist(), labels)["confusion"]
    if confusion is None or not labels:
        return None
    return np.asarray(confusion, dtype=float), labels


# ---------------------------------------------------------------- sections

def dataset_section(doc: Document, records: list[RunRecord]) -> None:
    doc.heading(2, "Datasets")
    stores: dict[str, dict] = {}
    for rec in records:
        features = str(rec.run.get("features") or "?")
        # a run trained on a subsample still describes the whole store; prefer a full-data run's view
        if features not in stores or rec.run.get("per_class") is None:
            stores[features] = rec.run.get("dataset") or {}
    rows, notes = [], []
    for features, ds in stores.items():
        splits = ds.get("splits") or {}
        no_ids = ds.get("speaker_ids") is False
        disjoint = "cannot be guaranteed" if no_ids else ("yes" if ds.get("speaker_disjoint") else "NO")
        rows.append([features, ds.get("n_recordings", "n/a"), ds.get("n_speakers", "n/a"), ds.get("n_classes", "n/a"),
                     *(_split_count(splits.get(s)) for s in ("train", "val", "test")), disjoint])
        if no_ids:
            n_without = ds.get("recordings_without_speaker_id", ds.get("n_recordings", "all"))
            notes.append(f"`{features}`: {n_without} of {ds.get('n_recordings', '?')} recordings have no speaker id "
                         "(each counts as its own speaker), so "
                         "speaker-disjointness of its splits cannot be guaranteed: one person may appear in "
                         "both training and test data, which flatters its test scores.")
        elif ds and not ds.get("speaker_disjoint"):
            notes.append(f"`{features}`: the splits are NOT speaker-disjoint; its test scores include voices "
                         "seen in training.")
    doc.table(["feature store", "recordings", "speakers", "classes", "train", "val", "test", "speaker-disjoint"], rows)
    doc.bullets(notes)


def _split_count(value) -> str:
    if isinstance(value, dict):
        value = value.get("n_recordings", value.get("recordings"))
    return "n/a" if value is None else str(value)


def comparison_section(doc: Document, records: list[RunRecord], intervals: dict) -> None:
    doc.heading(2, "Comparison on the test split")
    doc.para("Test metrics from each run's `run.json`; brackets are 95 % intervals from resampling test "
             "speakers with replacement (`predictions.csv`).")
    rows = []
    for rec in records:
        test, ci = rec.test_metrics, intervals.get(rec.name) or {}
        rows.append([rec.name, rec.mode, rec.run.get("backbone") or "", rec.run.get("n_train_recordings", "n/a"),
                     test.get("n", "n/a"), *(fmt_interval(test.get(m), ci.get(m)) for m in METRIC_NAMES),
                     _epochs(rec.run), fmt(rec.run.get("train_seconds"), 1)])
    doc.table(["run", "mode", "backbone", "train recordings", "test recordings", *METRIC_NAMES.values(),
               "best / run epochs", "train seconds"], rows)


def _epochs(run: dict) -> str:
    if run.get("best_epoch") is None:
        return "n/a"
    return f"{run['best_epoch']} / {run.get('epochs_run', 'n/a')}"


def run_section(doc: Document, rec: RunRecord, ci: dict | None, out: Path) -> None:
    doc.heading(3, f"Run `{rec.name}`")
    run = rec.run
    facts = [f"mode **{rec.mode}**", f"backbone {run.get('backbone') or 'n/a'}", f"features `{run.get('features')}`",
             f"seed {run.get('seed')}"]
    if run.get("source"):
        facts.append(f"source `{run['source']}`")
    if run.get("per_class") is not None:
        facts.append(f"{run['per_class']} training recordings per class")
    if run.get("folds"):
        facts.append(f"{run['folds']}-fold cross-validation (out-of-fold predictions)")
    doc.para("; ".join(facts) + ".")
    test, ci = rec.test_metrics, ci or {}
    doc.table(["metric", "test value", "95 % interval (speakers)"],
              [[name, fmt(test.get(m)), _interval_text(ci.get(m))] for m, name in METRIC_NAMES.items()])
    per_class = test.get("per_class") or {}
    if per_class:
        doc.table(["class", "precision", "recall", "support"],
                  [[label, fmt(v.get("precision")), fmt(v.get("recall")), v.get("support", "n/a")]
                   for label, v in per_class.items()])
    confusion = confusion_of(rec)
    if confusion is not None:
        rel = f"{FIGURES}/confusion_{rec.slug}.png"
        plots.confusion_figure(confusion[0], confusion[1], f"{rec.name}: test confusion (row-normalised)", out / rel)
        doc.image(rel, f"confusion matrix of {rec.name}")
    history = run.get("history") or []
    if history:
        rel = f"{FIGURES}/training_{rec.slug}.png"
        plots.training_figure(history, f"{rec.name}: training", out / rel, best_epoch=run.get("best_epoch"))
        doc.image(rel, f"training curves of {rec.name}")


def _interval_text(interval) -> str:
    return "n/a" if interval is None else f"[{fmt(interval[0])}, {fmt(interval[1])}]"


# ---------------------------------------------------------------- the learning curve and the answer

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
    transfer = at[at["mode"].isin(TRANSFER_MODES)]
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
    rows = {s: summary[(summary["series"] == s) & summary["size"].isin(sizes)] for s in ("finetune", "scratch")}
    if any(r.empty or r["best_epoch_mean"].isna().all() for r in rows.values()):
        return None
    ft, sc = (rows[s]["best_epoch_mean"].mean() for s in ("finetune", "scratch"))
    spread = rows["finetune"]["best_epoch_std"].fillna(0).mean() + rows["scratch"]["best_epoch_std"].fillna(0).mean()
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
    if summary.empty or not summary["mode"].isin(TRANSFER_MODES).any():
        return "The curve has no extract or finetune runs, so it cannot say whether transfer helped."
    if not summary["series"].isin(COMPARATORS).any():
        return "The curve has no scratch or baseline runs, so there is nothing to measure transfer against."
    transfer_sizes = set(summary.loc[summary["mode"].isin(TRANSFER_MODES), "size"])
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


def curve_section(doc: Document, curve_dir: Path, out: Path) -> str:
    """The learning curve: figure, table and the generated answer (returned for the report's top)."""
    table = read_curve(curve_dir)
    summary = summarize_curve(table)
    answer = transfer_answer(summary)
    doc.heading(2, "Learning curve")
    plan = read_json_or_none(curve_dir / CURVE_JSON) or {}
    notes = [f"{len(table)} runs from `{curve_dir / CURVE_CSV}`; mean ± standard deviation over seeds. The answer "
             "at the top is generated from this table: a difference counts when it exceeds both the sum of the "
             "two standard deviations over seeds and the test set's sampling error, 0.5/sqrt(test recordings)."]
    if plan.get("capped_sizes"):
        notes.append(f"size(s) {', '.join(map(str, plan['capped_sizes']))} per class reach the largest train class "
                     f"({plan.get('largest_train_class')} recordings) and were run once as 'all'.")
    if plan.get("folds"):
        notes.append(f"each point is {plan['folds']}-fold speaker-disjoint cross-validation.")
    doc.bullets(notes)
    rel = f"{FIGURES}/learning_curve.png"
    plots.learning_curve_figure(summary, out / rel, chance=_chance(curve_dir, table))
    doc.image(rel, "balanced accuracy and epochs against target training size")
    doc.table(["series", "size", "seeds", "train recordings (mean)", *METRIC_NAMES.values(), "best epoch",
               "epochs run"],
              [[r["series"], r["size"], r["n_seeds"], fmt(r["n_train_mean"], 1),
                *(fmt_mean_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in METRIC_NAMES),
                "n/a" if _missing(r["best_epoch_mean"]) else fmt_mean_std(r["best_epoch_mean"], r["best_epoch_std"], 1),
                fmt(r["epochs_run_mean"], 1)] for _, r in summary.iterrows()])
    return answer


def _chance(curve_dir: Path, table: pd.DataFrame) -> float | None:
    """Chance level of balanced accuracy: one over the number of classes of a curve run."""
    for rel in table["run_dir"]:
        run = read_run_json(curve_dir / str(rel))
        if run and run.get("labels"):
            return 1.0 / len(run["labels"])
    return None


# ---------------------------------------------------------------- embeddings

def embed_store(source_dir: Path, features: str | Path, limit: int = MAX_EMBEDDED_RECORDINGS, seed: int = 0):
    """Embeddings (n, d) of the network in run ``source_dir`` and labels of up to ``limit`` test
    recordings of a store (all splits if it has no test)."""
    from accent.embeddings import network_embeddings
    from accent.store import FeatureStore

    store = FeatureStore.open(features)
    index = store.index.reset_index(drop=True)
    rows = np.flatnonzero((index["split"] == "test").to_numpy())
    if rows.size == 0:
        rows = np.arange(len(index))
    if rows.size > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))
    vectors = network_embeddings(f"accent:{source_dir}", store, rows)
    return vectors, index.loc[rows, "label"].astype(str).tolist()


def project_2d(vectors: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    points = PCA(n_components=min(2, vectors.shape[1]), random_state=0).fit_transform(vectors)
    return points if points.shape[1] == 2 else np.column_stack([points, np.zeros(len(points))])


def embedding_section(doc: Document, records: list[RunRecord], out: Path) -> None:
    """Recording embeddings of the pretrained network on its own test set and on the target's."""
    source = next((r for r in records if r.mode == PRETRAIN_MODE), None)
    if source is None:
        return
    doc.heading(2, "Embeddings of the pretrained network")
    targets = [str(r.run["features"]) for r in records if r.run.get("source") and r.run.get("features")
               and _same_dir(r.run["source"], source.path)]
    stores = [("source", str(source.run.get("features")))] + ([("target", targets[0])] if targets else [])
    try:
        panels = []
        for role, features in stores:
            vectors, labels = embed_store(source.path, features)
            panels.append((f"{role} test set ({Path(features).name}), PCA", project_2d(vectors), labels))
    except AccentError as exc:
        doc.para(f"Embedding figure skipped: {exc}")
        return
    rel = f"{FIGURES}/embeddings.png"
    plots.embedding_figure(panels, out / rel)
    doc.para(f"Run `{source.name}` embeds up to {MAX_EMBEDDED_RECORDINGS} test recordings of each store; the "
             "first two principal components, coloured by accent label. Separated colours on the target panel "
             "mean the source network's features already carry the target's accent information.")
    doc.image(rel, "PCA of recording embeddings")


def _same_dir(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


# ---------------------------------------------------------------- driver

def build_report(run_dirs: list[str | Path], out: str | Path, curve: str | Path | None = None, *,
                 n_boot: int = 1000, embeddings: bool = True, progress: bool = True) -> Path:
    """Write ``out/report.md``, ``out/report.html`` and ``out/figures/*.png``; return the .md path."""
    from tqdm import tqdm

    if not run_dirs and curve is None:
        raise AccentError("nothing to report: give --runs RUNDIR... and/or --curve CURVEDIR")
    out = Path(out)
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    records = load_runs(run_dirs)
    intervals = {rec.name: speaker_intervals(rec, n_boot)
                 for rec in tqdm(records, desc="bootstrap", unit="run", disable=not progress, file=sys.stderr)}
    doc = Document("Accent classification: did transfer learning help?")
    body = Document(doc.title)
    answer = curve_section(body, Path(curve), out) if curve is not None else None
    doc.heading(2, "The answer")
    doc.para(f"**{answer}**" if answer else "No learning curve was given (`--curve`), so this report does not "
             "answer whether transfer helped; it only compares the runs below.")
    if records:
        dataset_section(doc, records)
        comparison_section(doc, records, intervals)
    doc.blocks += body.blocks
    if records and embeddings:
        embedding_section(doc, records, out)
    if records:
        doc.heading(2, "Runs")
        for rec in records:
            run_section(doc, rec, intervals.get(rec.name), out)
    write_text_atomic(out / "report.md", doc.to_markdown())
    write_text_atomic(out / "report.html", doc.to_html())
    return out / "report.md"


def _run_cli(args) -> int:
    path = build_report(args.runs or [], args.out, args.curve, n_boot=args.n_boot,
                        embeddings=not args.no_embeddings, progress=not args.quiet)
    print(f"wrote {path} and {path.with_suffix('.html')}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("report", help="report.md/.html with figures from run directories and a learning curve",
                              description="Build report.md and report.html (PNG figures in OUT/figures/) from "
                                          "run directories and, optionally, a learning curve.")
    p.add_argument("--runs", nargs="+", default=[], metavar="RUNDIR", help="run directories to report")
    p.add_argument("--out", required=True, help="REPORTDIR to write")
    p.add_argument("--curve", default=None, help="CURVEDIR from `accent curve` (answers whether transfer helped)")
    p.add_argument("--n-boot", type=int, default=1000, help="speaker bootstrap resamples (default 1000)")
    p.add_argument("--no-embeddings", action="store_true", help="skip the embedding figure (it embeds two stores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_cli)
