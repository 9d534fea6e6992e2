"""End to end (P3): textgym's PPO iteration vs TRL's ``GRPOTrainer``, back to back.

Identical settings on both sides: the same model, the same CNN/DM prompts (built and capped
by the textgym env, then given to TRL as the same text), ROUGE-L against the reference, KL
β 0.05, ``--completions`` completions per step (TRL: ``--completions / --group`` prompts ×
``--group``), exactly ``--new`` new tokens (EOS ignored on both sides), one epoch, one
optimiser step per iteration. Prints completion tokens/s of each and the ratio, and the peak
memory (GPU: ``max_memory_allocated``).

TRL is not a textgym dependency: ``pip install trl`` for this benchmark only; without it the
benchmark says so and exits 0.

Run: ``python benchmarks/bench_trl.py [--device cuda] [--dtype bfloat16]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time

import torch as th
from common import cnndm_rows, machine, record

from textgym import DEFAULT_MODEL, load_causal_lm, load_tokenizer
from textgym.rewards import make_reward
from textgym.training import TrainConfig, build_ppo


def textgym_config(args: argparse.Namespace, rows: list[dict]) -> TrainConfig:
    """One PPO iteration = ``completions`` envs × ``new`` steps, one epoch, one minibatch."""
    tokenizer = load_tokenizer(args.model)
    return TrainConfig(
        reward="rougeL",
        model=args.model,
        n_envs=args.completions,
        n_steps=args.new,
        batch_size=args.completions * args.new,
        n_epochs=1,
        learning_rate=1e-6,
        kl_coef=0.05,
        max_prompt_tokens=args.prompt,
        max_new_tokens=args.new,
        device=args.device,
        out=tempfile.mkdtemp(prefix="bench_trl."),
        env_kwargs={"dataset": rows, "eos_token_ids": [len(tokenizer) - 1]},
        policy_kwargs={"dtype": args.dtype},
        ppo_kwargs={"tensorboard_log": None},
    )


def time_textgym(args: argparse.Namespace, rows: list[dict]) -> tuple[float, float]:
    """Seconds per iteration (mean over ``--steps`` after one warm-up) and peak GiB."""
    model = build_ppo(textgym_config(args, rows))
    per_iteration = model.n_steps * model.n_envs
    model.learn(per_iteration)  # warm-up
    reset_peak(args.device)
    start = time.perf_counter()
    model.learn(per_iteration * args.steps, reset_num_timesteps=False)
    return (time.perf_counter() - start) / args.steps, peak_gib(args.device)


def trl_prompts(args: argparse.Namespace, rows: list[dict]) -> list[dict]:
    """The textgym env's prompts (chat template, capped) as text, with their references."""
    import gymnasium as gym

    env = gym.make(
        "TextSummarize-v0", dataset=rows, tokenizer=args.model, max_prompt_tokens=args.prompt
    ).unwrapped
    tokenizer = env.tokenizer
    return [
        {"prompt": tokenizer.decode(env.prompts.build(e)[0]), "reference": e.references[0]}
        for e in env.examples
    ]


def time_trl(args: argparse.Namespace, rows: list[dict]) -> tuple[float, float]:
    """Seconds per ``GRPOTrainer`` step (mean over ``--steps`` after one warm-up), peak GiB."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    rouge = make_reward("rougeL")

    def reward(prompts: list, completions: list, reference: list, **_: object) -> list[float]:
        return [float(x) for x in rouge(completions, [[r] for r in reference], prompts)]

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, *_: object, **__: object) -> None:
            if len(self.times) == 1:
                reset_peak(args.device)
            self.start = time.perf_counter()

        def on_step_end(self, *_: object, **__: object) -> None:
            self.times.append(time.perf_counter() - self.start)

    tokenizer = load_tokenizer(args.model)
    tokenizer.padding_side = "left"
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench_trl."),
        per_device_train_batch_size=args.completions,
        num_generations=args.group,
        max_completion_length=args.new,
        generation_kwargs={"min_new_tokens": args.new},
        beta=0.05,
        num_iterations=1,
        learning_rate=1e-6,
        max_steps=args.steps + 1,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=args.device == "cpu",
        bf16=args.dtype == "bfloat16",
        seed=0,
    )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=load_causal_lm(args.model),
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_list(trl_prompts(args, rows)),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    return sum(timer.times[1:]) / args.steps, peak_gib(args.device)


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        th.cuda.synchronize()
        th.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float:
    return th.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--prompt", type=int, default=391, help="prompt token cap")
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--completions", type=int, default=8, help="completions per step")
    parser.add_argument("--group", type=int, default=4, help="TRL completions per prompt")
    parser.add_argument("--steps", type=int, default=2, help="timed iterations after a warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    if importlib.util.find_spec("trl") is None:
        print("bench_trl: TRL is not installed (pip install trl); skipped.")
        return
    th.manual_seed(0)
    rows = cnndm_rows(64)
    textgym_s, textgym_peak = time_textgym(args, rows)
    trl_s, trl_peak = time_trl(args, rows)
    tokens = args.completions * args.new
    figures = {
        "textgym_tok_s": tokens / textgym_s,
        "trl_grpo_tok_s": tokens / trl_s,
        "ratio_textgym_over_trl": trl_s / textgym_s,
        "textgym_peak_gib": textgym_peak,
        "trl_peak_gib": trl_peak,
    }
    print(f"# end-to-end benchmark P3 ({machine()}, {args.dtype})")
    print(f"{args.completions} completions ({args.group} per prompt for TRL), prompt <= ", end="")
    print(f"{args.prompt}, {args.new} new tokens, ROUGE-L, beta 0.05, one epoch")
    print("| trainer | completion tok/s | peak GiB |\n|---|---:|---:|")
    print(f"| textgym PPO (no groups) | {figures['textgym_tok_s']:.1f} | {textgym_peak:.2f} |")
    print(f"| TRL GRPOTrainer | {figures['trl_grpo_tok_s']:.1f} | {trl_peak:.2f} |")
    print(f"\nratio textgym / TRL = {figures['ratio_textgym_over_trl']:.2f} (target >= 1.5)")
    record("bench_trl", vars(args), figures)


if __name__ == "__main__":
    main()
