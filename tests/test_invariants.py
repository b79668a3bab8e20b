"""Invariants a refactor must keep: old run directories still load and predict what they stored,
embedding-cache keys are unchanged, and every subcommand's --help is as recorded.

``tests/old_runs/<mode>`` are run directories written by ``tests/golden/produce.py`` before the
refactor (tiny models on the generated stores it describes). ``tests/cli_snapshot.json`` holds each
subcommand's help at 100 columns; a new option updates it in the same commit (``--update-cli``
of this file: ``PYTHONPATH=$PWD .venv/bin/python tests/test_invariants.py``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
OLD_RUNS = HERE / "old_runs"
CLI_SNAPSHOT = HERE / "cli_snapshot.json"
sys.path.insert(0, str(HERE / "golden"))

from produce import OLD_RUN_MODES, tiny_stores  # noqa: E402


@pytest.fixture(scope="module")
def golden_stores(tmp_path_factory):
    return tiny_stores(tmp_path_factory.mktemp("golden_stores"))


@pytest.mark.parametrize("mode", OLD_RUN_MODES)
def test_old_run_directories_load_and_predict_their_stored_probabilities(mode, golden_stores):
    from accent.store import FeatureStore
    from accent.inference import load_run, predict_store_rows

    run = load_run(OLD_RUNS / mode)
    assert run.mode == mode
    stored = pd.read_csv(OLD_RUNS / mode / "predictions.csv", keep_default_na=False)
    store = FeatureStore.open(golden_stores["source" if mode == "pretrain" else "target"])
    position = {u: i for i, u in enumerate(store.index["utt_id"])}
    rows = np.array([position[u] for u in stored["utt_id"]])
    probs = predict_store_rows(run, store, rows)
    expected = stored[[f"p_{lab}" for lab in run.labels]].to_numpy(float)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-6)
    assert [run.labels[k] for k in probs.argmax(1)] == stored["pred"].tolist()


def help_texts() -> dict[str, str]:
    """Every subcommand's --help (and the top level's), formatted at 100 columns."""
    import os

    from accent.cli import COMMANDS, build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        texts = {"": build_parser().format_help()}
        for command in COMMANDS:
            sub = next(a for a in build_parser(command)._actions if a.dest == "command")
            texts[command] = sub.choices[command].format_help()
        return texts
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def test_every_help_text_is_as_recorded():
    recorded = json.loads(CLI_SNAPSHOT.read_text())
    now = help_texts()
    assert sorted(now) == sorted(recorded)
    for command, text in recorded.items():
        assert now[command] == text, f"`accent {command} --help` changed"


if __name__ == "__main__":
    CLI_SNAPSHOT.write_text(json.dumps(help_texts(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CLI_SNAPSHOT}")
