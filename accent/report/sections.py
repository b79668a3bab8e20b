"""The sections of the report: the answer and its details, the learning curve, datasets, runs, embeddings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from accent import plots
from accent.curve import ALL, size_key
from accent.errors import AccentError
from accent.fileio import read_json_or_none
from accent.layout import CURVE_CSV, CURVE_JSON, read_run_json
from accent.report.answer import QUESTIONS, RULE, WHAT, Answer, _size_phrase
from accent.report.document import DIGITS, Document, _missing, fmt, fmt_interval, fmt_mean_std
from accent.report.runs import RunRecord, confusion_of
from accent.store import FeatureStore

METRIC_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1"}
MAX_EMBEDDED_RECORDINGS = 400   # per store: enough for a readable scatter, quick on a CPU
FIGURES = "figures"


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
        if disjoint == "yes" and ds.get("recordings_with_inferred_speaker"):
            disjoint = "inferred"
        rows.append([features, ds.get("n_recordings", "n/a"), ds.get("n_speakers", "n/a"), ds.get("n_classes", "n/a"),
                     *(_split_count(splits.get(s)) for s in ("train", "val", "test")), disjoint])
        if no_ids:
            n_without = ds.get("recordings_without_speaker_id", ds.get("n_recordings", "all"))
            notes.append(f"`{features}`: {n_without} of {ds.get('n_recordings', '?')} recordings have no speaker id "
                         "(each counts as its own speaker), so "
                         "speaker-disjointness of its splits cannot be guaranteed: one person may appear in "
                         "both training and test data, which flatters its test scores.")
        elif disjoint == "inferred":
            notes.append(f"`{features}`: the speakers of {ds['recordings_with_inferred_speaker']} recordings were "
                         "inferred by clustering their voices (`--infer-speakers`), so the splits are only as "
                         "speaker-disjoint as that clustering (docs/benchmarks.md, \"Speaker inference\").")
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


def run_section(doc: Document, rec: RunRecord, ci: dict | None, out: Path, draw=None) -> None:
    """One run's facts, metrics and per-class table, with its confusion and training figures, drawn
    by ``draw(figure_function, *args)`` (a :class:`accent.plots.FigurePool`; default: at once)."""
    draw = draw or (lambda figure, *args, **kwargs: figure(*args, **kwargs))
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
        draw(plots.confusion_figure, confusion[0], confusion[1], f"{rec.name}: test confusion (row-normalised)",
             out / rel)
        doc.image(rel, f"confusion matrix of {rec.name}")
    history = run.get("history") or []
    if history:
        rel = f"{FIGURES}/training_{rec.slug}.png"
        draw(plots.training_figure, history, f"{rec.name}: training", out / rel, best_epoch=run.get("best_epoch"))
        doc.image(rel, f"training curves of {rec.name}")


def _interval_text(interval) -> str:
    return "n/a" if interval is None else f"[{fmt(interval[0])}, {fmt(interval[1])}]"


def answer_section(doc: Document, answer: Answer, summary: pd.DataFrame, out: Path) -> None:
    """The verdict lines, the rule in one sentence and the compact table, the learning curve beside them."""
    doc.heading(2, "The answer")
    inner = Document(doc.title)
    if not answer.questions:
        inner.para("The learning curve has no runs, so it cannot say whether transfer helped.")
    inner.bullets(answer.lines)
    inner.para(f"*{RULE}*")
    sizes = sorted(set(summary["size"]), key=size_key)
    winners = {size: summary.loc[summary.loc[summary["size"] == size, "balanced_accuracy_mean"].idxmax(), "series"]
               for size in sizes}
    rows = []
    for series, at in summary.groupby("series", sort=False):
        cells = {r["size"]: fmt_mean_std(r["balanced_accuracy_mean"], r["balanced_accuracy_std"])
                 for _, r in at.iterrows()}
        rows.append([series] + [f"**{cells[s]}**" if winners[s] == series else cells.get(s, "") for s in sizes])
    inner.table(["balanced accuracy", *(_size_header(s) for s in sizes)], rows)
    chance = "" if answer.chance is None else f" Chance is {fmt(answer.chance)}."
    inner.para("Mean ± standard deviation over seeds on the test split; **bold**: the highest mean at each size."
               + chance)
    rel = f"{FIGURES}/learning_curve.png"
    plots.learning_curve_figure(summary, out / rel, chance=answer.chance)
    doc.beside(inner, rel, "balanced accuracy and epochs against target training size")


def _size_header(size: str) -> str:
    return "all" if size == ALL else f"{size} per class"


def details_section(doc: Document, answer: Answer, summary: pd.DataFrame) -> None:
    """Every paired comparison behind the verdicts, the level of each recommended mode, the epochs."""
    doc.heading(2, "Details of the answer")
    n_train = summary.groupby("size")["n_train_mean"].mean()
    for question in answer.questions:
        if not question.comparisons:
            continue
        doc.heading(3, QUESTIONS[question.group])
        doc.para(f"Every series of the group against the best series without it (by mean) at each size; the verdict "
                 f"reads {WHAT[question.group]}, the one with the highest lower bound.")
        doc.table(["size", "series", "against", "gain (mean of per-seed differences)", "95 % interval", "seeds",
                   "standard error: seeds", "standard error: test set", "outcome"],
                  [[_size_phrase(c.size, n_train[c.size]), c.series, c.reference, f"{c.estimate.value:+.{DIGITS}f}",
                    f"[{c.estimate.low:+.{DIGITS}f}, {c.estimate.high:+.{DIGITS}f}]", c.estimate.n_seeds,
                    fmt(c.estimate.seed_se), _test_part(c.estimate), c.outcome] for c in question.comparisons])
    if answer.picks:
        doc.heading(3, "The mode to use against chance")
        doc.table(["size", "mode", "balanced accuracy", "95 % interval", "chance"],
                  [[_size_phrase(p.size, n_train[p.size]), p.series or "none above chance", *_level_cells(p.level),
                    fmt(answer.chance)] for p in answer.picks])
        doc.para("Where nothing is above chance the row shows the best mean at that size. Standard errors: the "
                 "seeds' part is the spread of the per-seed values over their number, widened by t(seeds - 1) / z; "
                 "the test set's part comes from resampling test speakers (the same resample for every method and "
                 "seed), so a test set with few speakers per class gives wide intervals however many recordings "
                 "it has.")
    if answer.epochs:
        doc.para(answer.epochs)


def _test_part(est) -> str:
    return fmt(est.test_se) + ("" if est.bootstrapped else " (binomial bound: no predictions.csv)")


def _level_cells(level) -> list[str]:
    return ["n/a", "n/a"] if level is None else [fmt(level.value), f"[{fmt(level.low)}, {fmt(level.high)}]"]


def per_class_recall_section(doc: Document, best_runs: list[tuple[str, str, dict]]) -> None:
    """Test recall of each class for the best run of each method, where run.json records it."""
    recalls = [(method, name, (run.get("metrics") or {}).get("test", {}).get("per_class_recall"))
               for method, name, run in best_runs]
    recalls = [(m, n, r) for m, n, r in recalls if isinstance(r, dict) and r]
    if not recalls:
        return
    doc.heading(3, "Recall per class, best run of each method")
    labels = list(dict.fromkeys(label for _, _, r in recalls for label in r))
    doc.table(["class", *(m for m, _, _ in recalls)], [[label, *(fmt(r.get(label)) for _, _, r in recalls)]
                                                      for label in labels])
    doc.para("Runs: " + "; ".join(f"{m} `{n}`" for m, n, _ in recalls) + " (highest test balanced accuracy of "
             "each method).")


def best_curve_runs(curve_dir: Path, table: pd.DataFrame) -> list[tuple[str, str, dict]]:
    """(series, run_dir, run.json) of each series' run with the highest test balanced accuracy."""
    best = table.dropna(subset=["balanced_accuracy"]).sort_values("balanced_accuracy", ascending=False)
    runs = []
    for series, rel in best.drop_duplicates("series")[["series", "run_dir"]].itertuples(index=False):
        run = read_run_json(curve_dir / str(rel))
        if run:
            runs.append((str(series), str(rel), run))
    return runs


def curve_section(doc: Document, curve_dir: Path, table: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Where the curve comes from and every series at every size (the figure is beside the answer)."""
    doc.heading(2, "Learning curve")
    plan = read_json_or_none(curve_dir / CURVE_JSON) or {}
    notes = [f"{len(table)} runs from `{curve_dir / CURVE_CSV}`; mean ± standard deviation over seeds. The answer "
             "compares, at each size, every series that uses the source (extract and finetune with our network, "
             "aligned-source), and separately every pretrained literature backbone, with the best series that uses "
             "neither (baseline, scratch, aligned, extract-mfcc)."]
    if plan.get("capped_sizes"):
        notes.append(f"size(s) {', '.join(map(str, plan['capped_sizes']))} per class reach the largest train class "
                     f"({plan.get('largest_train_class')} recordings) and were run once as 'all'.")
    if plan.get("folds"):
        notes.append(f"each point is {plan['folds']}-fold speaker-disjoint cross-validation.")
    doc.bullets(notes)
    doc.table(["series", "size", "seeds", "train recordings (mean)", *METRIC_NAMES.values(), "best epoch",
               "epochs run"],
              [[r["series"], r["size"], r["n_seeds"], fmt(r["n_train_mean"], 1),
                *(fmt_mean_std(r[f"{m}_mean"], r[f"{m}_std"]) for m in METRIC_NAMES),
                "n/a" if _missing(r["best_epoch_mean"]) else fmt_mean_std(r["best_epoch_mean"], r["best_epoch_std"], 1),
                fmt(r["epochs_run_mean"], 1)] for _, r in summary.iterrows()])


def chance_level(curve_dir: Path, table: pd.DataFrame) -> float | None:
    """Chance level of balanced accuracy: one over the number of classes of a curve run."""
    for rel in table["run_dir"]:
        run = read_run_json(curve_dir / str(rel))
        if run and run.get("labels"):
            return 1.0 / len(run["labels"])
    return None


def embed_store(source_dir: Path, features: str | Path, limit: int = MAX_EMBEDDED_RECORDINGS, seed: int = 0):
    """Embeddings (n, d) of the network in run ``source_dir`` and labels of up to ``limit`` test
    recordings of a store (all splits if it has no test)."""
    from accent.embeddings import network_embeddings  # torch: kept out of start-up (the report imports without it)

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
    source = next((r for r in records if r.is_source), None)
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
