"""Run every benchmark in this folder, one after the other, printing each one's report.

Run: ``python benchmarks/run_all.py`` (add ``--quick`` for short settings).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "bench_env.py": ["--steps", "20000"],
    "bench_rewards.py": [],
    "bench_rewards_meaning.py": [],
    "bench_rollout.py": ["--episodes", "1"],
    "bench_update.py": ["--new", "32"],
    "bench_kl.py": ["--episodes", "1"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short settings (smoke run)")
    args = parser.parse_args()
    failed = []
    for script, quick_args in BENCHMARKS.items():
        print(f"\n## {script}", flush=True)
        command = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        if subprocess.run(command, cwd=HERE).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
