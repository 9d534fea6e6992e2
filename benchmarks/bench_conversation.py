"""Multi-turn rollouts against a loop of ``generate`` calls with the partner in between.

8 envs of ``TextGuessNumber-v0``, each playing one whole game: ``--turns`` turns of exactly
``--turn-tokens`` sampled tokens (EOS never ends a turn here), the partner's reply appended
after each. textgym: the stock ``PPO.collect_rollouts`` with ``LMPolicy``, whose KV cache runs
only each reply's tokens on top of the conversation. The baseline: per turn, one
``model.generate`` call on the whole conversation so far, then the same replies appended.
Both produce the same number of tokens. Also counts the tokens each runs through the LM.

Run: ``python benchmarks/bench_conversation.py [--turns 4] [--turn-tokens 8]``.
"""

from __future__ import annotations

import argparse

import torch as th
from common import add_row_argument, machine, record, row_of, timer
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from textgym.models import load_tokenizer
from textgym.policies import EpisodeRolloutBuffer, LMPolicy


def build(args: argparse.Namespace) -> PPO:
    tokenizer = load_tokenizer(args.model)
    env_kwargs = dict(
        tokenizer=tokenizer,
        max_turns=args.turns,
        max_turn_tokens=args.turn_tokens,
        eos_token_ids=[len(tokenizer) - 1],  # never sampled in practice: fixed turn lengths
    )
    env = make_vec_env("TextGuessNumber-v0", n_envs=args.envs, seed=0, env_kwargs=env_kwargs)
    return PPO(
        LMPolicy,
        env,
        n_steps=args.turns * args.turn_tokens,
        batch_size=args.envs * args.turns * args.turn_tokens,
        policy_kwargs={"model": args.model},
        rollout_buffer_class=EpisodeRolloutBuffer,
        device=args.device,
        seed=0,
    )


def rollout(model: PPO) -> tuple[float, dict[str, int]]:
    """Seconds of one rollout (one game per env) and the cache's token counts."""
    _, callback = model._setup_learn(model.n_steps * model.n_envs, callback=None)
    callback.on_training_start(locals(), globals())
    cache = model.policy.rollout_cache
    cache.clear()
    result: dict[str, float] = {}
    with timer(result, "s"):
        model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    counts = {"prefill_rows": cache.prefill_rows, "extended_tokens": cache.extended_tokens}
    return result["s"], counts


def generate_loop(args: argparse.Namespace, model: PPO) -> tuple[float, int]:
    """Seconds of the ``generate`` loop, and the conversation tokens its calls run."""
    envs = [e.unwrapped for e in model.env.envs]
    for index, env in enumerate(envs):
        env.reset(options={"index": index})
    rows = [list(env._obs()["input_ids"][env._obs()["attention_mask"] == 1]) for env in envs]
    lm, pad = model.policy.lm, envs[0].pad_token_id
    result: dict[str, float] = {}
    run = 0
    with th.no_grad(), timer(result, "s"):
        for turn in range(args.turns):
            width = max(len(r) for r in rows)
            ids = th.tensor([[pad] * (width - len(r)) + r for r in rows], device=model.device)
            mask = th.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
            run += int(mask.sum())
            out = lm.generate(
                input_ids=ids,
                attention_mask=mask.to(model.device),
                do_sample=True,
                top_k=0,
                max_new_tokens=args.turn_tokens,
                min_new_tokens=args.turn_tokens,
                pad_token_id=pad,
            )
            for i, (r, env) in enumerate(zip(rows, envs, strict=True)):
                r.extend(out[i, width:].tolist())
                if turn < args.turns - 1:
                    r.extend(env.turns.reply("Please answer with one whole number.", False))
    return result["s"], run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--turn-tokens", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="alternate runs; keep the fastest")
    add_row_argument(parser)
    args = parser.parse_args()
    th.manual_seed(0)
    model = build(args)
    tokens = args.envs * args.turns * args.turn_tokens
    rollouts, loops = [], []
    for _ in range(args.repeats + 1):  # the first round warms up
        seconds, counts = rollout(model)
        rollouts.append(seconds)
        seconds, generate_tokens = generate_loop(args, model)
        loops.append(seconds)
    rollout_s, generate_s = min(rollouts[1:]), min(loops[1:])
    print(f"# conversation benchmark ({machine()})")
    print(f"{args.envs} envs, {args.turns} turns x {args.turn_tokens} tokens = {tokens} tokens")
    print(f"rollout {tokens / rollout_s:.1f} tok/s, generate loop {tokens / generate_s:.1f} tok/s")
    print(f"ratio rollout / generate loop = {generate_s / rollout_s:.2f} (target >= 0.9)")
    figures = {
        "rollout_tok_s": tokens / rollout_s,
        "generate_loop_tok_s": tokens / generate_s,
        "ratio": generate_s / rollout_s,
        "each_rollout_s": rollouts[1:],
        "each_generate_loop_s": loops[1:],
        "tokens": tokens,
        "rollout_prefill_rows": counts["prefill_rows"],
        "rollout_tokens_on_cache": counts["extended_tokens"],
        "generate_loop_prompt_tokens": generate_tokens,
    }
    record("bench_conversation", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
