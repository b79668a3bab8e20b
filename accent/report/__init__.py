"""The report: report.md and report.html with PNG figures, built only from run directories.

Every number comes from a file a reader can open: test metrics from each ``run.json`` (printed
with one rounding rule, :data:`DIGITS` decimals), 95 % intervals by resampling speakers from
``predictions.csv``, the learning curve from ``curve.csv``. The answer to "did transfer help?" is
generated from the curve's runs by :func:`transfer_answer` (one verdict line per question: the
same-passage source, a literature backbone; then which mode to use at which size), decided by the
paired rule of :mod:`accent.report.paired`; nothing in it is written in advance. The report opens with
the answer and a compact table (the learning curve beside them in HTML), then the details; the
per-seed runs come last, folded away in HTML.
"""
from __future__ import annotations

import sys
from pathlib import Path

from accent import plots
from accent.curve import summarize_curve
from accent.errors import AccentError
from accent.fileio import write_text_atomic
from accent.layout import read_curve
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.report.answer import transfer_answer
from accent.report.document import Document, fmt
from accent.report.runs import best_runs_by_mode, load_runs, speaker_intervals
from accent.report.sections import (FIGURES, answer_section, best_curve_runs, chance_level, comparison_section,
                                    curve_section, dataset_section, details_section, embedding_section,
                                    per_class_recall_section, run_section)

__all__ = ["build_report", "fmt", "transfer_answer"]


def build_report(run_dirs: list[str | Path], out: str | Path, curve: str | Path | None = None, *,
                 n_boot: int = 1000, embeddings: bool = True, progress: bool = True) -> Path:
    """Write ``out/report.md``, ``out/report.html`` and ``out/figures/*.png``; return the .md path."""
    if not run_dirs and curve is None:
        raise AccentError("nothing to report: give --runs RUNDIR... and/or --curve CURVEDIR")
    out = Path(out)
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    records = load_runs(run_dirs)
    intervals = {rec.name: speaker_intervals(rec, n_boot)
                 for rec in tqdm(records, desc="bootstrap", unit="run", disable=not progress, file=sys.stderr)}
    doc = Document("Accent classification: did transfer learning help?")
    if curve is not None:
        curve = Path(curve)
        table = read_curve(curve)
        summary = summarize_curve(table)
        answer = transfer_answer(table, curve, chance=chance_level(curve, table), n_boot=n_boot)
        answer_section(doc, answer, summary, out)
        details_section(doc, answer, summary)
        per_class_recall_section(doc, best_curve_runs(curve, table))
        curve_section(doc, curve, table, summary)
    else:
        doc.heading(2, "The answer")
        doc.para("No learning curve was given (`--curve`), so this report does not answer whether transfer helped; "
                 "it only compares the runs below.")
        per_class_recall_section(doc, best_runs_by_mode(records))
    if records:
        dataset_section(doc, records)
        runs = Document(doc.title)
        comparison_section(runs, records, intervals)
        with plots.FigurePool(2 * len(records)) as draw:   # the runs' figures are drawn beside the embeddings
            for rec in records:
                run_section(runs, rec, intervals.get(rec.name), out, draw)
            if embeddings:
                embedding_section(doc, records, out)
        doc.details(f"Runs, one per seed ({len(records)})", runs)
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
