"""Backends that run the pending jobs of a grid: local processes or Ray tasks.

``local`` with one worker trains in this process, one run after another. With more workers
it uses a :class:`~concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(fresh interpreters: no forked torch threads or CUDA state), each worker limited to
``cpu_count // workers`` torch threads. The workers die with the process that started
them, even when it is killed with SIGKILL (see :func:`die_with_parent`), so no orphan
keeps training and writing into ``out``. ``ray`` submits one Ray task per run, with
``num_cpus`` set to the same share (at most one node's CPUs); it connects to the cluster
named by ``RAY_ADDRESS`` if set, else starts a local one (or uses the one already
initialised). On a multi-node cluster ``out`` must be on a filesystem every node sees.

On the first failure no new run is started; runs already going finish, then the error is
raised. Finished runs stay finished, so re-running resumes.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

from textgym.errors import ConfigError
from textgym.experiments import job
from textgym.experiments.config import CompareConfig, RunSpec

Record = dict[str, Any]
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
PARENT_POLL_S = 1.0


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
    records: list[Record] = []
    with worker_pool(config.workers) as pool:
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


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that die with this process."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )


def die_with_parent(parent: int) -> None:
    """End this process as soon as process ``parent``, which started it, ends.

    Two mechanisms, so that either suffices. On Linux the kernel sends SIGKILL when the
    parent dies (``PR_SET_PDEATHSIG``), even while the worker is busy in native code.
    Strictly it fires when the parent *thread* that started the worker ends; the pool
    starts workers from the thread that submits, which then waits for them. Everywhere, a
    daemon thread polls the parent pid (an orphan is re-parented, so it changes) and exits
    within ``PARENT_POLL_S`` seconds; it also catches a parent that died before this ran.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # on failure the watchdog still acts
    watchdog = threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True)
    watchdog.start()


def _exit_when_orphaned(parent: int) -> None:
    """Exit the process once ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


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
