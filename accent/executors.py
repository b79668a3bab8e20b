"""Executors for the parallel stages: shards of work on a local process pool or a Dask cluster.

The convention of lhotse and the speech field: a parallel stage takes any executor with the
``concurrent.futures`` interface (``submit(fn, *args)`` returning a future with ``done()`` and
``result()``). ``--executor processes`` gives a local process pool; ``--executor dask --scheduler
ADDRESS`` a ``dask.distributed`` ``Client`` that can span many machines (on Slurm through
dask-jobqueue). Dask is an optional extra (``pip install 'accent[dask]'``), imported only here and
only when asked for.

:func:`run_shards` is the scheduling loop both stages share. Work is cut into shards; each shard
task writes its own output on a filesystem every machine sees (a feature store with its journal,
or an embeddings file) and is safe to run again: it resumes from what it already wrote. So:

- a shard whose worker dies (the future raises) is submitted again, up to ``retries`` times;
- a rerun after an interruption skips the shards already finished (``is_done``) and resumes the
  one that was half done;
- progress aggregates across workers by polling each running shard's own count of finished items
  (``progress_of``, e.g. lines in its journal), so it needs nothing from the executor.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from accent.errors import AccentError

EXECUTORS = ("processes", "dask")
POLL_S = 0.5            # how often the driver looks at futures and shard progress, at most; after a
MIN_POLL_S = 0.01       # finished shard it looks again soon and backs off (short shards end without a 0.5 s wait)
RETRIES = 3             # submissions of one shard beyond the first before the stage gives up
LOCAL_PREFIX = "local:"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


# -- executors ---------------------------------------------------------------------------------

class ProcessExecutor:
    """A process pool that starts afresh when a worker died.

    ``concurrent.futures.ProcessPoolExecutor`` is broken for good once one of its processes is
    killed: every pending future fails and every later ``submit`` raises. Shards are resumable, so
    the right response is a new pool and a resubmission, which this wrapper makes possible.
    Workers are forked by default (instant start, torch already imported), as in ``accent
    featurize``'s pool; ``start_method="spawn"`` for a parent that has already run torch code
    (loaded a backbone), where fork could inherit a locked thread pool.
    """

    def __init__(self, workers: int, start_method: str = "fork", initializer: Callable | None = None):
        self.workers = workers
        self.start_method = start_method
        self.initializer = initializer
        self._pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(self.start_method),
                                   initializer=self.initializer)

    def submit(self, fn, *args):
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(fn, *args)

    def n_workers(self) -> int:
        return self.workers

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _dask():
    try:
        import distributed
    except ImportError:
        raise AccentError("--executor dask needs dask.distributed: pip install 'accent[dask]' "
                          "(or 'dask[distributed]')") from None
    return distributed


def dask_client(address: str):
    """A ``distributed.Client`` for ``tcp://host:port``, a scheduler file, or ``local:N``.

    ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes on this machine
    (no dashboard), the way to try the Dask path without a cluster.
    """
    distributed = _dask()
    if address.startswith(LOCAL_PREFIX):
        try:
            n = int(address[len(LOCAL_PREFIX):])
        except ValueError:
            n = 0
        if n < 1:
            raise AccentError(f"--scheduler {address!r}: expected local:N with N >= 1 workers, e.g. local:2")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        return distributed.Client(cluster)
    if "://" in address:
        try:
            return distributed.Client(address, timeout="30s")
        except OSError as exc:
            raise AccentError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc}); "
                              "start one with `dask scheduler` or use local:N") from None
    if Path(address).is_file():
        return distributed.Client(scheduler_file=address, timeout="30s")
    raise AccentError(f"--scheduler {address!r}: give tcp://host:port, a Dask scheduler file, or local:N")


class DaskExecutor:
    """A ``distributed.Client`` seen through the interface :func:`run_shards` uses: every
    submission a new task (a plain ``client.submit`` of the same arguments would return the cached
    failed future), and a worker count from the scheduler."""

    def __init__(self, address: str | None = None, client=None):
        self.client = client if client is not None else dask_client(address)
        self._owned = client is None

    def submit(self, fn, *args):
        # pure=False: a resubmitted shard is a new task, never the cached failure of the old one
        return self.client.submit(fn, *args, pure=False)

    def n_workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def shutdown(self) -> None:
        if not self._owned:  # the caller's client: theirs to close
            return
        cluster = getattr(self.client, "cluster", None)
        self.client.close()
        if cluster is not None:  # we started it (local:N)
            cluster.close()


def as_executor(executor):
    """A ``distributed.Client`` (e.g. of a dask-jobqueue ``SLURMCluster``) wrapped as a
    :class:`DaskExecutor`; anything else with ``submit`` is used as it is."""
    if type(executor).__name__ == "Client" and hasattr(executor, "scheduler_info"):
        return DaskExecutor(client=executor)
    return executor


@contextmanager
def open_executor(kind: str, scheduler: str | None = None, workers: int | None = None,
                  start_method: str = "fork", initializer: Callable | None = None) -> Iterator[Any]:
    """The executor named on the command line, shut down on exit. ``initializer`` runs in each
    local worker process (Dask workers are set up by their cluster)."""
    if kind == "processes":
        if scheduler:
            raise AccentError("--scheduler is for --executor dask; with processes use --workers N")
        executor = ProcessExecutor(max(1, workers or os.cpu_count() or 1), start_method, initializer)
    elif kind == "dask":
        if not scheduler:
            raise AccentError("--executor dask needs --scheduler tcp://HOST:PORT, a scheduler file, or local:N")
        executor = DaskExecutor(scheduler)
    else:
        raise AccentError(f"--executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    try:
        yield executor
    finally:
        executor.shutdown()


def map_ordered(executor, fn: Callable, items: list, chunksize: int = 1) -> Iterator[Any]:
    """``fn`` over ``items`` on ``executor``, results in the order of ``items`` (streamed as the
    next one is ready), ``chunksize`` items per task: the stages that write what they get in order."""
    chunks = [items[i:i + chunksize] for i in range(0, len(items), chunksize)]
    futures = [executor.submit(_map_chunk, fn, chunk) for chunk in chunks]
    for future in futures:
        yield from future.result()


def _map_chunk(fn: Callable, chunk: list) -> list:
    return [fn(item) for item in chunk]


def as_finished(futures: list):
    """The futures of a process pool or of a Dask client, as each finishes."""
    if futures and type(futures[0]).__module__.startswith("distributed"):
        return _dask().as_completed(futures)
    return as_completed(futures)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def n_workers(executor) -> int:
    """Workers behind an executor (1 when it cannot say)."""
    counter = getattr(as_executor(executor), "n_workers", None)
    if callable(counter):
        return counter()
    return max(1, getattr(executor, "_max_workers", 1))


def add_executor_options(parser, shards: bool = True) -> None:
    """--executor/--scheduler (and --shards, for stages cut into shards), shared by the parallel stages."""
    parser.add_argument("--executor", choices=EXECUTORS, default="processes",
                        help="processes (default): a local pool of --workers; dask: shards on a Dask cluster")
    parser.add_argument("--scheduler", help="with --executor dask: tcp://HOST:PORT, a scheduler file, "
                                            "or local:N for a LocalCluster of N workers on this machine")
    if not shards:
        return
    parser.add_argument("--shards", type=int, dest="n_shards",
                        help="pieces of work (default with dask: about 4 per worker); giving it with processes "
                             "shards the work too; finished shards are reused on rerun")


def relax_malloc_trim() -> None:
    """Undo, in this worker process, the ``MALLOC_TRIM_THRESHOLD_=65536`` a Dask nanny sets.

    That variable also pins glibc's mmap threshold at 128 kB, so every waveform and spectrogram
    array is a fresh ``mmap`` and a run of page faults: featurizing 1,000 clips took 8.7 CPU-s in a
    Dask worker against 4.8 with this call (measured here). Shard tasks call it first; elsewhere
    (no such variable, or not glibc) it does nothing.
    """
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") is None:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 128 << 20)


# -- the shard loop ----------------------------------------------------------------------------

@dataclass
class Shard:
    """One piece of work: ``fn(*args)`` on a worker; ``size`` items, for progress."""

    key: str
    args: tuple
    size: int
    submissions: int = field(default=0)


def _is_input_error(exc: BaseException) -> bool:
    """A problem with the user's input: resubmitting cannot help."""
    return isinstance(exc, AccentError)


def run_shards(executor, fn: Callable, shards: list[Shard], *, is_done: Callable[[Shard], bool],
               progress_of: Callable[[Shard], int], on_result: Callable[[Shard, Any], None] | None = None,
               desc: str = "shards", progress: bool = True, retries: int = RETRIES) -> int:
    """Run ``fn(*shard.args)`` for every shard not ``is_done``; returns how many shards were reused.

    Results reach ``on_result`` in completion order. A shard whose future fails for any reason
    other than an :class:`AccentError` (worker killed, connection lost, out of memory) is submitted
    again; after ``retries`` resubmissions the stage stops with an AccentError naming the shard
    and the last error (finished shards stay on disk for the next run).
    """
    from tqdm import tqdm

    executor = as_executor(executor)
    reused = [s for s in shards if is_done(s)]
    todo = [s for s in shards if not is_done(s)]
    total = sum(s.size for s in shards)
    bar = tqdm(total=total, initial=sum(s.size for s in reused), unit="clip", desc=desc, file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    running: dict[str, tuple[Shard, Any]] = {}
    finished_items = bar.n

    def submit(shard: Shard) -> None:
        shard.submissions += 1
        running[shard.key] = (shard, executor.submit(fn, *shard.args))

    try:
        for shard in todo:
            submit(shard)
        pause = MIN_POLL_S
        while running:
            for key, (shard, future) in list(running.items()):
                if not future.done():
                    continue
                pause = MIN_POLL_S
                del running[key]
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - any worker failure: resubmit or give up
                    if _is_input_error(exc):
                        raise
                    if shard.submissions > retries:
                        raise AccentError(f"shard {shard.key} failed {shard.submissions} times, last: "
                                          f"{type(exc).__name__}: {exc}; rerun to retry (finished shards are kept)") from None
                    print(f"{desc}: shard {shard.key} lost ({type(exc).__name__}); resubmitting", file=sys.stderr)
                    submit(shard)
                    continue
                finished_items += shard.size
                if on_result is not None:
                    on_result(shard, result)
            in_flight = sum(min(shard.size, progress_of(shard)) for shard, _ in running.values())
            bar.n = finished_items + in_flight
            bar.refresh()
            if running:
                time.sleep(pause)
                pause = min(POLL_S, pause * 2)
    finally:
        bar.close()
    return len(reused)


def count_lines(path: Path) -> int:
    """Newlines in a file (0 if it does not exist yet): finished items of a shard's journal."""
    try:
        with open(path, "rb") as fh:
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0


def shard_count(n_items: int, workers: int, requested: int | None = None, max_items: int = 2000) -> int:
    """How many shards: ``requested``, else about 4 per worker (load balance, cheap retries) and
    at most ``max_items`` items each (so a lost worker costs little), never more than items."""
    if requested is not None:
        if requested < 1:
            raise AccentError(f"--shards {requested}: need at least 1")
        return max(1, min(requested, n_items))
    return max(1, min(n_items, max(4 * workers, -(-n_items // max_items))))


def run_file_shards(executor, fn: Callable, shards: list[Shard], *, desc: str, progress: bool = False) -> None:
    """Shards whose last argument is the file they write: those not yet on disk run here one after
    another when ``executor`` is None, else through :func:`run_shards` on it (finished ones reused
    after an interruption either way)."""
    done = lambda s: Path(s.args[-1]).is_file()  # noqa: E731
    if executor is None:
        for s in shards:
            if not done(s):
                fn(*s.args)
        return
    run_shards(executor, fn, shards, is_done=done, progress_of=lambda s: 0, desc=desc, progress=progress)
