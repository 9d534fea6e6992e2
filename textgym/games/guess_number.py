"""Guess the number: the partner thinks of a number and answers each guess higher or lower.

Deterministic and exact: a policy that halves the range (binary search) always wins within
``ceil(log2(HIGH))`` turns. Reward: 1 on the turn the number is found, else 0.

``guess_number_shaped`` is the same game with a denser reward for a policy that rarely writes a
number at first (the untrained model): besides the 1 for finding the number, each turn earns
``SHAPING`` for a guess from 1 to 100 and ``SHAPING`` more when the answers so far allow that
number. Eight turns of shaping (at most 0.8) pay less than finding the number, so the shaping
never pays for dragging a game on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from textgym.games.game import Game, History

LOW, HIGH = 1, 100
NUMBER = re.compile(r"-?\d+")
# the held-out secrets: every fifth number; the others are trained on
SPLITS = {
    "train": [n for n in range(LOW, HIGH + 1) if n % 5],
    "test": [n for n in range(LOW, HIGH + 1) if not n % 5],
}


def examples(split: str) -> list[dict[str, Any]]:
    """One example per secret number of ``split`` (``train`` or ``test``)."""
    if split not in SPLITS:
        split = "test" if split in ("validation", "eval") else split
    return [{"id": f"number-{n}", "secret": n} for n in SPLITS[split]]


def opening(example: Mapping[str, Any]) -> str:
    """The rules."""
    return (
        f"I am thinking of a whole number from {LOW} to {HIGH}. Guess it: answer with one "
        "number. After each guess I say whether my number is higher or lower."
    )


def guess(text: str) -> int | None:
    """The first whole number in ``text``, or None."""
    found = NUMBER.search(text)
    return int(found.group()) if found else None


def partner(history: History, example: Mapping[str, Any], rng: np.random.Generator) -> str:
    """``Higher.``, ``Lower.`` or a request for one number."""
    number = guess(history[-1]["content"])
    if number is None or not LOW <= number <= HIGH:
        return f"Please answer with one whole number from {LOW} to {HIGH}."
    return "Higher." if example["secret"] > number else "Lower."


def solved(history: History, example: Mapping[str, Any]) -> bool:
    """Whether the last guess is the secret."""
    return guess(history[-1]["content"]) == example["secret"]


def reward(history: History, example: Mapping[str, Any]) -> float:
    """1 for the turn that finds the number."""
    return float(solved(history, example))


GUESS_NUMBER = Game(
    "guess_number", examples, opening, partner, reward, solved, max_turns=8, max_turn_tokens=8
)


def remaining_range(history: History) -> tuple[int, int]:
    """The numbers the partner's answers so far allow, as ``(low, high)``."""
    low, high = LOW, HIGH
    for said, answer in zip(history[1::2], history[2::2], strict=False):
        number = guess(said["content"])
        if number is None:
            continue
        if answer["content"] == "Higher.":
            low = max(low, number + 1)
        elif answer["content"] == "Lower.":
            high = min(high, number - 1)
    return low, high


SHAPING = 0.05


def shaped_reward(history: History, example: Mapping[str, Any]) -> float:
    """1 for the turn that finds the number; else ``SHAPING`` per rule the guess follows.

    The rules: a whole number from 1 to 100; one the earlier answers allow.
    """
    if solved(history, example):
        return 1.0
    number = guess(history[-1]["content"])
    if number is None or not LOW <= number <= HIGH:
        return 0.0
    low, high = remaining_range(history[:-1])
    return SHAPING * (1 + (low <= number <= high))


GUESS_NUMBER_SHAPED = replace(GUESS_NUMBER, name="guess_number_shaped", reward=shaped_reward)


def random_strategy(history: History, rng: np.random.Generator) -> str:
    """A baseline: a uniformly random number each turn."""
    return str(int(rng.integers(LOW, HIGH + 1)))


def binary_search(history: History, rng: np.random.Generator) -> str:
    """The optimal strategy: the middle of the range the answers so far leave."""
    low, high = remaining_range(history)
    return str((low + high) // 2)


STRATEGIES = {"random": random_strategy, "binary_search": binary_search}
