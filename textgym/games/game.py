"""What a multi-turn task is: a :class:`Game`, and the registry of games by name.

A game is played by the policy against a partner the environment plays. The policy writes a
turn (tokens until EOS or ``max_turn_tokens``); the game scores the turn, says whether the
game is won, and otherwise the partner answers. Messages are ``{"role", "content"}`` dicts,
``"assistant"`` for the policy and ``"user"`` for the partner, oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textgym.errors import ConfigError, unknown_name

Message = dict[str, str]
History = list[Message]


@dataclass(frozen=True)
class Game:
    """A multi-turn task: its examples, the opening message, the partner and the reward.

    Args:
        name: The name ``ConversationEnv(game=...)`` takes.
        examples: ``split -> rows``: the hidden state of each episode (e.g. the secret
            number), one dict per example with an ``"id"``.
        opening: ``(example) -> text``: the partner's first message, which states the game.
        partner: ``(history, example, rng) -> text``: the partner's answer to the policy's
            last turn (the last message of ``history``).
        reward: ``(history, example) -> float``: the reward of the policy's last turn.
        solved: ``(history, example) -> bool``: whether the game is won (the episode ends).
        max_turns: The policy's turns per episode (default of the env).
        max_turn_tokens: Tokens per policy turn (default of the env).
    """

    name: str
    examples: Callable[[str], Sequence[Mapping[str, Any]]]
    opening: Callable[[Mapping[str, Any]], str]
    partner: Callable[[History, Mapping[str, Any], np.random.Generator], str]
    reward: Callable[[History, Mapping[str, Any]], float]
    solved: Callable[[History, Mapping[str, Any]], bool]
    max_turns: int = 8
    max_turn_tokens: int = 12

    def __post_init__(self) -> None:
        for part in ("examples", "opening", "partner", "reward", "solved"):
            if not callable(getattr(self, part)):
                raise ConfigError(
                    f"Game {self.name!r}: {part} must be a function, got "
                    f"{type(getattr(self, part)).__name__}; see textgym.Game for its signature."
                )
        for limit in ("max_turns", "max_turn_tokens"):
            value = getattr(self, limit)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Game {self.name!r}: {limit}={value!r} must be an integer >= 1.")


_GAMES: dict[str, Game] = {}
ENTRY_POINT = "textgym.env:ConversationEnv"


def register_game(
    game: Game, env_id: str | None = None, *, overwrite: bool = False, **env_kwargs: Any
) -> Game:
    """Make ``game`` usable by name and, with ``env_id``, as a Gymnasium env id.

    The env id is ``ConversationEnv(game=game.name, **env_kwargs)``. A different game of the
    same name, or an env id registered otherwise, needs ``overwrite=True``. New processes know
    the id once the module that registers it is imported: name it ``module:EnvId``.
    """
    import gymnasium as gym

    if not isinstance(game, Game):
        raise ConfigError(f"register_game takes a textgym.Game, not a {type(game).__name__}.")
    known = _GAMES.get(game.name)
    if known is not None and known is not game and not overwrite:
        raise ConfigError(
            f"A different game {game.name!r} is already registered; pick another name or pass "
            "overwrite=True to replace it."
        )
    kwargs = {"game": game.name, **env_kwargs}
    spec = gym.registry.get(env_id) if env_id else None
    if spec is not None and (spec.entry_point, spec.kwargs) != (ENTRY_POINT, kwargs):
        if not overwrite:
            raise ConfigError(
                f"Env id {env_id!r} is already registered for something else; pick another id "
                "or pass overwrite=True to replace it."
            )
        del gym.registry[env_id]
    _GAMES[game.name] = game
    if env_id and env_id not in gym.registry:
        gym.register(env_id, entry_point=ENTRY_POINT, kwargs=kwargs)
    return game


def get_game(game: str | Game) -> Game:
    """The game named ``game`` (a :class:`Game` is returned as is)."""
    if isinstance(game, Game):
        return game
    if game not in _GAMES:
        raise unknown_name("game", str(game), _GAMES, "Register it with textgym.register_game.")
    return _GAMES[game]


def known_games() -> list[str]:
    """The names of the registered games."""
    return sorted(_GAMES)
