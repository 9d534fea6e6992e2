"""GPU-aware sweeps on the CPU: GPU slots of local workers, Ray with declared GPUs, retries.

The Ray tests start Ray with two declared GPUs (``ray.init(num_gpus=2)``: Ray hands them
out and sets ``CUDA_VISIBLE_DEVICES`` whether or not they exist) and a stand-in for
``job.run_job``; they are skipped when Ray (``textgym[ray]``) is not installed.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import tiny_train_config

from textgym.errors import ConfigError
from textgym.experiments import CompareConfig, compare, gpus, runner
from textgym.experiments.ray_backend import check_address
from textgym.experiments.transfer import run_in_scratch, store_run

NAMES = ["rouge1__seed0", "rouge1__seed1", "bleu__seed0", "bleu__seed1"]


def config_for(model: str, out: Path, **kwargs) -> CompareConfig:
    base = tiny_train_config(model, timesteps=16, eval_examples=3)
    return CompareConfig(
        rewards=("rouge1", "bleu"), seeds=(0, 1), base=base, out=str(out), **kwargs
    )


class FakeJob:
    """Stands in for job.run_job: writes a run's files and record without training.

    Every attempt is logged in ``markers/<run>.attempts``; the first attempt of a run in
    ``kill`` ends its process (``os._exit``). Each run waits until ``together`` runs have
    started, so the first ones surely overlap.
    """

    def __init__(self, markers: Path, kill: tuple[str, ...] = (), together: int = 1) -> None:
        self.markers, self.kill, self.together = markers, kill, together

    def __call__(self, config, spec, threads=None):
        attempts = self.markers / f"{spec.name}.attempts"
        with attempts.open("a") as handle:
            handle.write(f"{os.getpid()}\n")
        if spec.name in self.kill and len(attempts.read_text().split()) == 1:
            os._exit(1)  # the worker process dies mid-run
        start = time.time()
        (self.markers / f"{spec.name}.started").touch()
        (self.markers / f"{spec.name}.path").write_text(str(spec.path))
        deadline = time.monotonic() + 60
        while len(list(self.markers.glob("*.started"))) < self.together:
            assert time.monotonic() < deadline, "the runs did not start together"
            time.sleep(0.05)
        time.sleep(0.3)
        spec.path.mkdir(parents=True)
        (spec.path / "metrics.json").write_text(json.dumps({"run": spec.name}))
        (spec.path / "ppo.zip").write_bytes(b"weights of " + spec.name.encode())
        initial = Path(config.out) / "initial_evals" / "key.json"
        if not initial.exists():
            initial.parent.mkdir(parents=True, exist_ok=True)
            initial.write_text(json.dumps({"by": spec.name}))
        record = {
            "run": spec.name,
            "cell": spec.cell,
            "reward": spec.reward,
            "seed": spec.seed,
            "settings": dict(spec.settings),
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "start": start,
            "end": time.time(),
            "files": {
                "metrics": str(spec.path / "metrics.json"),
                "sb3": str(spec.path / "ppo.zip"),
            },
        }
        (spec.path / "run.json").write_text(json.dumps(record))
        return record


# ------------------------------------------------------------------ settings and local GPUs
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"gpus_per_run": -1}, "must be a number >= 0"),
        ({"gpus_per_run": math.nan}, "must be a number >= 0"),
        ({"gpus_per_run": True}, "must be a number >= 0"),
        ({"gpus_per_run": 1.5}, "above 1 it must be a whole number"),
        ({"gpus_per_run": 0.3}, "other fractions need --backend ray"),
        ({"backend": "ray", "gpus_per_run": 1e-5}, "below the smallest share"),
        ({"ray_address": "10.0.0.1:6379"}, "add --backend ray"),
        ({"backend": "ray", "ray_address": " "}, "must be the head's address"),
    ],
)
def test_bad_gpu_settings_are_refused(settings, message, tiny_lm_dir, tmp_path):
    with pytest.raises(ConfigError, match=message):
        config_for(tiny_lm_dir, tmp_path / "out", **settings)


def test_gpu_settings_accepted_and_not_shared(tiny_lm_dir, tmp_path):
    plain = config_for(tiny_lm_dir, tmp_path)
    for settings in ({"gpus_per_run": 0.5}, {"gpus_per_run": 2}, {"gpus_per_run": 0.25}):
        assert replace(plain, **settings).shared_settings() == plain.shared_settings()
    on_ray = replace(plain, backend="ray", gpus_per_run=0.3, ray_address="10.0.0.1:6379")
    assert on_ray.shared_settings() == plain.shared_settings()  # an out folder stays usable


def test_local_gpu_slots_are_round_robin():
    two = ["0", "1"]
    assert gpus.gpu_slots(two, 1, 4) == ["0", "1"]  # at most one run per GPU
    assert gpus.gpu_slots(two, 1, 1) == ["0"]
    assert gpus.gpu_slots(two, 0.5, 4) == ["0", "1", "0", "1"]
    assert gpus.gpu_slots(two, 0.5, 3) == ["0", "1", "0"]
    assert gpus.gpu_slots(["3", "5"], 0.25, 9) == ["3", "5"] * 4  # 8: four runs per GPU
    assert gpus.gpu_slots(["0", "1", "2", "3"], 2, 4) == ["0,1", "2,3"]
    assert gpus.gpu_slots(["0", "1", "2"], 2, 4) == ["0,1"]
    with pytest.raises(ConfigError, match="needs 3 GPU"):
        gpus.gpu_slots(two, 3, 1)


def test_visible_gpus_respect_cuda_visible_devices():
    assert gpus.visible_gpus(2, {}) == ["0", "1"]
    assert gpus.visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "3, 5"}) == ["3", "5"]
    assert gpus.visible_gpus(1, {"CUDA_VISIBLE_DEVICES": "GPU-ab,GPU-cd"}) == ["GPU-ab"]
    assert gpus.visible_gpus(0, {"CUDA_VISIBLE_DEVICES": "0"}) == []


def gpus_of_worker(seconds: float) -> tuple[int, str | None]:
    """Run in a pool worker: its pid and CUDA_VISIBLE_DEVICES."""
    time.sleep(seconds)
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_local_workers_see_their_own_gpus():
    seen: dict[int, str | None] = {}
    with runner.worker_pool(2, ["3", "5"]) as pool:
        for _ in range(20):  # until both workers are up and have run a job
            futures = [pool.submit(gpus_of_worker, 0.5) for _ in range(2)]
            seen.update(f.result() for f in futures)
            if len(seen) == 2:
                break
    assert sorted(seen.values()) == ["3", "5"]


def test_gpus_on_a_machine_without_enough_fail_before_anything_is_written(
    tiny_lm_dir, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus.th.cuda, "device_count", lambda: 0)
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        compare(config_for(tiny_lm_dir, out, gpus_per_run=1, workers=2))
    monkeypatch.setattr(gpus.th.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="needs 2 GPU"):
        compare(config_for(tiny_lm_dir, out, gpus_per_run=2))
    assert not out.exists()


def test_an_address_that_does_not_answer_is_named():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"'127.0.0.1:{port}' \\(--ray-address\\) does not"):
        check_address(f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        check_address("headnode")


# ------------------------------------------------ a run trained away from out, stored by the driver
def test_a_run_from_another_machine_brings_its_weights(tiny_lm_dir, tmp_path):
    out, markers = tmp_path / "out", tmp_path / "markers"
    markers.mkdir()
    config = config_for(tiny_lm_dir, out)
    spec = config.plan()[0]
    # the driver's scratch folder is not visible: as on another machine
    result = run_in_scratch(FakeJob(markers), config, spec, 1, "t1", str(tmp_path / "no"), {})
    scratch = Path((markers / f"{spec.name}.path").read_text())
    assert not scratch.exists() and result.folder is None  # the task removed its scratch
    assert f"runs/{spec.name}/ppo.zip" in result.files
    assert not out.exists()  # nothing written until the driver stores it
    record = store_run(config, spec, result)
    run = out / "runs" / spec.name
    assert record == json.loads((run / "run.json").read_text())
    assert record["files"] == {"metrics": str(run / "metrics.json"), "sb3": str(run / "ppo.zip")}
    assert (run / "ppo.zip").read_bytes() == b"weights of rouge1__seed0"
    assert json.loads((out / "initial_evals" / "key.json").read_text()) == {"by": spec.name}
    assert store_run(config, spec, result) is None  # a finished run is never stored twice


def test_a_run_on_the_drivers_machine_leaves_weights_to_move(tiny_lm_dir, tmp_path):
    out, markers, driver = tmp_path / "out", tmp_path / "markers", tmp_path / "driver"
    markers.mkdir()
    (driver / "textgym-t2" / "junk").mkdir(parents=True)  # what a killed attempt left
    config = config_for(tiny_lm_dir, out)
    spec = config.plan()[1]
    seed = {"initial_evals/key.json": b'{"by": "driver"}'}
    result = run_in_scratch(FakeJob(markers), config, spec, 1, "t2", str(driver), seed)
    assert result.folder == str(driver / "textgym-t2")
    assert not (Path(result.folder) / "junk").exists()
    assert not any("ppo.zip" in name for name in result.files)  # weights stay on disk
    record = store_run(config, spec, result)
    run = out / "runs" / spec.name
    assert (run / "ppo.zip").read_bytes() == b"weights of rouge1__seed1"
    assert record["files"]["sb3"] == str(run / "ppo.zip")
    assert json.loads((out / "initial_evals" / "key.json").read_text()) == {"by": "driver"}
    assert not (driver / "textgym-t2").exists()


# ------------------------------------------------------------------------------ Ray
@pytest.fixture(scope="module")
def ray_gpus():
    """Ray on this machine with 2 CPUs and 2 declared GPUs; the stand-in job sent by value."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install textgym[ray]")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_ray_runs_get_distinct_gpus_and_a_killed_run_is_retried(
    ray_gpus, tiny_lm_dir, tmp_path, monkeypatch
):
    out, markers = tmp_path / "out", tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setattr(runner.job, "run_job", FakeJob(markers, kill=("bleu__seed0",), together=2))
    monkeypatch.setattr(runner, "threads_per_worker", lambda workers: 1)  # 2 tasks fit 2 CPUs
    config = config_for(tiny_lm_dir, out, backend="ray", gpus_per_run=1, workers=2)
    records = runner.run_pending(config, config.plan())
    assert sorted(r["run"] for r in records) == sorted(NAMES)  # none lost, none twice
    attempts = {n: len((markers / f"{n}.attempts").read_text().split()) for n in NAMES}
    assert attempts == {**dict.fromkeys(NAMES, 1), "bleu__seed0": 2}
    for record in records:
        run = out / "runs" / record["run"]
        assert json.loads((run / "run.json").read_text()) == record  # written by the driver
        assert record["files"]["sb3"] == str(run / "ppo.zip") and (run / "ppo.zip").is_file()
        scratch = Path((markers / f"{record['run']}.path").read_text())
        assert not scratch.is_relative_to(out) and not scratch.exists()
    assert (out / "initial_evals" / "key.json").is_file()
    assert {r["gpus"] for r in records} <= {"0", "1"}
    overlapping = [
        (a, b)
        for a in records
        for b in records
        if a is not b and a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlapping, "no two runs ran at once"
    assert all(a["gpus"] != b["gpus"] for a, b in overlapping)


def test_ray_gpus_and_address_are_checked_before_anything_is_written(
    ray_gpus, tiny_lm_dir, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="the most GPUs a node .* declares is 2"):
        compare(config_for(tiny_lm_dir, out, backend="ray", gpus_per_run=3))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    with pytest.raises(ConfigError, match=f"'{address}' \\(--ray-address\\) does not answer"):
        compare(config_for(tiny_lm_dir, out, backend="ray", gpus_per_run=1, ray_address=address))
    no_gpu = [{"Alive": True, "Resources": {"CPU": 2.0}}]
    monkeypatch.setattr(ray_gpus, "nodes", lambda: no_gpu)
    with pytest.raises(ConfigError, match="declares is 0"):
        compare(config_for(tiny_lm_dir, out, backend="ray", gpus_per_run=0.5))
    assert not out.exists()
