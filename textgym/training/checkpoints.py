"""Periodic checkpoints of a PPO run, and resuming from the last one (``textgym train --resume``).

A checkpoint is the folder ``OUT/checkpoints/latest/``, written atomically (a new one
replaces the last only once it is complete; see :mod:`textgym.atomic`):

* ``ppo.zip``: ``PPO.save`` (weights, optimizer, the KL penalty's β);
* ``state.pkl``: the rest of the training state (:mod:`textgym.training.resume_state`) and the
  caller's own records (e.g. the reward curve so far);
* ``checkpoint.json``: the run's id, its settings and its timesteps so far.

:class:`Checkpointer` takes one at rollout boundaries, where a resumed run continues bit for
bit as the uninterrupted one would. ``state.pkl`` is a pickle: resume only from checkpoints
you trust, as with ``PPO.load``.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from textgym.atomic import check_replaceable, write_atomic
from textgym.errors import ConfigError
from textgym.training.resume_state import capture, restore

CHECKPOINT_DIR = Path("checkpoints", "latest")
MANIFEST = "checkpoint.json"
# The default of textgym train: a checkpoint every 4 rollouts. One holds the weights and
# Adam's two moments (1.6 GB and ~5 s for the 135M default model), so one every rollout
# could take as long as the rollouts themselves on a GPU.
CHECKPOINT_ROLLOUTS = 4
# Settings that do not change what a run computes: they may differ when resuming.
FREE_SETTINGS = ("out", "checkpoint_every")


@dataclass
class Checkpoint:
    """A checkpoint read from disk: its folder, ``checkpoint.json`` and ``state.pkl``."""

    path: Path
    manifest: dict[str, Any]
    state: dict[str, Any]

    @property
    def extras(self) -> dict[str, Any]:
        """The caller's own records saved with it (see :class:`Checkpointer`)."""
        return self.state["extras"]

    def restore(self, model: PPO) -> None:
        """Load weights, optimizer and training state into ``model`` (built as the saved one)."""
        model.set_parameters(str(self.path / "ppo.zip"), exact_match=True, device=model.device)
        restore(model, self.state["model"])


class Checkpointer(BaseCallback):
    """Save a checkpoint every ``every`` timesteps and after the last update, at rollout boundaries.

    A boundary is the start of a rollout (PPO's update of the previous one is done) or the
    end of training right after an update; a run stopped inside a rollout is not saved there.

    Args:
        out: The run's output folder.
        manifest: JSON data for ``checkpoint.json`` (the run's id and settings).
        every: The fewest timesteps between two checkpoints (1: every rollout).
        extras: Returns the caller's own state to save (e.g. the reward curve so far).
        saved_at: The timesteps of the checkpoint the run resumed from (0: a new run).
    """

    def __init__(
        self,
        out: str | Path,
        manifest: dict[str, Any],
        every: int,
        extras: Callable[[], dict[str, Any]],
        saved_at: int = 0,
    ) -> None:
        super().__init__()
        self.out, self.manifest, self.every, self.extras = Path(out), manifest, every, extras
        self.saved_at = saved_at
        self._in_rollout = False

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self.saved_at >= self.every:
            self.save()
        self._in_rollout = True

    def _on_rollout_end(self) -> None:
        self._in_rollout = False

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if not self._in_rollout and self.model.num_timesteps > self.saved_at:
            self.save()

    def save(self) -> Path:
        """Write a checkpoint of the model now (call it only at a rollout boundary)."""
        path = save_checkpoint(self.out, self.manifest, self.model, self.extras())
        self.saved_at = self.model.num_timesteps
        return path


def checkpoint_folder(out: str | Path) -> Path:
    """Where the checkpoint of the run in ``out`` is."""
    return Path(out) / CHECKPOINT_DIR


def save_checkpoint(
    out: str | Path, manifest: dict[str, Any], model: PPO, extras: dict[str, Any]
) -> Path:
    """Write ``model``'s checkpoint into ``out`` atomically, replacing the last one."""
    state = {"model": capture(model), "extras": extras}
    record = {**manifest, "num_timesteps": model.num_timesteps}

    def write(tmp: Path) -> None:
        tmp.mkdir()
        model.save(tmp / "ppo.zip")
        with (tmp / "state.pkl").open("wb") as file:
            pickle.dump(state, file)
        (tmp / MANIFEST).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    return write_atomic(checkpoint_folder(out), write)


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The ``checkpoint.json`` of the checkpoint in ``out`` (None if there is none)."""
    try:
        return json.loads((checkpoint_folder(out) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_checkpoint(out: str | Path, settings: dict[str, Any]) -> Checkpoint:
    """The checkpoint in ``out``, checked to be of a run with ``settings``.

    Raises:
        ConfigError: ``out`` holds no checkpoint, or one of a run with other settings
            (the message names them), or one that cannot be read.
    """
    folder = checkpoint_folder(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise ConfigError(
            f"{out} holds no checkpoint ({folder / MANIFEST} is missing), so there is "
            "nothing to resume: a run saves its first checkpoint after its first PPO update. "
            "Start a new run with another --out."
        )
    check_settings(manifest["config"], settings, folder)
    try:
        with (folder / "state.pkl").open("rb") as file:
            state = pickle.load(file)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ConfigError(
            f"The checkpoint {folder} cannot be read ({exc}); start a new run with another "
            "--out (the folder is left as it is)."
        ) from exc
    return Checkpoint(folder, manifest, state)


def check_settings(saved: dict[str, Any], now: dict[str, Any], folder: Path) -> None:
    """Raise unless ``now`` equals the ``saved`` settings (but for :data:`FREE_SETTINGS`).

    Raises:
        ConfigError: naming each differing setting, its option and both values.
    """
    from textgym.training.checks import flag

    names = sorted((saved.keys() | now.keys()) - set(FREE_SETTINGS))
    changed = [name for name in names if saved.get(name) != now.get(name)]
    if changed:
        detail = "; ".join(
            f"{name} ({flag(name)}): {saved.get(name)!r} in the checkpoint, {now.get(name)!r} now"
            for name in changed
        )
        raise ConfigError(
            f"The checkpoint {folder} is of a run with other settings: {detail}. A resumed run "
            "continues the interrupted one, so give the settings it was started with; to "
            "train with new settings, start a new run with another --out."
        )


def remove_checkpoint(out: str | Path) -> None:
    """Delete the checkpoint in ``out`` (and ``checkpoints/`` if that leaves it empty).

    Raises:
        ConfigError: the checkpoint folder holds files textgym did not write there.
    """
    folder = checkpoint_folder(out)
    if folder.is_dir() and not folder.is_symlink():
        check_replaceable(folder)
        shutil.rmtree(folder)
    if folder.parent.is_dir() and not any(folder.parent.iterdir()):
        folder.parent.rmdir()
