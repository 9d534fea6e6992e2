"""Checkpoints and `textgym train --resume`: a resumed run equals the uninterrupted one, bitwise."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from textgym.cli import main
from textgym.errors import ConfigError
from textgym.training import TrainConfig, build_ppo, train, trainer
from textgym.training.checkpoints import checkpoint_folder, load_checkpoint, save_checkpoint
from textgym.training.resume_state import capture, rng_state
from textgym.training.run_folder import DONE, finished_run, settings_record

ROLLOUT = 16  # timesteps per rollout: 2 envs x 8 steps


class Killed(Exception):
    """Stands for the process being killed."""


def decaying_rate(progress_remaining: float) -> float:
    """A learning-rate schedule: resuming must continue its progress exactly."""
    return 1e-3 * progress_remaining


@pytest.fixture(autouse=True)
def one_thread():
    """Runs in this process compute as the subprocesses do (OMP_NUM_THREADS=1)."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def config(model: str, out: Path, **settings) -> TrainConfig:
    base = dict(
        model=model,
        timesteps=3 * ROLLOUT,
        n_envs=2,
        n_steps=8,
        batch_size=16,
        max_new_tokens=3,
        max_prompt_tokens=64,
        eval_examples=1,
        learning_rate=1e-3,
        checkpoint_every=1,  # at every rollout boundary
        out=str(out),
    )
    return TrainConfig(**{**base, **settings})


def cli_args(model: str, timesteps: int) -> list[str]:
    args = ["train", "--model", model, "--timesteps", str(timesteps), "--n-envs", "2"]
    args += ["--n-steps", "8", "--batch-size", "16", "--max-new-tokens", "3"]
    args += ["--max-prompt-tokens", "64", "--eval-examples", "1", "--learning-rate", "1e-3"]
    return [*args, "--checkpoint-every", str(ROLLOUT), "--no-progress"]


def interrupt(monkeypatch, run: TrainConfig, after: int) -> None:
    """Run ``run`` and stop it inside the rollout where it reaches ``after`` timesteps."""

    class Interrupted(trainer.EpisodeRewards):
        def _on_step(self) -> bool:
            if self.model.num_timesteps >= after:
                raise Killed
            return super()._on_step()

    with monkeypatch.context() as patch:
        patch.setattr(trainer, "EpisodeRewards", Interrupted)
        with pytest.raises(Killed):
            train(run, progress_bar=False)


def saved_timesteps(out: Path) -> int:
    return json.loads((checkpoint_folder(out) / "checkpoint.json").read_text())["num_timesteps"]


def same_bits(a: th.Tensor, b: th.Tensor) -> bool:
    """``torch.equal`` on the bit patterns: exact, and NaN equals the same NaN."""
    if a.is_floating_point():
        ints = {2: th.int16, 4: th.int32, 8: th.int64}
        a, b = a.view(ints[a.element_size()]), b.view(ints[b.element_size()])
    return th.equal(a, b)


def assert_same_run(ref: Path, resumed: Path) -> None:
    """Equal weights (β included), optimizer, counters and every metric, reward by reward."""
    a, b = PPO.load(ref / "ppo.zip", device="cpu"), PPO.load(resumed / "ppo.zip", device="cpu")
    assert a.policy.state_dict().keys() == b.policy.state_dict().keys()
    for name, tensor in a.policy.state_dict().items():
        assert same_bits(tensor, b.policy.state_dict()[name]), name
    adam_a, adam_b = a.policy.optimizer.state_dict(), b.policy.optimizer.state_dict()
    assert adam_a["state"].keys() == adam_b["state"].keys()
    for key, state in adam_a["state"].items():
        assert all(same_bits(v, adam_b["state"][key][k]) for k, v in state.items())
    assert (a.num_timesteps, a._n_updates) == (b.num_timesteps, b._n_updates)
    metrics = [json.loads((path / "metrics.json").read_text()) for path in (ref, resumed)]
    for m in metrics:  # settings that change nothing the run computes
        m["config"].pop("out"), m["config"].pop("checkpoint_every")
    assert metrics[0]["episode_rewards"] and metrics[0] == metrics[1]


SETTINGS = {
    "plain": {},
    "adaptive_kl": {"kl_coef": 0.1, "target_kl": 1.0},
    "rloo_groups": {"group_size": 2, "advantage": "rloo", "n_steps": 6, "batch_size": 12},
    "lr_schedule": {"learning_rate": decaying_rate, "checkpoint_every": 2 * ROLLOUT},
}


@pytest.mark.parametrize("name", SETTINGS)
def test_resumed_run_equals_the_uninterrupted_run(name, tiny_lm_dir, tmp_path, monkeypatch):
    settings = SETTINGS[name]
    ref = train(config(tiny_lm_dir, tmp_path / "ref", **settings), progress_bar=False)
    run = config(tiny_lm_dir, tmp_path / "cut", **settings)
    per_rollout = run.n_envs * run.n_steps
    interrupt(monkeypatch, run, after=2 * per_rollout + 3)  # inside the third rollout
    assert saved_timesteps(tmp_path / "cut") == 2 * per_rollout
    assert not (tmp_path / "cut" / "ppo.zip").exists()
    resumed = train(run, progress_bar=False, resume=True)
    assert resumed.model._num_timesteps_at_start == 2 * per_rollout  # not trained from 0
    assert_same_run(tmp_path / "ref", tmp_path / "cut")
    assert resumed.episode_rewards == ref.episode_rewards
    assert not checkpoint_folder(tmp_path / "cut").parent.exists()  # removed once finished
    assert finished_run(tmp_path / "cut")["run_id"]


def test_resume_after_a_kill_while_saving_or_swapping_checkpoints(
    tiny_lm_dir, tmp_path, monkeypatch
):
    ref = train(config(tiny_lm_dir, tmp_path / "ref"), progress_bar=False)
    run = config(tiny_lm_dir, tmp_path / "cut", checkpoint_every=None)  # 4 rollouts > the run
    with monkeypatch.context() as patch:  # killed after ppo.zip and hf_model were written
        patch.setattr(trainer, "plot_curve", lambda *args: (_ for _ in ()).throw(Killed()))
        with pytest.raises(Killed):
            train(run, progress_bar=False)
    out = tmp_path / "cut"
    assert (out / "hf_model").is_dir() and not (out / DONE).exists()
    assert saved_timesteps(out) == run.timesteps  # the only one: after the last update
    swap = checkpoint_folder(out).parent / ".latest.k1ll3d"  # killed inside a folder swap:
    swap.mkdir()
    checkpoint_folder(out).rename(swap / "latest.old")  # old one moved away,
    (swap / "latest").mkdir()  # new one not moved in
    (swap / "latest" / "ppo.zip").write_text("half")
    with pytest.warns(UserWarning, match="ppo.zip, hf_model of an unfinished run"):
        resumed = train(run, progress_bar=False, resume=True)
    assert_same_run(tmp_path / "ref", out)
    assert resumed.after.generations == ref.after.generations
    assert sorted(p.name for p in out.iterdir()) == [
        "hf_model",
        "metrics.json",
        "ppo.zip",
        "reward_curve.png",
        "tensorboard",
        DONE,
    ]


def test_sigkill_then_resume_equals_the_uninterrupted_run(tiny_lm_dir, tmp_path):
    args = cli_args(tiny_lm_dir, timesteps=8 * ROLLOUT)
    out, log = tmp_path / "killed", (tmp_path / "log.txt").open("w")
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "textgym.cli", *args, "--out", str(out)]
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=environ)
    deadline = time.monotonic() + 60
    while not (checkpoint_folder(out) / "checkpoint.json").exists():
        assert process.poll() is None, (tmp_path / "log.txt").read_text()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (out / DONE).exists() and saved_timesteps(out) < 8 * ROLLOUT
    assert main([*args, "--resume", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    assert_same_run(tmp_path / "ref", out)


def test_an_interrupted_run_is_resumed_not_overwritten(tiny_lm_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cut"
    interrupt(monkeypatch, config(tiny_lm_dir, out), after=ROLLOUT + 1)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ConfigError, match=r"unfinished run \(16 of 48 timesteps\).*--resume"):
        train(config(tiny_lm_dir, out), progress_bar=False)
    other = config(tiny_lm_dir, out, learning_rate=2e-3, n_epochs=3, checkpoint_every=64)
    message = r"learning_rate \(--learning-rate\): 0.001 in the checkpoint, 0.002 now; n_epochs"
    with pytest.raises(ConfigError, match=message):
        train(other, progress_bar=False, resume=True)
    assert main([*cli_args(tiny_lm_dir, 48), "--out", "x", "--resume", str(out)]) == 2
    assert "name different folders" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before


def test_resume_needs_a_checkpoint(tiny_lm_dir, tmp_path, capsys):
    missing = tmp_path / "never_trained"
    assert main([*cli_args(tiny_lm_dir, 48), "--resume", str(missing)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err and not missing.exists()
    out = tmp_path / "finished"
    train(config(tiny_lm_dir, out, checkpoint_every=0), progress_bar=False)
    assert not checkpoint_folder(out).parent.exists()  # checkpoint_every=0: none written
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        train(config(tiny_lm_dir, out), progress_bar=False, resume=True)


def test_every_rollout_starts_with_an_empty_kv_cache(tiny_lm_dir, tmp_path):
    """A resumed run starts with no cache; so must every rollout of an uninterrupted one."""

    class CacheAtBoundaries(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.empty_at_start: list[bool] = []
            self.used_in_rollout: list[bool] = []

        def _on_rollout_start(self) -> None:
            self.empty_at_start.append(self.model.policy.rollout_cache.past is None)

        def _on_rollout_end(self) -> None:
            self.used_in_rollout.append(self.model.policy.rollout_cache.decode_steps > 0)

        def _on_step(self) -> bool:
            return True

    model = build_ppo(config(tiny_lm_dir, tmp_path))
    seen = CacheAtBoundaries()
    model.learn(3 * ROLLOUT, callback=seen)
    assert seen.empty_at_start == [True, True, True]
    assert seen.used_in_rollout == [True, True, True]


def snapshot(state: object, path: str = "") -> dict[str, bytes]:
    """Every leaf of ``state`` by path, pickled (a tensor as its raw bytes)."""
    if isinstance(state, dict):
        return {
            k: v for key, item in state.items() for k, v in snapshot(item, f"{path}/{key}").items()
        }
    if isinstance(state, (list, tuple, deque)):
        return {
            k: v for i, item in enumerate(state) for k, v in snapshot(item, f"{path}/{i}").items()
        }
    if isinstance(state, th.Tensor):
        return {path: state.cpu().numpy().tobytes()}
    return {path: pickle.dumps(state)}


SB3_STATE = (
    "num_timesteps",
    "_n_updates",
    "_current_progress_remaining",
    "_last_obs",
    "_last_episode_starts",
    "ep_info_buffer",
)


def test_a_checkpoint_restores_the_whole_training_state(tiny_lm_dir, tmp_path):
    """Counters, last observations, episode buffers, every env layer, KL sums, RNGs."""
    run = config(tiny_lm_dir, tmp_path, kl_coef=0.1, target_kl=1.0)
    model = build_ppo(run)
    model.learn(2 * ROLLOUT)
    save_checkpoint(tmp_path, {"config": settings_record(run)}, model, {"curve": [0.5]})
    saved = snapshot(capture(model))
    assert model.rollout_buffer.reward_shaping.get_state()["episode_kl"].any()
    fresh = build_ppo(run)
    assert snapshot(capture(fresh)) != saved
    checkpoint = load_checkpoint(tmp_path, settings_record(run))
    checkpoint.restore(fresh)
    assert snapshot(capture(fresh)) == saved
    for name in SB3_STATE:  # independently of what capture() covers
        assert snapshot(getattr(fresh, name)) == snapshot(getattr(model, name)), name
    assert snapshot(rng_state()) == snapshot(checkpoint.state["model"]["rng"])
    assert checkpoint.extras == {"curve": [0.5]}


def test_a_resumed_game_run_equals_the_uninterrupted_one(tiny_lm_dir, tmp_path, monkeypatch):
    # Multi-turn: the conversation env's state (history, turn, partner) is in the checkpoint.
    def game(out: Path) -> TrainConfig:
        return TrainConfig(
            env_id="TextGuessNumber-v0",
            model=tiny_lm_dir,
            timesteps=3 * ROLLOUT,
            n_envs=2,
            n_steps=8,
            batch_size=16,
            eval_examples=1,
            learning_rate=1e-3,
            checkpoint_every=1,
            out=str(out),
            env_kwargs={"max_turns": 2, "max_turn_tokens": 3},  # episodes of at most 6 steps
        )

    ref = train(game(tmp_path / "ref"), progress_bar=False)
    run = game(tmp_path / "cut")
    interrupt(monkeypatch, run, after=2 * ROLLOUT + 3)
    assert saved_timesteps(tmp_path / "cut") == 2 * ROLLOUT
    resumed = train(run, progress_bar=False, resume=True)
    assert resumed.model._num_timesteps_at_start == 2 * ROLLOUT
    assert_same_run(tmp_path / "ref", tmp_path / "cut")
    assert resumed.episode_rewards == ref.episode_rewards
