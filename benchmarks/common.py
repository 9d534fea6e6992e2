"""Helpers shared by the benchmarks: real prompts, timing, the machine, recording results.

Every benchmark ends with :func:`record`, which writes its settings and every figure it
measured to ``benchmarks/results/<bench>[-<row>].json`` (the folder can be moved with
``$TEXTGYM_BENCH_RESULTS``); ``docs/tables.py`` renders the documentation's tables from
those files. The file's fields:

- ``bench``: the script's name without ``.py``; ``row``: the row name, or null;
- ``date``: the day it ran (ISO); ``command``: the command line that ran it;
- ``machine``: ``cpu``, ``cpu_count``, ``threads`` (torch), ``device``, and the versions of
  ``python``, ``torch``, ``transformers``, ``stable_baselines3`` and ``textgym``;
- ``settings``: the benchmark's options; ``figures``: name -> number (or list of numbers,
  one per repeat, where the benchmark repeats a measurement).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import torch as th

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TEXTGYM_SHARED_DATA") or HERE.parent.parent / "shared" / "data")
RESULTS = HERE / "results"


PROMPTS: dict[str, str] = {}  # where the prompts came from, recorded with every result


def cnndm_rows(n: int) -> list[dict]:
    """The first ``n`` CNN/DM rows: ``$TEXTGYM_BENCH_PROMPTS``, ../shared/data, or shipped data.

    ``TEXTGYM_BENCH_PROMPTS`` is any dataset textgym reads (a file, a folder, or a Hugging
    Face id such as ``abisee/cnn_dailymail:3.0.0``, whose test split is read).
    """
    from textgym.data import load_examples

    spec = os.environ.get("TEXTGYM_BENCH_PROMPTS")
    path = SHARED / "summarization" / "cnndm_250.jsonl"
    if spec is None and path.exists():
        PROMPTS["prompts"] = "CNN/DM sample (../shared/data/summarization/cnndm_250.jsonl)"
        with path.open() as f:
            return [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    PROMPTS["prompts"] = spec or "textgym's shipped summarize data"
    examples = load_examples(spec, task="summarize", split="test" if spec else "train", limit=n)
    return [{"id": e.id, "source": e.source, "reference": e.references[0]} for e in examples]


@contextmanager
def timer(result: dict, key: str):
    sync = th.cuda.synchronize if th.cuda.is_available() else lambda: None
    sync()
    start = time.perf_counter()
    yield
    sync()
    result[key] = time.perf_counter() - start


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str | None:
    """The installed version of ``package``, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Where a benchmark ran: CPU, threads, device and the versions that matter."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": th.get_num_threads(),
        "device": th.cuda.get_device_name() if th.cuda.is_available() else "CPU",
        "python": platform.python_version(),
        "torch": th.__version__,
        "transformers": version("transformers"),
        "stable_baselines3": version("stable-baselines3"),
        "textgym": version("textgym"),
    }


def machine() -> str:
    """One line for a benchmark's printed header."""
    device = th.cuda.get_device_name() if th.cuda.is_available() else "CPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {th.get_num_threads()} threads, {device}, torch {th.__version__}"


def add_row_argument(parser: argparse.ArgumentParser) -> None:
    """``--row NAME``: the result file is ``results/<bench>-<NAME>.json``."""
    parser.add_argument(
        "--row",
        default=None,
        help="name of the result row: writes benchmarks/results/<bench>-<ROW>.json "
        "(default: named after the options that differ from their defaults)",
    )


def row_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """``--row`` if given, else the options that differ from their defaults, else None.

    So a run with other settings (``--device cuda``, say) never replaces a documented row.
    """
    if getattr(args, "row", None):
        return args.row
    changed = [
        f"{key}-{value}"
        for key, value in vars(args).items()
        if key != "row" and value != parser.get_default(key)
    ]
    return "_".join(changed) or None


def result_path(bench: str, row: str | None) -> Path:
    """``$TEXTGYM_BENCH_RESULTS`` (default benchmarks/results) / ``<bench>[-<row>].json``."""
    folder = Path(os.environ.get("TEXTGYM_BENCH_RESULTS") or RESULTS)
    name = bench if not row else f"{bench}-{re.sub(r'[^A-Za-z0-9._-]+', '_', row)}"
    return folder / f"{name}.json"


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def finite(value: object) -> object:
    """NaN and infinities as None (strict JSON); lists element-wise."""
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def record(bench: str, settings: dict, figures: dict, row: str | None = None) -> Path:
    """Store one benchmark's settings and figures; return the result file's path.

    Writes ``<bench>[-<row>].json`` (see the module's docstring) and, when
    ``$TEXTGYM_BENCH_JSON`` is set (``gpu_check.sh``), also appends one JSON line there.
    """
    settings = {**{k: v for k, v in settings.items() if k != "row"}, **PROMPTS}
    figures = {k: finite(v) for k, v in figures.items()}
    path = result_path(bench, row)
    result = {
        "bench": bench,
        "row": row,
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", f"benchmarks/{bench}.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "settings": settings,
        "figures": figures,
    }
    write_json_atomic(path, result)
    print(f"recorded: {path}")
    lines = os.environ.get("TEXTGYM_BENCH_JSON")
    if lines:
        line = {"bench": bench, "row": row, "machine": machine(), "settings": settings}
        with open(lines, "a", encoding="utf-8") as f:
            f.write(json.dumps({**line, "figures": figures}) + "\n")
    return path


PRECISIONS = ["float32", "bfloat16", "autocast"]


def precision_kwargs(precision: str) -> dict:
    """``LMPolicy`` keyword arguments: float32, pure bfloat16 weights, or bf16 autocast."""
    if precision == "autocast":
        return {"dtype": "float32", "autocast": "bfloat16"}
    return {"dtype": precision}
