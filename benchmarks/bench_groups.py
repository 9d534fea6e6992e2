"""Groups of k samples per prompt against independent prompts: what a shared prompt saves.

The same 8 envs, chat-templated CNN/DM prompts and 32 new tokens, once in groups of
``--group-size`` envs sharing each episode's prompt and once with every env on its own prompt.
For each mode: the rollout's time, and one PPO epoch (``evaluate_actions`` + backward over the
rollout): the tokens the LM runs on and the time. With the prompt run once per group, the
update runs about ``(P + k*C) / (k * (P + C))`` of the independent tokens (P prompt, C new
tokens); the chat template's system prompt, common to every prompt, must not hide that.

Run: ``python benchmarks/bench_groups.py [--prompt 391] [--group-size 4]``.
"""

from __future__ import annotations

import argparse
import time

import torch as th
from bench_update import epoch
from common import (
    PRECISIONS,
    add_row_argument,
    cnndm_rows,
    machine,
    precision_kwargs,
    record,
    row_of,
)
from stable_baselines3 import PPO

from textgym.env.groups import make_group_vec_env
from textgym.models import load_tokenizer
from textgym.policies import EpisodeRolloutBuffer, LMPolicy


def build(args: argparse.Namespace, group_size: int) -> PPO:
    """PPO with the RLOO baseline (groups of ``group_size``; 1: independent prompts)."""
    tokenizer = load_tokenizer(args.model)
    env_kwargs = dict(
        dataset=cnndm_rows(64),
        tokenizer=tokenizer,
        max_prompt_tokens=args.prompt,
        max_new_tokens=args.new,
        eos_token_ids=[len(tokenizer) - 1],  # never sampled in practice: fixed lengths
    )
    env = make_group_vec_env("TextSummarize-v0", args.envs, group_size, 0, env_kwargs)
    advantage = "rloo" if group_size > 1 else "gae"
    policy_kwargs = {"model": args.model, **precision_kwargs(args.dtype)}
    return PPO(
        LMPolicy,
        env,
        n_steps=args.new,
        batch_size=args.envs * args.new,
        policy_kwargs={**policy_kwargs, "value_head": advantage == "gae"},
        rollout_buffer_class=EpisodeRolloutBuffer,
        rollout_buffer_kwargs={"advantage": advantage, "group_size": group_size},
        device=args.device,
        seed=0,
    )


def measure(args: argparse.Namespace, group_size: int) -> dict[str, float]:
    """One rollout and one update epoch in one mode: seconds and LM tokens."""
    th.manual_seed(0)
    model = build(args, group_size)
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    start = time.perf_counter()
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    rollout_s = time.perf_counter() - start
    model.policy.set_training_mode(True)
    tokens, update_s, _ = epoch(model, args.envs * args.new)
    return {"rollout_s": rollout_s, "update_tokens": tokens, "update_s": update_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=391)
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=PRECISIONS)
    add_row_argument(parser)
    args = parser.parse_args()
    grouped, alone = measure(args, args.group_size), measure(args, 1)
    figures = {f"grouped_{k}": v for k, v in grouped.items()}
    figures |= {f"independent_{k}": v for k, v in alone.items()}
    figures["token_ratio"] = grouped["update_tokens"] / alone["update_tokens"]
    figures["update_speedup"] = alone["update_s"] / grouped["update_s"]
    figures["rollout_speedup"] = alone["rollout_s"] / grouped["rollout_s"]
    print(f"# groups benchmark ({machine()})")
    print(f"{args.envs} envs, groups of {args.group_size}, prompt {args.prompt}, new {args.new}")
    print("| mode | rollout s | update LM tokens | update s |\n|---|---:|---:|---:|")
    for name, m in (("groups", grouped), ("independent", alone)):
        print(f"| {name} | {m['rollout_s']:.1f} | {m['update_tokens']} | {m['update_s']:.1f} |")
    print(f"\nupdate tokens grouped / independent = {figures['token_ratio']:.2f}")
    update, rollout = figures["update_speedup"], figures["rollout_speedup"]
    print(f"speed-up: update {update:.2f}x, rollout {rollout:.2f}x")
    record("bench_groups", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
