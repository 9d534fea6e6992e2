"""Sweeps beyond reward × seed: grid axes, folder names, resume, ranking, Optuna search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_train_config

from textgym.atomic import write_json_atomic
from textgym.cli import main
from textgym.errors import ConfigError, UnknownNameError
from textgym.evaluation import EVAL_METRICS
from textgym.experiments import CompareConfig, compare, job
from textgym.experiments.axes import Range, parse_axis
from textgym.experiments.search import SEARCH_FILE
from textgym.training import TrainConfig

RUN_JOB = job.run_job
PER_EXAMPLE = (*EVAL_METRICS, "own_reward", "kl_to_init_exact", "kl_to_init", "ref_nll")
PER_EXAMPLE += ("mean_new_tokens",)
RUN_LEVEL = ("corpus_bleu", "perplexity", "distinct_1", "distinct_2")


def base(model: str, **overrides) -> TrainConfig:
    return tiny_train_config(model, **{"timesteps": 12, "n_steps": 3, "batch_size": 6, **overrides})


# ------------------------------------------------------------------------------- axes
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("learning_rate=1e-5,5e-6", ("learning_rate", (1e-5, 5e-6))),
        ("group_size=1, 4", ("group_size", (1, 4))),
        ("kl_coef=none,0.05", ("kl_coef", (None, 0.05))),
        ("advantage=gae,rloo", ("advantage", ("gae", "rloo"))),
        ("learning_rate=1e-6..1e-4:log", ("learning_rate", Range(1e-6, 1e-4, log=True))),
        ("group_size=1..8", ("group_size", Range(1, 8))),
    ],
)
def test_parse_axis(text, expected):
    name, axis = parse_axis(text)
    assert (name, axis) == expected
    if isinstance(axis, tuple):  # parsed by the setting's type: 1 stays an int
        assert [type(v) for v in axis] == [type(v) for v in expected[1]]


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("learning_rat=1e-5", UnknownNameError, "Did you mean 'learning_rate'"),
        ("learning_rate", ConfigError, "must be NAME=VALUES"),
        ("learning_rate=", ConfigError, "'' is empty"),
        ("learning_rate=1e-5,,2e-5", ConfigError, "has an empty item"),
        ("group_size=2.5", ConfigError, "group_size takes whole numbers"),
        ("learning_rate=fast", ConfigError, "learning_rate takes numbers"),
        ("kl_coef=big", ConfigError, r"kl_coef takes numbers \(or none\)"),
        ("ppo_kwargs=1", ConfigError, "not a single number or string"),
        ("seed=1,2", ConfigError, "use --rewards and --seeds"),
    ],
)
def test_bad_axes_are_clear_errors(text, error, message):
    with pytest.raises(error, match=message):
        parse_axis(text)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"learning_rate": ()}, "has no values"),
        ({"learning_rate": ("1e-5",)}, "'1e-5' is a str; learning_rate takes a finite number"),
        ({"group_size": (True,)}, "True is a bool; group_size takes an integer"),
        ({"learning_rate": (1e-5, 1e-5)}, "lists a value twice"),
        ({"learning_rate": Range(1e-6, 1e-4)}, "a grid needs a list of values"),
        ({"group_size": (1, 3)}, "Sweep point group_size=3: group_size=3"),
    ],
)
def test_bad_grids_fail_when_the_config_is_made(tiny_lm_dir, grid, message):
    with pytest.raises(ConfigError, match=message):
        CompareConfig(rewards=("rouge1",), base=base(tiny_lm_dir), grid=grid)


def test_bad_ranges_in_a_search(tiny_lm_dir):
    for axis, message in [
        (Range(1e-4, 1e-6), "needs low < high"),
        (Range(0.0, 1e-4, log=True), "low > 0 on a log scale"),
    ]:
        with pytest.raises(ConfigError, match=message):
            CompareConfig(
                rewards=("rouge1",),
                base=base(tiny_lm_dir),
                grid={"learning_rate": axis},
                search="tpe",
            )


def test_plan_names_every_run_by_its_settings(tiny_lm_dir, tmp_path):
    config = CompareConfig(
        rewards=("rouge1",),
        seeds=(0, 1),
        base=base(tiny_lm_dir),
        out=str(tmp_path),
        grid={"learning_rate": (1e-5, 5e-6), "group_size": (1, 2)},
    )
    names = [spec.name for spec in config.plan()]
    assert len(names) == len(set(names)) == 8
    assert names[:3] == [
        "rouge1__learning_rate=1e-05__group_size=1__seed0",
        "rouge1__learning_rate=1e-05__group_size=1__seed1",
        "rouge1__learning_rate=1e-05__group_size=2__seed0",
    ]
    spec = config.plan()[-1]
    trained = config.train_config(spec)
    assert (trained.learning_rate, trained.group_size, trained.seed) == (5e-6, 2, 1)
    assert spec.cell == "rouge1 (learning_rate=5e-06, group_size=2)"
    shared = config.shared_settings()
    assert "learning_rate" not in shared and "group_size" not in shared and "n_envs" in shared


# ------------------------------------------------------------------ fake runs, resume
def fake_record(config: CompareConfig, spec) -> dict:
    """A run's record with per-example data; its gain grows with learning_rate."""
    rng = np.random.default_rng(spec.seed)
    shift = 1e3 * config.train_config(spec).learning_rate
    initial = {m: rng.uniform(0, 0.5, 20) for m in PER_EXAMPLE}
    trained = {m: v + shift + rng.normal(0, 0.01, 20) for m, v in initial.items()}
    means = {
        key: {m: float(v.mean()) for m, v in d.items()}
        for key, d in (("i", initial), ("t", trained))
    }
    return {
        "run": spec.name,
        "cell": spec.cell,
        "reward": spec.reward,
        "settings": dict(spec.settings),
        "seed": spec.seed,
        "config": {"model": "fake", "learning_rate": config.train_config(spec).learning_rate},
        "initial": {**means["i"], **dict.fromkeys(RUN_LEVEL, 0.5)},
        "trained": {**means["t"], **dict.fromkeys(RUN_LEVEL, 0.5 + shift)},
        "per_example": {
            "initial": {m: list(v) for m, v in initial.items()},
            "trained": {m: list(v) for m, v in trained.items()},
        },
        "example_ids": [str(i) for i in range(20)],
        "samples": 0,
        "episode_rewards": [0.0, shift],
        "files": {},
    }


class FakeJob:
    """Stands in for job.run_job: writes a synthetic run.json; can die on call ``kill_at``."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.kill_at = kill_at

    def __call__(self, config, spec, threads=None):
        self.calls.append(spec.name)
        spec.path.mkdir(parents=True, exist_ok=True)
        (spec.path / "manifest.json").write_text("{}")
        if len(self.calls) == self.kill_at:
            raise KeyboardInterrupt("killed mid-sweep")
        record = fake_record(config, spec)
        write_json_atomic(spec.path / "run.json", record)
        return record


def sweep_config(model: str, out: Path, **kwargs) -> CompareConfig:
    grid = kwargs.pop("grid", {"learning_rate": (1e-5, 5e-5, 2e-5)})
    return CompareConfig(
        rewards=("rouge1",), seeds=(0, 1), base=base(model), out=str(out), grid=grid, **kwargs
    )


def test_an_interrupted_sweep_resumes_without_losing_or_repeating_a_run(
    tiny_lm_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = sweep_config(tiny_lm_dir, tmp_path / "out")
    names = [spec.name for spec in config.plan()]
    first = FakeJob(kill_at=4)
    monkeypatch.setattr(job, "run_job", first)
    with pytest.raises(KeyboardInterrupt):
        compare(config)
    finished = {n: (tmp_path / "out" / "runs" / n / "run.json").read_bytes() for n in names[:3]}
    second = FakeJob()
    monkeypatch.setattr(job, "run_job", second)
    result = compare(config)
    assert first.calls == names[:4] and second.calls == names[3:]
    assert result.skipped == names[:3] and result.pending == [] and len(result.records) == 6
    for name, content in finished.items():
        assert (tmp_path / "out" / "runs" / name / "run.json").read_bytes() == content
    report = (tmp_path / "out" / "report.md").read_text()
    ranking = [line for line in report.splitlines() if line.startswith("| 1 |")]
    assert ranking and "rouge1 (learning_rate=5e-05)" in ranking[0] and "**sig**" in ranking[0]
    order = json.loads((tmp_path / "out" / "results.json").read_text())["ranking"]["order"]
    assert order == [f"rouge1 (learning_rate={v})" for v in ("5e-05", "2e-05", "1e-05")]


def test_a_real_tiny_sweep_from_the_cli(tiny_lm_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    args = ["compare", "--model", tiny_lm_dir, "--rewards", "rouge1", "--seeds", "1"]
    args += ["--timesteps", "12", "--n-envs", "2", "--n-steps", "3", "--batch-size", "6"]
    args += ["--n-epochs", "1", "--max-new-tokens", "3", "--max-prompt-tokens", "64"]
    args += ["--eval-examples", "2", "--device", "cpu", "--out", str(out)]
    args += ["--grid", "learning_rate=1e-3,1e-5", "--eval-every", "6"]
    assert main(args) == 0
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["rouge1__learning_rate=0.001__seed0", "rouge1__learning_rate=1e-05__seed0"]
    record = json.loads((out / "runs" / runs[0] / "run.json").read_text())
    assert (
        record["settings"] == {"learning_rate": 0.001}
        and record["config"]["learning_rate"] == 0.001
    )
    assert [e["timesteps"] for e in record["evaluations"]] == [6, 12]  # rollouts of 6
    assert Path(record["files"]["best"]).is_file()
    assert "learning_rate" not in json.loads((out / "compare.json").read_text())
    assert "## Ranking by held-out gain in own_reward" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(args) == 0  # resumes: nothing left to train
    assert "trained 0 runs, skipped 2 finished" in capsys.readouterr().out


# ----------------------------------------------------------------------------- search
def search_config(model: str, out: Path, **kwargs) -> CompareConfig:
    grid = {"learning_rate": Range(1e-5, 1e-4, log=True), "n_epochs": (1, 2)}
    return sweep_config(
        model, out, grid=grid, search=kwargs.pop("search", "tpe"), trials=4, **kwargs
    )


def test_search_needs_optuna_and_one_reward(tiny_lm_dir, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="exactly one reward"):
        CompareConfig(
            rewards=("rouge1", "bleu"),
            base=base(tiny_lm_dir),
            grid={"n_epochs": (1, 2)},
            search="tpe",
        )
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError, match=r"pip install textgym\[search\]"):
        compare(search_config(tiny_lm_dir, tmp_path / "out"))
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.parametrize("kind", ["tpe", "random"])
def test_an_interrupted_search_resumes_without_losing_or_repeating_a_run(
    kind, tiny_lm_dir, tmp_path, monkeypatch
):
    pytest.importorskip("optuna", reason="Optuna is not installed: pip install textgym[search]")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    config = search_config(tiny_lm_dir, out, search=kind)
    first = FakeJob(kill_at=4)  # dies in the second seed of the second trial
    monkeypatch.setattr(job, "run_job", first)
    with pytest.raises(KeyboardInterrupt):
        compare(config)
    state = json.loads((out / SEARCH_FILE).read_text())
    assert len(state["trials"]) == 2
    second = FakeJob()
    monkeypatch.setattr(job, "run_job", second)
    result = compare(config)
    finished_first = first.calls[:3]
    assert second.calls[0] == first.calls[3]  # the interrupted trial is finished, not redrawn
    assert not set(finished_first) & set(second.calls)
    state = json.loads((out / SEARCH_FILE).read_text())
    assert len(state["trials"]) == 4 and result.pending == []
    expected = {
        f"rouge1__learning_rate={t['learning_rate']!r}__n_epochs={t['n_epochs']}__seed{s}"
        for t in state["trials"]
        for s in (0, 1)
    }
    assert {r["run"] for r in result.records} == expected
    assert len(first.calls) - 1 + len(second.calls) == len(expected)  # each run trained once
    assert all(1e-5 <= t["learning_rate"] <= 1e-4 for t in state["trials"])
    again = FakeJob()
    monkeypatch.setattr(job, "run_job", again)
    assert compare(config).trained == [] and again.calls == []


def test_resuming_a_search_with_another_space_is_refused(tiny_lm_dir, tmp_path, monkeypatch):
    pytest.importorskip("optuna", reason="Optuna is not installed: pip install textgym[search]")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(job, "run_job", FakeJob())
    compare(search_config(tiny_lm_dir, tmp_path / "out", max_runs=2))
    changed = search_config(tiny_lm_dir, tmp_path / "out")
    changed.grid = {"learning_rate": Range(1e-6, 1e-4, log=True), "n_epochs": (1, 2)}
    with pytest.raises(ConfigError, match="records another search"):
        compare(changed)
