"""`accent doctor`: one screen saying whether this machine can run every stage, and what fixes it.

Python packages and their versions, CUDA devices, the system tools and codecs the stages call
(:mod:`accent.sysdeps`), the optional pretrained backbones and whether their weights are present
offline, and free disk space where data goes. Exit status 1 when something a stage needs is
missing (with ``--strict`` also when something recommended is), after printing the commands that
fix it. scripts/setup.sh ends by running ``accent doctor --strict``.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import shutil
import sys
from pathlib import Path

from accent import sysdeps
from accent.corpora.synthetic import required_voices as voices
from accent.sysdeps import Check

PIP_FIX = "pip install 'accent[backbones]'  (or rerun scripts/setup.sh)"
LOW_DISK_GB = 2.0  # below this even the synthetic main job may not fit; real corpora need far more
MARK = {True: "ok  ", False: "MISS"}


def python_checks() -> list[Check]:
    checks = [Check("python", sys.version_info >= (3, 10), platform.python_version(), "Python 3.10 or newer")]
    for module, dist in (("torch", "torch"), ("torchaudio", "torchaudio"), ("librosa", "librosa"),
                         ("soundfile", "soundfile"), ("sklearn", "scikit-learn")):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(module, False, "not installed", f"pip install {dist}"))
            continue
        checks.append(Check(module, True, version))
    return checks


def cuda_checks() -> list[Check]:
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return [Check("cuda", False, "no CUDA device: training runs on the CPU", level="optional",
                      needed_by="pretrain, transfer")]
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return [Check("cuda", True, f"{len(names)} device(s): {', '.join(names)} (CUDA {torch.version.cuda})",
                  level="optional", needed_by="pretrain, transfer")]


def precision_check() -> list[Check]:
    """What the shipped recipe's ``train.precision = "auto"`` means on this CPU (never a failure)."""
    if importlib.util.find_spec("torch") is None:
        return []
    from accent.devices import cpu_has_bfloat16_matrix_units  # torch: kept out of start-up

    fast = cpu_has_bfloat16_matrix_units()
    detail = ("train.precision auto: bfloat16 autocast (this CPU has AMX matrix units)" if fast else
              "train.precision auto: float32 (no bfloat16 matrix units on this CPU; bfloat16 would be emulated)")
    return [Check("cpu precision", True, detail, level="optional", needed_by="pretrain, transfer")]


def backbone_checks() -> list[Check]:
    """The optional pretrained backbones: installed, and weights on disk (accent never downloads)."""
    checks = []
    from accent.backbones import resemblyzer, torchaudio_ssl  # torch: kept out of start-up

    try:
        path = resemblyzer.weights_path()
        checks.append(Check("resemblyzer", True, f"weights at {path}", level="optional", needed_by="--backbone"))
    except Exception as exc:  # noqa: BLE001 - AccentError or a broken install: report either
        checks.append(Check("resemblyzer", False, str(exc).split(":")[0], "pip install 'accent[backbones]'",
                            level="optional", needed_by="--backbone"))
    for name, (bundle, _) in torchaudio_ssl.MODELS.items():
        try:
            path = torchaudio_ssl.hub_checkpoint_path(bundle)
        except Exception as exc:  # noqa: BLE001 - torchaudio without this bundle
            checks.append(Check(name, False, f"unavailable ({type(exc).__name__})", level="optional"))
            continue
        present = path.is_file()
        checks.append(Check(name, present, f"weights {'at' if present else 'not in'} {path if present else path.parent}",
                            "" if present else f"copy {path.name} from a connected machine into {path.parent}/",
                            level="optional", needed_by="--backbone"))
    return checks


def disk_check(data_dir: str | Path) -> Check:
    """Free space on the file system that holds ``data_dir`` (or its nearest existing parent)."""
    where = Path(data_dir).expanduser().resolve()
    while not where.exists() and where != where.parent:
        where = where.parent
    free_gb = shutil.disk_usage(where).free / 1e9
    ok = free_gb >= LOW_DISK_GB
    return Check("disk", ok, f"{free_gb:.1f} GB free at {where}", "" if ok else "free space or set DATA_DIR elsewhere",
                 level="recommended", needed_by="every stage")


def required_voices() -> set[str]:
    return voices()


def all_checks(data_dir: str | Path = "data", path: str | None = None) -> dict[str, list[Check]]:
    return {
        "python": python_checks() + cuda_checks() + precision_check(),
        "system tools and codecs": sysdeps.system_checks(required_voices(), path),
        "optional backbones": backbone_checks(),
        "storage": [disk_check(data_dir)],
    }


def failing(sections: dict[str, list[Check]], strict: bool) -> list[Check]:
    levels = ("required", "recommended") if strict else ("required",)
    return [c for checks in sections.values() for c in checks if not c.ok and c.level in levels]


def render(sections: dict[str, list[Check]], strict: bool) -> str:
    lines = []
    for title, checks in sections.items():
        lines.append(title)
        for c in checks:
            mark = MARK[c.ok] if c.ok or c.level != "optional" else "--  "
            need = f"  [{c.level}: {c.needed_by}]" if not c.ok and c.needed_by else ""
            lines.append(f"  {mark} {c.name:<18} {c.detail}{need}")
    problems = failing(sections, strict)
    if problems:
        lines.append("to fix:")
        lines += [f"  {c.fix}    # {c.name}" for c in problems if c.fix]
    else:
        lines.append("everything the stages need is here" + ("" if strict else
                     " (run with --strict to require the recommended items too)"))
    return "\n".join(lines)


def run_doctor(args: argparse.Namespace) -> int:
    sections = all_checks(args.data_dir)
    print(render(sections, args.strict))
    return 1 if failing(sections, args.strict) else 0


def add_cli(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine: packages, CUDA, system tools and codecs, backbones, disk",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--strict", action="store_true",
                   help="also fail when something recommended is missing (sox's mp3 plugin, disk space)")
    p.add_argument("--data-dir", default="data", help="where data goes, for the free-space check (default: data)")
    p.set_defaults(func=run_doctor)
