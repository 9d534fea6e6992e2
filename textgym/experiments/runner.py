"""Backends that run the pending jobs of a grid: local processes or Ray tasks.

``local`` with one worker trains in this process, one run after another. With more workers
it uses a :class:`~concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method
(fresh interpreters: no forked torch threads or CUDA state), each worker limited to
``cpu_count // workers`` torch threads. The workers die with the process that started
them, even when it is killed with SIGKILL (see :func:`die_with_parent`), so no orphan
keeps training and writing into ``out``. With ``gpus_per_run`` each worker sees its own
GPUs (see :mod:`textgym.experiments.gpus`). ``ray`` submits one Ray task per run (see
:mod:`textgym.experiments.ray_backend`); the tasks need no disk shared with ``out``.

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

from textgym.experiments import job
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.gpus import local_gpu_slots, set_worker_gpus
from textgym.experiments.ray_backend import connect_ray, run_ray

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
        return run_ray(config, specs, threads_per_worker(config.workers))
    if config.workers == 1:
        return [job.run_job(config, spec) for spec in specs]
    return run_processes(config, specs)


def check_backend(config: CompareConfig) -> None:
    """Check what ``config``'s backend needs, before anything is written.

    ``ray``: Ray is installed, its cluster answers and has the GPUs (this connects to it).
    ``local`` with ``gpus_per_run``: torch sees enough GPUs.

    Raises:
        ConfigError: Ray is missing or its address does not answer, or the GPUs are missing.
    """
    if config.backend == "ray":
        connect_ray(config)
    elif config.gpus_per_run:
        local_gpu_slots(config)


def run_processes(config: CompareConfig, specs: list[RunSpec]) -> list[Record]:
    """Run ``specs`` in spawned processes: ``config.workers``, at most as many as GPU slots."""
    slots = local_gpu_slots(config)
    workers = len(slots) or config.workers
    threads = threads_per_worker(workers)
    records: list[Record] = []
    with worker_pool(workers, slots) as pool:
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


def worker_pool(workers: int, gpus: list[str] | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that die with this process.

    Args:
        workers: Processes in the pool.
        gpus: ``CUDA_VISIBLE_DEVICES`` of each worker, in the order they start (None or []:
            the workers inherit this process's).
    """
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=start_worker,
        initargs=(os.getpid(), tuple(gpus or ()), context.Value("i", 0)),
    )


def start_worker(parent: int, gpus: tuple[str, ...], counter: Any) -> None:
    """Set up a new worker: it dies with ``parent`` and sees the next slot of ``gpus``."""
    die_with_parent(parent)
    set_worker_gpus(gpus, counter)


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
