"""The command line: every stage is registered, and bad arguments give one line and exit status 2."""
import subprocess
import sys

import pytest

from accent.cli import build_parser, main

STAGES = ["manifest", "synth", "download", "featurize", "merge", "pretrain", "transfer",
          "curve", "evaluate", "predict", "report", "export", "serve"]


def test_every_stage_is_a_subcommand():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(STAGES) <= set(sub.choices)


@pytest.mark.parametrize("argv", [["no-such-stage"], ["featurize", "--workers", "many"], ["manifest"]])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "accent", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("accent ")
