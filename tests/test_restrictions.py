"""Restricted outputs: bad_words, allowed_tokens and NLPO's mask in sampling, PPO and the KL."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from conftest import collect_rollout
from stable_baselines3 import PPO
from test_kl import collect, kl_ppo
from test_policy import make_env, make_ppo

from textgym import ConfigError
from textgym.policies import EpisodeRolloutBuffer, add_kl_penalty
from textgym.policies.token_bans import TokenBans

PAD, EOS, CAT, DOG, SAT = 0, 1, 5, 6, 7  # ids of the word tokenizer (tests/conftest.py)


def generated(buffer, policy) -> list[list[int]]:
    """Each stored step's context (prompt and generation so far) followed by its action."""
    rows = []
    for t in range(buffer.buffer_size):
        for env in range(buffer.n_envs):
            ids = buffer.observations["input_ids"][t, env]
            mask = buffer.observations["attention_mask"][t, env].astype(bool)
            rows.append([*ids[mask].astype(int).tolist(), int(buffer.actions[t, env, 0])])
    return rows


def test_token_bans_match_hugging_face(word_tokenizer):
    from transformers import NoBadWordsLogitsProcessor

    phrases = [[CAT], [SAT, DOG, EOS], [DOG, 9], [3, 4, 8], [SAT, 3, 4, 8, 10]]
    seqs = th.tensor([[3, SAT, DOG], [4, 3, DOG], [SAT, 3, 4], [DOG, SAT, 4]])
    bans = TokenBans(phrases, None, word_tokenizer, len(word_tokenizer))
    ours = bans.allowed(seqs, th.full((4,), 3))
    scores = th.zeros(4, len(word_tokenizer))
    theirs = NoBadWordsLogitsProcessor(phrases, eos_token_id=None)(seqs, scores) == 0
    th.testing.assert_close(ours, theirs)
    assert not ours[0, EOS] and not ours[1, 9] and not ours[2, 8] and ours[3, 8]


def test_phrase_bans_read_only_each_rows_valid_tokens(word_tokenizer):
    bans = TokenBans([[DOG, SAT]], None, word_tokenizer, len(word_tokenizer))
    seqs = th.tensor([[3, DOG, PAD, PAD], [DOG, 4, DOG, PAD]])  # right-padded
    allowed = bans.allowed(seqs, th.tensor([2, 3]))
    assert not allowed[0, SAT] and not allowed[1, SAT] and allowed[:, CAT].all()


def test_strings_are_encoded_and_allowed_tokens_keep_eos(word_tokenizer):
    bans = TokenBans(["cat", "the dog"], ["dog", "cat sat"], word_tokenizer, len(word_tokenizer))
    assert set(th.nonzero(bans.static).flatten().tolist()) == {EOS, DOG, SAT}
    after_the = bans.allowed(th.tensor([[4, 3]]), th.tensor([2]))[0]
    assert not after_the[DOG] and after_the[SAT]


def test_banned_tokens_and_phrases_are_never_sampled(tiny_lm_dir, word_dataset):
    restrict = {"allowed_tokens": ["dog", "cat", "sat"], "bad_words": ["cat", "dog dog"]}
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, n_steps=24, policy_kwargs=restrict
    )
    steps = generated(collect_rollout(model), model.policy)
    actions = [row[-1] for row in steps]
    assert set(actions) <= {EOS, DOG, SAT} and {DOG, SAT} <= set(actions)
    assert not any(row[-2:] == [DOG, DOG] for row in steps)
    obs = model.policy.obs_to_tensor(model.env.reset())[0]
    with th.no_grad():
        probs = model.policy.get_distribution(obs).distribution.probs
    assert probs[:, CAT].max() == 0 and probs[:, [EOS, DOG, SAT]].sum(1).allclose(th.ones(4))


RESTRICTIONS = [
    {"bad_words": ["cat", "the dog", [SAT]]},
    {"allowed_tokens": ["dog", "cat", "sat", "the", "mat"], "temperature": 0.7, "top_k": 3},
    {"nlpo_top_p": 0.3},
    {"nlpo_top_p": 0.5, "bad_words": ["cat"], "top_p": 0.9, "kv_cache": False},
    {"nlpo_top_p": 0.5, "group_prefixes": False},
]


@pytest.mark.parametrize("restrict", RESTRICTIONS)
def test_stored_log_probs_equal_recomputed(tiny_lm_dir, word_dataset, restrict):
    """What PPO stores at rollout equals what evaluate_actions recomputes, mask included."""
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset),
        tiny_lm_dir,
        n_steps=16,
        policy_kwargs=restrict,
        rollout_buffer_class=EpisodeRolloutBuffer,
    )
    buffer = collect_rollout(model)
    for batch in buffer.get(16):
        with th.no_grad():
            _, log_probs, entropy = model.policy.evaluate_actions(
                batch.observations, batch.actions.long().flatten()
            )
        th.testing.assert_close(log_probs, batch.old_log_prob, atol=1e-4, rtol=1e-4)
        assert th.isfinite(entropy).all() and (log_probs > -30).all()


def test_nlpo_mask_narrows_to_the_maskers_top_p(tiny_lm_dir, word_dataset):
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, policy_kwargs={"nlpo_top_p": 0.2}
    )
    obs = model.policy.obs_to_tensor(model.env.reset())[0]
    with th.no_grad():
        probs = model.policy.get_distribution(obs).distribution.probs
    allowed = (probs > 0).sum(1)
    assert (allowed >= 1).all() and (allowed < model.policy.n_actions // 2).all()


@pytest.mark.parametrize("restrict", [{"bad_words": ["cat", "the dog"]}, {"nlpo_top_p": 0.4}])
def test_kl_is_zero_when_policy_equals_reference(tiny_lm_dir, word_dataset, restrict):
    """The reference is renormalised over the same allowed set, so it equals the policy."""
    model = kl_ppo(tiny_lm_dir, word_dataset, policy_kwargs=restrict)
    penalty = add_kl_penalty(model, kl_coef=0.5)
    collect(model)
    assert np.abs(penalty.last.kl).max() <= 1e-5


@pytest.mark.parametrize(("every", "refreshed"), [(None, False), (1, True)])
def test_nlpo_masker_is_frozen_outside_the_policy(tiny_lm_dir, word_dataset, every, refreshed):
    kwargs = {"nlpo_top_p": 0.9, "nlpo_update_every": every}
    model = make_ppo(
        make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, learning_rate=1e-2, policy_kwargs=kwargs
    )
    nlpo = model.policy.restrictions.nlpo
    masker = list(nlpo.masker.parameters())
    assert all(not p.requires_grad for p in masker)
    assert not {id(p) for p in masker} & {id(p) for p in model.policy.parameters()}
    assert not any("masker" in key for key in model.policy.state_dict())
    initial = [p.detach().clone() for p in masker]
    model.learn(2 * model.n_steps * model.n_envs)
    model.policy.set_training_mode(False)  # as the next rollout would
    assert nlpo.updates == 2 and nlpo.refreshes == (2 if refreshed else 0)
    same_as_policy = all(
        th.equal(a, b) for a, b in zip(masker, model.policy.lm.parameters(), strict=True)
    )
    unchanged = all(th.equal(a, b) for a, b in zip(masker, initial, strict=True))
    assert same_as_policy == refreshed and unchanged != refreshed


def test_restrictions_survive_save_and_load(tiny_lm_dir, word_dataset, tmp_path):
    restrict = {"bad_words": ["cat"], "allowed_tokens": ["cat", "dog", "sat"]}
    env = make_env(tiny_lm_dir, word_dataset)
    model = make_ppo(env, tiny_lm_dir, policy_kwargs=restrict)
    model.save(tmp_path / "model")
    loaded = PPO.load(tmp_path / "model", env=env, device="cpu")
    obs = env.reset()
    assert loaded.policy.restrictions is not None
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


@pytest.mark.parametrize(
    ("restrict", "fragment"),
    [
        ({"bad_words": "cat"}, "must be a list"),
        ({"bad_words": [""]}, "cannot be encoded"),
        ({"bad_words": ["zebra"]}, "unknown token"),
        ({"bad_words": [[]]}, "non-empty list"),
        ({"bad_words": [[10_000]]}, "not token ids"),
        ({"allowed_tokens": [[CAT]], "bad_words": [[CAT], [EOS]]}, "no token to generate"),
        ({"nlpo_top_p": 1.5}, "nlpo_top_p"),
        ({"nlpo_top_p": 0}, "nlpo_top_p"),
        ({"nlpo_update_every": 2}, "set nlpo_top_p"),
        ({"nlpo_top_p": 0.9, "nlpo_update_every": 0}, "integer >= 1"),
    ],
)
def test_bad_restrictions_are_config_errors(tiny_lm_dir, word_dataset, restrict, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_ppo(make_env(tiny_lm_dir, word_dataset, n_envs=1), tiny_lm_dir, policy_kwargs=restrict)


def test_phrases_banning_every_allowed_token_raise(word_tokenizer):
    bans = TokenBans([[DOG, SAT]], [[SAT]], word_tokenizer, len(word_tokenizer))
    bans.static[EOS] = False  # only SAT is left, and "dog" bans it
    with pytest.raises(ConfigError, match="ban every token"):
        bans.allowed(th.tensor([[3, DOG]]), th.tensor([2]))


def test_evaluation_generates_under_the_policys_bans(tiny_lm_dir, word_dataset):
    from textgym.evaluation import evaluate_lm

    def outputs(model, **options):
        env = model.env.envs[0].unwrapped
        result = evaluate_lm(model.policy.lm, env, 6, metrics=(), samples=2, **options)
        return [text.split() for text in result.generations], result

    free = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir)
    assert free.policy.generation_restriction() is None
    words, _ = outputs(free)
    common = max({w for row in words for w in row}, key=lambda w: sum(r.count(w) for r in words))
    restrict = {"bad_words": [common, "dog dog"]}
    banned = make_ppo(make_env(tiny_lm_dir, word_dataset), tiny_lm_dir, policy_kwargs=restrict)
    rule = banned.policy.generation_restriction()
    words, result = outputs(banned, restrict=rule)
    assert words != outputs(banned)[0]  # the same LM without the bans writes otherwise
    assert all(common not in row for row in words)
    assert not any(a == b == "dog" for row in words for a, b in zip(row, row[1:], strict=False))
    assert result.mean_new_tokens > 0
