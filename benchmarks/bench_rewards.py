"""Reward throughput: evaluations (scored samples) per second for each built-in reward.

Run: ``python benchmarks/bench_rewards.py [--row NAME]``. Scores the first 64 CNN/DailyMail rows
of ``../shared/data/summarization/cnndm_250.jsonl`` (relative to the repo): the "generation" is
the first 3 sentences of the source (a lead-3 summary), the reference is the highlight.
Without that file it falls back to synthetic sentences and says so.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import time
from pathlib import Path

from common import add_row_argument, record, row_of

from textgym.rewards import make_reward

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "summarization"
DATA_FILE = DATA / "cnndm_250.jsonl"
N_ROWS = 64
SPECS = {
    "rouge1": "rouge1",
    "rouge2": "rouge2",
    "rougeL": "rougeL",
    "rougeLsum": "rougeLsum",
    "bleu": "bleu",
    "chrf": "chrf",
    "length": "length",
    "0.7 rougeL + 0.3 chrf": {"rougeL": 0.7, "chrf": 0.3},
}
MIN_SECONDS = 0.5


def lead3(text: str) -> str:
    """The first three sentences, one per line (the layout rougeLsum expects)."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return "\n".join(sentences[:3])


def load_samples() -> tuple[list[str], list[list[str]], list[str], str]:
    if DATA_FILE.is_file():
        with DATA_FILE.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in itertools.islice(f, N_ROWS)]
        gens = [lead3(row["source"]) for row in rows]
        return gens, [[row["reference"]] for row in rows], [r["source"] for r in rows], "cnndm"
    rng = random.Random(0)
    vocab = "the a cat dog sat ran on in mat park big small red and was to of it".split()

    def sentence() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 25))) + "."

    gens = ["\n".join(sentence() for _ in range(3)) for _ in range(N_ROWS)]
    refs = [[" ".join(sentence() for _ in range(3))] for _ in range(N_ROWS)]
    return gens, refs, ["source"] * N_ROWS, "SYNTHETIC (data file not found)"


def rate(spec, gens, refs, srcs, batch: int) -> float:
    """Samples scored per second, calling the reward on consecutive batches."""
    reward = make_reward(spec)
    reward(gens[:batch], refs[:batch], srcs[:batch])  # warm-up: lazy imports and scorers
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < MIN_SECONDS:
        for lo in range(0, len(gens) - batch + 1, batch):
            reward(gens[lo : lo + batch], refs[lo : lo + batch], srcs[lo : lo + batch])
            done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_row_argument(parser)
    args = parser.parse_args()
    gens, refs, srcs, origin = load_samples()
    words = sum(len(g.split()) for g in gens) / len(gens)
    ref_words = sum(len(r[0].split()) for r in refs) / len(refs)
    print(
        f"data: {origin}, {len(gens)} samples; generation ~{words:.0f} words, "
        f"reference ~{ref_words:.0f} words\n"
    )
    print("| reward | evals/s (batch 1) | evals/s (batch 16) |")
    print("|---|---:|---:|")
    figures = {"generation_words": words, "reference_words": ref_words}
    for label, spec in SPECS.items():
        r1, r16 = rate(spec, gens, refs, srcs, 1), rate(spec, gens, refs, srcs, 16)
        print(f"| {label} | {r1:,.0f} | {r16:,.0f} |")
        figures |= {f"{label}, batch 1_evals_s": r1, f"{label}, batch 16_evals_s": r16}
    settings = {"data": origin, "samples": len(gens), "min_seconds": MIN_SECONDS}
    record("bench_rewards", settings, figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
