"""Loading runs for inference (accent.inference.load_run): what it refuses, in one line, without running code."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from accent.errors import AccentError
from accent.inference import load_run


class _Payload:
    """Pickles to a call that creates a marker file: what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    rundir = tmp_path / "evil"
    rundir.mkdir()
    torch.save({"format": "accent-run/1", "state_dict": {}, "payload": _Payload(marker)}, rundir / "checkpoint.pt")
    with pytest.raises(AccentError, match="refused"):
        load_run(rundir)
    assert not marker.exists()


def test_corrupt_or_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(AccentError, match="not found"):
        load_run(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a zip file")
    with pytest.raises(AccentError, match="corrupt or truncated"):
        load_run(tmp_path / "bad")
