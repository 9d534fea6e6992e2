"""Device placement: the KL reference on its own device; one device per policy LM (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from test_kl import collect, kl_ppo, perturb

from textgym import ConfigError
from textgym.policies import add_kl_penalty
from textgym.policies.kl_penalty import same_device
from textgym.policies.policy_checks import check_one_device
from textgym.training.config import TrainConfig

CUDA = th.cuda.is_available()


def kl_of_perturbed_policy(tiny_lm_dir, word_dataset, device, reference_device):
    """Token KLs of one rollout of a perturbed policy on ``device`` (same seed every call)."""
    model = kl_ppo(tiny_lm_dir, word_dataset, device=device)
    penalty = add_kl_penalty(model, kl_coef=0.1, reference_device=reference_device)
    perturb(model)
    collect(model)
    return penalty, penalty.token_kl(model.rollout_buffer)


def test_reference_device_places_the_reference_and_keeps_the_kl(tiny_lm_dir, word_dataset):
    _, default = kl_of_perturbed_policy(tiny_lm_dir, word_dataset, "cpu", None)
    placed, kl = kl_of_perturbed_policy(tiny_lm_dir, word_dataset, "cpu", "cpu")
    assert next(placed.reference.parameters()).device == th.device("cpu")
    assert np.abs(default).max() > 1e-3  # the policy moved away from its reference
    np.testing.assert_allclose(kl, default, atol=1e-6)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU: policy on the GPU, reference on the CPU")
def test_reference_on_the_cpu_beside_a_gpu_policy(tiny_lm_dir, word_dataset):
    _, together = kl_of_perturbed_policy(tiny_lm_dir, word_dataset, "cuda", None)
    apart, kl = kl_of_perturbed_policy(tiny_lm_dir, word_dataset, "cuda", "cpu")
    assert next(apart.reference.parameters()).device.type == "cpu"
    assert apart.policy.device.type == "cuda"
    np.testing.assert_allclose(kl, together, atol=1e-4)


def test_reference_device_errors(tiny_lm_dir, word_dataset, monkeypatch):
    with pytest.raises(ConfigError, match="reference_device device='nope' is not a torch device"):
        add_kl_penalty(kl_ppo(tiny_lm_dir, word_dataset), kl_coef=0.1, reference_device="nope")
    if not CUDA:
        with pytest.raises(ConfigError, match="'cuda:0' is not available: this process sees 0"):
            add_kl_penalty(
                kl_ppo(tiny_lm_dir, word_dataset), kl_coef=0.1, reference_device="cuda:0"
            )
    lora = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    model = kl_ppo(tiny_lm_dir, word_dataset, policy_kwargs={"lora": lora})
    add_kl_penalty(model, kl_coef=0.1, reference_device="cpu")  # where the policy is: fine
    assert same_device(th.device("cpu"), th.device("cpu")) and not same_device(
        th.device("cpu"), th.device("meta")
    )
    if CUDA:  # "cuda" is the current CUDA device
        assert same_device(th.device("cuda"), th.device(f"cuda:{th.cuda.current_device()}"))
    model.rollout_buffer.reward_shaping = None
    # a second device on a CPU-only machine: let "meta" through the device check
    monkeypatch.setattr("textgym.policies.kl_penalty.check_device", lambda device, owner: device)
    with pytest.raises(ConfigError, match=r"LoRA policy's reference.*reference='<the base"):
        add_kl_penalty(model, kl_coef=0.1, reference_device="meta")


def test_train_config_checks_the_reference_device():
    with pytest.raises(ConfigError, match=r"kl_reference_device='x' \(--kl-reference-device\)"):
        TrainConfig(kl_coef=0.1, kl_reference_device="x")
    with pytest.raises(ConfigError, match="the penalty is off; set --kl-coef or --target-kl"):
        TrainConfig(kl_reference_device="cpu")
    assert TrainConfig(target_kl=3.0, kl_reference_device="cpu").kl_reference_device == "cpu"
    if not CUDA:
        return
    beyond = f"cuda:{th.cuda.device_count()}"
    with pytest.raises(ConfigError, match=rf"--kl-reference-device device='{beyond}' is not avail"):
        TrainConfig(kl_coef=0.1, kl_reference_device=beyond)


def test_a_policy_spread_over_devices_is_refused_with_the_alternatives(tiny_lm_dir, word_dataset):
    from test_policy import make_env, make_ppo

    from textgym.models import load_causal_lm

    env = make_env(tiny_lm_dir, word_dataset)
    with pytest.raises(ConfigError, match=r"device_map.*not supported.*--kl-reference-device"):
        make_ppo(env, tiny_lm_dir, policy_kwargs={"device_map": "auto"})
    lm = load_causal_lm(tiny_lm_dir)
    lm.hf_device_map = {"model.embed_tokens": "cpu", "model.layers": "cpu", "lm_head": 1}
    with pytest.raises(ConfigError, match="LMPolicy keeps its LM on one device"):
        make_ppo(env, tiny_lm_dir, policy_kwargs={"model": lm})
    lm.hf_device_map = {"model": 0, "lm_head": "cuda:0"}  # one device, named two ways
    check_one_device(lm, {})  # no error
    lm.hf_device_map = {"": "cpu"}  # loaded with a device map, on one device: fine
    model = make_ppo(env, tiny_lm_dir, policy_kwargs={"model": lm, "tokenizer": tiny_lm_dir})
    assert model.policy.lm is lm
