"""Backends that run the pending jobs of a grid: local processes or Ray tasks.

``local`` with one worker trains in this process, one run after another. With more workers
it uses a :class:`~concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(fresh interpreters: no forked torch threads or CUDA state), each worker limited to
``cpu_count // workers`` torch threads. ``ray`` submits one Ray task per run, with
``num_cpus`` set to the same share (at most one node's CPUs); it connects to the cluster
named by ``RAY_ADDRESS`` if set, else starts a local one (or uses the one already
initialised). On a multi-node cluster ``out`` must be on a filesystem every node sees.

On the first failure no new run is started; runs already going finish, then the error is
raised. Finished runs stay finished, so re-running resumes.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

from textgym.errors import ConfigError
from textgym.experiments import job
from textgym.experiments.config import CompareConfig, RunSpec

Record = dict[str, Any]


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` concurrent runs (at least 1)."""
    return max(1, (os.cpu_count() or 1) // workers)


def run_pending(config: CompareConfig, specs: list[RunSpec]) -> list[Record]:
    """Run ``specs`` with ``config.backend``; return their records (in completion order)."""
    if not specs:
        return []
    if config.backend == "ray":
        return run_ray(config, specs)
    if config.workers == 1:
        return [job.run_job(config, spec) for spec in specs]
    return run_processes(config, specs)


def run_processes(config: CompareConfig, specs: list[RunSpec]) -> list[Record]:
    """Run ``specs`` in ``config.workers`` spawned processes."""
    threads = threads_per_worker(config.workers)
    context = multiprocessing.get_context("spawn")
    records: list[Record] = []
    with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
        futures = [pool.submit(job.run_job, config, spec, threads) for spec in specs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        wait(pending)
        for future in futures:
            if future.done() and not future.cancelled():
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
                records.append(future.result())
    return records


def import_ray() -> Any:
    """Import Ray, or raise a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "backend='ray' needs Ray, which is not installed; install it with "
            "`pip install textgym[ray]`, or use backend='local'."
        ) from exc
    return ray


def ray_cpus_per_task(ray: Any, workers: int) -> int:
    """This machine's share per worker, capped at the biggest node (else no task fits)."""
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return max(1, min(threads_per_worker(workers), int(max(nodes, default=1))))


def run_ray(config: CompareConfig, specs: list[RunSpec]) -> list[Record]:
    """Run ``specs`` as Ray tasks, at most ``config.workers`` at a time."""
    ray = import_ray()
    if not ray.is_initialized():
        ray.init()
    threads = ray_cpus_per_task(ray, config.workers)
    task = ray.remote(num_cpus=threads, max_retries=0)(job.run_job)
    queue, running, records = list(specs), [], []
    while queue or running:
        while queue and len(running) < config.workers:
            running.append(task.remote(config, queue.pop(0), threads))
        done, running = ray.wait(running, num_returns=1)
        try:
            records.append(ray.get(done[0]))
        except Exception:
            ray.wait(running, num_returns=len(running))  # let started runs finish, start no more
            raise
    return records
