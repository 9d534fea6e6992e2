"""The reproducibility manifest of one run: config, versions, seeds, code and data identity."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from textgym.data.example import Example
from textgym.training import TrainConfig

PACKAGES = ("textgym", "torch", "transformers", "stable-baselines3", "gymnasium")


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None if it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(cwd: str | Path | None = None) -> str | None:
    """``git rev-parse HEAD`` in ``cwd`` (default: the current folder); None if that fails."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else None


def dataset_hash(splits: dict[str, list[Example]]) -> str:
    """sha256 of the examples' ids, sources and references, split by split (sorted by name)."""
    payload = {
        split: [[ex.id, ex.source, list(ex.references)] for ex in examples]
        for split, examples in sorted(splits.items())
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_manifest(config: TrainConfig, splits: dict[str, list[Example]]) -> dict[str, Any]:
    """Everything needed to reproduce a run of ``config`` on the examples ``splits``."""
    return {
        "config": json.loads(json.dumps(asdict(config), default=str)),
        # PPO seeds python/numpy/torch with ``seed``; make_vec_env seeds env i with seed + i
        "seeds": {"ppo": config.seed, "envs": [config.seed + i for i in range(config.n_envs)]},
        "versions": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_revision": git_revision(),
        "dataset_sha256": dataset_hash(splits),
        "dataset_sizes": {split: len(examples) for split, examples in splits.items()},
    }
