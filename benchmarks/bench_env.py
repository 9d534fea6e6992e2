"""Env steps per second with random actions, excluding the reward (``reward="none"``).

Measures the bare ``TextGenEnv`` and the same env through ``gym.make`` (with Gymnasium's
order-enforcing and passive-checker wrappers), on one core. Target: >= 20,000 steps/s.

Then the vector envs PPO steps, at ``--vec-envs`` envs in groups of 4 (as ``textgym train``
builds them): SB3's ``DummyVecEnv`` of ``Monitor(TextGenEnv)`` (a Python loop over the envs)
and :class:`~textgym.env.TextGenVecEnv` (all envs at once on arrays), in µs per env per
step. Target for the vector env: <= 10 µs per env per step at 256 envs.

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
from textgym import make_group_vec_env
from textgym.env.text_gen_vec_factories import make_group_text_gen_vec_env
from textgym.training.checks import is_game_id


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


def vec_us_per_env_step(venv, steps: int) -> float:
    """Microseconds per env per step of ``venv`` under random non-EOS actions, warmed up."""
    eos = sorted(venv.get_attr("eos_token_ids", [0])[0])
    rng = np.random.default_rng(0)
    actions = rng.integers(0, venv.action_space.n, (steps, venv.num_envs))
    actions[np.isin(actions, eos)] = 0 if 0 not in eos else 1
    venv.reset()
    for row in actions:  # warm-up: the prompts of the first episodes are built and cached
        venv.step(row)
    start = time.perf_counter()
    for row in actions:
        venv.step(row)
    return (time.perf_counter() - start) / steps / venv.num_envs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokenizer", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--vec-envs", type=int, default=256)
    parser.add_argument("--vec-steps", type=int, default=480, help="vector steps timed")
    add_row_argument(parser)
    args = parser.parse_args()
    th.set_num_threads(1)
    kwargs = {"tokenizer": args.tokenizer, "reward": "none"}
    print(f"# env benchmark ({machine()})")
    print("| env | steps/s |\n|---|---:|")
    figures = {}
    for env_id in [i for i in textgym.ENV_IDS if not is_game_id(i)]:  # single-turn ids
        bare = steps_per_second(gym.make(env_id, **kwargs).unwrapped, args.steps)
        made = steps_per_second(gym.make(env_id, **kwargs), args.steps)
        print(f"| {env_id} (bare) | {bare:,.0f} |\n| {env_id} (gym.make) | {made:,.0f} |")
        figures |= {f"{env_id}_bare_steps_s": bare, f"{env_id}_gym.make_steps_s": made}
    print("\ntarget >= 20,000 steps/s on one core")
    kwargs = {**kwargs, "max_new_tokens": 48}
    vec = {
        "DummyVecEnv": make_group_vec_env("TextSummarize-v0", args.vec_envs, 4, 0, kwargs),
        "TextGenVecEnv": make_group_text_gen_vec_env(
            "TextSummarize-v0", args.vec_envs, 4, 0, kwargs
        ),
    }
    print(f"\n| vector env ({args.vec_envs} envs, groups of 4) | µs per env per step |")
    print("|---|---:|")
    for name, venv in vec.items():
        figures[f"{name}_us_per_env_step"] = vec_us_per_env_step(venv, args.vec_steps)
        print(f"| {name} | {figures[f'{name}_us_per_env_step']:.2f} |")
    figures["vec_speedup"] = (
        figures["DummyVecEnv_us_per_env_step"] / figures["TextGenVecEnv_us_per_env_step"]
    )
    print("target: TextGenVecEnv <= 10 µs per env per step")
    record("bench_env", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
