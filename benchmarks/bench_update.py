"""PPO update cost: one epoch with whole-episode grouping vs one forward per transition.

Counts the tokens the LM runs on and the wall time of one epoch of ``evaluate_actions`` +
backward over the same rollout, checks that both give identical log-probs, and reports the
peak memory (RSS growth on CPU, ``max_memory_allocated`` on GPU) of a full PPO iteration.

Run: ``python benchmarks/bench_update.py [--model smollm2-135m-instruct] [--new 64]``.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import psutil
import torch as th
from bench_rollout import build, collect_seconds
from common import PRECISIONS, add_row_argument, machine, record, row_of

from textgym.policies import EpisodeRolloutBuffer


def epoch(model, batch_size: int) -> tuple[int, float, th.Tensor]:
    """One pass over the rollout: returns (LM tokens, seconds, log-probs in buffer order)."""
    policy = model.policy
    np.random.seed(0)  # the same minibatches in the same order for both modes
    tokens, start, logps = policy.forward_tokens, time.perf_counter(), []
    for batch in model.rollout_buffer.get(batch_size):
        actions = batch.actions.long().flatten()
        values, log_prob, entropy = policy.evaluate_actions(batch.observations, actions)
        (values.pow(2).mean() - log_prob.mean() - 0.01 * entropy.mean()).backward()
        policy.optimizer.zero_grad()
        logps.append((batch.old_log_prob.detach(), log_prob.detach()))
    return policy.forward_tokens - tokens, time.perf_counter() - start, logps


class PeakRSS:
    """Sample this process's RSS every 5 ms; ``peak`` is the growth over the start."""

    def __enter__(self) -> PeakRSS:
        self.proc, self.running = psutil.Process(), True
        self.base = self.peak_rss = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while self.running:
            self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = self.peak_rss - self.base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--prompt", type=int, default=64)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=PRECISIONS)
    add_row_argument(parser)
    args = parser.parse_args()
    th.manual_seed(0)
    model = build(args, rollout_buffer_class=EpisodeRolloutBuffer)
    with PeakRSS() as rss:  # first, before other work grows the process
        if th.cuda.is_available():
            th.cuda.reset_peak_memory_stats()
        model.learn(model.n_steps * model.n_envs)
    collect_seconds(model)
    model.policy.set_training_mode(True)
    grouped_tokens, grouped_s, grouped = epoch(model, args.batch_size)
    model.policy.group_prefixes = False
    single_tokens, single_s, single = epoch(model, args.batch_size)
    diff = max((a[1] - b[1]).abs().max().item() for a, b in zip(grouped, single, strict=True))
    stored = max((g[1] - g[0]).abs().max().item() for g in grouped)
    gpu, gpu_peak = "", float("nan")
    if th.cuda.is_available():
        gpu_peak = th.cuda.max_memory_allocated() / 2**20
        gpu = f", GPU peak {gpu_peak:.0f} MiB"
    print(f"# update benchmark ({machine()})")
    print(f"model {args.model}, {args.envs} envs, prompt {args.prompt}, new {args.new}, ", end="")
    print(f"batch {args.batch_size}")
    print("| one PPO epoch | LM tokens | seconds |\n|---|---:|---:|")
    print(f"| grouped (one forward per episode) | {grouped_tokens} | {grouped_s:.1f} |")
    print(f"| per transition | {single_tokens} | {single_s:.1f} |")
    ratio = single_tokens / grouped_tokens
    print(f"\nratio tokens per-transition / grouped = {ratio:.1f}x (target >= 10)")
    print(f"ratio time per-transition / grouped = {single_s / grouped_s:.1f}x")
    print(f"max |log-prob grouped - per transition| = {diff:.2e}")
    print(f"max |log-prob recomputed - stored at rollout| = {stored:.2e}")
    print(
        f"peak memory of one PPO iteration (rollout + update): +{rss.peak / 2**20:.0f} MiB RSS{gpu}"
    )
    figures = {"grouped_tokens": grouped_tokens, "per_transition_tokens": single_tokens}
    figures |= {"grouped_s": grouped_s, "per_transition_s": single_s, "token_ratio": ratio}
    figures["time_ratio"] = single_s / grouped_s
    figures |= {"logp_diff": diff, "logp_stored_diff": stored}
    figures |= {"iteration_peak_rss_growth_mib": rss.peak / 2**20, "gpu_peak_mib": gpu_peak}
    record("bench_update", vars(args), figures, row=row_of(parser, args))


if __name__ == "__main__":
    main()
