"""PPO against a learned reward model (e.g. one made by ``textgym train-rm``).

The envs pay no reward themselves (``reward="none"``); ``VecRewardWrapper`` scores every
summary that ends in a vector step with the reward model, in one batched call. Before and
after training, the policy's greedy summaries of held-out prompts are scored by the reward
model and measured in words: a reward model that pays for length makes them longer.
``--length-corrected`` subtracts the length term ``train-rm`` fitted on its training pairs
(``RewardModel(folder, length_penalty="fit")``), so length alone earns nothing.

Run: python examples/train_with_reward_model.py --rm rm/ [--timesteps 512] [--length-corrected]
"""

import argparse

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import textgym  # noqa: F401  (registers the envs)
from textgym.env import VecRewardWrapper
from textgym.evaluation import evaluate_lm
from textgym.policies import EpisodeRolloutBuffer, LMPolicy
from textgym.rewards import RewardModel


def main() -> None:
    args = parse()
    if args.dataset and not args.eval_dataset:
        raise SystemExit(
            "--dataset needs --eval-dataset: held-out prompts the policy never trains on."
        )
    reward = RewardModel(args.rm, length_penalty="fit" if args.length_corrected else 0.0)
    env_kwargs = {"tokenizer": args.model, "reward": "none", "max_new_tokens": args.max_new_tokens}
    if args.dataset:
        env_kwargs.update(dataset=args.dataset, fields={"source": args.source_field})
    env = make_vec_env("TextSummarize-v0", n_envs=args.n_envs, seed=0, env_kwargs=env_kwargs)
    model = PPO(
        LMPolicy,
        VecRewardWrapper(env, reward),
        n_steps=2 * args.max_new_tokens,
        batch_size=4 * args.max_new_tokens,
        n_epochs=2,
        gamma=1.0,  # the reward comes at the end: no discount toward early EOS
        learning_rate=args.learning_rate,
        rollout_buffer_class=EpisodeRolloutBuffer,
        policy_kwargs={"model": args.model},
        seed=0,
    )
    eval_kwargs = {**env_kwargs, "split": args.eval_split}
    if args.eval_dataset:
        eval_kwargs.update(dataset=args.eval_dataset)
    held_out = gym.make("TextSummarize-v0", **eval_kwargs).unwrapped
    before = summaries(model, held_out, reward, args.eval_examples)
    model.learn(args.timesteps)
    after = summaries(model, held_out, reward, args.eval_examples)
    returns = [e["r"] for e in model.ep_info_buffer]
    k = max(1, len(returns) // 4)
    print(f"training reward: first {k} episodes {np.mean(returns[:k]):.4f}, last {k} "
          f"{np.mean(returns[-k:]):.4f}")  # fmt: skip
    for name, i in (("reward-model score", 0), ("words per summary", 1)):
        print(f"held-out {name} ({args.eval_examples} prompts, greedy): before "
              f"{before[i]:.3f}, after {after[i]:.3f}")  # fmt: skip


def summaries(model: PPO, env: textgym.TextGenEnv, reward: RewardModel, n: int) -> tuple:
    """Mean reward-model score and mean words of greedy summaries of ``env``'s first ``n``."""
    result = evaluate_lm(model.policy.lm, env, n, metrics=(), own_reward=reward)
    words = [len(text.split()) for text in result.generations]
    return result.metrics["own_reward"], float(np.mean(words))


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rm", required=True, help="folder of a reward model (textgym train-rm --out)")
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--dataset", default=None, help="JSONL of prompts (default: shipped data)")
    p.add_argument("--source-field", default="source", help="the dataset's prompt field")
    p.add_argument("--eval-dataset", default=None, help="JSONL of held-out prompts")
    p.add_argument("--eval-split", default="validation", help="split of the shipped data")
    p.add_argument("--eval-examples", type=int, default=20)
    p.add_argument("--timesteps", type=int, default=512)
    p.add_argument("--n-envs", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument(
        "--length-corrected", action="store_true", help="subtract the fitted length term"
    )
    return p.parse_args()


if __name__ == "__main__":
    main()
