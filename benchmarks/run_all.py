"""Run every benchmark row of docs/benchmarks.md, one after the other.

Each row writes its result to ``benchmarks/results/<bench>[-<row>].json`` (see
``benchmarks/common.py``); ``python docs/tables.py`` then renders the documentation's tables
from those files.

Run: ``python benchmarks/run_all.py`` (``make bench``). Options:

- ``--quick``: short settings, a smoke run; its results go to a temporary folder (or to
  ``$TEXTGYM_BENCH_RESULTS``), never over the documented ones;
- ``--only NAME [NAME ...]``: only these rows (a script name such as ``bench_rollout``
  selects all its rows; ``bench_rollout-prompt128-ep4`` one row);
- ``--list``: print each row's result file and command, run nothing.

``bench_trl.py`` needs ``pip install trl``; without it the row is skipped with one line.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent


class Row(NamedTuple):
    """One documented result: the script, its arguments, the row name, quick extras."""

    script: str
    args: tuple[str, ...] = ()
    row: str | None = None
    quick: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``<bench>[-<row>]``, the result file's name without ``.json``."""
        bench = self.script.removesuffix(".py")
        return f"{bench}-{self.row}" if self.row else bench

    def command(self, quick: bool = False) -> list[str]:
        """The command line, as docs/benchmarks.md shows it (``--quick`` adds the extras)."""
        row = ["--row", self.row] if self.row else []
        extra = list(self.quick) if quick else []
        return ["python", f"benchmarks/{self.script}", *self.args, *row, *extra]


ROWS = [
    Row("bench_env.py", quick=("--steps", "20000")),
    Row("bench_rewards.py"),
    Row("bench_rewards_meaning.py", ("--threads", "1"), "1-thread"),
    Row(
        "bench_rollout.py",
        ("--prompt", "391", "--episodes", "1"),
        "prompt391-ep1",
        ("--repeats", "1"),
    ),
    Row(
        "bench_rollout.py",
        ("--prompt", "128", "--episodes", "1"),
        "prompt128-ep1",
        ("--repeats", "1"),
    ),
    Row(
        "bench_rollout.py",
        ("--prompt", "128", "--episodes", "4"),
        "prompt128-ep4",
        ("--repeats", "1"),
    ),
    Row("bench_update.py", quick=("--new", "32")),
    Row("bench_groups.py", quick=("--prompt", "128", "--new", "8")),
    Row("bench_conversation.py", quick=("--turns", "2", "--repeats", "1")),
    Row("bench_kl.py", quick=("--episodes", "1", "--repeats", "1")),
    Row("bench_eval.py", quick=("--examples", "8", "--batch-sizes", "4,8")),
    Row("bench_memory.py", quick=("--prompt", "32", "--new", "4")),
    Row("bench_trl.py", quick=("--steps", "1")),
]


def selected(rows: list[Row], only: list[str] | None) -> list[Row]:
    """The rows named by ``--only`` (a row's name, or a script's name for all its rows)."""
    if not only:
        return rows
    names = {name.removesuffix(".py") for name in only}
    unknown = names - {r.name for r in rows} - {r.script.removesuffix(".py") for r in rows}
    if unknown:
        known = ", ".join(r.name for r in rows)
        raise SystemExit(f"run_all: unknown row(s) {', '.join(sorted(unknown))}; known: {known}")
    return [r for r in rows if r.name in names or r.script.removesuffix(".py") in names]


def run(row: Row, quick: bool) -> bool:
    """Run one row; False when it failed. ``bench_trl`` without TRL is skipped (True)."""
    if row.script == "bench_trl.py" and importlib.util.find_spec("trl") is None:
        print(f"skipped {row.name}: trl is not installed (pip install trl to run it)", flush=True)
        return True
    command = row.command(quick)
    print(f"\n## {row.name}: {' '.join(command)}", flush=True)
    return subprocess.run([sys.executable, *command[1:]], cwd=HERE.parent).returncode == 0


def main() -> int:
    """Run the selected rows; exit status 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short settings (smoke run)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these rows or scripts")
    parser.add_argument("--list", action="store_true", help="print the rows, run nothing")
    args = parser.parse_args()
    rows = selected(ROWS, args.only)
    if args.list:
        for row in rows:
            target = "" if args.quick else f"benchmarks/results/{row.name}.json: "
            print(target + " ".join(row.command(args.quick)))
        return 0
    if args.quick and not os.environ.get("TEXTGYM_BENCH_RESULTS"):
        os.environ["TEXTGYM_BENCH_RESULTS"] = tempfile.mkdtemp(prefix="textgym-bench-quick.")
        print(f"--quick: results go to {os.environ['TEXTGYM_BENCH_RESULTS']}")
    failed = [row.name for row in rows if not run(row, args.quick)]
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
