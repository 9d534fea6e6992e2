"""Rollout speed: stock ``PPO.collect_rollouts`` with LMPolicy vs ``model.generate``.

Same model, batch (= number of envs), prompt length, new tokens and sampling (temperature
1, no top-k/top-p). EOS does not end episodes here (and generate runs with
``min_new_tokens``), so both produce exactly the same number of tokens.

Run: ``python benchmarks/bench_rollout.py [--model smollm2-135m-instruct] [--envs 8]``.
"""

from __future__ import annotations

import argparse

import torch as th
from common import (
    PRECISIONS,
    add_row_argument,
    cnndm_rows,
    machine,
    precision_kwargs,
    record,
    row_of,
    timer,
)
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym import TextGenEnv, load_causal_lm, load_tokenizer
from textgym.policies import LMPolicy


def build(args: argparse.Namespace, kv_cache: bool = True, **ppo_kwargs: object) -> PPO:
    tokenizer = load_tokenizer(args.model)
    env_kwargs = dict(
        dataset=cnndm_rows(64),
        tokenizer=tokenizer,
        max_prompt_tokens=args.prompt,
        max_new_tokens=args.new,
        eos_token_ids=[len(tokenizer) - 1],  # a token never sampled in practice: fixed lengths
    )
    env = make_vec_env(TextGenEnv, n_envs=args.envs, seed=0, env_kwargs=env_kwargs)
    policy_kwargs = {"model": args.model, "kv_cache": kv_cache, **precision_kwargs(args.dtype)}
    return PPO(
        LMPolicy,
        env,
        n_steps=args.new * args.episodes,
        batch_size=64,
        policy_kwargs=policy_kwargs,
        device=args.device,
        **ppo_kwargs,
    )


def collect_seconds(model: PPO) -> float:
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    result: dict[str, float] = {}
    with timer(result, "s"):
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    return result["s"]


def generate_seconds(args: argparse.Namespace, model: PPO, lm: th.nn.Module) -> float:
    """``generate`` on full-length prompts of the same env, same batch and token counts."""
    env = model.env.envs[0].unwrapped
    prompts = [env.prompts.build(e)[0] for e in env.examples[: args.envs]]
    prompts = [([env.pad_token_id] * args.prompt + p)[-args.prompt :] for p in prompts]
    ids = th.tensor(prompts, device=model.device)
    mask = (ids != env.pad_token_id).long()
    result: dict[str, float] = {}
    autocast = th.autocast(model.device.type, th.bfloat16, enabled=args.dtype == "autocast")
    with th.no_grad(), autocast, timer(result, "s"):
        for _ in range(args.episodes):
            lm.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                top_k=0,
                max_new_tokens=args.new,
                min_new_tokens=args.new,
                pad_token_id=env.pad_token_id,
            )
    return result["s"]


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
    parser.add_argument(
        "--no-cache-baseline", action="store_true", help="also time the policy without its KV cache"
    )
    add_row_argument(parser)
    args = parser.parse_args()
    th.manual_seed(0)
    model = build(args)
    tokens = args.envs * args.new * args.episodes
    weights = th.bfloat16 if args.dtype == "bfloat16" else th.float32
    lm = load_causal_lm(args.model, dtype=weights).to(model.device).eval()
    runs = range(args.repeats)
    times = [(generate_seconds(args, model, lm), collect_seconds(model)) for _ in runs]
    generate_s, rollout_s = min(t[0] for t in times), min(t[1] for t in times)
    print(f"# rollout benchmark ({machine()}; fastest of {args.repeats} alternating runs)")
    print(
        f"model {args.model}, batch {args.envs}, prompt {args.prompt}, new {args.new}, "
        f"{args.episodes} episodes/env"
    )
    print("| what | tokens/s |\n|---|---:|")
    print(f"| model.generate | {tokens / generate_s:.1f} |")
    print(f"| PPO.collect_rollouts + LMPolicy (KV cache) | {tokens / rollout_s:.1f} |")
    figures = {"generate_tok_s": tokens / generate_s, "rollout_tok_s": tokens / rollout_s}
    figures["ratio"] = generate_s / rollout_s
    if args.no_cache_baseline:
        plain_s = collect_seconds(build(args, kv_cache=False))
        print(f"| PPO.collect_rollouts + LMPolicy (no cache) | {tokens / plain_s:.1f} |")
        figures["no_cache_rollout_tok_s"] = tokens / plain_s
    print(f"\nratio rollout / generate = {generate_s / rollout_s:.2f} (target >= 0.9)")
    figures["tokens"] = tokens  # per timed run; each repeat below is one run
    figures["generate_each_repeat_tok_s"] = [tokens / t[0] for t in times]
    figures["rollout_each_repeat_tok_s"] = [tokens / t[1] for t in times]
    record("bench_rollout", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
