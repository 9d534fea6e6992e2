"""Train a multi-turn game with several seeds; the held-out gains with paired intervals.

Each seed is one `textgym train` run (the same settings, the seed changed) that evaluates the
policy on the game's held-out examples before and after training (greedy). The gains of
success rate, turns and reward are paired per example and summarised as `textgym compare`
does (textgym.experiments.summary.gain): a bootstrap interval over seeds and examples, a
t-interval over the per-seed means, significant when both exclude 0. Writes one JSON file
with every seed's per-example values, the shares of rollouts without gradient signal, and
the summary. A finished seed's run folder is read again, not retrained.

Run: python examples/game_experiment.py --game guess_number_shaped --seeds 3 \
     --out runs/games_shaped --summary docs/results/games/guess_number_shaped.json
"""

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import textgym
from textgym.atomic import write_text_atomic
from textgym.experiments.summary import gain
from textgym.training import TrainConfig, train

METRICS = ("success_rate", "turns", "own_reward")

parser = argparse.ArgumentParser()
parser.add_argument("--env", default="TextGuessNumber-v0")
parser.add_argument("--game", default=None, help="a registered game's name (default: the env's)")
parser.add_argument("--model", default=textgym.DEFAULT_MODEL)
parser.add_argument("--seeds", type=int, default=3)
parser.add_argument("--timesteps", type=int, default=4096)
parser.add_argument("--learning-rate", type=float, default=3e-5)
parser.add_argument("--kl-coef", type=float, default=0.02)
parser.add_argument("--eval-examples", type=int, default=20)
parser.add_argument("--out", required=True, help="folder of the runs, one per seed")
parser.add_argument("--summary", required=True, help="where to write the summary JSON")
args = parser.parse_args()


def run_record(seed: int) -> dict:
    """Train seed ``seed`` (or read its finished run) and return its evaluation record."""
    out = Path(args.out) / f"seed{seed}"
    done = out / "game_run.json"
    if done.is_file():
        return json.loads(done.read_text())
    config = TrainConfig(
        env_id=args.env,
        model=args.model,
        env_kwargs={"game": args.game} if args.game else {},
        timesteps=args.timesteps,
        n_envs=8,
        n_steps=64,
        batch_size=512,
        n_epochs=2,
        group_size=4,
        advantage="rloo",
        learning_rate=args.learning_rate,
        kl_coef=args.kl_coef,
        eval_examples=args.eval_examples,
        seed=seed,
        out=str(out),
    )
    result = train(config, progress_bar=False)
    evals = {"initial": result.before, "trained": result.after}
    record = {
        "seed": seed,
        "config": {k: v for k, v in asdict(config).items() if k != "out"},
        "initial": result.before.metrics,
        "trained": result.after.metrics,
        "per_example": {key: ev.per_example for key, ev in evals.items()},
        "example_ids": result.after.example_ids,
        "transcripts": {key: ev.generations[:2] for key, ev in evals.items()},
        "signal_health": result.signal_health,
    }
    write_text_atomic(done, json.dumps(record, indent=1) + "\n")
    return record


records = [run_record(seed) for seed in range(args.seeds)]
summary = {}
for metric in METRICS:
    g = gain(records, metric)
    summary[metric] = {
        "initial": sum(r["initial"][metric] for r in records) / len(records),
        "trained": sum(r["trained"][metric] for r in records) / len(records),
        "gain": asdict(g.interval),
        "seeds": asdict(g.seeds),
        "significant": g.significant,
    }
    print(f"{metric}: {summary[metric]['initial']:.3f} -> {summary[metric]['trained']:.3f}, gain ")
    print(f"  {g.interval.mean:+.3f} [{g.interval.low:+.3f}, {g.interval.high:+.3f}]", end="")
    print(f" seeds [{g.seeds.low:+.3f}, {g.seeds.high:+.3f}] sig={g.significant}")
result = {
    "command": "python examples/game_experiment.py "
    + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
    "env": args.env,
    "game": args.game,
    "seeds": args.seeds,
    "summary": summary,
    "runs": records,
}
write_text_atomic(Path(args.summary), json.dumps(result, indent=1, default=float) + "\n")
print(f"-> {args.summary}")
