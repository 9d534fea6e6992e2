"""Helpers shared by the benchmarks: real prompts, timing, the environment line."""

from __future__ import annotations

import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import torch as th

SHARED = Path(
    os.environ.get("TEXTGYM_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


def cnndm_rows(n: int) -> list[dict]:
    """The first ``n`` CNN/DM rows from ../shared/data, or the shipped summarize data."""
    path = SHARED / "summarization" / "cnndm_250.jsonl"
    if not path.exists():
        from textgym.data import load_examples

        return [
            {"id": e.id, "source": e.source, "reference": e.references[0]}
            for e in load_examples(task="summarize")
        ][:n]
    with path.open() as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


@contextmanager
def timer(result: dict, key: str):
    sync = th.cuda.synchronize if th.cuda.is_available() else lambda: None
    sync()
    start = time.perf_counter()
    yield
    sync()
    result[key] = time.perf_counter() - start


def machine() -> str:
    device = th.cuda.get_device_name() if th.cuda.is_available() else "CPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {th.get_num_threads()} threads, {device}, torch {th.__version__}"


def record(bench: str, settings: dict, figures: dict) -> None:
    """Append one benchmark's settings and figures as a JSON line to ``$TEXTGYM_BENCH_JSON``."""
    path = os.environ.get("TEXTGYM_BENCH_JSON")
    if not path:
        return
    line = {"bench": bench, "machine": machine(), "settings": settings, "figures": figures}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


PRECISIONS = ["float32", "bfloat16", "autocast"]


def precision_kwargs(precision: str) -> dict:
    """``LMPolicy`` keyword arguments: float32, pure bfloat16 weights, or bf16 autocast."""
    if precision == "autocast":
        return {"dtype": "float32", "autocast": "bfloat16"}
    return {"dtype": precision}
