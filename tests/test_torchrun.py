"""`torchrun --nproc_per_node 2 -m accent pretrain --device cpu`: DDP over gloo on a tiny store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import make_tiny_store
from accent.inference import load_run
from accent.training.pretrain import pretrain

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
EPOCHS = 16
# A narrower tdnn than the shipped one: training is cheap next to the three interpreters' start-up,
# and on stores of this size it learns at least as reliably (test balanced accuracy 0.61-0.94 over
# six store seeds, against 0.39-0.78 for the default tdnn). Given to the DDP ranks through --set.
MODEL = {"channels": [32, 32], "kernels": [5, 3], "dilations": [1, 2], "pool_channels": 48, "embed_dim": 32}
MODEL_SETS = [arg for key, value in MODEL.items()
              for arg in ("--set", f"model.{key}={json.dumps(value)}")]
# Logs every torch.save with the rank that made it; loaded by each rank's interpreter via PYTHONPATH.
SAVE_PROBE = """
import os, torch
_save = torch.save
def _logged(obj, f, *a, **k):
    with open(os.environ["ACCENT_SAVE_LOG"], "a") as log:
        log.write(f"{os.environ.get('RANK', '-')} {f}\\n")
    return _save(obj, f, *a, **k)
torch.save = _logged
"""


def test_torchrun_two_cpu_processes_match_one_and_only_rank_0_writes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this Python")
    store = make_tiny_store(tmp_path / "store", [0, 1, 2], {"train": 8, "val": 4, "test": 6}, seed=1,
                            frames=(150, 250))
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(SAVE_PROBE)
    log = tmp_path / "saves.log"
    env = {**os.environ, "PYTHONPATH": f"{probe}{os.pathsep}{REPO}", "ACCENT_SAVE_LOG": str(log),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "accent", "pretrain",
                          "--features", store, "--out", str(tmp_path / "ddp"), "--device", "cpu", "--crop-s", "1",
                          "--max-epochs", str(EPOCHS), *MODEL_SETS], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    saves = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert saves and {rank for rank, _ in saves} == {"0"}, saves  # rank 1 trained but wrote nothing
    assert any(path.endswith("checkpoint.pt.tmp") or "checkpoint" in path for _, path in saves)
    assert run.stdout.count("pretrained") == 1  # one summary line, from rank 0
    ddp = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert ddp["world_size"] == 2 and ddp["epochs_run"] == EPOCHS
    assert {k: ddp["model_config"][k] for k in MODEL} == MODEL  # the ranks built the --set model
    load_run(tmp_path / "ddp")  # a checkpoint like any other

    # one process with the same global batch (2 ranks x 32 crops) sees the same crops in the same steps
    one = pretrain(store, tmp_path / "one", crop_s=1.0, max_epochs=EPOCHS, progress=False,
                   train_overrides={"batch_size": 64}, model_overrides=MODEL)
    assert one["model_config"] == ddp["model_config"]
    loss = lambda r: np.mean([h["train_loss"] for h in r["history"][-4:]])  # noqa: E731
    assert abs(loss(ddp) - loss(one)) < 0.1, (loss(ddp), loss(one))
    b_ddp, b_one = (r["metrics"]["test"]["balanced_accuracy"] for r in (ddp, one))
    n = ddp["metrics"]["test"]["n"]
    noise = 2 * np.sqrt(2 * 0.25 / n)  # two standard errors of a difference of two accuracies, worst case
    assert b_ddp > 1 / 3 + 0.2 and b_one > 1 / 3 + 0.2  # both learned (chance 1/3)
    assert abs(b_ddp - b_one) <= noise, (b_ddp, b_one, noise)
