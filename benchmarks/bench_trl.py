"""End to end (P3): textgym's PPO iteration vs TRL's ``GRPOTrainer``, back to back.

textgym runs twice: with groups of ``--group`` samples per prompt (RLOO baseline, no value
head) and without groups (GAE with the value head). Identical settings on every side: the
same model, the same CNN/DM prompts (built and capped by the textgym env, then given to TRL
as the same text), ROUGE-L against the reference, KL β 0.05, ``--completions`` completions
per step (``--completions / --group`` prompts × ``--group``), exactly ``--new`` new tokens
(EOS ignored on both sides), one epoch, one optimiser step per iteration. Prints completion
tokens/s of each, the ratios, and the peak memory of each, each trainer in a fresh process
(GPU: ``max_memory_allocated``; CPU: the process's peak RSS, model loading included).

TRL is not a textgym dependency: ``pip install trl`` for this benchmark only; without it the
benchmark says so and exits 0.

Run: ``python benchmarks/bench_trl.py [--device cuda] [--dtype bfloat16]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
import time

import psutil
import torch as th
from bench_update import PeakRSS
from common import (
    PRECISIONS,
    add_row_argument,
    cnndm_rows,
    machine,
    precision_kwargs,
    record,
    row_of,
)

from textgym import DEFAULT_MODEL, load_causal_lm, load_tokenizer
from textgym.rewards import make_reward
from textgym.training import TrainConfig, build_ppo


def textgym_config(args: argparse.Namespace, rows: list[dict], group: int) -> TrainConfig:
    """One PPO iteration = ``completions`` envs × ``new`` steps, one epoch, one minibatch.

    ``group`` > 1: groups of that many samples per prompt with the RLOO baseline and no
    value head; 1: independent prompts with GAE and the value head.
    """
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
        policy_kwargs=precision_kwargs(args.dtype),
        ppo_kwargs={"tensorboard_log": None},
        group_size=group,
        advantage="rloo" if group > 1 else "gae",
    )


def time_textgym(args: argparse.Namespace, rows: list[dict], group: int) -> tuple[float, float]:
    """Seconds per iteration (mean over ``--steps`` after one warm-up) and peak GiB."""
    model = build_ppo(textgym_config(args, rows, group))
    per_iteration = model.n_steps * model.n_envs
    model.learn(per_iteration)  # warm-up
    reset_peak(args.device)
    start = time.perf_counter()
    with PeakRSS() as rss:
        model.learn(per_iteration * args.steps, reset_num_timesteps=False)
    seconds = (time.perf_counter() - start) / args.steps
    return seconds, peak_gib(args.device) if args.device != "cpu" else rss.peak_rss / 2**30


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
        bf16=args.dtype != "float32",  # TRL: autocast with float32 master weights
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
    with PeakRSS() as rss:
        trainer.train()
    peak = peak_gib(args.device) if args.device != "cpu" else rss.peak_rss / 2**30
    return sum(timer.times[1:]) / args.steps, peak


def time_one(args: argparse.Namespace, rows: list[dict], name: str) -> tuple[float, float]:
    """Seconds per iteration and peak GiB of one trainer: ``textgym_groups|textgym|trl_grpo``."""
    if name == "trl_grpo":
        return time_trl(args, rows)
    return time_textgym(args, rows, args.group if name == "textgym_groups" else 1)


def isolated(name: str) -> tuple[float, float]:
    """:func:`time_one` in a fresh Python process, so memory figures do not mix."""
    command = [sys.executable, __file__, *sys.argv[1:], "--only", name]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds, peak = json.loads(out.strip().splitlines()[-1])
    return seconds, peak


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        th.cuda.synchronize()
        th.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float:
    """Peak GPU memory (GiB) since the last reset; on CPU, this process's RSS."""
    if device.startswith("cuda"):
        return th.cuda.max_memory_allocated() / 2**30
    return psutil.Process().memory_info().rss / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--prompt", type=int, default=391, help="prompt token cap")
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--completions", type=int, default=8, help="completions per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt")
    parser.add_argument("--steps", type=int, default=2, help="timed iterations after a warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=PRECISIONS)
    parser.add_argument("--only", choices=["textgym_groups", "textgym", "trl_grpo"])
    add_row_argument(parser)
    args = parser.parse_args()
    if importlib.util.find_spec("trl") is None:
        print("bench_trl: TRL is not installed (pip install trl); skipped.")
        return
    th.manual_seed(0)
    rows = cnndm_rows(64)
    if args.only:
        print(json.dumps(time_one(args, rows, args.only)))
        return
    seconds, peaks = {}, {}
    for name in ("textgym_groups", "textgym", "trl_grpo"):  # each in a fresh process
        seconds[name], peaks[name] = isolated(name)
    tokens = args.completions * args.new
    figures = {f"{name}_tok_s": tokens / s for name, s in seconds.items()}
    figures |= {f"{name}_peak_gib": peak for name, peak in peaks.items()}
    figures["ratio_groups_over_trl"] = seconds["trl_grpo"] / seconds["textgym_groups"]
    figures["ratio_no_groups_over_trl"] = seconds["trl_grpo"] / seconds["textgym"]
    memory = "GPU max_memory_allocated" if args.device != "cpu" else "RSS"
    print(f"# end-to-end benchmark P3 ({machine()}, {args.dtype})")
    print(f"{args.completions} completions ({args.group} per prompt), ", end="")
    print(f"prompt <= {args.prompt}, {args.new} new tokens, ROUGE-L, beta 0.05, one epoch")
    print(f"| trainer | completion tok/s | peak GiB ({memory}) |\n|---|---:|---:|")
    names = {
        "textgym_groups": f"textgym PPO, groups of {args.group}, RLOO, no value head",
        "textgym": "textgym PPO, no groups, GAE + value head",
        "trl_grpo": f"TRL GRPOTrainer ({args.group} per prompt)",
    }
    for name, label in names.items():
        print(f"| {label} | {figures[name + '_tok_s']:.1f} | {peaks[name]:.2f} |")
    print(f"\nratio textgym groups / TRL = {figures['ratio_groups_over_trl']:.2f} (target >= 1.5)")
    print(f"ratio textgym no groups / TRL = {figures['ratio_no_groups_over_trl']:.2f}")
    figures["completion_tokens_per_iteration"] = tokens
    settings = {**vars(args), "trl": importlib.metadata.version("trl")}
    record("bench_trl", settings, figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
