"""Env steps per second with random actions, excluding the reward (``reward="none"``).

Measures the bare ``TextGenEnv`` and the same env through ``gym.make`` (with Gymnasium's
order-enforcing and passive-checker wrappers), on one core. Target: >= 20,000 steps/s.

Run: ``python benchmarks/bench_env.py [--tokenizer smollm2-135m-instruct] [--steps 200000]``.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch as th
from common import add_row_argument, machine, record, row_of

import textgym  # noqa: F401


def steps_per_second(env: gym.Env, steps: int) -> float:
    rng = np.random.default_rng(0)
    # EOS excluded from the random actions so episodes run to the length cap
    eos = env.unwrapped.eos_token_ids
    actions = [int(a) for a in rng.integers(0, env.action_space.n, steps) if int(a) not in eos]
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, _, _ = env.step(action)
        if terminated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=200_000)
    add_row_argument(parser)
    args = parser.parse_args()
    th.set_num_threads(1)
    kwargs = {"tokenizer": args.tokenizer, "reward": "none"}
    print(f"# env benchmark ({machine()})")
    print("| env | steps/s |\n|---|---:|")
    figures = {}
    for env_id in textgym.ENV_IDS:
        bare = steps_per_second(gym.make(env_id, **kwargs).unwrapped, args.steps)
        made = steps_per_second(gym.make(env_id, **kwargs), args.steps)
        print(f"| {env_id} (bare) | {bare:,.0f} |\n| {env_id} (gym.make) | {made:,.0f} |")
        figures |= {f"{env_id}_bare_steps_s": bare, f"{env_id}_gym.make_steps_s": made}
    print("\ntarget >= 20,000 steps/s on one core")
    record("bench_env", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
