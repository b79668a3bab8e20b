"""The report, the learning curve and predict.

Unit tests build run directories by hand in the documented format (run.json + predictions.csv,
metrics computed from the predictions by accent.evaluate); the end-to-end tests train tiny real
runs once per session (fixtures in conftest.py) and report, curve and predict with them.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent.curve import ALL, summarize_curve
from accent.layout import CURVE_COLUMNS
from accent.errors import AccentError
from accent.evaluate import recording_metrics
from accent.report import build_report, fmt, transfer_answer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 2000   # an empty 1x1 PNG is ~70 bytes; a real plot is tens of kB
LABELS = ["english", "indian", "scottish"]


# ------------------------------------------------------------------ hand-made run directories

def make_run_dir(root: Path, name: str, mode: str, accuracy_target: float, *, seed: int = 0,
                 speaker_ids: bool = True, history_epochs: int = 4) -> Path:
    """A run directory in the documented format whose predictions are right with probability
    ``accuracy_target``; run.json metrics are computed from those predictions."""
    rng = np.random.default_rng(seed + int(accuracy_target * 1000))
    rows = []
    for split, n_speakers in (("val", 6), ("test", 9)):
        for s in range(n_speakers):
            label = LABELS[s % len(LABELS)]
            for r in range(3):
                pred = label if rng.random() < accuracy_target else LABELS[(LABELS.index(label) + 1) % 3]
                probs = np.full(3, 0.1)
                probs[LABELS.index(pred)] = 0.8
                speaker = f"{split}{s}" if speaker_ids else f"{split}{s}_{r}"
                rows.append({"utt_id": f"{split}{s}_{r}", "speaker": speaker, "split": split, "label": label,
                             "pred": pred, **{f"p_{lab}": p for lab, p in zip(LABELS, probs)}})
    table = pd.DataFrame(rows)
    metrics = {s: recording_metrics(table.loc[table.split == s, "label"], table.loc[table.split == s, "pred"], LABELS)
               for s in ("val", "test")}
    neural = mode not in ("baseline", "extract")
    history = [{"epoch": e, "train_loss": 1.5 / e, "val_acc": 0.3 + 0.1 * e, "val_bacc": 0.3 + 0.09 * e,
                "seconds": 1.0} for e in range(1, history_epochs + 1)] if neural else []
    n_rec = len(table) + 60
    run = {"mode": mode, "backbone": "accent", "source": None if mode == "pretrain" else str(root / "pretrain"),
           "features": str(root / ("saa_store" if mode == "pretrain" else "cv_store")), "seed": seed,
           "per_class": None, "train_fraction": None, "folds": None, "fold": None, "labels": LABELS,
           "n_train_recordings": 60, "n_train_speakers": 20 if speaker_ids else 60,
           "best_epoch": 2 if neural else None, "epochs_run": history_epochs if neural else None,
           "history": history, "metrics": metrics, "train_seconds": 12.345,
           "dataset": {"n_recordings": n_rec, "n_speakers": 35 if speaker_ids else n_rec, "n_classes": 3,
                       "splits": {"train": 60, "val": 18, "test": 27}, "speaker_disjoint": True,
                       "speaker_ids": speaker_ids}}
    out = root / name
    out.mkdir(parents=True)
    table.to_csv(out / "predictions.csv", index=False)
    (out / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    return out


def synthetic_curve(root: Path, transfer_better: bool, *, sizes=("5", "20", ALL), seeds=(0, 1, 2)) -> Path:
    """A curve.csv where transfer is clearly better (or clearly worse) than scratch and baseline,
    and fine-tuning stops early (or late)."""
    rows = []
    level = {"baseline": 0.40, "scratch": 0.45, "extract": 0.55, "finetune": 0.60}
    if not transfer_better:
        level = {"baseline": 0.60, "scratch": 0.65, "extract": 0.40, "finetune": 0.42}
    epochs = {"scratch": 20, "finetune": 5} if transfer_better else {"scratch": 5, "finetune": 20}
    for k, size in enumerate(sizes):
        for mode, acc in level.items():
            for seed in seeds:
                value = acc + 0.05 * k + 0.005 * (seed - 1)
                neural = mode in epochs
                rows.append({"series": mode, "mode": mode, "backbone": "accent", "size": size, "seed": seed,
                             "n_train_recordings": 3 * (int(size) if size != ALL else 80),
                             "accuracy": value + 0.01, "balanced_accuracy": value, "macro_f1": value - 0.01,
                             "best_epoch": epochs[mode] + seed if neural else None,
                             "epochs_run": epochs[mode] + 5 if neural else None, "train_seconds": 3.0,
                             "run_dir": f"{mode}/n{size}/seed{seed}"})
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=CURVE_COLUMNS).to_csv(root / "curve.csv", index=False)
    return root


def assert_valid_png(path: Path) -> None:
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > MIN_PNG_BYTES, f"{path} is suspiciously small ({len(data)} bytes)"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    assert image.std() > 0.01, f"{path} is blank"


def section(markdown: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or higher level."""
    level = heading.split(" ")[0]
    body = markdown.split(heading + "\n", 1)[1]
    return re.split(rf"^{level} |^#{{1,{len(level) - 1}}} ", body, flags=re.M)[0]


def table_rows(markdown: str, first_cell: str) -> list[list[str]]:
    """Cells of the Markdown table rows whose first cell is ``first_cell``."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if cells[0] == first_cell:
                rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """Four hand-made runs, a synthetic curve and the report built from them (once per module)."""
    root = tmp_path_factory.mktemp("handmade")
    runs = [make_run_dir(root, "pretrain", "pretrain", 0.8),
            make_run_dir(root, "baseline", "baseline", 0.5),
            make_run_dir(root, "scratch", "scratch", 0.6),
            make_run_dir(root, "finetune", "finetune", 0.7)]
    curve = synthetic_curve(root / "curve", transfer_better=True)
    out = root / "report"
    return runs, curve, out, build_report(runs, out, curve, n_boot=20, progress=False)


# ------------------------------------------------------------------ report from hand-made runs

def test_report_numbers_match_run_json_and_figures_are_pngs(handmade):
    runs, curve, out, md_path = handmade
    markdown = md_path.read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")

    for run_dir in runs:
        run = json.loads((run_dir / "run.json").read_text())
        test = run["metrics"]["test"]
        (row,) = table_rows(section(markdown, "## Comparison on the test split"), run_dir.name)
        metric_cells = row[5:8]
        for cell, metric in zip(metric_cells, ("accuracy", "balanced_accuracy", "macro_f1")):
            assert cell.split(" ")[0] == fmt(test[metric]), (run_dir.name, metric, cell)
            low, high = map(float, re.findall(r"\[(\S+), (\S+)\]", cell)[0])
            assert low <= high
        for label, values in test["per_class"].items():   # per-class table of this run
            assert any(r[1] == fmt(values["precision"]) and r[2] == fmt(values["recall"])
                       for r in table_rows(section(markdown, f"### Run `{run_dir.name}`"), label))

    figures = sorted((out / "figures").glob("*.png"))
    names = {f.name for f in figures}
    assert {"learning_curve.png", "confusion_finetune.png", "training_finetune.png", "confusion_baseline.png"} <= names
    assert "training_baseline.png" not in names          # no epochs for the baseline
    for figure in figures:
        assert_valid_png(figure)
        assert f"figures/{figure.name}" in markdown and f'src="figures/{figure.name}"' in html
    # no checkpoint in the hand-made pretrain run: the embedding figure is skipped, and the report says why
    assert "Embedding figure skipped" in markdown


def curve_table(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "curve.csv", dtype={"size": str})


def test_answer_is_generated_from_the_curve(tmp_path):
    """Seeds move every mode alike, so the paired differences are exact: transfer wins at every
    size (Yes) or loses at every size (No), and the lines quote the curve's numbers."""
    yes = transfer_answer(curve_table(synthetic_curve(tmp_path / "a", True)))
    no = transfer_answer(curve_table(synthetic_curve(tmp_path / "b", False)))
    source_yes, literature, use_yes = yes.lines
    source_no, _, use_no = no.lines
    assert source_yes.startswith("Did pretraining on the same-passage source help? **Yes.** Gains at every size "
                                 "measured; weakest: finetune over scratch at ")
    assert source_yes.endswith(", +0.150 (95 % interval +0.150 to +0.150).")   # every seed +0.150, no test error known
    assert source_no.startswith("Did pretraining on the same-passage source help? **No.** Losses at every size "
                                "measured; closest: finetune vs scratch at ")
    assert source_no.endswith(", -0.230 (95 % interval -0.230 to -0.230).")
    assert [c.outcome for c in no.questions[0].comparisons] == ["loss"] * 6       # extract and finetune, 3 sizes
    assert literature == ("Did a pretrained literature backbone help? **Not measured.** The curve has no pretrained "
                          "literature backbone (curve --backbones resemblyzer, ...).")
    assert use_yes == "Which mode to use: finetune at 5, 20 per class and all training data."
    assert use_no == "Which mode to use: scratch at 5, 20 per class and all training data."
    assert "confirms" in yes.epochs or "more than the capstone" in yes.epochs
    assert "refutes" in no.epochs


def test_small_differences_on_a_small_test_set_do_not_count(tmp_path):
    """With all training data the seeds change nothing (spread 0): a 0.01 lead on 100 test
    recordings is within the test set's own error (here the binomial bound: no predictions.csv)."""
    df = curve_table(synthetic_curve(tmp_path / "a", True))
    level = {"baseline": 0.50, "scratch": 0.50, "extract": 0.51, "finetune": 0.505}
    flat = df.assign(balanced_accuracy=df["mode"].map(level), n_test_recordings=100)
    answer = transfer_answer(flat)
    assert answer.questions[0].verdict == "No"
    assert all(not c.estimate.bootstrapped for c in answer.questions[0].comparisons)
    decisive = flat.assign(n_test_recordings=100_000)   # the same lead on a huge test set is real
    assert transfer_answer(decisive).questions[0].verdict == "Yes"


def test_answer_without_transfer_runs(tmp_path):
    df = curve_table(synthetic_curve(tmp_path / "a", True))
    answer = transfer_answer(df[df["mode"].isin(["scratch", "baseline"])])
    assert answer.lines[0] == ("Did pretraining on the same-passage source help? **Not measured.** The curve has no run "
                               "that uses the source (extract or finetune with our network, aligned with --source).")
    assert answer.advice == "Which mode to use: scratch at 5, 20 per class and all training data."


def levels_curve(root: Path, levels: dict[str, list[float]], sizes=("5", "10", "20"), seeds=(0, 1, 2),
                 step: float = 0.01, n_test: int = 400) -> pd.DataFrame:
    """A curve.csv frame with the given mean balanced accuracy per series and size (seeds at
    mean - step, mean, mean + step); a series name is mode[-backbone] as `accent curve` writes it."""
    rows = []
    for series, values in levels.items():
        mode = series.split("-")[0]
        for size, value in zip(sizes, values):
            for seed in seeds:
                acc = value + step * (seed - 1)
                rows.append({"series": series, "mode": mode, "backbone": "", "size": size, "seed": seed,
                             "n_train_recordings": 6 * int(size), "n_test_recordings": n_test, "accuracy": acc,
                             "balanced_accuracy": acc, "macro_f1": acc, "best_epoch": None, "epochs_run": None,
                             "train_seconds": 1.0, "run_dir": f"{series}/n{size}/seed{seed}"})
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=CURVE_COLUMNS).to_csv(root / "curve.csv", index=False)
    return curve_table(root)


def test_two_questions_on_the_real_speech_pattern(tmp_path):
    """The real SAA transfer task (docs/benchmarks.md): the aligned recipe without the source is the
    best at every size, the source adds nothing measurable, Resemblyzer loses: two plain Noes, and
    the method to use is named."""
    table = levels_curve(tmp_path / "c", {
        "baseline": [0.174, 0.271, 0.266], "scratch": [0.240, 0.232, 0.325],
        "extract": [0.170, 0.218, 0.261], "finetune": [0.127, 0.193, 0.188],
        "extract-resemblyzer": [0.132, 0.208, 0.421], "aligned": [0.434, 0.617, 0.771],
        "aligned-source": [0.455, 0.573, 0.713]})
    answer = transfer_answer(table, chance=1 / 6)
    source, literature, use = answer.lines
    assert source.startswith("Did pretraining on the same-passage source help? **No.** No clear gain at any size; "
                             "closest: aligned-source vs aligned at 5 per class, +0.021 (95 % interval -0.0")
    assert [c.outcome for c in answer.questions[0].deciding] == ["no clear difference"] * 3   # -0.058 at 20 too
    assert literature.startswith("Did a pretrained literature backbone help? **No.** ")
    assert [c.outcome for c in answer.questions[1].deciding] == ["loss"] * 3
    assert use == "Which mode to use: aligned at 5, 10, 20 per class."


def test_answer_with_mixed_outcome_names_the_mode_per_size(tmp_path):
    table = levels_curve(tmp_path / "c", {
        "baseline": [0.30, 0.50, 0.70], "scratch": [0.25, 0.45, 0.72],
        "finetune": [0.45, 0.52, 0.60], "extract-resemblyzer": [0.31, 0.65, 0.71]})
    source, literature, use = transfer_answer(table).lines
    assert source.startswith("Did pretraining on the same-passage source help? **Partly.** Gains at 5 per class only; "
                             "strongest: finetune over baseline at 5 per class, +0.150 (95 % interval +0.0")
    assert literature.startswith("Did a pretrained literature backbone help? **Partly.** Gains at 10 per class only")
    assert use == "Which mode to use: finetune at 5 per class; extract-resemblyzer at 10 per class; scratch at 20 per class."


def test_report_opens_with_verdict_lines_then_the_compact_table(handmade):
    _, _, out, md_path = handmade
    markdown = md_path.read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    answer = section(markdown, "## The answer")
    lines = [line for line in answer.splitlines() if line.startswith("- ")]
    assert [line.split("**")[1] for line in lines[:2]] == ["Yes.", "Not measured."]
    assert lines[2].startswith("- Which mode to use: finetune")
    assert all(len(line.split()) <= 41 for line in lines)           # 40 words and the bullet
    assert "*Rule: a method beats another at a size when the lower end of the 95 % interval" in answer
    (finetune,) = table_rows(answer, "finetune")
    assert finetune[1:] == ["**0.600 ± 0.005**", "**0.650 ± 0.005**", "**0.700 ± 0.005**"]   # the winner, bold
    (scratch,) = table_rows(answer, "scratch")
    assert scratch[1] == "0.450 ± 0.005"
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings[:3] == ["The answer", "Details of the answer", "Learning curve"]
    assert headings[-2:] == ["Runs, one per seed (4)", "Comparison on the test split"]
    # HTML: the learning curve beside the answer, the per-seed runs folded away
    beside = html.split('<div class="beside">', 1)[1].split("</figure></div>", 1)[0]
    assert "<strong>Yes.</strong>" in beside and 'src="figures/learning_curve.png"' in beside
    assert html.index('<div class="beside">') < html.index("<h2>Details of the answer</h2>")
    folded = html.split("<details><summary>Runs, one per seed (4)</summary>", 1)[1].split("</details>", 1)[0]
    assert "<h2>Comparison on the test split</h2>" in folded and "<h3>Run <code>finetune</code></h3>" in folded


def test_per_class_recall_is_shown_when_run_json_has_it(tmp_path):
    from accent.report.document import Document
    from accent.report.sections import per_class_recall_section

    runs = [make_run_dir(tmp_path, "scratch", "scratch", 0.6), make_run_dir(tmp_path, "finetune", "finetune", 0.7)]
    plain = Document("no recall recorded")
    per_class_recall_section(plain, [("scratch", "scratch", json.loads((runs[0] / "run.json").read_text()))])
    assert plain.blocks == []
    run = json.loads((runs[1] / "run.json").read_text())
    run["metrics"]["test"]["per_class_recall"] = {"english": 0.9, "indian": 0.25, "scottish": 0.5}
    (runs[1] / "run.json").write_text(json.dumps(run))
    markdown = build_report(runs, tmp_path / "recall", n_boot=10, embeddings=False, progress=False).read_text()
    recall = section(markdown, "### Recall per class, best run of each method")
    assert table_rows(recall, "class") == [["class", "finetune"]]          # only the run that records it
    assert table_rows(recall, "indian") == [["indian", "0.250"]]


def test_report_says_when_speakers_are_unknown(tmp_path):
    run = make_run_dir(tmp_path, "cv1", "scratch", 0.6, speaker_ids=False)
    markdown = build_report([run], tmp_path / "report", n_boot=20, progress=False).read_text()
    assert "speaker-disjointness of its splits cannot be guaranteed" in markdown
    assert "does not answer whether transfer helped" in markdown   # no curve given


def test_report_rejects_a_directory_without_run_json(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AccentError, match="run.json"):
        build_report([tmp_path / "empty"], tmp_path / "report", progress=False)


# ------------------------------------------------------------------ tiny real runs: curve, report, predict

TINY_MODEL = {"channels": [16, 16], "kernels": [5, 3], "dilations": [1, 2], "pool_channels": 32, "embed_dim": 16}
REAL_CLIP = Path(__file__).resolve().parents[2] / "shared" / "real-samples" / "commonvoice-6.1-en" / "common_voice_en_651325.mp3"


@pytest.fixture(scope="module")
def experiment(tiny_stores, tmp_path_factory):
    """A 1-epoch pretrained source, a 1-epoch fine-tuned target run and a small curve (baseline and
    extract: the fast modes; sizes 1 and 50 per class, where 50 exceeds the train split). The curve
    runs on its pool of spawned workers (the suite's only test of that path); --jobs 2, not the
    default of one per core up to 4: each worker pays ~4 s of CPU importing torch and sklearn."""
    import torch

    from accent.cli import main
    from accent.training.pretrain import pretrain
    from accent.transfer import run_transfer

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("experiment")
    source, finetune, curve = base / "pretrain", base / "finetune", base / "curve"
    pretrain(tiny_stores["source"], source, crop_s=1.0, max_epochs=1, progress=False, model_overrides=TINY_MODEL)
    run_transfer(tiny_stores["target"], "finetune", finetune, source=source, max_epochs=1, progress=False)
    args = ["curve", "--source", str(source), "--features", tiny_stores["target"], "--out", str(curve),
            "--sizes", "1,50", "--seeds", "0,1,2", "--modes", "baseline,extract", "--jobs", "2", "--quiet"]
    assert main(args) == 0
    return {"source": source, "finetune": finetune, "curve": curve, "curve_args": args}


def test_curve_caps_sizes_records_every_run_and_resumes(experiment):
    from accent.cli import main

    curve = experiment["curve"]
    table = pd.read_csv(curve / "curve.csv", dtype={"size": str})
    assert len(table) == 2 * 2 * 3                               # 2 sizes x 2 modes x 3 seeds
    assert set(table["size"]) == {"1", ALL}                      # 50 per class > train split: run as 'all'
    assert json.loads((curve / "curve.json").read_text())["capped_sizes"] == [50]
    for _, row in table.iterrows():
        run = json.loads((curve / row["run_dir"] / "run.json").read_text())
        assert row["balanced_accuracy"] == pytest.approx(run["metrics"]["test"]["balanced_accuracy"])
        assert row["n_train_recordings"] == run["n_train_recordings"]
    small = table[table["size"] == "1"]["n_train_recordings"]
    assert (small == 3).all() and (table[table["size"] == ALL]["n_train_recordings"] > 3).all()

    stamps = {p: p.stat().st_mtime_ns for p in curve.glob("*/*/*/run.json")}
    assert main(experiment["curve_args"]) == 0                   # rerun: every run is already finished
    assert {p: p.stat().st_mtime_ns for p in curve.glob("*/*/*/run.json")} == stamps
    pd.testing.assert_frame_equal(pd.read_csv(curve / "curve.csv", dtype={"size": str}), table)


def test_report_from_real_runs(experiment, tmp_path):
    curve = experiment["curve"]
    runs = [experiment["source"], experiment["finetune"], curve / "baseline" / "nall" / "seed0",
            curve / "extract" / "nall" / "seed0"]
    out = tmp_path / "report"
    markdown = build_report(runs, out, curve, n_boot=30, progress=False).read_text()
    comparison = section(markdown, "## Comparison on the test split")
    for run_dir in runs:
        run = json.loads((run_dir / "run.json").read_text())
        name = run_dir.name if run_dir.parent.parent.parent != curve else f"curve/{run_dir.relative_to(curve)}"
        (row,) = table_rows(comparison, name)
        assert [c.split(" ")[0] for c in row[5:8]] == [fmt(run["metrics"]["test"][m])
                                                      for m in ("accuracy", "balanced_accuracy", "macro_f1")]
    summary = summarize_curve(pd.read_csv(curve / "curve.csv", dtype={"size": str}))
    curve_rows = table_rows(section(markdown, "## Learning curve"), "extract")
    assert [r[5].split(" ")[0] for r in curve_rows] == [fmt(v) for v in
                                                        summary[summary.series == "extract"]["balanced_accuracy_mean"]]
    assert "Embedding figure skipped" not in markdown
    for name in ("embeddings.png", "learning_curve.png", "training_pretrain.png", "training_finetune.png",
                 "confusion_pretrain.png", "confusion_curve_extract_nall_seed0.png"):
        assert_valid_png(out / "figures" / name)


def _write_tone(path: Path, sample_rate: int, seconds: float = 1.5) -> Path:
    import soundfile as sf

    t = np.arange(int(sample_rate * seconds)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(path, wave.astype(np.float32), sample_rate)
    return path


def test_predict_gives_distributions_for_every_mode_and_reports_bad_files(experiment, tmp_path, capsys):
    from accent.cli import main
    from accent.predict import predict_files

    good = [_write_tone(tmp_path / "tone8k.wav", 8000), _write_tone(tmp_path / "tone44k.flac", 44100)]
    if REAL_CLIP.is_file():
        good.append(REAL_CLIP)
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"this is not audio" * 10)
    curve = experiment["curve"]
    for run_dir in (experiment["source"], experiment["finetune"], curve / "baseline" / "n1" / "seed0",
                    curve / "extract" / "nall" / "seed0"):
        labels = json.loads((run_dir / "run.json").read_text())["labels"]
        results = predict_files(run_dir, [good[0], broken, *good[1:]], k=2)
        assert [r["path"] for r in results] == [str(p) for p in [good[0], broken, *good[1:]]]
        assert "broken.mp3" in results[1]["error"] and "top" not in results[1]
        for res in (r for r in results if "error" not in r):
            assert list(res["probabilities"]) == labels
            assert sum(res["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
            assert all(0.0 <= p <= 1.0 for p in res["probabilities"].values())
            top = [t["probability"] for t in res["top"]]
            assert len(top) == 2 and top == sorted(top, reverse=True) and top[0] == max(res["probabilities"].values())

    status = main(["predict", "--model", str(experiment["finetune"]), "--top-k", "3", "--json", str(good[0]), str(broken)])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.count("accent predict: error:") == 1 and "broken.mp3" in captured.err
    scored, failed = json.loads(captured.out)
    assert len(scored["top"]) == 3 and "error" in failed
    assert main(["predict", "--model", str(experiment["finetune"]), str(good[0])]) == 0
    assert str(good[0]) in capsys.readouterr().out
    assert main(["predict", "--model", str(tmp_path / "no-such-run"), str(good[0])]) == 2


def test_figure_pool_writes_the_files_drawing_at_once_writes_and_raises_a_workers_error(tmp_path):
    """The report's per-run figures go through plots.FigurePool: in spawned workers once there are
    POOL_MIN_FIGURES of them. Same PNG bytes as drawn in this process; a failing figure fails the report."""
    from accent import plots

    confusion, labels = np.array([[3, 1], [0, 4]]), ["a", "b"]
    history = [{"epoch": e, "train_loss": 1 / e, "val_bacc": 0.5 + e / 10, "val_acc": 0.5} for e in (1, 2, 3)]
    jobs = [(plots.confusion_figure, confusion, labels, "confusion"), (plots.training_figure, history, "training")]
    for where, n_figures in (("once", 1), ("pool", plots.POOL_MIN_FIGURES)):
        (tmp_path / where).mkdir()
        with plots.FigurePool(n_figures, workers=2) as draw:
            assert (draw.executor is None) == (where == "once")
            for k, (figure, *args) in enumerate(jobs):
                draw(figure, *args, tmp_path / where / f"{k}.png")
    for k in range(len(jobs)):
        assert (tmp_path / "pool" / f"{k}.png").read_bytes() == (tmp_path / "once" / f"{k}.png").read_bytes()
    with pytest.raises(TypeError):
        with plots.FigurePool(plots.POOL_MIN_FIGURES, workers=2) as draw:
            draw(plots.confusion_figure, confusion, None, "no labels", tmp_path / "bad.png")
