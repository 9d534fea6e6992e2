"""Which reward-model training option beats "longer wins" on annotators it never saw?

Trains one reward model per option on the same pairs, with the same held-out split (whole
workers by default), one after another, and writes a Markdown table and ``results.json``:
held-out accuracy, the accuracy of "longer wins" and of each model on length-matched pairs,
and each model's accuracy minus "longer wins" with a paired interval. A finished option
(its ``metrics.json`` exists) is not trained again, so a killed run resumes.

Run: python examples/rm_length_options.py \\
    --pairs runs/tldr_pairs.jsonl --out runs/rm_options
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

from textgym.atomic import write_atomic
from textgym.reward_models import RMConfig, train_reward_model
from textgym.reward_models.config import config_dict

NAMES = ["plain", "length-decorrelation 1.0 (ODIN)", "length-balanced pairs", "more layers"]


def options(args: argparse.Namespace) -> dict[str, dict]:
    """Each option's change to the plain run's settings, by name."""
    changes = [
        {},
        {"length_decorrelation": 1.0},
        {"length_balanced": True},
        {"train_layers": args.more_layers},
    ]
    return dict(zip(NAMES, changes, strict=True))


def main() -> None:
    args = _parse()
    base = RMConfig(
        pairs=args.pairs,
        base=args.base,
        limit=args.limit,
        epochs=1,
        lr=1e-4,
        batch_size=8,
        max_length=args.max_length,
        split_by=args.split_by,
        train_layers=args.train_layers,
        bf16=True,
        seed=args.seed,
    )
    rows = {}
    for i, (name, change) in enumerate(options(args).items()):
        if args.only and name not in args.only:
            continue
        config = replace(base, out=Path(args.out) / f"option{i}", **change)
        metrics = Path(config.out) / "metrics.json"
        if not metrics.is_file():
            train_reward_model(config, progress_bar=True)
        rows[name] = json.loads(metrics.read_text())
        if _differences(rows[name]["config"], config):
            raise SystemExit(
                f"{metrics} was trained with other settings "
                f"({', '.join(_differences(rows[name]['config'], config))}); use another --out."
            )
    write_atomic(Path(args.out) / "results.json", lambda p: p.write_text(json.dumps(rows)))
    write_atomic(Path(args.out) / "table.md", lambda p: p.write_text(_table(rows)))
    print(_table(rows))


def _differences(stored: dict, config: RMConfig) -> list[str]:
    """Settings of ``config`` that a stored run's config differs in (a setting added to
    textgym after that run counts as its default)."""
    defaults = config_dict(RMConfig(pairs=""))
    return [k for k, v in config_dict(config).items() if stored.get(k, defaults[k]) != v]


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", required=True)
    p.add_argument("--out", default="runs/rm_options")
    p.add_argument("--split-by", default="worker")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", default=RMConfig(pairs="").base, help="model to start from")
    p.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    p.add_argument("--train-layers", type=int, default=4, help="top layers trained")
    p.add_argument("--more-layers", type=int, default=12, help="top layers of 'more layers'")
    p.add_argument("--only", nargs="*", choices=NAMES, help="run only these options")
    return p.parse_args()


def _table(rows: dict) -> str:
    lines = [
        '| option | accuracy | "longer wins" | minus "longer wins" | length-matched: model |'
        ' length-matched: "longer wins" | R² on length | train s |',
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        acc, diff = m["heldout"]["accuracy"], m["heldout"]["minus_longer_wins"]["trained"]
        cells = [
            _acc(acc["trained"]["all"]),
            _acc(acc["longer_wins"]["all"]),
            _diff(diff["all"]),
            _acc(acc["trained"]["length_matched"]),
            _acc(acc["longer_wins"]["length_matched"]),
            f"{m['length_fit']['r2']:.2f}",
            f"{m['train_seconds']:.0f}",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _acc(s: dict) -> str:
    if s["accuracy"] is None:
        return "- (n=0)"
    return f"{s['accuracy']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] (n={s['n']})"


def _diff(d: dict) -> str:
    if d["difference"] is None:
        return "-"
    return f"{d['difference']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"


if __name__ == "__main__":
    main()
