"""Resident memory of a PPO run around its first update, as a multiple of the base model's.

Three cases, each in a fresh process: the base model alone (loaded, one forward: the unit),
LoRA (r=8) with the value head and the KL reference (the adapters switched off: no copy), and
full fine-tuning with the value head and a frozen reference copy. For each: the resident
memory (RSS) after building, after the first rollout and after the first update, and the
update's peak, all as growth over the same starting point (envs built and the reward's
libraries imported). Settings: SmolLM2-135M, float32, 8 envs, 128-token prompts, 16 new
tokens, minibatches of 64 steps, one epoch, β = 0.05.

Target: LoRA + value + reference after the first update <= 1.25x the base model.

Run: ``python benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from functools import partial

import gymnasium as gym
import psutil
import torch as th
from bench_update import PeakRSS
from common import add_row_argument, machine, record, row_of
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym import load_causal_lm, load_tokenizer
from textgym.policies import EpisodeRolloutBuffer, LMPolicy, add_kl_penalty
from textgym.policies.host_memory import release_freed_memory

MIB = 2**20
CASES = ("base", "lora", "full")


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / MIB


def start(args: argparse.Namespace):
    """The envs, with the reward's libraries imported; the RSS everything is measured from."""
    tokenizer = load_tokenizer(args.model)
    kwargs = dict(tokenizer=tokenizer, max_prompt_tokens=args.prompt, max_new_tokens=args.new)
    kwargs["eos_token_ids"] = [len(tokenizer) - 1]  # never sampled: fixed lengths
    env = make_vec_env(partial(gym.make, "TextSummarize-v0"), args.envs, 0, env_kwargs=kwargs)
    env.reset()
    import nltk  # noqa: F401  (ROUGE's imports, loaded at the first reward otherwise)
    import rouge_score.rouge_scorer  # noqa: F401

    gc.collect()
    release_freed_memory()
    return env, rss_mib()


def measure(args: argparse.Namespace, case: str) -> dict[str, float]:
    """RSS growth (MiB) of one case at each point; see the module's docstring."""
    th.manual_seed(0)
    env, zero = start(args)
    if case == "base":
        lm = load_causal_lm(args.model)
        with th.no_grad():
            lm(input_ids=th.randint(0, 1000, (args.envs, args.prompt + args.new)), logits_to_keep=1)
        gc.collect()
        release_freed_memory()
        return {"loaded": rss_mib() - zero}
    policy_kwargs = {"model": args.model, **({"lora": {"r": 8}} if case == "lora" else {})}
    model = PPO(
        LMPolicy,
        env,
        n_steps=args.new,
        batch_size=64,
        n_epochs=1,
        policy_kwargs=policy_kwargs,
        rollout_buffer_class=EpisodeRolloutBuffer,
        device="cpu",
    )
    add_kl_penalty(model, kl_coef=0.05)
    out = {"built": rss_mib() - zero}
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    out["after_rollout"] = rss_mib() - zero
    with PeakRSS() as peak:
        model.train()
    gc.collect()
    out["after_update"] = rss_mib() - zero
    out["update_peak"] = peak.peak_rss / MIB - zero
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=int, default=16)
    parser.add_argument("--only", choices=CASES, help=argparse.SUPPRESS)
    add_row_argument(parser)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args, args.only)))
        return
    results = {}
    for case in CASES:  # each in a fresh process: memory figures do not mix
        command = [sys.executable, __file__, *sys.argv[1:], "--only", case]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        results[case] = json.loads(done.stdout.strip().splitlines()[-1])
    unit = results["base"]["loaded"]
    print(f"# memory benchmark ({machine()}); base model: +{unit:.0f} MiB")
    print("| case | built | after rollout | after update | update peak |")
    print("|---|---:|---:|---:|---:|")
    figures = {"base_model_mib": unit}
    for case in ("lora", "full"):
        row = results[case]
        print(f"| {case} | " + " | ".join(f"{v / unit:.2f}x" for v in row.values()) + " |")
        figures |= {f"{case}_{key}_mib": value for key, value in row.items()}
        figures |= {f"{case}_{key}_x": value / unit for key, value in row.items()}
    print(f"\nLoRA after the first update: {figures['lora_after_update_x']:.2f}x (target <= 1.25)")
    record("bench_memory", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
