"""The Ray backend: connect to a cluster, check its GPUs, run each pending run as a Ray task.

:func:`connect_ray` uses the Ray this process already initialised, else connects to
``ray_address`` (``--ray-address``) or ``RAY_ADDRESS``, else starts a Ray on this machine.
An address is first checked with a plain TCP connection (``ray.init`` would wait for an
address that does not answer for minutes), and ``gpus_per_run`` against the GPUs the
cluster's nodes declare, so a bad address or a cluster without GPUs fails before anything
is written.

Each run is a task asking for ``num_cpus`` (this machine's share per worker, at most one
node's CPUs) and ``num_gpus=gpus_per_run``; Ray sets the task's ``CUDA_VISIBLE_DEVICES`` to
the GPUs it assigns, and runs a GPU task in a fresh worker process. At most ``workers`` run
at once. A task whose worker process died (killed, out of memory, its node lost) is run
again, up to :data:`RAY_RETRIES` times; a run that raises an error is not. Tasks train in a
scratch folder and return their files through Ray; only the driver writes ``out`` (see
:mod:`textgym.experiments.transfer`), each run once. On the first failure no new run is
started; runs already going finish and are stored, then the error is raised.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

from textgym.errors import ConfigError
from textgym.experiments import job
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.transfer import run_in_scratch, seed_files, store_run

Record = dict[str, Any]
RAY_RETRIES = 3  # attempts after the first for a run whose worker process died
ADDRESS_TIMEOUT_S = 10.0


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


def connect_ray(config: CompareConfig) -> Any:
    """The ``ray`` module, initialised on the cluster of ``config``, with its GPUs checked.

    Raises:
        ConfigError: Ray is not installed, the address does not answer, or no node has
            ``gpus_per_run`` GPUs.
    """
    ray = import_ray()
    option = "--ray-address" if config.ray_address else "RAY_ADDRESS"
    address = config.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        check_address(address, option)
    started = not ray.is_initialized()
    if started:
        init_ray(ray, address, option)
    try:
        check_cluster_gpus(ray, config.gpus_per_run, address)
    except ConfigError:
        if started:
            ray.shutdown()
        raise
    return ray


def split_address(address: str, option: str) -> tuple[str, int] | None:
    """``(host, port)`` of a Ray address (``HOST:PORT``, ``ray://HOST:PORT``); None for ``auto``.

    Raises:
        ConfigError: the address has no port.
    """
    text = address.strip()
    if text in ("auto", "local"):
        return None
    rest = text.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"Ray address {address!r} ({option}) is not HOST:PORT; give the head's address as "
            "`ray start --head` prints it, e.g. 10.0.0.1:6379."
        )
    return host.strip("[]"), int(port)


def check_address(address: str, option: str = "--ray-address") -> None:
    """Raise unless something accepts TCP connections at Ray ``address``.

    Raises:
        ConfigError: the address is malformed or does not answer within
            :data:`ADDRESS_TIMEOUT_S` seconds.
    """
    where = split_address(address, option)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=ADDRESS_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"Ray address {address!r} ({option}) does not answer ({exc.strerror or exc}); "
            "nothing was written. Start the head there with `ray start --head` (it prints "
            "the address, port 6379 by default), check host, port and firewall, or leave "
            f"{option} unset to run on a Ray started on this machine."
        ) from exc


def init_ray(ray: Any, address: str | None, option: str) -> None:
    """``ray.init(address=address)``, its failures as a :class:`ConfigError`."""
    try:
        ray.init(address=address or None)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"the Ray cluster at {address!r} ({option})" if address else "a local Ray"
        raise ConfigError(f"Could not start or connect to {where}: {exc}") from exc


def check_cluster_gpus(ray: Any, gpus_per_run: float, address: str | None) -> None:
    """Raise unless some live node declares ``gpus_per_run`` GPUs (else no task could start).

    Raises:
        ConfigError: no node has that many GPUs.
    """
    if not gpus_per_run:
        return
    most = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n.get("Alive")), default=0)
    if most >= gpus_per_run:
        return
    where = f"the Ray cluster at {address}" if address else "the Ray on this machine"
    raise ConfigError(
        f"gpus_per_run={gpus_per_run:g} (--gpus-per-run), but the most GPUs a node of {where} "
        f"declares is {most:g}, so no run could start; nothing was written. Start nodes with "
        "GPUs (`ray start` finds them; --num-gpus N declares them), connect to such a cluster "
        "(--ray-address HOST:6379), or lower or drop --gpus-per-run."
    )


def ray_cpus_per_task(ray: Any, threads: int) -> int:
    """``threads`` capped at the biggest node's CPUs (else no task fits)."""
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return max(1, min(threads, int(max(nodes, default=1))))


def run_ray(config: CompareConfig, specs: list[RunSpec], threads: int) -> list[Record]:
    """Run ``specs`` as Ray tasks, at most ``config.workers`` at a time; store each once.

    Args:
        config: The comparison.
        specs: The runs to train.
        threads: CPUs (and torch threads) asked for each task, capped at one node's.
    """
    ray = connect_ray(config)
    cpus = ray_cpus_per_task(ray, threads)
    remote = ray.remote(num_cpus=cpus, num_gpus=config.gpus_per_run, max_retries=RAY_RETRIES)
    task = remote(run_in_scratch)
    scratch = tempfile.mkdtemp(prefix="textgym-compare-")

    def submit(spec: RunSpec) -> Any:
        token = uuid.uuid4().hex  # one per run: a retry reuses it
        return task.remote(
            job.run_job, config, spec, cpus, token, scratch, seed_files(config, spec)
        )

    try:
        return collect(ray, config, specs, submit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def collect(
    ray: Any, config: CompareConfig, specs: list[RunSpec], submit: Callable[[RunSpec], Any]
) -> list[Record]:
    """Submit ``specs``, at most ``config.workers`` at once; store each result as it comes.

    After the first failure nothing new is submitted; the running tasks finish and are
    stored, then the failure is raised. If this is interrupted, running tasks are cancelled.
    """
    queue, running, records = list(specs), {}, []
    error: BaseException | None = None
    try:
        while running or (queue and error is None):
            while queue and error is None and len(running) < config.workers:
                spec = queue.pop(0)
                running[submit(spec)] = spec
            (ref,), _ = ray.wait(list(running), num_returns=1)
            spec = running.pop(ref)
            try:
                record = store_run(config, spec, ray.get(ref))
            except Exception as exc:
                error = error or exc
                continue
            if record is not None:
                records.append(record)
    finally:
        for ref in running:
            with contextlib.suppress(Exception):  # Ray may be shutting down
                ray.cancel(ref, force=True)
    if error is not None:
        raise error
    return records
