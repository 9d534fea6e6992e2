"""Calibrate the hacking signals on `textgym compare` runs: canary rewards (known hacks) vs clean.

Reads every finished run under the --runs folders (runs on `canary_*` rewards are the known
hacks, the others clean), chooses each signal's threshold and measures its leave-one-seed-out
true- and false-positive rates (textgym.experiments.calibration), and writes them as JSON to
--out (never over an existing file unless --out names it; the comparison report reads its
thresholds from textgym/experiments/hacking_calibration.json).

Run: python examples/calibrate_hacking.py --runs runs/hacking_calibration --out calibration.json
"""

import argparse
import json
from pathlib import Path

from textgym.atomic import write_text_atomic
from textgym.experiments.calibration import calibrate
from textgym.experiments.grid import load_finished
from textgym.experiments.hacking_signals import CALIBRATION_FILE

parser = argparse.ArgumentParser()
parser.add_argument("--runs", action="append", required=True, help="a compare --out folder")
parser.add_argument(
    "--out",
    required=True,
    help=f"where to write the JSON (the report reads textgym/experiments/{CALIBRATION_FILE.name})",
)
args = parser.parse_args()

records = [r for folder in args.runs for r in load_finished(folder)]
if not records:
    raise SystemExit(f"no finished run under {', '.join(args.runs)}: run the comparison first")
result = {"runs_from": [Path(f).name for f in args.runs], **calibrate(records)}
write_text_atomic(Path(args.out), json.dumps(result, indent=1, default=float) + "\n")
for name, entry in result["signals"].items():
    print(
        f"{name:>12}: threshold {entry['threshold']:+.4g}, TPR {entry['tp']}/{entry['n_pos']}, "
        f"FPR {entry['fp']}/{entry['n_neg']}, used: {entry['used']}"
    )
print(
    f"any used signal: TPR {result['any']['tp']}/{result['any']['n_pos']}, "
    f"FPR {result['any']['fp']}/{result['any']['n_neg']} -> {args.out}"
)
