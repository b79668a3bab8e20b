"""Imports flow one way: every module imports only modules of its own layer or below, never in a cycle.

Every ``import`` statement is read from the source (AST), function-level ones included, so an import
moved into a function to dodge a cycle still counts. ``LAYERS`` is the picture of docs/architecture.md;
a new module must be placed in it. The light entry points import without torch.
"""
from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "accent"

# lowest first; a module may import modules of its own layer and of the layers above it in this list
LAYERS: list[tuple[str, ...]] = [
    ("accent", "accent.errors", "accent.fileio", "accent.progress", "accent.resources", "accent.sysdeps",
     "accent.executors", "accent.espeak_zygote"),
    ("accent.layout",),
    ("accent.manifest", "accent.splits", "accent.features", "accent.training.config", "accent.plots"),
    ("accent.audio", "accent.store", "accent.fetch", "accent.corpora*", "accent.download", "accent.backbones*",
     "accent.speakers", "accent.duplicates", "accent.speech"),
    ("accent.featurize", "accent.alignment"),
    ("accent.metrics", "accent.devices", "accent.checkpoint", "accent.classifiers",
     "accent.modelcost", "accent.aligned", "accent.phones", "accent.phonetic"),
    ("accent.models*",),
    ("accent.embeddings",),
    ("accent.training", "accent.training.tasks", "accent.training.rundir", "accent.training.loop",
     "accent.training.pretrain"),
    ("accent.methods*",),
    ("accent.inference", "accent.modelfile"),
    ("accent.transfer", "accent.evaluate", "accent.predict", "accent.doctor", "accent.serve", "accent.embed"),
    ("accent.curve",),
    ("accent.report*",),
    ("accent.cli", "accent.__main__"),
]
TORCH_FREE = ["accent.cli", "accent.curve", "accent.report", "accent.layout", "accent.training.config",
              "accent.phones", "accent.phonetic"]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(name: str) -> int:
    for level, members in enumerate(LAYERS):
        for member in members:
            if name == member or (member.endswith("*") and (name == member[:-1] or name.startswith(member[:-1] + "."))):
                return level
    raise AssertionError(f"module {name} is in no layer of tests/test_imports.py (and docs/architecture.md)")


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The accent modules ``name`` imports anywhere in its source (``from a import b`` counts a.b
    when that is a module, else a)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The syntax tree of a source file, parsed once for all the tests (none of them changes it)."""
    return ast.parse(path.read_text(encoding="utf-8"))


@functools.cache
def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_has_a_layer_and_imports_only_downward():
    wrong = [f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
             for a, targets in graph().items() for b in sorted(targets) if layer_of(b) > layer_of(a)]
    assert not wrong, "imports from a higher layer:\n" + "\n".join(wrong)


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_layer_test_sees_function_level_imports():
    """The walk must not miss an import hidden in a function (the way cycles used to be dodged)."""
    edges = graph()
    assert "accent.transfer" in edges["accent.curve"]          # curve's worker imports transfer inside a function
    assert "accent.embeddings" in edges["accent.report"] or any(
        "accent.embeddings" in edges[m] for m in edges if m.startswith("accent.report"))


HEAVY = ("torch", "torchaudio", "sklearn")
# One interpreter imports the light modules one after the other and prints, after each, the heavy
# modules loaded so far: a module that imports without torch leaves only torch-free modules behind, so
# the next one is judged as in a fresh interpreter. Once one of them has loaded something heavy, the
# modules after it are not judged there: each gets a fresh interpreter of its own.
PROBE = ("import importlib, json, sys\n"
         "for name in sys.argv[1:]:\n"
         "    importlib.import_module(name)\n"
         f"    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
         "    print(json.dumps([name, heavy]), flush=True)\n"
         "    if heavy:\n"
         "        break\n")


def _probe(names: list[str]) -> tuple[dict[str, list[str]], subprocess.CompletedProcess]:
    out = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return dict(json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")), out


@pytest.fixture(scope="module")
def heavy_after_import() -> dict[str, list[str] | str]:
    """{light module: the heavy modules importing it loaded, or the error its import failed with}."""
    found: dict[str, list[str] | str] = {}
    todo = list(TORCH_FREE)
    while todo:
        seen, out = _probe(todo)
        found.update(seen)
        done = len(seen)
        stopped_at_heavy = done > 0 and bool(seen[todo[done - 1]])
        if done < len(todo) and not stopped_at_heavy:  # the import of todo[done] failed
            found[todo[done]] = out.stderr or f"exit status {out.returncode}"
            done += 1
        todo = todo[done:]
    return found


@pytest.mark.parametrize("name", TORCH_FREE)
def test_light_modules_import_without_torch(name, heavy_after_import):
    heavy = heavy_after_import[name]
    assert not isinstance(heavy, str), f"importing {name} failed:\n{heavy}"
    assert heavy == [], f"importing {name} loaded {','.join(heavy)}"


MAX_FUNCTION_IMPORTS = 15   # docs/architecture.md: imports at the top, except those that keep heavy modules out of start-up


def function_level_imports() -> list[str]:
    """``path:line`` of every import of an accent module inside a function, with its source line."""
    found = []
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(parsed(path)):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("accent")) \
                            or isinstance(node, ast.Import) and any(a.name.startswith("accent") for a in node.names):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def test_few_imports_sit_in_functions_and_each_says_why():
    found = function_level_imports()
    assert len(found) <= MAX_FUNCTION_IMPORTS, "\n".join(found)
    silent = [f for f in found if "#" not in f]
    assert not silent, "function-level imports without a comment saying why:\n" + "\n".join(silent)


MODE_NAMES = {"pretrain", "baseline", "scratch", "extract", "finetune", "aligned"}


def mode_comparisons(path: Path) -> list[int]:
    """Lines that compare a mode: ``Mode.X``, a mode name, or a ``*mode`` name in a comparison."""
    def names_a_mode(node) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "Mode":
                return True
            if isinstance(n, ast.Constant) and n.value in MODE_NAMES:
                return True
            if isinstance(n, (ast.Name, ast.Attribute)) and getattr(n, "id", getattr(n, "attr", "")).lower().endswith("mode"):
                return True
        return False

    return [node.lineno for node in ast.walk(parsed(path))
            if isinstance(node, ast.Compare) and any(names_a_mode(x) for x in [node.left, *node.comparators])]


def test_only_the_methods_compare_mode_names():
    """What a mode does is asked of its class (accent.methods), never decided by comparing its name."""
    found = {str(path.relative_to(ROOT)): lines for name, path in modules().items()
             if not name.startswith("accent.methods") and (lines := mode_comparisons(path))}
    assert found == {}, found
