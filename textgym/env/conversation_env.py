"""A multi-turn, token-level env: the policy speaks one token per step, the env answers.

The policy writes a turn until EOS or ``max_turn_tokens`` tokens; the step that ends the
turn scores it with the game's reward and returns the observation with the partner's reply
(chat-templated) appended, and the policy goes on. Partner tokens are never actions: they
sit in the observation as context, so they get no log-prob, no gradient and no KL term.

Observation: as :class:`~textgym.env.TextGenEnv`'s, a ``Dict`` of ``input_ids`` and
``attention_mask`` of length ``max_prompt_tokens + max_conversation_tokens``: the opening
prompt left-padded in the first ``max_prompt_tokens`` slots, then the conversation (policy
and partner tokens in order). The episode ends (``terminated``) when the game is won, after
``max_turns`` turns, or when the conversation slots cannot hold another reply.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textgym.env.chat_turns import ChatTurns
from textgym.env.step_checks import check_action, check_eos_ids, check_positive, pick_index
from textgym.env.text_gen_env import UnsupportedRenderModeError
from textgym.env.text_image import text_image
from textgym.errors import ConfigError, EnvStateError
from textgym.games import Game, get_game
from textgym.models import DEFAULT_MODEL, load_tokenizer
from textgym.spaces import token_observation_space

ObsDict = dict[str, np.ndarray]
# what changes as the env runs (get_state / set_state, for training checkpoints)
_STATE = (
    "_ids",
    "_mask",
    "_history",
    "_turn",
    "_used",
    "_steps",
    "_turn_index",
    "_done",
    "_ended",
    "_example",
    "_np_random",
    "_np_random_seed",
    "_example_rng",
)


class ConversationEnv(gym.Env[ObsDict, int]):
    """A game played over several turns against a scripted partner.

    Args:
        game: A registered game name (``"guess_number"``, ``"word_guess"``) or a
            :class:`textgym.Game`.
        split: The game's examples to play: ``"train"`` or ``"test"``.
        tokenizer: Tokenizer (object, embedded name, HF name or path) of the policy.
        max_prompt_tokens: Slots of the opening prompt (left-padded).
        max_turns: The policy's turns per episode (default: the game's).
        max_turn_tokens: Tokens per policy turn (default: the game's).
        max_conversation_tokens: Slots for the turns and replies after the prompt
            (default: ``max_turns * (max_turn_tokens + 24)``).
        chat_template: Use the tokenizer's chat template when it has one.
        eos_token_ids: Tokens that end a turn (default: the tokenizer's EOS).
        render_mode: ``"ansi"`` (the conversation so far), ``"rgb_array"`` (its image, as
            SB3's ``make_vec_env`` asks for by default) or None.
        example_seed: Draw each episode's example from a generator seeded with this (envs
            with the same seed play the same games: groups of k samples).
        pad_after_eos: After the game ends, take idle steps (``info["idle"]``, reward 0)
            until ``max_turns * max_turn_tokens`` steps: every episode has the same length.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        game: str | Game = "guess_number",
        split: str = "train",
        tokenizer: Any = DEFAULT_MODEL,
        max_prompt_tokens: int = 160,
        max_turns: int | None = None,
        max_turn_tokens: int | None = None,
        max_conversation_tokens: int | None = None,
        chat_template: bool = True,
        eos_token_ids: Sequence[int] | None = None,
        render_mode: str | None = None,
        example_seed: int | None = None,
        pad_after_eos: bool = False,
    ) -> None:
        self.game = get_game(game)
        self.max_turns = max_turns or self.game.max_turns
        self.max_turn_tokens = max_turn_tokens or self.game.max_turn_tokens
        room = max_conversation_tokens or self.max_turns * (self.max_turn_tokens + 24)
        check_positive(
            max_prompt_tokens=max_prompt_tokens,
            max_turns=self.max_turns,
            max_turn_tokens=self.max_turn_tokens,
            max_conversation_tokens=room,
        )
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise UnsupportedRenderModeError(
                f"render_mode={render_mode!r} is not supported; use 'ansi', 'rgb_array' or None."
            )
        self.render_mode, self.split = render_mode, split
        self.examples = [dict(e) for e in self.game.examples(split)]
        if not self.examples:
            raise ConfigError(f"Game {self.game.name!r} has no examples in split {split!r}.")
        self.tokenizer = load_tokenizer(tokenizer)
        self.vocab_size = len(self.tokenizer)
        self.eos_token_ids = check_eos_ids(eos_token_ids, self.tokenizer, "max_turn_tokens")
        self.turns = ChatTurns(self.tokenizer, chat_template, self.eos_token_ids)
        self.max_prompt_tokens, self.room = max_prompt_tokens, room
        self.pad_token_id = next(
            int(t) for t in (self.tokenizer.pad_token_id, min(self.eos_token_ids)) if t is not None
        )
        length = max_prompt_tokens + room
        self.observation_space = token_observation_space(
            self.tokenizer, length, max_prompt_tokens, conversation=True
        )
        self.action_space = spaces.Discrete(self.vocab_size)
        self._ids = np.full(length, self.pad_token_id, dtype=np.int64)
        self._mask = np.zeros(length, dtype=np.int64)
        self._example_rng = None if example_seed is None else np.random.default_rng(example_seed)
        self.pad_after_eos = bool(pad_after_eos)
        self._done, self._ended = True, True
        self._history: list[dict[str, str]] = []
        self._turn: list[int] = []
        self._used = self._steps = self._turn_index = 0
        self._example: Mapping[str, Any] = self.examples[0]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsDict, dict[str, Any]]:
        """Start a game on a random example, or on ``options["index"]``."""
        super().reset(seed=seed)
        rng = self.np_random if self._example_rng is None else self._example_rng
        index = pick_index(options or {}, rng, len(self.examples))
        self._example = self.examples[index]
        opening = self.game.opening(self._example)
        prompt = self.turns.opening(opening)
        if len(prompt) > self.max_prompt_tokens:
            raise ConfigError(
                f"The opening of game {self.game.name!r} takes {len(prompt)} tokens; raise "
                f"max_prompt_tokens (now {self.max_prompt_tokens}) to at least {len(prompt)}."
            )
        self._ids.fill(self.pad_token_id)
        self._mask.fill(0)
        self._ids[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = prompt
        self._mask[self.max_prompt_tokens - len(prompt) : self.max_prompt_tokens] = 1
        self._history = [{"role": "user", "content": opening}]
        self._turn, self._used, self._steps, self._turn_index = [], 0, 0, 0
        self._done = self._ended = False
        return self._obs(), {"example_id": self._example["id"], "index": index, "turn": 0}

    def step(self, action: int | np.integer) -> tuple[ObsDict, float, bool, bool, dict[str, Any]]:
        """Append the token ``action`` to the policy's turn; end the turn on EOS or its cap."""
        if self._done:
            raise EnvStateError("step() was called after the episode ended; call reset() first.")
        token = check_action(action, self.vocab_size)
        self._steps += 1
        if self._ended:  # the game is over; idle steps pad the episode (pad_after_eos)
            self._done = self._steps >= self.max_turns * self.max_turn_tokens
            return self._obs(), 0.0, self._done, False, {"idle": True, "turn": self._turn_index}
        self._write([token])
        self._turn.append(token)
        by_eos = token in self.eos_token_ids
        if not (by_eos or len(self._turn) == self.max_turn_tokens or self._used == self.room):
            return self._obs(), 0.0, False, False, {"turn": self._turn_index}
        return self._end_turn(by_eos)

    def _end_turn(self, by_eos: bool) -> tuple[ObsDict, float, bool, bool, dict[str, Any]]:
        """Score the finished turn; let the partner answer or end the game."""
        text = self.tokenizer.decode(self._turn, skip_special_tokens=True).strip()
        self._history.append({"role": "assistant", "content": text})
        turn = self._turn_index
        reward = self._call("reward", turn, self._history, self._example)
        if isinstance(reward, bool) or not isinstance(reward, numbers.Real):
            raise self._error("reward", turn, f"returned {reward!r}, not a number")
        if not math.isfinite(reward):
            raise self._error("reward", turn, f"returned {reward!r}; a reward must be finite")
        reward = float(reward)
        won = bool(self._call("solved", turn, self._history, self._example))
        info: dict[str, Any] = {"turn": self._turn_index, "turn_text": text, "turn_reward": reward}
        self._turn, self._turn_index = [], self._turn_index + 1
        over = won or self._turn_index == self.max_turns
        if not over:
            reply = self._call("partner", turn, self._history, self._example, self.np_random)
            if not isinstance(reply, str):
                kind = type(reply).__name__
                raise self._error("partner", turn, f"returned a {kind}, not a string")
            tokens = self.turns.reply(reply, by_eos)
            if len(tokens) >= self.room:
                raise self._error(
                    "partner",
                    turn,
                    f"replied with {len(tokens)} tokens, more than the conversation's "
                    f"{self.room} slots (max_conversation_tokens): shorten the reply or raise it",
                )
            over = self._used + len(tokens) >= self.room  # no room for the reply and a token
            if not over:
                self._write(tokens)
                self._history.append({"role": "user", "content": reply})
        if over:
            self._ended = True
            self._done = not self.pad_after_eos or (
                self._steps >= self.max_turns * self.max_turn_tokens
            )
            info |= {
                "example_id": self._example["id"],
                "solved": won,
                "turns": self._turn_index,
                "transcript": [dict(m) for m in self._history],
            }
        return self._obs(), reward, self._done, False, info

    def _call(self, part: str, turn: int, *args: Any) -> Any:
        """Call the game's ``part`` after ``turn``; an exception names the game and turn."""
        try:
            return getattr(self.game, part)(*args)
        except Exception as exc:
            raise self._error(part, turn, f"raised {type(exc).__name__}: {exc}") from exc

    def _error(self, part: str, turn: int, what: str) -> GameError:
        return GameError(
            f"Game {self.game.name!r}, example {self._example['id']!r}, turn {turn}: its "
            f"{part} {what}."
        )

    def _write(self, tokens: Sequence[int]) -> None:
        start = self.max_prompt_tokens + self._used
        self._ids[start : start + len(tokens)] = tokens
        self._mask[start : start + len(tokens)] = 1
        self._used += len(tokens)

    def _obs(self) -> ObsDict:
        return {"input_ids": self._ids.copy(), "attention_mask": self._mask.copy()}

    def get_state(self) -> dict[str, Any]:
        """A copy of everything that changes as the env runs (the game, random streams)."""
        return copy.deepcopy({name: getattr(self, name) for name in _STATE})

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of an env built with the same arguments."""
        for name in _STATE:
            setattr(self, name, copy.deepcopy(state[name]))

    @property
    def history(self) -> list[dict[str, str]]:
        """The conversation so far (``{"role", "content"}`` messages, oldest first)."""
        return [dict(m) for m in self._history]

    def render(self) -> str | np.ndarray | None:
        """The conversation so far: text (``"ansi"``) or its image (``"rgb_array"``)."""
        if self.render_mode is None:
            return None
        lines = [f"{m['role']}: {m['content']}" for m in self._history]
        partial = self.tokenizer.decode(self._turn, skip_special_tokens=True)
        text = "\n".join(lines + ([f"assistant (writing): {partial}"] if self._turn else []))
        return text_image(text) if self.render_mode == "rgb_array" else text


class GameError(ConfigError):
    """A game's partner, reward or end test failed or returned something unusable."""
