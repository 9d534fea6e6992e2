"""LMPolicy over encoder-decoder models (tiny random T5 and BART): cache, update, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from conftest import collect_rollout
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from test_policy import WordShare, assert_ppo_learns_to_emit_a_word

from textgym import ConfigError, TextGenEnv
from textgym.policies import EpisodeRolloutBuffer, LMPolicy, add_kl_penalty
from textgym.policies.seq2seq import SEQ2SEQ_TRANSFORMERS

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.skipif(
    int(transformers.__version__.split(".")[0]) < SEQ2SEQ_TRANSFORMERS,
    reason=f"encoder-decoder policies need transformers>={SEQ2SEQ_TRANSFORMERS}",
)


def tiny_t5(vocab_size: int):
    from transformers import T5Config, T5ForConditionalGeneration

    th.manual_seed(0)
    config = T5Config(
        vocab_size=vocab_size,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5ForConditionalGeneration(config)


def tiny_bart(vocab_size: int):
    from transformers import BartConfig, BartForConditionalGeneration

    th.manual_seed(0)
    config = BartConfig(
        vocab_size=vocab_size,
        d_model=16,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
        decoder_start_token_id=1,
        forced_eos_token_id=None,
    )
    return BartForConditionalGeneration(config)


@pytest.fixture(scope="module", params=["t5", "bart"])
def s2s_dir(request, tmp_path_factory, word_tokenizer) -> str:
    """Folder with a tiny seq2seq model and the word tokenizer (``model=`` and ``tokenizer=``)."""
    path = tmp_path_factory.mktemp(request.param)
    make = tiny_t5 if request.param == "t5" else tiny_bart
    make(len(word_tokenizer)).save_pretrained(path)
    word_tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory, word_tokenizer) -> str:
    path = tmp_path_factory.mktemp("t5_only")
    tiny_t5(len(word_tokenizer)).save_pretrained(path)
    word_tokenizer.save_pretrained(path)
    return str(path)


def env_kwargs(model_dir, word_dataset, max_new_tokens=6, **extra):
    return dict(
        dataset=word_dataset,
        tokenizer=model_dir,
        reward=WordShare(),
        max_prompt_tokens=16,
        max_new_tokens=max_new_tokens,
        prompt_template="{source}",
        **extra,
    )


def make_env(model_dir, word_dataset, n_envs=4, max_new_tokens=6, **extra):
    kwargs = env_kwargs(model_dir, word_dataset, max_new_tokens, **extra)
    return make_vec_env(TextGenEnv, n_envs=n_envs, seed=0, env_kwargs=kwargs)


def make_ppo(env, model_dir, **kwargs):
    policy_kwargs = {"model": model_dir, **kwargs.pop("policy_kwargs", {})}
    defaults = dict(n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    return PPO(LMPolicy, env, policy_kwargs=policy_kwargs, **{**defaults, **kwargs})


def test_env_checker_and_prompt_slots(s2s_dir, word_dataset):
    env = TextGenEnv(**env_kwargs(s2s_dir, word_dataset))
    check_env(env, skip_render_check=True)
    assert env.observation_space["input_ids"].prompt_slots == 16


@pytest.mark.parametrize("sampling", [{}, {"temperature": 0.7, "top_k": 8, "top_p": 0.9}])
def test_stored_log_probs_equal_recomputed(s2s_dir, word_dataset, sampling):
    """What PPO stores at rollout (cached) equals what evaluate_actions recomputes (grouped)."""
    env = make_env(s2s_dir, word_dataset, eos_token_ids=list(range(1, 20)))
    model = make_ppo(
        env,
        s2s_dir,
        n_steps=16,
        policy_kwargs=sampling,
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    assert model.policy.seq2seq is not None and model.policy.rollout_cache is None
    with th.no_grad():
        model.policy.value_net.weight.normal_()  # non-zero values
    buffer = collect_rollout(model)
    for batch in buffer.get(16):
        with th.no_grad():
            values, log_probs, entropy = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=1e-4, rtol=1e-4)
        th.testing.assert_close(values.flatten(), batch.old_values, atol=1e-4, rtol=1e-4)
        assert th.isfinite(entropy).all()
    assert model.policy.seq2seq.cache.decode_steps > 0


@pytest.mark.parametrize("pad_after_eos", [False, True])
def test_cache_matches_full_forward_over_resets(s2s_dir, word_dataset, pad_after_eos):
    """Ragged rows (episodes ending at random steps): cached step == full forward."""
    env = make_env(
        s2s_dir,
        word_dataset,
        max_new_tokens=5,
        eos_token_ids=list(range(1, 20)),
        pad_after_eos=pad_after_eos,
    )
    cached = make_ppo(env, s2s_dir).policy
    plain = make_ppo(env, s2s_dir, policy_kwargs={"kv_cache": False}).policy
    th.nn.init.normal_(cached.value_net.weight)
    plain.load_state_dict(cached.state_dict())
    obs = env.reset()
    for _ in range(16):  # crosses several episode ends (resets)
        tensor = cached.obs_to_tensor(obs)[0]
        with th.no_grad():
            a = cached.get_distribution(tensor).distribution.logits
            b = plain.get_distribution(tensor).distribution.logits
            th.testing.assert_close(
                cached.predict_values(tensor), plain.predict_values(tensor), atol=1e-5, rtol=1e-5
            )
        th.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        obs, *_ = env.step(th.distributions.Categorical(logits=a).sample().numpy())
    cache = cached.seq2seq.cache
    assert cache.decode_steps > 0 and len(cache.cohorts) <= 4


def test_grouped_equals_per_transition(s2s_dir, word_dataset):
    model = make_ppo(make_env(s2s_dir, word_dataset), s2s_dir, n_steps=12)
    batch = next(collect_rollout(model).get(None))
    actions = batch.actions.long().flatten()
    with th.no_grad():
        grouped = model.policy.evaluate_actions(batch.observations, actions)
        model.policy.group_prefixes = False
        single = model.policy.evaluate_actions(batch.observations, actions)
    for part in range(3):
        th.testing.assert_close(grouped[part], single[part], atol=1e-5, rtol=1e-5)


def test_ppo_learns_to_emit_a_word(t5_dir, word_dataset):
    assert_ppo_learns_to_emit_a_word(make_env, make_ppo, t5_dir, word_dataset)


def test_save_load_gives_same_actions_and_values(s2s_dir, word_dataset, tmp_path):
    env = make_env(s2s_dir, word_dataset)
    model = make_ppo(env, s2s_dir, learning_rate=1e-2)
    model.learn(32)
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", device="cpu")
    assert loaded.policy.seq2seq is not None
    obs = env.reset()
    for _ in range(6):
        a, _ = model.predict(obs, deterministic=True)
        b, _ = loaded.predict(obs, deterministic=True)
        np.testing.assert_array_equal(a, b)
        obs, *_ = env.step(a)
    tensor = loaded.policy.obs_to_tensor(obs)[0]
    with th.no_grad():
        th.testing.assert_close(
            loaded.policy.predict_values(tensor), model.policy.predict_values(tensor)
        )


def test_kl_penalty_is_zero_against_the_initial_model(s2s_dir, word_dataset):
    model = make_ppo(
        make_env(s2s_dir, word_dataset), s2s_dir, rollout_buffer_class=EpisodeRolloutBuffer
    )
    penalty = add_kl_penalty(model, kl_coef=0.1)
    collect_rollout(model)
    assert penalty.last is not None
    np.testing.assert_allclose(penalty.last.kl, 0.0, atol=1e-4)


def test_greedy_generation_and_kl_to_initial(s2s_dir, word_dataset):
    from textgym.evaluation.kl_to_initial import greedy_sequences, kl_to_initial
    from textgym.models import load_lm

    env = TextGenEnv(**env_kwargs(s2s_dir, word_dataset, max_new_tokens=4))
    lm = load_lm(s2s_dir).eval()
    sequences = greedy_sequences(lm, env, n_examples=3)
    assert all(1 <= len(new) <= 4 for _, new in sequences)
    prompt, new = sequences[0]
    assert prompt == env.prompts.build(env.examples[0])[0]
    result = kl_to_initial(lm, None, sequences, vocab_size=len(env.tokenizer))
    assert result.n_tokens == sum(len(n) for _, n in sequences) and np.isfinite(result.nll)


def test_unsupported_options_and_wrong_kind_are_clear_errors(t5_dir, tiny_lm_dir, word_dataset):
    from gymnasium import spaces

    from textgym.models import load_causal_lm, load_seq2seq_lm

    env = make_env(t5_dir, word_dataset)
    with pytest.raises(ConfigError, match="value_model='separate' with an encoder-decoder"):
        make_ppo(env, t5_dir, policy_kwargs={"value_model": "separate"})
    with pytest.raises(ConfigError, match="nlpo_top_p .* not supported yet"):
        make_ppo(env, t5_dir, policy_kwargs={"nlpo_top_p": 0.9})
    with pytest.raises(ConfigError, match="encoder-decoder.*load_lm"):
        load_causal_lm(t5_dir)
    with pytest.raises(ConfigError, match="causal.*load_lm"):
        load_seq2seq_lm(tiny_lm_dir)
    bare = spaces.Dict(
        {
            key: spaces.Box(0, 40, shape=(22,), dtype=np.int64)
            for key in env.observation_space.spaces
        }
    )
    with pytest.raises(ConfigError, match="prompt_slots"):
        LMPolicy(bare, env.action_space, lambda _: 1e-3, model=t5_dir, tokenizer=None)


def test_train_command_with_a_seq2seq_model(t5_dir, tmp_path, capsys):
    """``textgym train --model`` with T5, groups of 2 with RLOO, the KL penalty and evaluation."""
    from transformers import AutoModelForSeq2SeqLM

    from textgym.cli import main

    out = tmp_path / "run"
    args = ["train", "--model", t5_dir, "--timesteps", "64", "--n-envs", "4", "--n-steps", "8"]
    args += ["--batch-size", "32", "--max-new-tokens", "4", "--max-prompt-tokens", "64"]
    args += ["--eval-examples", "2", "--out", str(out), "--no-progress"]
    args += ["--group-size", "2", "--advantage", "rloo", "--kl-coef", "0.05"]
    assert main(args) == 0
    assert AutoModelForSeq2SeqLM.from_pretrained(out / "hf_model").config.d_model == 16
    assert PPO.load(out / "ppo.zip", device="cpu").policy.seq2seq is not None


def test_lora_trains_adapters_only(t5_dir, word_dataset):
    pytest.importorskip("peft")
    lora = {"r": 2, "lora_alpha": 4, "target_modules": ["q", "v"]}
    model = make_ppo(
        make_env(t5_dir, word_dataset),
        t5_dir,
        learning_rate=1e-2,
        policy_kwargs={"lora": lora},
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    add_kl_penalty(model, kl_coef=0.1)  # the reference: the adapters disabled
    before = {k: v.clone() for k, v in model.policy.lm.named_parameters()}
    model.learn(32)
    changed = {k for k, v in model.policy.lm.named_parameters() if not th.equal(v, before[k])}
    assert changed and all("lora_" in k for k in changed)


def test_evaluation_generates_under_the_policys_bans(s2s_dir, word_dataset):
    from textgym.evaluation import evaluate_lm

    model = make_ppo(make_env(s2s_dir, word_dataset), s2s_dir)
    env = TextGenEnv(**env_kwargs(s2s_dir, word_dataset, max_new_tokens=5))
    free = evaluate_lm(model.policy.lm, env, 6, metrics=()).generations
    words = [w for text in free for w in text.split()]
    common = max(set(words), key=words.count)
    banned = make_ppo(
        make_env(s2s_dir, word_dataset), s2s_dir, policy_kwargs={"bad_words": [common]}
    )
    rule = banned.policy.generation_restriction()
    kept = evaluate_lm(banned.policy.lm, env, 6, metrics=(), restrict=rule).generations
    assert all(common not in text.split() for text in kept) and kept != free
