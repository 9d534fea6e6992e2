"""The token-level text-generation env: one step appends one token."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textgym.data.example import Example
from textgym.data.loading import load_examples
from textgym.env.prompts import PromptBuilder, PromptTemplate
from textgym.env.step_checks import check_action, check_eos_ids, check_positive, pick_index
from textgym.env.text_image import text_image
from textgym.errors import ConfigError, EnvStateError
from textgym.models import DEFAULT_MODEL, load_tokenizer
from textgym.rewards import make_reward, needs_references, score
from textgym.spaces import token_observation_space
from textgym.tasks import get_task

ObsDict = dict[str, np.ndarray]
# What TextGenEnv.get_state saves: every attribute that changes while the env runs.
_STATE = (
    "_input_ids",
    "_mask",
    "_generated",
    "_example",
    "_done",
    "_last_score",
    "_steps",
    "_warned_truncation",
    "_example_rng",
    "_np_random",
    "_np_random_seed",
)


class TextGenEnv(gym.Env[ObsDict, np.int64]):
    """Generate a text for a prompt, one token per step, and be scored when done.

    ## Observation
    A ``Dict`` of two ``Box(int64)`` arrays of length ``max_prompt_tokens + max_new_tokens``:
    ``input_ids`` and ``attention_mask`` (1 on real tokens). The first ``max_prompt_tokens``
    slots hold the prompt, **left-padded**; generated tokens fill the remaining slots from
    the left, and the unused slots after them are padding (mask 0). The valid tokens, read
    in order, are always the prompt followed by the generation so far. The layout is the
    same for causal and encoder-decoder policies: a causal LM reads the valid tokens in
    order; an encoder-decoder LM encodes the prompt slots (``input_ids.prompt_slots`` of the
    space, ``max_prompt_tokens``) and decodes the generated slots after its decoder start.

    ## Action
    ``Discrete(len(tokenizer))``: the id of the next token.

    ## Reward
    0 on every step but the last; on the last step the reward function scores the decoded
    generation against the example's references (``info["reward_components"]`` has the parts).
    With ``reward_mode="dense"``, each step pays the change of the score (see below).

    ## Episode end
    ``terminated=True`` when the action is an end-of-sequence token or ``max_new_tokens``
    tokens have been generated: the length cap is part of the task (an answer must fit it),
    not a time-out, so there is nothing to bootstrap. ``truncated`` is always False.

    Args:
        task: ``"summarize"``, ``"dialogue"``, ``"translate"`` or a task added with
            :func:`textgym.register_task`: the prompt, the dataset fields, the default reward.
        dataset: See :func:`textgym.data.load_examples` (None: the task's shipped data).
            Rows need a reference field only if the reward reads references (see
            :func:`textgym.rewards.needs_references`): prompt-only data loads for a reward
            model (``rm:PATH``), ``perplexity``, ``LengthPenalty(target_words=N)``; for
            other rewards a missing reference fails here, naming the field.
        split: Dataset split (``"train"``, ``"validation"``, ``"test"``).
        reward: A reward name, a ``{name: weight}`` mapping, or a reward object/callable
            (None: the task's).
        tokenizer: An embedded model name, a Hugging Face name or path, or a tokenizer.
        max_prompt_tokens: Longer prompts lose source text on the side that keeps the
            instruction (counted in ``info["prompt_truncated_tokens"]``, warned once).
            256 here; an env id registered for a task gets the task's limits.
        max_new_tokens: The most tokens one episode may generate (48 here; see above).
        prompt_template: Replaces the task's instruction; see :class:`PromptBuilder`.
        chat_template: Use the tokenizer's chat template when it has one.
        fields: Dataset column names, e.g. ``{"source": "article"}``.
        eos_token_ids: Tokens that end the episode (default: the tokenizer's EOS).
        reward_mode: ``"terminal"`` pays the reward once, at the end. ``"dense"`` pays, at
            every step, the change of the reward of the text so far (``R(y≤t) − R(y<t)``,
            with ``R`` of the empty text taken as 0), so an episode's rewards sum to its
            final score; it decodes and scores the prefix at every step (slower).
        render_mode: ``"ansi"`` (the prompt and the generation so far as text),
            ``"rgb_array"`` (that text drawn as a 480x640 RGB image, for video recorders;
            SB3's ``make_vec_env`` asks for it by default) or None.
        example_seed: Draw each episode's example from a generator of its own seeded with
            this (instead of the env's ``np_random``): envs given the same ``example_seed``
            see the same examples in the same order, episode by episode, whatever their
            reset seeds. :func:`textgym.make_group_vec_env` uses it for groups of samples.
        pad_after_eos: After an end-of-sequence token, keep the episode going with idle
            steps (action ignored, observation unchanged, reward 0, ``info["idle"]=True``)
            until ``max_new_tokens`` steps, so every episode lasts exactly that many steps
            and the envs of a vector env start their episodes together (as ``generate``
            pads finished rows). The reward still comes on the step of the EOS.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task: str = "summarize",
        dataset: Any = None,
        split: str = "train",
        reward: Any = None,
        tokenizer: Any = DEFAULT_MODEL,
        max_prompt_tokens: int = 256,
        max_new_tokens: int = 48,
        prompt_template: PromptTemplate | None = None,
        chat_template: bool = True,
        fields: Mapping[str, str] | None = None,
        eos_token_ids: Sequence[int] | None = None,
        reward_mode: str = "terminal",
        render_mode: str | None = None,
        example_seed: int | None = None,
        pad_after_eos: bool = False,
    ) -> None:
        check_positive(max_prompt_tokens=max_prompt_tokens, max_new_tokens=max_new_tokens)
        if reward_mode not in ("terminal", "dense"):
            raise ConfigError(
                f"reward_mode={reward_mode!r} is not supported; use 'terminal' or 'dense'."
            )
        self.dense = reward_mode == "dense"
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise UnsupportedRenderModeError(
                f"render_mode={render_mode!r} is not supported; use 'ansi', 'rgb_array' or None."
            )
        self.render_mode = render_mode
        self.tokenizer = load_tokenizer(tokenizer)
        self.reward_fn = make_reward(get_task(task).reward if reward is None else reward)
        self.examples: list[Example] = load_examples(
            dataset,
            task=task,
            split=split,
            fields=fields,
            needs_references=needs_references(self.reward_fn),
        )
        self.prompts = PromptBuilder(
            self.tokenizer, task, max_prompt_tokens, prompt_template, chat_template
        )
        self.max_prompt_tokens, self.max_new_tokens = max_prompt_tokens, max_new_tokens
        self.vocab_size = len(self.tokenizer)
        self.eos_token_ids = check_eos_ids(eos_token_ids, self.tokenizer, "max_new_tokens")
        self.pad_token_id = self._pad_id()
        length = max_prompt_tokens + max_new_tokens
        self.observation_space = token_observation_space(self.tokenizer, length, max_prompt_tokens)
        self.action_space = spaces.Discrete(self.vocab_size)
        self._input_ids = np.full(length, self.pad_token_id, dtype=np.int64)
        self._mask = np.zeros(length, dtype=np.int64)
        self._prompt_cache: dict[int, tuple[list[int], int]] = {}
        self._warned_truncation = False
        self._generated: list[int] = []
        self._example: Example = self.examples[0]
        self._done = True
        self._last_score = 0.0
        self._example_rng = None if example_seed is None else np.random.default_rng(example_seed)
        self.pad_after_eos = bool(pad_after_eos)
        self._steps = 0

    def _pad_id(self) -> int:
        candidates = (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0)
        return int(next(token for token in candidates if token is not None))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsDict, dict[str, Any]]:
        """Start an episode on a random example, or on ``options["index"]``."""
        super().reset(seed=seed)
        rng = self.np_random if self._example_rng is None else self._example_rng
        index = pick_index(options or {}, rng, len(self.examples))
        self._example = self.examples[index]
        prompt, dropped = self._prompt(index)
        self._input_ids.fill(self.pad_token_id)
        self._mask.fill(0)
        self._input_ids[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = prompt
        self._mask[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = 1
        self._generated = []
        self._done = False
        self._last_score = 0.0
        self._steps = 0
        info = {"example_id": self._example.id, "index": index, "prompt_truncated_tokens": dropped}
        return self._obs(), info

    def _prompt(self, index: int) -> tuple[list[int], int]:
        if index not in self._prompt_cache:
            self._prompt_cache[index] = self.prompts.build(self.examples[index])
        prompt, dropped = self._prompt_cache[index]
        if dropped and not self._warned_truncation:
            self._warned_truncation = True
            warnings.warn(
                f"Prompt of example {self.examples[index].id!r} lost {dropped} source tokens to "
                f"fit max_prompt_tokens={self.max_prompt_tokens} (further truncations are "
                f"counted in info['prompt_truncated_tokens'] without a warning).",
                stacklevel=3,
            )
        return prompt, dropped

    def step(self, action: int | np.integer) -> tuple[ObsDict, float, bool, bool, dict[str, Any]]:
        """Append ``action`` to the generation; score it if the episode ends."""
        if self._done:
            raise EnvStateError("step() was called after the episode ended; call reset() first.")
        token = check_action(action, self.vocab_size)
        self._steps += 1
        if self._ended():  # padding after EOS (pad_after_eos): an idle step
            self._done = self._steps == self.max_new_tokens
            return self._obs(), 0.0, self._done, False, {"idle": True}
        slot = self.max_prompt_tokens + len(self._generated)
        self._input_ids[slot] = token
        self._mask[slot] = 1
        self._generated.append(token)
        ended = self._ended()
        self._done = ended and (not self.pad_after_eos or self._steps == self.max_new_tokens)
        if not (ended or self.dense):
            return self._obs(), 0.0, False, False, {}
        total, info = self._score()
        reward, self._last_score = total - self._last_score, total
        return self._obs(), reward, self._done, False, info if ended else {}

    def _ended(self) -> bool:
        """Has the generation ended (an EOS token, or ``max_new_tokens`` tokens)?"""
        generated = self._generated
        return bool(generated) and (
            generated[-1] in self.eos_token_ids or len(generated) == self.max_new_tokens
        )

    def _score(self) -> tuple[float, dict[str, Any]]:
        """Score the generation so far; return the total and the end-of-episode info."""
        text, example = self.generated_text(), self._example
        total, parts = score(self.reward_fn, [text], [example.references], [example.source])
        name = getattr(self.reward_fn, "name", "reward")
        components = {name: float(total[0]), **{k: float(v[0]) for k, v in parts.items()}}
        hit_cap = len(self._generated) == self.max_new_tokens
        hit_cap = hit_cap and self._generated[-1] not in self.eos_token_ids
        info = episode_info(text, example, len(self._generated), hit_cap, components)
        return float(total[0]), info

    def get_state(self) -> dict[str, Any]:
        """A copy of everything that changes as the env runs, for checkpoints.

        The current episode (observation, example, generated tokens, done flag, counters)
        and the random streams (``np_random``, the example stream of ``example_seed``); not
        the data, tokenizer or reward, which the env's arguments give. :meth:`set_state` on
        an env built with the same arguments continues exactly where this one was.
        """
        return copy.deepcopy({name: getattr(self, name) for name in _STATE})

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of an env built with the same arguments."""
        for name in _STATE:
            setattr(self, name, copy.deepcopy(state[name]))

    def generated_text(self) -> str:
        """Decode the tokens generated so far (special tokens removed)."""
        return self.tokenizer.decode(self._generated, skip_special_tokens=True)

    def _obs(self) -> ObsDict:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._mask.copy()}

    def render(self) -> str | np.ndarray | None:
        """The prompt and generation so far: text (``"ansi"``), its image (``"rgb_array"``)."""
        if self.render_mode is None:
            return None
        text = self._render_text()
        return text_image(text) if self.render_mode == "rgb_array" else text

    def _render_text(self) -> str:
        prompt = self._input_ids[: self.max_prompt_tokens][
            self._mask[: self.max_prompt_tokens] == 1
        ]
        return (
            f"--- prompt ---\n{self.tokenizer.decode(prompt)}\n"
            f"--- generated ({len(self._generated)}/{self.max_new_tokens}) ---\n"
            f"{self.tokenizer.decode(self._generated)}\n"
        )


def episode_info(
    text: str, example: Example, new_tokens: int, hit_length_cap: bool, components: dict
) -> dict[str, Any]:
    """The info of an episode's last step (see the env's ``## info`` in the docs)."""
    return {
        "text": text,
        "example_id": example.id,
        "source": example.source,
        "references": example.references,
        "num_new_tokens": new_tokens,
        "hit_length_cap": hit_length_cap,
        "reward_components": components,
    }


class UnsupportedRenderModeError(ConfigError, TypeError):
    """Also a ``TypeError``: SB3's ``make_vec_env`` then retries without ``render_mode``."""
