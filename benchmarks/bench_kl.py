"""Rollout time with the KL-to-reference wrapper ÷ without (stock collect_rollouts).

Run: ``python benchmarks/bench_kl.py [--model smollm2-135m-instruct] [--envs 8]``.
"""

from __future__ import annotations

import argparse

import torch as th
from bench_rollout import build, collect_seconds
from common import machine

from textgym.kl import add_kl_penalty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=2, help="episodes per env")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    th.manual_seed(0)
    model = build(args)
    tokens = args.envs * args.new * args.episodes
    collect_seconds(model)  # warm-up
    plain = collect_seconds(model)
    wrapper = add_kl_penalty(model, kl_coef=0.05)
    collect_seconds(model)  # warm-up of the reference
    shaped = collect_seconds(model)
    model.set_env(wrapper.venv)
    add_kl_penalty(model, kl_coef=0.05, reference_dtype="bfloat16")
    collect_seconds(model)
    shaped_bf16 = collect_seconds(model)
    print(f"# KL wrapper benchmark ({machine()})")
    print(f"model {args.model}, batch {args.envs}, prompt {args.prompt}, new {args.new}")
    print("| rollout | tokens/s |\n|---|---:|")
    print(f"| without KL | {tokens / plain:.1f} |\n| with KL wrapper | {tokens / shaped:.1f} |")
    print(f"| with KL wrapper, bfloat16 reference | {tokens / shaped_bf16:.1f} |")
    print(f"\nratio time with / without = {shaped / plain:.2f} (target <= 1.6)")
    print(f"ratio time with (bfloat16 reference) / without = {shaped_bf16 / plain:.2f}")


if __name__ == "__main__":
    main()
