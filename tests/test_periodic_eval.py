"""PeriodicEval: an SB3 callback evaluating held-out text metrics during PPO training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch as th
from conftest import tiny_train_config
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

from textgym.cli import main
from textgym.errors import ConfigError, UnknownNameError
from textgym.evaluation import EvalResult, PeriodicEval
from textgym.evaluation import callback as callback_module
from textgym.training import TrainConfig, build_ppo, make_eval_env, train

tiny = tiny_train_config


def test_evaluations_go_to_the_sb3_logger_every_n_timesteps(tiny_lm_dir, tmp_path):
    config = tiny(tiny_lm_dir, out=str(tmp_path))
    model = build_ppo(config)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    periodic = PeriodicEval(make_eval_env(config), eval_every=8, n_examples=2)
    assert isinstance(periodic, BaseCallback)
    model.learn(32, callback=periodic)
    # rollouts of 8 steps start at 0, 8, 16, 24; one more evaluation when training ends
    assert [e["timesteps"] for e in periodic.history] == [8, 16, 24, 32]
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    logged = [float(r["eval/own_reward"]) for r in rows if r.get("eval/own_reward")]
    assert logged == [e["own_reward"] for e in periodic.history]
    assert {"eval/kl_to_init_exact", "eval/perplexity", "eval/best_own_reward"} <= set(rows[0])
    assert periodic.history[-1]["kl_to_init_exact"] > 0  # the policy moved from its reference


def test_train_logs_to_tensorboard_and_keeps_the_best_checkpoint(tiny_lm_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = train(tiny(tiny_lm_dir, eval_every=16, out=str(out)), progress_bar=False)
    assert [e["timesteps"] for e in result.evaluations] == [16, 32]
    events = [EventAccumulator(str(p.parent)).Reload() for p in out.rglob("events.out.*")]
    tags = {tag for acc in events for tag in acc.Tags()["scalars"]}
    assert {"eval/own_reward", "eval/chrf", "eval/kl_to_init_exact"} <= tags
    history = json.loads((out / "eval_history.json").read_text())
    assert history["metric"] == "own_reward" and len(history["evaluations"]) == 2
    best = PPO.load(out / "best_model.zip", device="cpu")
    assert best.num_timesteps == history["best"]["timesteps"]


def fake_results(values: list[float]):
    """Stand-in for evaluate_lm: the own reward takes ``values`` in turn; KL 0.01 each."""
    queue = list(values)

    def evaluate(lm, env, n_examples=None, **kwargs):
        metrics = {"own_reward": queue.pop(0), "kl_to_init_exact": 0.01}
        return EvalResult(metrics, [], 0.0)

    return evaluate


def test_the_best_checkpoint_is_replaced_only_on_a_new_best(
    tiny_lm_dir, tmp_path, tmp_path_factory, monkeypatch
):
    monkeypatch.setattr(callback_module, "evaluate_lm", fake_results([0.1, 0.3, 0.2, 0.25]))
    config = tiny(tiny_lm_dir, out=str(tmp_path_factory.mktemp("run")))  # its tensorboard logs
    model = build_ppo(config)
    best = tmp_path / "best.zip"
    periodic = PeriodicEval(
        make_eval_env(config), 8, best_path=best, history_path=tmp_path / "h.json"
    )
    model.learn(32, callback=periodic)
    assert periodic.best == {"timesteps": 16, "own_reward": 0.3, "kl_to_init_exact": 0.01}
    assert PPO.load(best, device="cpu").num_timesteps == 16
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.zip", "h.json"]  # no temp left
    assert periodic.stop_reason is None


def test_patience_stops_training_after_evaluations_without_improvement(
    tiny_lm_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(callback_module, "evaluate_lm", fake_results([0.2, 0.2, 0.1, 0.9]))
    config = tiny(tiny_lm_dir, out=str(tmp_path))
    model = build_ppo(config)
    periodic = PeriodicEval(make_eval_env(config), 8, patience=2)
    model.learn(80, callback=periodic)
    assert len(periodic.history) == 3 and "patience 2" in periodic.stop_reason
    assert model.num_timesteps < 32  # stopped at the first step after the third evaluation


def test_kl_budget_stops_training(tiny_lm_dir, tmp_path):
    config = tiny(tiny_lm_dir, learning_rate=1e-2, out=str(tmp_path))
    model = build_ppo(config)
    periodic = PeriodicEval(make_eval_env(config), 8, n_examples=2, kl_budget=1e-9)
    model.learn(80, callback=periodic)
    *before, last = [e["kl_to_init_exact"] for e in periodic.history]
    assert periodic.stop_reason.startswith("KL to the initial") and last > 1e-9
    assert all(kl <= 1e-9 for kl in before)  # it stops at the first evaluation over budget
    assert model.num_timesteps == periodic.history[-1]["timesteps"] + config.n_envs < 80


def test_periodic_evaluation_leaves_training_unchanged(tiny_lm_dir, tmp_path):
    config = tiny(tiny_lm_dir, out=str(tmp_path))
    plain = build_ppo(config)  # PPO seeds every generator when it is built
    plain.learn(32)
    watched = build_ppo(config)
    periodic = PeriodicEval(
        make_eval_env(config), 8, n_examples=2, evaluate_kwargs={"samples": 2, "seed": 3}
    )
    watched.learn(32, callback=periodic)
    assert len(periodic.history) == 4
    for a, b in zip(plain.policy.parameters(), watched.policy.parameters(), strict=True):
        assert th.equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"eval_every": 0}, ConfigError, r"eval_every=0 \(--eval-every\) must be an integer >= 1"),
        ({"patience": 0}, ConfigError, r"patience=0 \(--patience\) must be an integer >= 1"),
        ({"kl_budget": -1.0}, ConfigError, r"kl_budget=-1.0 \(--kl-budget\) must be a finite"),
        ({"kl_budget": float("nan")}, ConfigError, "kl_budget=nan"),
        ({"metric": "rouge"}, UnknownNameError, "Did you mean"),
    ],
)
def test_bad_settings_are_clear_errors(tiny_lm_dir, kwargs, error, message):
    env = make_eval_env(tiny(tiny_lm_dir))
    with pytest.raises(error, match=message):
        PeriodicEval(env, **{"eval_every": 8, **kwargs})


def test_patience_and_kl_budget_need_eval_every_in_the_api_and_cli(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"patience \(--patience\) acts on periodic"):
        TrainConfig(patience=3)
    with pytest.raises(ConfigError, match=r"kl_budget \(--kl-budget\) acts on periodic"):
        TrainConfig(kl_budget=0.2)
    out = tmp_path / "out"
    assert main(["train", "--eval-every", "8", "--patience", "0", "--out", str(out)]) == 2
    assert "patience=0 (--patience) must be an integer >= 1" in capsys.readouterr().err
    assert main(["train", "--eval-samples", "-2", "--out", str(out)]) == 2
    assert "eval_samples=-2 (--eval-samples) must be an integer >= 0" in capsys.readouterr().err
    assert not Path(out).exists()


class Killed(Exception):
    """Stands for the process being killed."""


@pytest.fixture
def one_thread():
    """Bitwise-equal runs in this process, as the checkpoint tests have."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def test_a_resumed_run_continues_the_evaluation_history(
    tiny_lm_dir, tmp_path, monkeypatch, one_thread
):
    from textgym.training import trainer

    settings = dict(eval_every=8, checkpoint_every=8, timesteps=40, learning_rate=1e-3)
    ref = train(tiny(tiny_lm_dir, out=str(tmp_path / "ref"), **settings), progress_bar=False)
    run = tiny(tiny_lm_dir, out=str(tmp_path / "cut"), **settings)

    class Interrupted(trainer.EpisodeRewards):
        def _on_step(self) -> bool:
            if self.model.num_timesteps >= 27:  # inside the rollout after the evaluation at 24
                raise Killed
            return super()._on_step()

    with monkeypatch.context() as patch:
        patch.setattr(trainer, "EpisodeRewards", Interrupted)
        with pytest.raises(Killed):
            train(run, progress_bar=False)
    cut = json.loads((tmp_path / "cut" / "eval_history.json").read_text())
    assert [e["timesteps"] for e in cut["evaluations"]] == [8, 16, 24]
    resumed = train(run, progress_bar=False, resume=True)
    assert [e["timesteps"] for e in resumed.evaluations] == [8, 16, 24, 32, 40]
    assert resumed.evaluations == ref.evaluations
    histories = [
        json.loads((tmp_path / d / "eval_history.json").read_text()) for d in ("ref", "cut")
    ]
    assert histories[0] == histories[1]
