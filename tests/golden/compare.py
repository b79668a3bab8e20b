"""The tolerant comparison of a golden digest, for a machine other than the one that recorded it.

Another CPU (or BLAS / oneDNN kernel) rounds float sums differently, and a few training epochs carry
that into every weight and loss: bit-for-bit hashes then differ although the behaviour is the same.
Here structure, strings, ints, ``None`` and integer or string arrays must still be identical; floats
may move by ``TOLERANCE`` relative, the float arrays' summaries (mean, std, L2 norm) by
``ARRAY_TOLERANCE`` (a mean or std relative to the array's root mean square, since a mean can sit
near zero). A predicted label (a CSV ``pred`` cell, a ``top`` entry) may differ only where the
golden gives both labels probabilities within ``TOLERANCE`` of each other.

``CHAOTIC`` entries are compared by their skeleton only (keys, lengths, types, strings, array
dtypes and shapes; no numbers, no predicted labels). The tiny pretrained network's embeddings are
nearly constant per dimension (7 of 16 dead, the others with a spread of 0.002-0.009 around
0.01-0.36), so standardising them for the extract runs (and curve.csv's extract rows) magnifies
another machine's rounding until probabilities move by up to 0.5 and labels flip; the Resemblyzer
fine-tune's head bias (values about 3e-3) moves by up to 56%. Bit for bit, on the recording
machine, they are compared like every other entry.

The tolerances and the chaotic entries come from measurements listed in tests/test_golden.py.
"""
from __future__ import annotations

import csv
import io
import math

TOLERANCE = 2e-2        # relative, for floats (losses, metrics, probabilities)
ARRAY_TOLERANCE = 0.15  # relative, for an array's mean, std and L2 norm
CHAOTIC = frozenset({"run/extract", "predict/extract", "evaluate/extract", "curve.csv",
                     "speech/run/finetune-resemblyzer"})
FLOOR = 1e-6        # absolute slack for values that are (near) zero: tiny probabilities, 5-digit rounding
SUMMARY = ("mean", "std", "l2")


def close(produced: float, golden: float, scale: float | None = None, tol: float = TOLERANCE) -> bool:
    """``produced`` within ``tol`` of ``golden``, relative to ``scale`` (default: ``|golden|``)."""
    return abs(produced - golden) <= tol * abs(golden if scale is None else scale) + FLOOR


def entry_differences(key: str, produced, golden) -> list[str]:
    """One golden entry: its skeleton if it is chaotic, else within the tolerances."""
    if key in CHAOTIC:
        return differences(skeleton(produced), skeleton(golden), where=key)
    return differences(produced, golden, where=key)


def skeleton(value):
    """``value`` with every number, array summary, predicted label (``top``) and CSV number or ``pred``
    cell replaced by its kind."""
    if isinstance(value, dict):
        if "sha" in value:
            return value["sha"].split(":")[0]
        return {k: [{**skeleton(t), "label": "str"} for t in v] if k == "top" else skeleton(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [skeleton(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        rows = list(csv.reader(io.StringIO(value)))
        pred = rows[0].index("pred") if "pred" in rows[0] else None
        return [rows[0]] + [[type(_number(cell)).__name__ if k == pred or not isinstance(_number(cell), str)
                             else cell for k, cell in enumerate(row)] for row in rows[1:]]
    return type(value).__name__ if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def differences(produced, golden, tol: float = TOLERANCE, where: str = "",
                array_tol: float = ARRAY_TOLERANCE) -> list[str]:
    """Where ``produced`` differs from ``golden`` beyond the tolerance, one line each (empty: the same)."""
    if isinstance(golden, dict) and isinstance(produced, dict):
        if set(produced) != set(golden):
            return [f"{where}: keys {sorted(set(produced) ^ set(golden))} in only one"]
        if "sha" in golden:
            return _array_differences(produced, golden, array_tol, where)
        return [line for key in sorted(golden)
                for line in _item_differences(produced, golden, key, tol, array_tol, f"{where}/{key}")]
    if isinstance(golden, list) and isinstance(produced, list):
        if len(produced) != len(golden):
            return [f"{where}: {len(produced)} items, golden {len(golden)}"]
        return [line for k, (p, g) in enumerate(zip(produced, golden))
                for line in differences(p, g, tol, f"{where}[{k}]", array_tol)]
    if isinstance(golden, str) and isinstance(produced, str) and "\n" in golden:
        return _csv_differences(produced, golden, tol, where)
    if isinstance(golden, float) and isinstance(produced, float):
        same = close(produced, golden, tol=tol) or (math.isnan(produced) and math.isnan(golden))
        return [] if same else [f"{where}: {produced!r}, golden {golden!r}"]
    if type(produced) is not type(golden) or produced != golden:
        return [f"{where}: {produced!r}, golden {golden!r}"]
    return []


def _item_differences(produced: dict, golden: dict, key: str, tol: float, array_tol: float,
                      where: str) -> list[str]:
    """A ``top`` list beside ``probabilities`` (predict): labels may swap only where the golden ties them."""
    if key != "top" or "probabilities" not in golden:
        return differences(produced[key], golden[key], tol, where, array_tol)
    probabilities = golden["probabilities"]
    lines = []
    for k, (p, g) in enumerate(zip(produced[key], golden[key])):
        if p["label"] != g["label"] and not _tied(probabilities, p["label"], g["label"], tol):
            lines.append(f"{where}[{k}]: label {p['label']}, golden {g['label']}")
        lines += differences(p["probability"], g["probability"], tol, f"{where}[{k}]/probability")
    if len(produced[key]) != len(golden[key]):
        lines.append(f"{where}: {len(produced[key])} items, golden {len(golden[key])}")
    return lines


def _tied(probabilities: dict, label: str, other: str, tol: float) -> bool:
    """Two labels the golden scores within the tolerance of each other: either may win elsewhere."""
    return label in probabilities and close(probabilities[label], probabilities[other], tol=2 * tol)


def _array_differences(produced: dict, golden: dict, tol: float, where: str) -> list[str]:
    """dtype and shape exactly; integer and string arrays (no summary) by hash; floats by summary."""
    kind, _ = golden["sha"].split(":")
    if produced["sha"].split(":")[0] != kind or ("mean" not in golden and produced["sha"] != golden["sha"]):
        return [f"{where}: {produced['sha']}, golden {golden['sha']}"]
    rms = golden.get("l2", 0.0) / max(1, _size(kind)) ** 0.5
    return [f"{where}/{stat}: {produced[stat]!r}, golden {golden[stat]!r}" for stat in SUMMARY if stat in golden
            and not close(produced[stat], golden[stat], golden[stat] if stat == "l2" else rms, tol)]


def _size(kind: str) -> int:
    """Elements of an array from its ``dtype[shape]`` prefix."""
    size = 1
    for n in kind[kind.index("[") + 1:-1].split(","):
        size *= int(n) if n.strip() else 1
    return size


def _csv_differences(produced: str, golden: str, tol: float, where: str) -> list[str]:
    """A CSV text cell by cell: numbers with the tolerance, a ``pred`` label unless the golden ties it."""
    p_rows, g_rows = (list(csv.DictReader(io.StringIO(text))) for text in (produced, golden))
    if produced.split("\n", 1)[0] != golden.split("\n", 1)[0] or len(p_rows) != len(g_rows):
        return [f"{where}: header or row count differs"]
    lines = []
    for k, (p, g) in enumerate(zip(p_rows, g_rows)):
        for column, value in g.items():
            if column == "pred" and p[column] != value and _tied(_probabilities(g), p[column], value, tol):
                continue
            lines += differences(_number(p[column]), _number(value), tol, f"{where}[{k}]/{column}")
    return lines


def _probabilities(row: dict) -> dict:
    """A predictions.csv row's ``p_<label>`` columns as {label: probability}."""
    return {column[2:]: float(value) for column, value in row.items() if column.startswith("p_")}


def _number(cell: str):
    """A CSV cell as an int, a float, or itself."""
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell
