"""The reward-comparison grid (`textgym compare`): files, report, manifest, resume, Ray, units."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch as th
from conftest import tiny_train_config

from textgym.cli import main
from textgym.errors import ConfigError, DatasetError, OutputInUseError, UnknownNameError
from textgym.evaluation.kl_to_initial import kl_to_initial
from textgym.experiments import CompareConfig, compare, job
from textgym.experiments.diversity import distinct_n
from textgym.experiments.metrics import BEHAVIOUR, HELD_OUT
from textgym.models import load_causal_lm
from textgym.output_lock import locked
from textgym.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
REWARDS, SEEDS = ("rouge1", "bleu"), (0, 1)
NAMES = ["rouge1__seed0", "rouge1__seed1", "bleu__seed0", "bleu__seed1"]
RUN_JOB = job.run_job  # the real per-run function, before any test replaces it


def tiny_base(model: str) -> TrainConfig:
    return tiny_train_config(model, timesteps=16, eval_examples=3)


def tiny_config(model: str, out: Path, **kwargs) -> CompareConfig:
    return CompareConfig(
        rewards=REWARDS, seeds=SEEDS, base=tiny_base(model), out=str(out), **kwargs
    )


class CountingJob:
    """Stands in for job.run_job: records the runs it is asked for; can die on call `kill_at`."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.kill_at = kill_at

    def __call__(self, config, spec, threads=None):
        self.calls.append(spec.name)
        if len(self.calls) == self.kill_at:
            spec.path.mkdir(parents=True)
            (spec.path / "manifest.json").write_text("{}")  # what a killed run leaves behind
            raise KeyboardInterrupt("killed mid-grid")
        return RUN_JOB(config, spec, threads)


@pytest.fixture(scope="module")
def grid(tiny_lm_dir, tmp_path_factory):
    """Run the grid killed at its third run, then resume it; keep what each step saw."""
    out = tmp_path_factory.mktemp("compare")
    config = tiny_config(tiny_lm_dir, out)
    mp = pytest.MonkeyPatch()
    mp.chdir(out)  # not a git checkout: the manifest's git_revision is None
    try:
        first = CountingJob(kill_at=3)
        mp.setattr(job, "run_job", first)
        with pytest.raises(KeyboardInterrupt):
            compare(config)
        finished = {n: (out / "runs" / n / "run.json") for n in NAMES[:2]}
        before = {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in finished.items()}
        leftovers = sorted(p.name for p in (out / "runs" / NAMES[2]).iterdir())
        second = CountingJob()
        mp.setattr(job, "run_job", second)
        result = compare(config)
        after = {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in finished.items()}
        third = CountingJob()
        mp.setattr(job, "run_job", third)
        again = compare(config)
    finally:
        mp.undo()
    return SimpleNamespace(
        out=out,
        first=first,
        second=second,
        third=third,
        before=before,
        after=after,
        leftovers=leftovers,
        result=result,
        again=again,
    )


def test_killed_grid_resumes_without_losing_or_repeating_a_run(grid):
    assert grid.first.calls == NAMES[:3]
    assert grid.leftovers == ["manifest.json"]
    assert grid.second.calls == NAMES[2:]  # only the missing runs were trained
    assert grid.before == grid.after  # finished results untouched
    assert grid.result.trained == NAMES[2:] and grid.result.skipped == NAMES[:2]
    assert grid.result.pending == []
    assert grid.third.calls == [] and grid.again.trained == []
    assert sorted(r["run"] for r in grid.again.records) == sorted(NAMES)


def test_grid_writes_every_file(grid):
    out = grid.out
    for name in NAMES:
        run = out / "runs" / name
        for file in ("run.json", "manifest.json", "metrics.json", "reward_curve.png"):
            assert (run / file).is_file(), (name, file)
        record = json.loads((run / "run.json").read_text())
        assert record["episode_rewards"] and record["config"]["timesteps"] == 16
        per_example = record["per_example"]
        assert record["example_ids"] == ["sum-test-0001", "sum-test-0002", "sum-test-0003"]
        for policy in ("initial", "trained"):
            assert len(per_example[policy]["rouge1"]) == 3
            assert len(record["bleu_stats"][policy]) == 3
        assert per_example["initial"]["kl_to_init_exact"] == [0.0, 0.0, 0.0]
    for png in ("gain_matrix.png", "training_curves.png", "reward_vs_kl.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "results.csv").open()))
    metrics = {*HELD_OUT, *BEHAVIOUR}
    assert {(r["run"], r["metric"]) for r in rows} == {(n, m) for n in NAMES for m in metrics}
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    assert len(results["runs"]) == 4 and len(summary) == 2 * len(metrics)
    assert all(s["n_seeds"] == 2 and s["ci95_low"] <= s["ci95_high"] for s in summary)
    bootstrapped = {s["metric"] for s in summary if s["method"] == "bootstrap"}
    assert bootstrapped == metrics - {"distinct_1", "distinct_2", "perplexity"}
    assert all(s["n_examples"] == 3 for s in summary if s["method"] == "bootstrap")
    assert set(results["verdicts"]) == set(REWARDS)


def test_only_the_reward_and_seed_differ_between_runs(grid):
    configs = [
        json.loads((grid.out / "runs" / n / "run.json").read_text())["config"] for n in NAMES
    ]
    varied = {"reward", "seed", "out"}
    shared = [{k: v for k, v in c.items() if k not in varied} for c in configs]
    assert all(s == shared[0] for s in shared)
    assert {(c["reward"], c["seed"]) for c in configs} == {(r, s) for r in REWARDS for s in SEEDS}


def test_report_has_every_cell_with_a_ci(grid):
    text = (grid.out / "report.md").read_text()
    lines = text.splitlines()
    for reward in REWARDS:
        rows = [line for line in lines if line.startswith(f"| {reward} |")][:2]
        cells = [c for row in rows for c in row.strip("|").split("|")[1:]]
        assert len(cells) == len(HELD_OUT) + len(BEHAVIOUR)
        assert all("[" in c and ("sig" in c or "n.s." in c) and "MDE" in c for c in cells)
        assert any(line.startswith(f"- **{reward}**: ") for line in lines)  # a verdict
    for metric in (*HELD_OUT, *BEHAVIOUR):
        assert metric in text
    assert "only 3 held-out examples" in text  # fewer than the 100 recommended
    assert "2 seeds (at least 5 recommended)" in text and "KL penalty off" in text
    signal = [line for line in lines if line.startswith(f"| {REWARDS[0]} |")]
    assert len(signal) == 3  # held-out metrics, behaviour, gradient signal
    assert "## Gradient signal" in text and signal[-1].endswith("| 0 |")  # no run stopped
    assert "## Ranking" in text  # two configurations
    assert "Reward hacking" in text and "![gain_matrix](gain_matrix.png)" in text


def test_manifest_records_what_a_rerun_needs(grid):
    manifest = json.loads((grid.out / "runs" / NAMES[1] / "manifest.json").read_text())
    assert manifest["config"]["seed"] == 1 and manifest["config"]["reward"] == "rouge1"
    assert manifest["seeds"] == {"ppo": 1, "envs": [1, 2]}
    versions = manifest["versions"]
    assert set(versions) == {"textgym", "torch", "transformers", "stable-baselines3", "gymnasium"}
    assert all(versions.values())
    assert len(manifest["dataset_sha256"]) == 64 and manifest["git_revision"] is None
    other = json.loads((grid.out / "runs" / NAMES[2] / "manifest.json").read_text())
    assert other["dataset_sha256"] == manifest["dataset_sha256"]


def test_report_only_and_changed_settings(grid, tiny_lm_dir, capsys):
    assert main(["compare", "--report-only", "--out", str(grid.out)]) == 0
    assert "report.md" in capsys.readouterr().out
    changed = tiny_config(tiny_lm_dir, grid.out)
    changed.base.timesteps = 32
    with pytest.raises(ConfigError, match="timesteps: 16 -> 32"):
        compare(changed)


def test_a_failing_run_still_leaves_the_report_of_finished_runs(grid, tiny_lm_dir, monkeypatch):
    def crash(config, spec, threads=None):
        raise RuntimeError(f"{spec.name} crashed")

    monkeypatch.setattr(job, "run_job", crash)
    (grid.out / "report.md").unlink()
    extended = tiny_config(tiny_lm_dir, grid.out)
    extended.rewards = (*REWARDS, "chrf")  # the grid grows by a reward
    with pytest.raises(RuntimeError, match="chrf__seed0 crashed"):
        compare(extended)
    assert "| rouge1 |" in (grid.out / "report.md").read_text()
    assert not (grid.out / "runs" / "chrf__seed0").exists()


def test_max_runs_stops_early_and_unknown_reward_fails_first(tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = CountingJob()
    monkeypatch.setattr(job, "run_job", calls)
    config = tiny_config(tiny_lm_dir, tmp_path, max_runs=1)
    config.rewards = ("rouge1",)
    config.seeds = (0, 1)
    result = compare(config)
    assert calls.calls == ["rouge1__seed0"] and result.pending == ["rouge1__seed1"]
    bad = tiny_config(tiny_lm_dir, tmp_path / "bad")
    bad.rewards = ("rougel",)
    with pytest.raises(UnknownNameError, match="Did you mean 'rougeL'"):
        compare(bad)
    assert calls.calls == ["rouge1__seed0"]


def test_a_failed_first_compare_records_no_settings_and_can_be_rerun(
    tiny_lm_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    bad = tiny_config(tiny_lm_dir, out)
    bad.base.dataset = str(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="missing.jsonl"):
        compare(bad)
    assert not (out / "compare.json").exists() and not (out / "runs").exists()
    (out / "compare.json").write_text('{"timesteps": 999}')  # an older attempt's record
    fixed = tiny_config(tiny_lm_dir, out, max_runs=0)  # train nothing: only the checks run
    with pytest.raises(ConfigError, match="No finished run"):  # not "other settings"
        compare(fixed)
    assert json.loads((out / "compare.json").read_text())["timesteps"] == 16


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "0,-2"], "seed -2 is negative"),
        (["--seeds", "0,,1"], "'0,,1' has an empty item"),
        (["--seeds", "0"], "a single number is a count of seeds"),
        (["--seeds=-1"], "seeds are integers >= 0, and a single number is a count"),
        (["--max-runs", "-1"], "max_runs=-1 (--max-runs) must be an integer >= 0"),
        (["--workers", "0"], "workers=0 (--workers) must be an integer >= 1"),
        (["--n-envs", "0"], "n_envs=0 (--n-envs) must be an integer >= 1"),
        (["--batch-size", "0"], "batch_size=0 (--batch-size) must be an integer >= 1"),
        (["--eval-examples", "-1"], "eval_examples=-1 (--eval-examples)"),
        (["--kl-coef", "-1"], "kl_coef=-1.0 (--kl-coef) must be a finite number >= 0"),
        (["--env", "TextSumarize-v0"], "Did you mean 'TextSummarize-v0'"),
        (["--advantage", "rloo"], "needs group_size >= 2"),
        (["--group-size", "3", "--n-envs", "8"], "does not divide n_envs=8"),
        (["--eval-every", "8", "--patience", "0"], "patience=0 (--patience) must be an integer"),
        (["--kl-budget", "0.1"], "eval_every (--eval-every) is unset"),
        (["--grid", "learning_rat=1e-5"], "Did you mean 'learning_rate'"),
        (["--grid", "learning_rate="], "'' is empty"),
        (["--grid", "learning_rate=1e-5,,2e-5"], "has an empty item"),
        (["--grid", "group_size=2.5"], "group_size takes whole numbers"),
        (["--grid", "learning_rate=1e-6..1e-4"], "a grid needs a list of values"),
        (["--grid", "seed=1,2"], "use --rewards and --seeds"),
        (["--grid", "group_size=1,3"], "Sweep point group_size=3: group_size=3"),
        (["--grid", "kl_coef=0", "--grid", "kl_coef=1"], "gives 'kl_coef' twice"),
        (["--search", "tpe"], "at least one axis"),
        (["--rank-by", "rouge"], "Did you mean"),
    ],
)
def test_bad_compare_options_fail_before_anything_is_written(flags, message, tmp_path, capsys):
    out = tmp_path / "out"
    try:
        code = main(["compare", "--rewards", "rouge1", "--out", str(out), *flags])
    except SystemExit as exc:  # a usage error, found by the parser
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_compare_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "out").write_text("mine")
    assert main(["compare", "--rewards", "rouge1", "--out", str(tmp_path / "out")]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "mine"


def test_ray_backend_without_ray_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    code = main(["compare", "--backend", "ray", "--rewards", "rouge1", "--out", str(tmp_path)])
    assert code == 2 and "pip install textgym[ray]" in capsys.readouterr().err


def test_ray_backend(tiny_lm_dir, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install textgym[ray]")
    monkeypatch.chdir(tmp_path)
    # Ray >= 2.5x dropped local_mode: then a one-CPU local cluster (worker processes) it is
    options = {"num_cpus": 1, "include_dashboard": False, "log_to_driver": False}
    try:
        ray.init(local_mode=True, **options)
    except RuntimeError:  # "`local_mode` is no longer supported"
        ray.init(**options)
    try:
        config = tiny_config(tiny_lm_dir, tmp_path, backend="ray")
        config.rewards, config.seeds = ("chrf",), (0,)
        result = compare(config)
    finally:
        ray.shutdown()
    assert result.trained == ["chrf__seed0"]
    run = tmp_path / "runs" / "chrf__seed0"
    (record,) = result.records  # the task trained in a scratch folder; the driver wrote these
    assert record["config"]["out"] == str(run) and record["files"]["sb3"] == str(run / "ppo.zip")
    assert (run / "ppo.zip").is_file() and (run / "hf_model").is_dir()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["out"] == str(run)
    assert len(list((tmp_path / "initial_evals").iterdir())) == 1
    assert "| chrf |" in (tmp_path / "report.md").read_text()


def test_example_script_runs(tiny_lm_dir, tmp_path):
    args = ["--model", tiny_lm_dir, "--rewards", "rouge1", "--seeds", "1", "--tiny"]
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "compare_rewards.py"),
            *args,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "report:" in done.stdout and (tmp_path / "report.md").is_file()


def test_second_compare_on_one_out_is_refused_until_the_first_ends(
    tiny_lm_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = tiny_config(tiny_lm_dir, tmp_path / "out")
    config.rewards, config.seeds = ("rouge1",), (0,)
    started, release = threading.Event(), threading.Event()

    def slow_job(config, spec, threads=None):
        started.set()
        release.wait(60)
        return RUN_JOB(config, spec, threads)

    monkeypatch.setattr(job, "run_job", slow_job)
    with ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(compare, config)
            assert started.wait(60)
            with pytest.raises(OutputInUseError) as error:
                compare(config)
        finally:
            release.set()
        assert first.result(timeout=300).trained == ["rouge1__seed0"]
    message = str(error.value)
    assert f"pid {os.getpid()} on {socket.gethostname()}, since " in message
    assert str(tmp_path / "out") in message and "another --out" in message
    again = compare(config)  # the first compare ended: the folder is usable again
    assert again.trained == [] and again.skipped == ["rouge1__seed0"]


FAKE_COMPARE = """
import json, os, sys, time
from textgym.output_lock import locked
from textgym.experiments.runner import worker_pool

def pid_after(seconds):
    time.sleep(seconds)
    return os.getpid()

if __name__ == "__main__":
    with locked(sys.argv[1]), worker_pool(2) as pool:
        pids = set()
        while len(pids) < 2:  # until both workers are up and have run a job
            pids |= {f.result() for f in [pool.submit(pid_after, 0.2) for _ in range(2)]}
        for _ in range(4):  # a long run in each worker, and queued ones
            pool.submit(time.sleep, 60)
        print(json.dumps(sorted(pids)), flush=True)
        time.sleep(60)
"""


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state not in ("Z", "X")
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigkilled_compare_leaves_no_worker_and_no_lock(tmp_path, capsys):
    out, script = tmp_path / "out", tmp_path / "fake_compare.py"
    script.write_text(FAKE_COMPARE)
    parent = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE)
    workers: list[int] = []
    try:
        workers = json.loads(parent.stdout.readline())
        assert len(workers) == 2 and all(running(pid) for pid in workers)
        assert main(["compare", "--rewards", "rouge1", "--out", str(out)]) == 2
        assert f"in use by another textgym compare (pid {parent.pid} on" in capsys.readouterr().err
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(map(running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if running(pid)]
        with locked(out):  # the lock died with its owner: a re-run may start
            pass
    finally:
        parent.kill()
        for pid in filter(running, workers):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------- units
class Bigram(th.nn.Module):
    """A causal LM whose next-token logits depend on the last token only."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = th.nn.Parameter(th.tensor(table))

    def forward(self, input_ids: th.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table[input_ids])


def test_kl_to_initial_is_zero_for_identical_models(tiny_lm_dir):
    a, b = load_causal_lm(tiny_lm_dir), load_causal_lm(tiny_lm_dir)
    kl = kl_to_initial(a, b, [([3, 4, 5], [6, 7, 1]), ([8], [9])])
    assert kl.n_tokens == 4 and kl.log_ratio == pytest.approx(0) and kl.exact == pytest.approx(0)


def test_kl_to_initial_by_hand():
    ln3 = math.log(3)
    # trained: p(.|0) = (.5, .5), p(.|1) = (.25, .75); initial: the two rows swapped
    trained = Bigram([[0.0, 0.0], [0.0, ln3]])
    initial = Bigram([[0.0, ln3], [0.0, 0.0]])
    kl = kl_to_initial(trained, initial, [([0], [1, 0])])
    # token 1 after 0: log .5 - log .75; token 0 after 1: log .25 - log .5
    assert kl.log_ratio == pytest.approx((math.log(0.5 / 0.75) + math.log(0.25 / 0.5)) / 2)
    kl_0 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl_1 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert kl.exact == pytest.approx((kl_0 + kl_1) / 2)
    assert kl.n_tokens == 2


def test_distinct_n_by_hand():
    texts = ["a b a", "a b", ""]
    assert distinct_n(texts, 1) == pytest.approx(2 / 5)  # a b a a b
    assert distinct_n(texts, 2) == pytest.approx(2 / 3)  # ab ba ab
    assert distinct_n(["a"], 2) == 0.0
    with pytest.raises(ValueError, match="n >= 1"):
        distinct_n(texts, 0)


def test_runs_share_one_evaluation_of_the_initial_policy(tiny_lm_dir, tmp_path, monkeypatch):
    from textgym.training import trainer

    calls = []
    real = trainer.evaluate_held_out
    monkeypatch.setattr(
        trainer, "evaluate_held_out", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    config = CompareConfig(
        rewards=("rouge1",), seeds=(0, 1), base=tiny_base(tiny_lm_dir), out=str(tmp_path)
    )
    records = compare(config).records
    assert len(calls) == 3  # one initial evaluation, two trained ones
    assert len(list((tmp_path / "initial_evals").iterdir())) == 1
    assert records[0]["per_example"]["initial"] == records[1]["per_example"]["initial"]


def test_initial_eval_key_changes_only_with_what_the_evaluation_reads(tiny_lm_dir):
    from dataclasses import replace

    from textgym.experiments.initial_eval import initial_eval_key

    base = tiny_base(tiny_lm_dir)
    key = initial_eval_key(base)
    for same in ({"learning_rate": 1e-3}, {"seed": 3}, {"kl_coef": 0.1}, {"timesteps": 64}):
        assert initial_eval_key(replace(base, **same)) == key
    for other in ({"eval_examples": 2}, {"reward": "bleu"}, {"max_new_tokens": 2}):
        assert initial_eval_key(replace(base, **other)) != key
    sampled = replace(base, eval_samples=2)
    assert initial_eval_key(sampled) != initial_eval_key(replace(sampled, seed=1))


def test_no_keep_models_deletes_only_the_runs_weights(tiny_lm_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"  # the user's working folder, with a file of theirs
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    monkeypatch.chdir(home)
    config = CompareConfig(
        rewards=("rouge1",),
        seeds=(0,),
        base=tiny_base(tiny_lm_dir),
        out=str(home / "cmp"),
        keep_models=False,
    )
    (record,) = compare(config).records
    assert (home / "notes.txt").read_text() == "mine"
    run = home / "cmp" / "runs" / record["run"]
    assert not (run / "ppo.zip").exists() and not (run / "hf_model").exists()
    assert (run / "run.json").is_file() and (run / "metrics.json").is_file()
    assert not set(record["files"]) & set(job.MODEL_FILES)


def test_drop_models_leaves_paths_outside_the_run_alone(tmp_path):
    run = tmp_path / "run"
    (run / "hf_model").mkdir(parents=True)
    (run / "ppo.zip").write_text("w")
    outside = tmp_path / "elsewhere.zip"
    outside.write_text("keep")
    files = {"sb3": str(run / "ppo.zip"), "hf": str(run / "hf_model"), "best": str(outside)}
    left = job.drop_models({**files, "metrics": str(run / "m.json")}, run)
    assert left == {"metrics": str(run / "m.json")}
    assert not (run / "ppo.zip").exists() and not (run / "hf_model").exists()
    assert outside.read_text() == "keep"
    assert job.drop_models({"hf": str(run)}, run) == {} and run.is_dir()
