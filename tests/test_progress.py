"""Progress in a log file is a few plain lines, not thousands of carriage-return redraws;
`--quiet` silences pretrain and transfer."""
from __future__ import annotations

import io

import torch

from accent.cli import main
from accent.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gets_occasional_plain_lines():
    log = io.StringIO()  # a file: not a terminal
    with Progress(total=5000, desc="featurize", unit="clip", file=log, interval_s=3600) as bar:
        for _ in range(5000):
            bar.update()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
    assert len(lines) == 2  # the start and the end; nothing in between within the interval
    assert lines[0].startswith("featurize:") and "0/5000" in lines[0] and "5000/5000" in lines[-1]


def test_not_a_terminal_prints_a_line_per_interval():
    log = io.StringIO()
    for _ in Progress(range(40), desc="curve", file=log, interval_s=0):
        pass
    lines = log.getvalue().splitlines()
    assert len(lines) >= 41 and all(line.startswith("curve:") for line in lines)  # start + each step
    assert "40/40" in lines[-1]


def test_a_terminal_keeps_the_redrawn_bar():
    term = FakeTerminal()
    for _ in Progress(range(40), desc="curve", file=term, mininterval=0):
        pass
    assert term.getvalue().count("\r") >= 40


def test_pretrain_and_transfer_take_quiet_and_log_plain_lines(tiny_stores, tmp_path, capsys):
    torch.set_num_threads(1)
    common = ["--features", str(tiny_stores["source"]), "--max-epochs", "1", "--crop-s", "1"]
    assert main(["pretrain", *common, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    assert "pretrain:" in err and "\r" not in err and 1 <= len(err.splitlines()) <= 4
    assert main(["pretrain", *common, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    transfer = ["transfer", "--features", str(tiny_stores["target"]), "--source", str(tmp_path / "a"),
                "--mode", "scratch", "--max-epochs", "1", "--out"]
    assert main([*transfer, str(tmp_path / "c")]) == 0
    err = capsys.readouterr().err
    assert "scratch:" in err and "\r" not in err
    assert main([*transfer, str(tmp_path / "d"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
