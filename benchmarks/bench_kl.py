"""Rollout time with the KL-to-reference penalty ÷ without (stock collect_rollouts).

Both runs fill the same ``EpisodeRolloutBuffer``; the penalty's teacher-forced reference
forward runs when the rollout is complete, so it is part of the timed ``collect_rollouts``.

Run: ``python benchmarks/bench_kl.py [--model smollm2-135m-instruct] [--envs 8]``.
"""

from __future__ import annotations

import argparse

import torch as th
from bench_rollout import build, collect_seconds
from common import PRECISIONS, add_row_argument, machine, record, row_of

from textgym.policies import EpisodeRolloutBuffer
from textgym.policies.kl_penalty import KLPenalty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=2, help="episodes per env")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=PRECISIONS)
    parser.add_argument("--repeats", type=int, default=3, help="alternate runs; keep the fastest")
    add_row_argument(parser)
    args = parser.parse_args()
    th.manual_seed(0)
    model = build(args, rollout_buffer_class=EpisodeRolloutBuffer)
    model.policy.kl_controller.configure(0.05, None, 10_000)
    shapings = {
        "without KL": None,
        "with KL penalty": KLPenalty(model.policy, algorithm=model),
        "with KL penalty, bfloat16 reference": KLPenalty(
            model.policy, algorithm=model, reference_dtype="bfloat16"
        ),
    }
    seconds = {name: float("inf") for name in shapings}
    each = {name: [] for name in shapings}  # every timed repeat, the warm-up round excluded
    for round_ in range(args.repeats + 1):  # the first round warms up
        for name, shaping in shapings.items():
            model.rollout_buffer.reward_shaping = shaping
            run_s = collect_seconds(model)
            seconds[name] = min(seconds[name], run_s)
            if round_ > 0:
                each[name].append(run_s)
    tokens = args.envs * args.new * args.episodes
    plain = seconds["without KL"]
    print(f"# KL penalty benchmark ({machine()}; fastest of {args.repeats} alternating runs)")
    print(f"model {args.model}, batch {args.envs}, prompt {args.prompt}, new {args.new}, ", end="")
    print(f"{args.episodes} episodes/env")
    print("| rollout | tokens/s | time ÷ without |\n|---|---:|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {tokens / s:.1f} | {s / plain:.2f} |")
    ratio = seconds["with KL penalty"] / plain
    print(f"\nratio time with / without = {ratio:.2f} (target <= 1.6)")
    figures = {f"{name} tok_s": tokens / s for name, s in seconds.items()}
    figures["ratio"] = ratio
    figures["ratio bfloat16 reference"] = seconds["with KL penalty, bfloat16 reference"] / plain
    figures["tokens"] = tokens
    figures |= {
        f"{name}, each repeat tok_s": [tokens / s for s in runs] for name, runs in each.items()
    }
    record("bench_kl", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
