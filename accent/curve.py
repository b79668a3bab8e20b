"""The learning-curve experiment: every transfer mode over several target training sizes and seeds.

Each (mode, backbone, size, seed) is one ordinary transfer run in
``CURVEDIR/<mode>[-<backbone>]/n<size>/seed<seed>/``, so any point of the curve can be opened,
evaluated or reported like any other run. A run directory that already holds ``run.json`` is
finished and is read back instead of retrained; an interrupted one resumes from its training state.
``curve.csv`` (one row per run) is rewritten atomically after every run; ``curve.json`` records
the plan, including sizes that were capped to the train split.

Which series a method runs as, and which backbones, the method classes say (:mod:`accent.methods`).
A method joins the default modes when its class says the target store suits it
(:meth:`accent.methods.base.Method.default_on`): aligned only on a same-passage store
(:func:`accent.manifest.same_passage`), phonetic only when every clip has its text and audio.
A method with a file of its own beside the source run runs as two series: ``aligned`` (references and
NAP from the target's training rows, no source) and, when the source run holds ``aligned_source.npz``,
``aligned-source`` (the source's references and NAP); ``phonetic`` and ``phonetic-source``
(``phonetic_source.npz``) alike.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from accent.backbones.names import ACCENT, MFCC, fusion_parts
from accent.errors import AccentError
from accent.executors import add_executor_options, as_finished, open_executor
from accent.fileio import write_csv_atomic, write_json_atomic
from accent.layout import CURVE_COLUMNS, CURVE_CSV, CURVE_JSON, METRICS, read_run_json
from accent.methods import get_method, method_names, mode_rank
from accent.methods.base import NO_SOURCE as NEEDS_NO_SOURCE, OPTIONAL_SOURCE, OWN_SOURCE
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.store import FeatureStore
from accent.training import config

ALL = "all"
DEFAULT_SIZES = "5,10,20,50,all"
DEFAULT_SEEDS = "0,1,2"
DEFAULT_BACKBONE = ACCENT
MIN_SEEDS_FOR_SPREAD = 3
MAX_DEFAULT_JOBS = 4
# --part: the runs that need no pretrained network (they can train beside `accent pretrain`), or the others
BEFORE_SOURCE, NEEDS_SOURCE = "before-source", "needs-source"


@dataclass(frozen=True)
class CurvePoint:
    """One run of the curve. ``size`` is recordings per class, or ``"all"`` for the full train split."""

    mode: str
    backbone: str
    size: int | str
    seed: int

    @property
    def series(self) -> str:
        return series_name(self.mode, self.backbone)

    def run_dir(self, out: Path) -> Path:
        return out / self.series / f"n{self.size}" / f"seed{self.seed}"


def series_name(mode: str, backbone: str) -> str:
    """The curve's name for a mode: ``finetune``, or ``extract-resemblyzer`` for another backbone;
    ``aligned`` (no source) or ``aligned-source``."""
    return get_method(mode).series_name(backbone)


def size_key(size) -> float:
    """Sort key for sizes: numbers ascending, ``all`` last."""
    return float("inf") if str(size) == ALL else float(size)


def parse_sizes(text: str) -> list[int | str]:
    sizes: list[int | str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == ALL:
            sizes.append(ALL)
            continue
        try:
            value = int(part)
        except ValueError:
            raise AccentError(f"--sizes: {part!r} is neither a whole number nor 'all' (example: 5,10,20,all)") from None
        if value < 1:
            raise AccentError(f"--sizes: {value} recordings per class is too few; use 1 or more")
        sizes.append(value)
    if not sizes:
        raise AccentError("--sizes is empty: give recordings per class such as 5,10,20,all")
    return sorted(set(sizes), key=size_key)


def parse_ints(text: str, option: str) -> list[int]:
    try:
        values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise AccentError(f"{option}: {text!r} must be comma-separated whole numbers (example: 0,1,2)") from None
    if not values:
        raise AccentError(f"{option} is empty")
    return sorted(set(values))


def parse_names(text: str, option: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise AccentError(f"{option} is empty")
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise AccentError(f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def cap_sizes(sizes: list[int | str], largest_class: int) -> tuple[list[int | str], list[int]]:
    """Replace sizes that the train split cannot supply by ``all``.

    Subsampling ``n`` recordings per class when no class has more than ``largest_class`` keeps
    every training recording, so such a size is the same run as ``all``. Returns the sizes to run
    (deduplicated, ``all`` last) and the sizes that were capped.
    """
    capped = [s for s in sizes if s != ALL and s >= largest_class]
    kept = [s for s in sizes if s == ALL or s < largest_class]
    if capped and ALL not in kept:
        kept.append(ALL)
    return kept, capped


def largest_train_class(features: str | Path, folds: int | None) -> int:
    """Recordings in the biggest class of the train split (of the whole store under k-fold, since
    each fold trains on most of it: an upper bound is enough to decide which sizes are redundant)."""
    index = FeatureStore.open(features).index
    train = index if folds else index[index["split"] == "train"]
    if train.empty:
        raise AccentError(f"feature store {features} has no train-split recordings; re-run `accent featurize` on a split manifest")
    return int(train.groupby("label").size().max())


def mode_backbones(mode: str, backbones: list[str], own_sources=()) -> list[str]:
    """The backbones a mode runs with (its class says): baseline and scratch use none (one series
    each); finetune only those with a network to update (not ``mfcc``, not fusions); aligned and
    phonetic without the source, and with it when its file is among ``own_sources`` (the file names
    beside the source run, :func:`own_source_files`)."""
    method = get_method(mode)
    return method.curve_backbones(backbones, method.source_file is not None and method.source_file in own_sources)


def own_source_files(source) -> set[str]:
    """The methods' own source files (aligned_source.npz, ...) present beside the source run."""
    if source is None:
        return set()
    files = {get_method(m).source_file for m in method_names()} - {None}
    return {f for f in files if (Path(source) / f).is_file()}


def plan_points(modes: list[str], backbones: list[str], sizes: list, seeds: list[int],
                own_sources=()) -> list[CurvePoint]:
    """All runs, small sizes first so a partial curve is already useful. Modes that do not use a
    pretrained backbone (baseline, scratch) run once, not once per backbone."""
    points = []
    for size in sizes:
        for mode in modes:
            for backbone in mode_backbones(mode, backbones, own_sources):
                points.extend(CurvePoint(mode, backbone, size, seed) for seed in seeds)
    return points


def default_modes(features: str | Path) -> list[str]:
    """Every transfer mode that suits the target store (its class says): ``aligned`` only when the
    store reads one passage (it compares readings of the same text, and loses to the MFCC baseline on
    different sentences); ``phonetic`` only when every clip has its text and audio."""
    index = FeatureStore.open(features).index
    return [m for m in method_names() if get_method(m).default_on(index)]


def warm_embedding_cache(features: str | Path, points: list[CurvePoint], source, progress: bool) -> None:
    """Embed the store once per network the runs will read, before they start: every run (one per
    size, seed and fold, possibly in parallel workers) then reads the cache file instead of
    embedding the same recordings again. ``mfcc`` is computed on the fly and has no file."""
    from accent.embeddings import network_spec, recording_embeddings  # torch: kept out of start-up

    parts = dict.fromkeys(part for p in points if get_method(p.mode).uses_backbone for part in fusion_parts(p.backbone)
                          if part != MFCC and (part != ACCENT or source is not None))
    for part in parts:
        recording_embeddings(network_spec(part, source), features, progress=progress)


def warm_method_caches(features: str | Path, points: list[CurvePoint], source, jobs: int, executor: str,
                       scheduler: str | None, progress: bool) -> None:
    """Each method's store-wide work that its points would repeat (:meth:`Method.warm_cache`: aligned
    with a source, phonetic's measurements), once, through the curve's executor when it has more
    than one worker."""
    series = [(get_method(p.mode), get_method(p.mode).curve_options(source, p.backbone)[0]) for p in points]
    todo = list(dict.fromkeys(series))
    if not todo:
        return
    store = FeatureStore.open(features)
    if jobs == 1 and executor == "processes":
        for method, src in todo:
            method.warm_cache(store, features, src, progress=progress)
        return
    with open_executor(executor, scheduler, jobs) as pool:
        for method, src in todo:
            method.warm_cache(store, features, src, executor=pool, progress=progress)


def curve_row(point: CurvePoint, run: dict, out: Path) -> dict:
    test = (run.get("metrics") or {}).get("test") or {}
    row = {"series": point.series, "mode": point.mode, "backbone": run.get("backbone") or "", "size": point.size,
           "seed": point.seed, "n_train_recordings": run.get("n_train_recordings"), "n_test_recordings": test.get("n")}
    row.update({m: test.get(m) for m in METRICS})
    row.update({k: run.get(k) for k in ("best_epoch", "epochs_run", "train_seconds")})
    folds = run.get("fold_runs") or []
    if folds and row["best_epoch"] is None and all(f.get("best_epoch") is not None for f in folds):
        # k-fold: the aggregate has no single best epoch; the mean over folds answers "how many epochs"
        row["best_epoch"] = sum(f["best_epoch"] for f in folds) / len(folds)
        row["epochs_run"] = sum(f["epochs_run"] for f in folds) / len(folds)
    row["run_dir"] = str(point.run_dir(out).relative_to(out))
    return row


def run_curve(source: str | Path | None, features: str | Path, out: str | Path, *,
              sizes: list | None = None, seeds: list[int] | None = None, modes: list[str] | None = None,
              backbones: list[str] | None = None, folds: int | None = None, preset: str | None = None,
              max_epochs: int | None = None, device: str | None = None, jobs: int | None = None,
              progress: bool = True, recipe: dict | None = None, executor: str = "processes",
              scheduler: str | None = None, part: str | None = None) -> pd.DataFrame:
    """Run (or resume) the whole curve and return the ``curve.csv`` frame.

    ``jobs`` runs train in parallel processes of one thread each (default: one per CPU core on the
    CPU, one on CUDA): small networks use cores far better side by side than inside one run.
    ``executor="dask"`` with ``scheduler`` trains them on a Dask cluster instead (:mod:`accent.executors`).

    A run that fails with a user-input error is reported and skipped so the others still run; if
    any failed, an :class:`AccentError` naming the first failure is raised after ``curve.csv`` is
    written.

    ``part`` trains only some modes, so that the curve can overlap pretraining (scripts/reproduce.sh):
    ``before-source`` the modes that need no pretrained run (baseline, scratch: run without
    ``source``, so give ``preset`` = the source's), ``needs-source`` the others. Each part writes its
    runs and ``curve-<part>.csv``; a later whole-curve call finds them finished and writes ``curve.csv``.
    """
    out = Path(out)
    sizes = sizes or parse_sizes(DEFAULT_SIZES)
    seeds = seeds or parse_ints(DEFAULT_SEEDS, "--seeds")
    modes = modes or default_modes(features)
    if part is not None:
        modes, source = split_modes(modes, part), (None if part == BEFORE_SOURCE else source)
    backbones = backbones or [DEFAULT_BACKBONE]
    own_sources = own_source_files(source)
    methods = [get_method(m) for m in modes]
    for m in methods:
        if m.source == OWN_SOURCE and source is not None and m.source_file not in own_sources:
            _note(f"{source} has no {m.source_file} (accent pretrain writes it on a store that suits {m.name}): "
                  f"{m.name} runs without the source only")
    if source is None and any(DEFAULT_BACKBONE in fusion_parts(b) for b in backbones) \
            and any(m.uses_backbone for m in methods):
        raise AccentError("modes extract/finetune with backbone 'accent' need the pretrained run: give --source "
                          "RUNDIR (from `accent pretrain`), or name other --backbones such as resemblyzer")
    for m in methods:
        skipped = [b for b in backbones if m.uses_backbone and b not in m.curve_backbones(backbones, False)]
        if skipped:
            _note(f"{m.name} skips {', '.join(skipped)} (nothing to fine-tune: mfcc or a fusion); extract runs them")
    if len(seeds) < MIN_SEEDS_FOR_SPREAD:
        _note(f"only {len(seeds)} seed(s): the seed spread needs at least {MIN_SEEDS_FOR_SPREAD} to mean anything")
    largest = largest_train_class(features, folds)
    run_sizes, capped = cap_sizes(sizes, largest)
    if capped:
        _note(f"size(s) {', '.join(map(str, capped))} per class reach the largest train class "
              f"({largest} recordings), so they equal 'all' and run once as 'all'")
    out.mkdir(parents=True, exist_ok=True)
    plan = {"source": str(source) if source else None, "features": str(features), "folds": folds,
            "sizes_requested": sizes, "sizes": run_sizes, "capped_sizes": capped,
            "largest_train_class": largest, "seeds": seeds, "modes": modes, "backbones": backbones,
            "preset": preset, "max_epochs": max_epochs, "recipe": recipe}
    table_path, plan_path = part_files(out, part)
    write_json_atomic(plan_path, plan)

    points = plan_points(modes, backbones, run_sizes, seeds, own_sources)
    done: dict[int, dict] = {}
    for i, point in enumerate(points):
        run = read_run_json(point.run_dir(out))
        if run is not None:
            done[i] = curve_row(point, run, out)
    # longest runs first (big sizes, trained networks), so parallel workers finish together
    todo = sorted((i for i in range(len(points)) if i not in done),
                  key=lambda i: (-size_key(points[i].size), not get_method(points[i].mode).trains_network, i))
    warm_embedding_cache(features, [points[i] for i in todo], source, progress)
    jobs = max(1, min(jobs or default_jobs(device), len(todo) or 1))
    warm_method_caches(features, [points[i] for i in todo], source, jobs, executor, scheduler, progress)
    common = {"features": features, "source": source, "folds": folds, "preset": preset,
              "max_epochs": max_epochs, "device": device, "recipe": recipe}
    failures = []
    bar = tqdm(total=len(points), initial=len(done), desc="curve", unit="run", disable=not progress, file=sys.stderr)
    for i, run, error in _run_points([(i, points[i], out, common) for i in todo], jobs,
                                           executor, scheduler):
        bar.update(1)
        bar.set_postfix_str(f"{points[i].series} n={points[i].size} seed={points[i].seed}")
        if error is not None:
            failures.append(f"{points[i].run_dir(out)}: {error}")
            tqdm.write(f"accent curve: skipped {points[i].run_dir(out)}: {error}", file=sys.stderr)
            continue
        done[i] = curve_row(points[i], run, out)
        write_csv_atomic(pd.DataFrame([done[k] for k in sorted(done)], columns=CURVE_COLUMNS), table_path)
    bar.close()
    rows = [done[k] for k in sorted(done)]
    table = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    write_csv_atomic(table, table_path)
    if failures:
        raise AccentError(f"{len(failures)} of {len(points)} curve runs failed (the others are in "
                          f"{table_path}); first: {failures[0]}")
    return table


def part_files(out: Path, part: str | None) -> tuple[Path, Path]:
    """(table, plan) a call writes: ``curve.csv`` and ``curve.json``, or ``curve-<part>.csv/.json`` for one
    ``--part``, so that the two parts, running at the same time, never write the same file."""
    if part is None:
        return out / CURVE_CSV, out / CURVE_JSON
    return out / f"curve-{part}.csv", out / f"curve-{part}.json"


def split_modes(modes: list[str], part: str) -> list[str]:
    """The modes of one ``--part``: ``before-source`` those whose runs need no pretrained run."""
    before = [m for m in modes if get_method(m).source in (NEEDS_NO_SOURCE, OPTIONAL_SOURCE)]
    if part == BEFORE_SOURCE:
        return before
    if part == NEEDS_SOURCE:
        return [m for m in modes if m not in before]
    raise AccentError(f"--part: {part!r} is unknown; choose {BEFORE_SOURCE} or {NEEDS_SOURCE}")


def default_jobs(device: str | None) -> int:
    if device and device.startswith("cuda"):
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


def _train_point(task: tuple) -> tuple[int, dict | None, str | None]:
    """Train one curve point (in a worker process when jobs > 1); user-input errors come back as text."""
    from accent.transfer import run_transfer  # torch: kept out of start-up (and out of the curve's parent)

    i, point, out, common = task
    source, backbone = get_method(point.mode).curve_options(common["source"], point.backbone)
    try:
        run = run_transfer(common["features"], point.mode, point.run_dir(out), source=source,
                           per_class=None if point.size == ALL else point.size, seed=point.seed,
                           folds=common["folds"], backbone=backbone,
                           preset=common["preset"],
                           max_epochs=common["max_epochs"], device=common["device"], progress=False, resume=True,
                           recipe=common["recipe"])
    except AccentError as exc:
        return i, None, str(exc)
    return i, run, None


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A killed `accent curve` must not leave workers training on: they stop within a second.
    (Finished runs are on disk; an interrupted one resumes from its training state.)"""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _run_points(tasks: list[tuple], jobs: int, executor: str = "processes", scheduler: str | None = None):
    """Yield (index, run, error) as runs finish: in this process for one local job, else on the
    executor (a spawned process pool: torch and fork do not mix; or a Dask cluster)."""
    if jobs == 1 and executor == "processes":
        yield from map(_train_point, tasks)
        return
    with open_executor(executor, scheduler, jobs, start_method="spawn", initializer=_init_worker) as pool:
        futures = [pool.submit(_train_point, task) for task in tasks]
        for future in as_finished(futures):
            yield future.result()


def summarize_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each (series, size): the points of the curve,
    ordered baseline, scratch, extract, finetune, aligned (other backbones after theirs), sizes ascending."""
    if "n_test_recordings" not in df:  # a curve.csv written before the column existed
        df = df.assign(n_test_recordings=float("nan"))
    grouped = df.assign(size=df["size"].astype(str)).groupby(["series", "size"], sort=False)
    summary = grouped.agg(
        mode=("mode", "first"), backbone=("backbone", "first"), n_seeds=("seed", "nunique"),
        n_train_mean=("n_train_recordings", "mean"), n_test_mean=("n_test_recordings", "mean"),
        **{f"{m}_mean": (m, "mean") for m in METRICS},
        **{f"{m}_std": (m, "std") for m in METRICS},
        best_epoch_mean=("best_epoch", "mean"), best_epoch_std=("best_epoch", "std"),
        epochs_run_mean=("epochs_run", "mean"),
    ).reset_index()
    summary["_mode"] = summary["mode"].map(mode_rank)
    summary["_size"] = summary["size"].map(size_key)
    summary = summary.sort_values(["_mode", "series", "_size"], kind="stable")
    return summary.drop(columns=["_mode", "_size"]).reset_index(drop=True)


def _note(text: str) -> None:
    print(f"accent curve: note: {text}", file=sys.stderr)


def _run_cli(args) -> int:
    table = run_curve(args.source, args.features, args.out,
                      sizes=parse_sizes(args.sizes), seeds=parse_ints(args.seeds, "--seeds"),
                      modes=parse_names(args.modes, "--modes", method_names()) if args.modes else None,
                      backbones=parse_names(args.backbones, "--backbones"), folds=args.folds,
                      preset=args.preset, max_epochs=args.max_epochs, device=args.device,
                      jobs=args.jobs, progress=not args.quiet, recipe=config.user_overlay(args.recipe, args.set),
                      executor=args.executor, scheduler=args.scheduler, part=args.part)
    print(f"wrote {part_files(Path(args.out), args.part)[0]} ({len(table)} runs)")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "curve", help="learning curve: every transfer mode over target training sizes and seeds",
        description="Transfer in every mode over several target training sizes (recordings per class) and "
                    "seeds; resumable (finished runs are kept); writes OUT/curve.csv.")
    p.add_argument("--source", help="RUNDIR of the pretrained run (needed by extract/finetune)")
    p.add_argument("--features", required=True, help="FEATDIR of the target corpus")
    p.add_argument("--out", required=True, help="CURVEDIR to write (runs in OUT/<mode>/n<size>/seed<seed>/)")
    p.add_argument("--sizes", default=DEFAULT_SIZES,
                   help=f"training recordings per class, 'all' = the whole train split (default {DEFAULT_SIZES}); "
                        "sizes the train split cannot supply are run once as 'all'")
    p.add_argument("--seeds", default=DEFAULT_SEEDS, help=f"seeds per size (default {DEFAULT_SEEDS})")
    p.add_argument("--modes", default=None,
                   help=f"transfer modes to compare, from {','.join(method_names())} (default: all; aligned only "
                        "when the target store is same-passage, phonetic only when its clips have text and audio)")
    p.add_argument("--backbones", default=DEFAULT_BACKBONE,
                   help="comma-separated networks for extract/finetune (default: accent = --source), e.g. "
                        "accent,resemblyzer,mfcc+resemblyzer; series are named extract-<backbone>; finetune "
                        "skips mfcc and fusions")
    p.add_argument("--folds", type=int, default=None, help="speaker-disjoint k-fold CV instead of the fixed split")
    p.add_argument("--preset", default=None, help="model preset for scratch (default: the source's)")
    p.add_argument("--max-epochs", type=int, default=None, help="cap on training epochs (default: the preset's)")
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"runs trained side by side, one thread each (default: CPU cores up to {MAX_DEFAULT_JOBS}; 1 on cuda)")
    add_executor_options(p, shards=False)
    p.add_argument("--part", choices=(BEFORE_SOURCE, NEEDS_SOURCE), default=None,
                   help=f"only the modes that need no pretrained run ({BEFORE_SOURCE}: baseline, scratch; "
                        "--source is not read, give --preset) or only the others; scripts/reproduce.sh trains "
                        "the first beside `accent pretrain`")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    config.add_recipe_options(p)
    p.set_defaults(func=_run_cli)
