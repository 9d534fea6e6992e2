"""GPUs for the local backend: which GPUs each worker process sees.

With ``gpus_per_run`` > 0, local worker ``i`` gets ``CUDA_VISIBLE_DEVICES`` set to a group of
the GPUs this process sees, round-robin: whole GPUs (``gpus_per_run`` = 1, 2, ...: the GPUs
are cut into disjoint groups of that size) or a share of one (1/k: GPU ``i mod n``, k
workers per GPU). At most as many workers run as the GPUs hold (groups x k), like Ray, which
queues a run until its GPUs are free. The visible GPUs are ``CUDA_VISIBLE_DEVICES`` when it
is set (so ``CUDA_VISIBLE_DEVICES=2,3 textgym compare ...`` uses GPUs 2 and 3), else all of
them. A run trains on ``cuda``, which in its worker is the first of its own GPUs.

The variable is set in the worker before torch initialises CUDA (importing torch does not).
Ray sets it for its tasks itself (see :mod:`textgym.experiments.ray_backend`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch as th

from textgym.errors import ConfigError
from textgym.experiments.config import CompareConfig, runs_per_gpu

VARIABLE = "CUDA_VISIBLE_DEVICES"


def visible_gpus(count: int | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The ids of the GPUs this process sees, as ``CUDA_VISIBLE_DEVICES`` would name them.

    Args:
        count: How many GPUs torch sees (None: ``torch.cuda.device_count()``).
        env: The environment to read ``CUDA_VISIBLE_DEVICES`` from (None: ``os.environ``).
    """
    count = th.cuda.device_count() if count is None else count
    listed = (os.environ if env is None else env).get(VARIABLE)
    if listed is None:
        return [str(i) for i in range(count)]
    return [d.strip() for d in listed.split(",") if d.strip()][:count]


def gpu_slots(visible: list[str], gpus_per_run: float, workers: int) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each local worker: at most ``workers``, round-robin.

    Raises:
        ConfigError: fewer GPUs are visible than one run needs.
    """
    size = max(1, round(gpus_per_run))
    groups = [visible[i : i + size] for i in range(0, len(visible) - size + 1, size)]
    if not groups:
        raise ConfigError(
            f"gpus_per_run={gpus_per_run:g} (--gpus-per-run) needs {size} GPU(s) per run, but "
            f"torch sees {len(visible)} here ({VARIABLE}={os.environ.get(VARIABLE, 'unset')}). "
            "Ask for fewer, or run on a Ray cluster with GPUs (--backend ray --ray-address "
            "HOST:6379)."
        )
    capacity = len(groups) * runs_per_gpu(gpus_per_run)
    return [",".join(groups[i % len(groups)]) for i in range(min(workers, capacity))]


def local_gpu_slots(config: CompareConfig) -> list[str]:
    """The workers' ``CUDA_VISIBLE_DEVICES`` for ``config`` ([] without ``gpus_per_run``).

    Raises:
        ConfigError: ``gpus_per_run`` > 0 but no GPU, or too few for one run, is visible.
    """
    if not config.gpus_per_run:
        return []
    visible = visible_gpus()
    if not visible:
        raise ConfigError(
            f"gpus_per_run={config.gpus_per_run:g} (--gpus-per-run), but torch sees no CUDA "
            f"GPU on this machine ({VARIABLE}={os.environ.get(VARIABLE, 'unset')}); nothing was "
            "written. Drop --gpus-per-run to train on the CPU, or run on a Ray cluster with "
            "GPUs (--backend ray --ray-address HOST:6379)."
        )
    return gpu_slots(visible, config.gpus_per_run, config.workers)


def set_worker_gpus(slots: tuple[str, ...], counter: Any) -> None:
    """In a new worker: take the next slot (``counter``: a shared ``Value("i")``), use its GPUs."""
    if not slots:
        return
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    os.environ[VARIABLE] = slots[index % len(slots)]
