"""The ``textgym`` command: one subcommand per module of :mod:`textgym.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from textgym.errors import TextGymError

# name -> (module with add_arguments(parser) and run(args), help); imported only when used
COMMANDS = {
    "train": ("textgym.commands.train", "train an LM with stock SB3 PPO, report before/after"),
    "train-rm": ("textgym.commands.train_rm", "train a reward model on preference pairs"),
    "sample": (
        "textgym.commands.sample",
        "sample k responses per prompt as pairs for people to judge (train-rm's format)",
    ),
    "validate-rewards": (
        "textgym.commands.validate_rewards",
        "correlate rewards with human judgments (Kendall, Spearman)",
    ),
    "compare": ("textgym.commands.compare", "compare rewards: train a grid, write a report"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The ``textgym`` parser, with the options of the subcommand named in ``argv`` only."""
    parser = argparse.ArgumentParser(prog="textgym", description=__doc__)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}"
    )
    name = next((a for a in argv if a in COMMANDS), None)
    for command, (path, help_text) in COMMANDS.items():
        p = sub.add_parser(command, help=help_text, description=help_text)
        if command == name:
            importlib.import_module(path).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    command = args.__dict__.pop("command")
    module = importlib.import_module(COMMANDS[command][0])
    try:
        module.run(args)
    except TextGymError as exc:
        print(f"textgym {command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # one line instead of a traceback: what is kept and how to go on
        after = getattr(module, "after_interrupt", lambda _: "nothing was saved to resume")(args)
        print(f"textgym {command}: interrupted; {after}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
