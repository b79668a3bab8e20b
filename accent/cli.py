"""The `accent` command line: one subcommand per stage, each defined beside the stage it runs.

Every stage module exposes ``add_cli(subparsers)``, which registers its subcommand(s) and sets
``func`` to a function taking the parsed arguments. Errors in the user's input surface as one line
on stderr with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from accent import __version__
from accent.errors import AccentError

# Subcommand -> the stage module that defines it, in pipeline order. Only the module of the
# command being run is imported (torch and scikit-learn cost seconds to import); --help imports all.
COMMANDS = {
    "manifest": "accent.corpora",
    "synth": "accent.corpora.synthetic",
    "download": "accent.download",
    "featurize": "accent.featurize",
    "merge": "accent.featurize",
    "embed": "accent.embed",
    "pretrain": "accent.training.pretrain",
    "transfer": "accent.transfer",
    "curve": "accent.curve",
    "evaluate": "accent.evaluate",
    "predict": "accent.predict",
    "report": "accent.report",
    "doctor": "accent.doctor",
    "export": "accent.modelfile",
    "serve": "accent.serve",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in the same one-line style as other errors."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (faster) one that only knows ``command`` when it is a known subcommand."""
    parser = _Parser(prog="accent", description="Accent classification with honest transfer learning.")
    parser.add_argument("--version", action="version", version=f"accent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    if command in COMMANDS:
        modules = [COMMANDS[command]]
    elif command == "--version":
        modules = []
    else:  # --help, or a mistake: the full list of commands
        modules = list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except AccentError as exc:
        print(f"accent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"accent {args.command}: error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"accent {args.command}: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
