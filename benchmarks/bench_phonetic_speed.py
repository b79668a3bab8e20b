"""Per-clip wall and CPU time of ``accent.phonetic.file_measurements``, and a bit-identity check between two versions of the code.

    # measure N clips of a feature store with the code at --code (default: this checkout), save everything
    .venv/bin/python benchmarks/bench_phonetic_speed.py measure --store FEATDIR --n 120 --out new.npz [--code DIR]
    # the same with the old code (e.g. `git archive main accent | tar -x -C /tmp/base`), then:
    .venv/bin/python benchmarks/bench_phonetic_speed.py compare old.npz new.npz

``measure`` runs one clip first as a warm-up (imports, the espeak helper's start; its results are
kept, its time is not), then times each of the next N clips: wall (``perf_counter``) and this process's CPU (``process_time``), and the CPU of
the whole run including helper processes (forked children waited for, and the espeak zygote with its
children when there is one). With ``--render N`` it also renders the first N distinct texts of the
store in fresh order (each twice, the second time after others) and keeps samples and phones.
``compare`` exits 1 unless vectors, statistics and renderings are ``np.array_equal(..., equal_nan=True)``.
Run with OMP_NUM_THREADS=1 for per-clip figures comparable with docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _helper_cpu() -> float:
    """CPU seconds of the espeak zygote and its reaped children, when the code under test has one."""
    phones = sys.modules.get("accent.phones")
    engines = getattr(phones, "_ENGINES", None) or []
    total = 0.0
    for engine in engines:
        try:
            fields = Path(f"/proc/{engine.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")   # utime stime cutime cstime
        except (OSError, AttributeError):
            pass
    return total


def _all_cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime + _helper_cpu()


def measure(args) -> None:
    sys.path.insert(0, str(Path(args.code).resolve()))
    from accent import phonetic, phones
    from accent.store import FeatureStore

    assert Path(phonetic.__file__).resolve().is_relative_to(Path(args.code).resolve()), phonetic.__file__
    store = FeatureStore.open(args.store)
    texts = phonetic.store_texts(store, store.root)
    paths = list(store.index["path"].astype(str))
    cfg = phonetic.PhoneticConfig()
    n = min(args.n, len(paths) - 1)
    t0 = time.perf_counter()
    v, s = phonetic.file_measurements(paths[0], texts[0], cfg, store.config)
    warmup = time.perf_counter() - t0
    vectors, stats, wall, cpu = [v], [s], [], []   # the warm-up clip's results are compared too
    cpu_all0, wall0 = _all_cpu(), time.perf_counter()
    for path, text in zip(paths[1:n + 1], texts[1:n + 1]):
        w, c = time.perf_counter(), time.process_time()
        v, s = phonetic.file_measurements(path, text, cfg, store.config)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        vectors.append(v)
        stats.append(s)
    cpu_all = (_all_cpu() - cpu_all0) / n
    wall_all = (time.perf_counter() - wall0) / n
    out = dict(vectors=np.array(vectors), stats=np.array(stats), wall=np.array(wall), cpu=np.array(cpu),
               cpu_all=np.array(cpu_all), warmup=np.array(warmup))
    if args.render:
        distinct = list(dict.fromkeys(t for t in texts if t))[:args.render]
        first = [phones.render.__wrapped__(t) for t in distinct]
        again = [phones.render.__wrapped__(t) for t in reversed(distinct)][::-1]
        for a, b in zip(first, again):
            assert np.array_equal(a.wave, b.wave) and a.phones == b.phones, f"{a.text!r} rendered twice differs"
        out["render_wave"] = np.concatenate([r.wave for r in first])
        out["render_sizes"] = np.array([len(r.wave) for r in first])
        out["render_phones"] = np.array(json.dumps([[r.text, r.sample_rate, [[p.name, p.start, p.end] for p in r.phones]]
                                                    for r in first]))
    np.savez(args.out, **out)
    print(f"{args.store}: {n} clips, wall {1000 * np.mean(wall):.1f} ms/clip (median {1000 * np.median(wall):.1f}), "
          f"CPU {1000 * np.mean(cpu):.1f} ms/clip in-process, {1000 * cpu_all:.1f} ms/clip with helpers "
          f"(run wall {1000 * wall_all:.1f} ms/clip); warm-up clip {1000 * warmup:.0f} ms")


def compare(args) -> None:
    a, b = np.load(args.old, allow_pickle=False), np.load(args.new, allow_pickle=False)
    ok = True
    for key in ("vectors", "stats", "render_wave", "render_sizes", "render_phones"):
        if key not in a.files and key not in b.files:
            continue
        same = key in a.files and key in b.files and a[key].shape == b[key].shape and np.array_equal(
            a[key], b[key], equal_nan=a[key].dtype.kind == "f")
        ok &= same
        print(f"{key}: {'identical' if same else 'DIFFERENT'} {a[key].shape if key in a.files else None}")
    for key in ("wall", "cpu"):
        print(f"{key}: {1000 * a[key].mean():.1f} -> {1000 * b[key].mean():.1f} ms/clip "
              f"({a[key].mean() / b[key].mean():.2f}x)")
    print(f"cpu with helpers: {1000 * float(a['cpu_all']):.1f} -> {1000 * float(b['cpu_all']):.1f} ms/clip")
    sys.exit(0 if ok else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--store", required=True)
    m.add_argument("--n", type=int, default=40)
    m.add_argument("--out", required=True)
    m.add_argument("--code", default=str(REPO), help="folder holding the accent package to time")
    m.add_argument("--render", type=int, default=0, help="also render this many distinct texts")
    c = sub.add_parser("compare")
    c.add_argument("old")
    c.add_argument("new")
    args = parser.parse_args()
    measure(args) if args.command == "measure" else compare(args)


if __name__ == "__main__":
    main()
