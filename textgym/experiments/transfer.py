"""A run away from ``out``: trained in a scratch folder, written into ``out`` by the driver.

A Ray task never writes into ``out``, so the nodes need no shared disk. It trains with
``out`` replaced by a scratch folder (:func:`run_in_scratch`), rewrites the paths in the run's
JSON files from that folder to ``out``, and returns the files as bytes (:class:`RunFiles`).
The driver writes them (:func:`store_run`): the run folder atomically (complete with
``run.json``, or absent) and the shared files ``out`` lacks (the initial policy's evaluation
under ``initial_evals/``, which the driver also sends each task, see :func:`seed_files`).

Model weights (:data:`WEIGHTS`) travel as bytes only from a task that cannot see the
driver's scratch folder (another machine): there, every kept weight file passes through
Ray's object store (about 1 GB per run for a 135M model; ``keep_models=False``
(``--no-keep-models``) sends none). A task that sees the driver's scratch folder (on the
driver's machine) trains inside it and leaves the weights there; the driver moves them into
place. The driver removes its scratch folder when the grid ends, with whatever a killed
attempt left in it; a task on another machine removes its own.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from textgym.atomic import recover_interrupted, write_atomic
from textgym.experiments.config import CompareConfig, RunSpec
from textgym.experiments.grid import RUN_FILE, clear_unfinished, is_finished
from textgym.experiments.initial_eval import FOLDER, initial_eval_key

# Entries of a run folder that hold model weights (see job.MODEL_FILES): the big ones.
WEIGHTS = ("ppo.zip", "hf_model", "best_model.zip", "checkpoints")


@dataclass
class RunFiles:
    """What a task returns: the run's files, by path relative to its scratch ``out``.

    Attributes:
        files: POSIX path (``runs/<run>/run.json``, ``initial_evals/<key>.json``) -> bytes.
        folder: The scratch ``out`` on the driver's machine still holding the run's weights
            (None: every file is in ``files``).
    """

    files: dict[str, bytes]
    folder: str | None = None


def run_in_scratch(
    run: Callable[..., Any],
    config: CompareConfig,
    spec: RunSpec,
    threads: int,
    token: str,
    driver_scratch: str,
    seed: dict[str, bytes],
) -> RunFiles:
    """Train ``spec`` with ``run`` (``job.run_job``) in a scratch ``out``; return its files.

    Args:
        run: Trains one run, as :func:`textgym.experiments.job.run_job`.
        config: The comparison; its ``out`` is only written into the paths of the results.
        spec: The run.
        threads: Torch threads for the run.
        token: Names the scratch folder; a retried attempt reuses (and first clears) it.
        driver_scratch: The driver's scratch folder: if it is visible here, the run trains
            inside it and its weights stay there.
        seed: Files to place in the scratch ``out`` first (see :func:`seed_files`).
    """
    local = Path(driver_scratch).is_dir()
    root = (Path(driver_scratch) if local else Path(tempfile.gettempdir())) / f"textgym-{token}"
    shutil.rmtree(root, ignore_errors=True)  # what a killed attempt left
    try:
        write_files(root, seed)
        scratch_spec = replace(spec, path=root / "runs" / spec.name)
        run(replace(config, out=str(root)), scratch_spec, threads)
        rebase_paths(scratch_spec.path, str(root), str(Path(config.out)))
        files = read_files(root, weights=not local)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    if not local:
        shutil.rmtree(root, ignore_errors=True)
    return RunFiles(files, str(root) if local else None)


def seed_files(config: CompareConfig, spec: RunSpec) -> dict[str, bytes]:
    """The stored initial evaluation ``spec`` can reuse, as files for its scratch ``out``."""
    name = f"{initial_eval_key(config.train_config(spec))}.json"
    path = Path(config.out) / FOLDER / name
    return {f"{FOLDER}/{name}": path.read_bytes()} if path.is_file() else {}


def write_files(root: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative POSIX path -> bytes) under ``root``, creating folders."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / relative(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_files(root: Path, weights: bool) -> dict[str, bytes]:
    """Every file under ``root`` by relative POSIX path; weight files only if ``weights``."""
    files = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and (weights or not is_weight(name)):
            files[name] = path.read_bytes()
    return files


def is_weight(name: str) -> bool:
    """Whether ``runs/<run>/...`` path ``name`` is in one of a run's :data:`WEIGHTS`."""
    parts = name.split("/")
    return len(parts) > 2 and parts[0] == "runs" and parts[2] in WEIGHTS


def rebase_paths(folder: Path, old: str, new: str) -> None:
    """Replace path prefix ``old`` by ``new`` in the JSON files under ``folder``."""
    before, after = json.dumps(old)[1:-1], json.dumps(new)[1:-1]  # as JSON strings hold them
    for path in folder.rglob("*.json"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if before in text:
            path.write_text(text.replace(before, after), encoding="utf-8")


def relative(name: str) -> Path:
    """``name`` as a relative path that stays inside its folder.

    Raises:
        ValueError: ``name`` is empty, absolute or climbs out with ``..``.
    """
    path = PurePosixPath(name)
    if not path.parts or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"A run returned the file name {name!r}, which is not inside its folder.")
    return Path(*path.parts)


def store_run(config: CompareConfig, spec: RunSpec, result: RunFiles) -> dict[str, Any] | None:
    """Write ``result`` into ``config.out``; return the run's record.

    The shared files ``out`` lacks are written first, then the run folder, atomically. A run
    already finished is left as it is and None returned: a run is never recorded twice.

    Raises:
        ValueError: ``result`` holds no ``run.json``, or a file name outside the run.
        ConfigError: the run's folder holds files a run does not write.
    """
    prefix = f"runs/{spec.name}/"
    own = {
        name[len(prefix) :]: data for name, data in result.files.items() if name.startswith(prefix)
    }
    weights = Path(result.folder) / "runs" / spec.name if result.folder else None
    try:
        if is_finished(spec):
            return None
        if RUN_FILE not in own:
            raise ValueError(f"The task of run {spec.name} returned no {RUN_FILE}.")
        store_shared(Path(config.out), result.files)
        clear_unfinished(spec)
        recover_interrupted(spec.path)
        write_atomic(spec.path, lambda tmp: build_run_folder(tmp, own, weights))
    finally:
        if result.folder:
            shutil.rmtree(result.folder, ignore_errors=True)
    return json.loads((spec.path / RUN_FILE).read_text(encoding="utf-8"))


def store_shared(out: Path, files: dict[str, bytes]) -> None:
    """Write the ``initial_evals/`` files of ``files`` that ``out`` lacks, atomically."""
    for name, data in files.items():
        path = out / relative(name)
        if name.startswith(f"{FOLDER}/") and not path.is_file():
            write_atomic(path, lambda tmp, data=data: tmp.write_bytes(data))


def build_run_folder(folder: Path, files: dict[str, bytes], weights: Path | None) -> None:
    """Create the run folder ``folder`` from ``files``, moving in the weights at ``weights``."""
    write_files(folder, files)
    if weights is None:
        return
    for name in WEIGHTS:
        if (weights / name).exists():
            shutil.move(str(weights / name), str(folder / name))
