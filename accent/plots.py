"""PNG figures for the report: confusion matrices, training curves, learning curves, embeddings.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas (no pyplot, so no global
backend state and no display needed) and written atomically: a half-written PNG never survives.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accent.executors import usable_cores
from accent.fileio import atomic_path

DPI = 120
POOL_MIN_FIGURES = 12        # fewer: drawn at once (a worker's start, importing matplotlib, costs about 1 s)
MAX_ANNOTATED_CLASSES = 16   # above this the confusion cells are too small to print numbers in
SERIES_MARKERS = "osD^v<>ph*"


def new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG through a temporary file and a rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return path


class FigurePool:
    """Draws figures in worker processes beside the caller's own work when there are at least
    :data:`POOL_MIN_FIGURES` of them, else at once: ``pool(figure_function, *args)`` returns at once,
    and leaving the ``with`` block waits for every figure (a worker's error is raised there). The
    workers are spawned, not forked: the caller may hold torch's threads. The main job's report (19 runs,
    26 figures in the pool) took 12.7 s instead of 16.1 s, with the same files."""

    def __init__(self, n_figures: int, workers: int | None = None):
        workers = min(workers or usable_cores(), n_figures) if n_figures >= POOL_MIN_FIGURES else 0
        self.executor = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                         if workers > 1 else None)
        self.futures = []

    def __call__(self, figure, *args, **kwargs) -> None:
        if self.executor is None:
            figure(*args, **kwargs)
        else:
            self.futures.append(self.executor.submit(figure, *args, **kwargs))

    def __enter__(self) -> "FigurePool":
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is None:
            return
        try:
            if exc[0] is None:
                for future in self.futures:
                    future.result()
        finally:
            self.executor.shutdown(wait=True, cancel_futures=True)


def row_normalise(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the recall view); rows without recordings stay zero."""
    confusion = np.asarray(confusion, dtype=float)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def confusion_figure(confusion, labels: list[str], title: str, path: str | Path) -> Path:
    """Row-normalised confusion matrix: true label down, predicted label across."""
    normed = row_normalise(confusion)
    side = max(4.0, 0.45 * len(labels) + 2.5)
    fig, (ax,) = new_figure(side + 1.0, side)
    image = ax.imshow(normed, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel("predicted accent")
    ax.set_ylabel("true accent")
    ax.set_title(title, fontsize=10)
    if len(labels) <= MAX_ANNOTATED_CLASSES:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{normed[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if normed[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return save_figure(fig, path)


def training_figure(history: list[dict], title: str, path: str | Path, best_epoch: int | None = None) -> Path:
    """Train loss and validation accuracy per epoch, side by side; a dotted line at the kept epoch."""
    from matplotlib.ticker import MaxNLocator

    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, val_ax) = new_figure(9.0, 3.4, ncols=2)
    loss_ax.plot(epochs, [h.get("train_loss") for h in history], marker="o", ms=3)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("train loss")
    loss_ax.set_title("training loss", fontsize=10)
    val_ax.plot(epochs, [h.get("val_bacc") for h in history], marker="o", ms=3, label="balanced accuracy")
    val_ax.plot(epochs, [h.get("val_acc") for h in history], marker=".", ms=3, ls="--", label="accuracy")
    val_ax.set_xlabel("epoch")
    for ax in (loss_ax, val_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1)
    if best_epoch is not None:
        val_ax.plot([], [], color="grey", ls=":", lw=1, label=f"best epoch ({best_epoch})")
    val_ax.set_ylabel("validation score")
    val_ax.set_title("validation", fontsize=10)
    val_ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def learning_curve_figure(summary, path: str | Path, chance: float | None = None) -> Path:
    """Two panels over target training size (log x): balanced accuracy mean ± std over seeds, and
    the epoch of the best validation score (neural modes only).

    ``summary`` is :func:`accent.curve.summarize_curve`'s frame.
    """
    from matplotlib.ticker import MaxNLocator, NullFormatter

    fig, (acc_ax, ep_ax) = new_figure(11.0, 4.4, ncols=2)
    all_series = list(dict.fromkeys(summary["series"]))
    colours = _palette(len(all_series))
    for k, (series, rows) in enumerate(summary.groupby("series", sort=False)):
        rows = rows.sort_values("n_train_mean")
        style = {"marker": SERIES_MARKERS[k % len(SERIES_MARKERS)], "color": colours[all_series.index(series)],
                 "capsize": 3, "label": series}
        acc_ax.errorbar(rows["n_train_mean"], rows["balanced_accuracy_mean"],
                        yerr=rows["balanced_accuracy_std"].fillna(0.0), **style)
        epochs = rows.dropna(subset=["best_epoch_mean"])
        if len(epochs):
            ep_ax.errorbar(epochs["n_train_mean"], epochs["best_epoch_mean"],
                           yerr=epochs["best_epoch_std"].fillna(0.0), **style)
    if chance is not None:
        acc_ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    # ticks at the sizes actually run, labelled with total recordings and the per-class size
    ticks = summary.groupby("size", sort=False)["n_train_mean"].mean().sort_values()
    tick_labels = [f"{n:.0f}\n({size}{'' if size == 'all' else '/class'})" for size, n in ticks.items()]
    for ax in (acc_ax, ep_ax):
        ax.set_xscale("log")
        ax.set_xticks(ticks.to_numpy(), tick_labels, fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("target training recordings (log scale)")
        ax.grid(True, which="both", alpha=0.3)
    ep_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax.set_ylabel("test balanced accuracy (mean ± std over seeds)")
    acc_ax.set_title("accuracy against target-data size", fontsize=10)
    acc_ax.legend(fontsize=8)
    ep_ax.set_ylabel("epoch of best validation score (mean ± std)")
    ep_ax.set_title("epochs needed", fontsize=10)
    if ep_ax.get_legend_handles_labels()[0]:
        ep_ax.legend(fontsize=8)
    else:  # only baseline/extract runs: no network was trained, so there are no epochs to show
        ep_ax.set_xlim(ticks.min() / 1.3, ticks.max() * 1.3)
        ep_ax.set_yticks([])
        ep_ax.text(0.5, 0.5, "no network was trained in this curve\n(baseline and extract fit in one step)",
                   ha="center", va="center", transform=ep_ax.transAxes, fontsize=9, color="grey")
    return save_figure(fig, path)


def embedding_figure(panels: list[tuple[str, np.ndarray, list[str]]], path: str | Path) -> Path:
    """One scatter panel per (title, points (n, 2), labels), coloured by label."""
    fig, axes = new_figure(5.5 * len(panels), 4.8, ncols=len(panels))
    for ax, (title, points, labels) in zip(axes, panels):
        labels = np.asarray(labels)
        classes = sorted(set(labels.tolist()))
        colours = _palette(len(classes))
        for colour, label in zip(colours, classes):
            mask = labels == label
            ax.scatter(points[mask, 0], points[mask, 1], s=10, alpha=0.75, color=colour, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("component 1")
        ax.set_ylabel("component 2")
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncols=1 if len(classes) <= 10 else 2)
    return save_figure(fig, path)


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
