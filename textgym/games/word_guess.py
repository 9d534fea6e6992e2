"""Guess the word: a five-letter secret word, and after each guess the letter pattern.

The partner marks each letter of a guess as in Wordle: ``G`` (right letter, right place),
``Y`` (in the word, elsewhere) or ``-`` (not in it; repeated letters are counted). Reward on
the turn the word is found: 1 for the first turn, falling linearly to 0.5 for the last.
"""

from __future__ import annotations

import importlib.resources
import re
from collections import Counter
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from textgym.games.game import Game, History

MAX_TURNS = 6
WORD = re.compile(r"\b[a-zA-Z]{5}\b")


@cache
def words() -> tuple[str, ...]:
    """The shipped word list (``textgym/data/games/words.txt``)."""
    text = (importlib.resources.files("textgym.data") / "games" / "words.txt").read_text()
    return tuple(text.split())


def examples(split: str) -> list[dict[str, Any]]:
    """One example per secret word: ``test`` every fifth word, ``train`` the others."""
    held_out = split in ("test", "validation", "eval")
    chosen = [w for i, w in enumerate(words()) if (i % 5 == 0) == held_out]
    return [{"id": f"word-{w}", "secret": w} for w in chosen]


def opening(example: Mapping[str, Any]) -> str:
    """The rules."""
    return (
        "Guess my secret five-letter English word. Answer with one word. For each letter of "
        "your guess I answer G (right letter, right place), Y (in the word, elsewhere) or - "
        "(not in the word)."
    )


def guess(text: str) -> str | None:
    """The last five-letter word in ``text`` ("My guess is CRANE"), lower-cased, or None."""
    found = WORD.findall(text)
    return found[-1].lower() if found else None


def pattern(guessed: str, secret: str) -> str:
    """Wordle's marks of ``guessed`` against ``secret``, e.g. ``"G-Y--"``."""
    marks = ["G" if g == s else "-" for g, s in zip(guessed, secret, strict=True)]
    left = Counter(s for s, m in zip(secret, marks, strict=True) if m != "G")
    for i, letter in enumerate(guessed):
        if marks[i] == "-" and left[letter] > 0:
            marks[i], left[letter] = "Y", left[letter] - 1
    return "".join(marks)


def partner(history: History, example: Mapping[str, Any], rng: np.random.Generator) -> str:
    """The guess's pattern, or a request for one five-letter word."""
    guessed = guess(history[-1]["content"])
    if guessed is None:
        return "Please answer with one five-letter word."
    return f"{guessed}: {' '.join(pattern(guessed, example['secret']))}"


def solved(history: History, example: Mapping[str, Any]) -> bool:
    """Whether the last guess is the secret word."""
    return guess(history[-1]["content"]) == example["secret"]


def reward(history: History, example: Mapping[str, Any]) -> float:
    """1 on a first-turn win down to 0.5 on the last turn; 0 for a turn that does not win."""
    if not solved(history, example):
        return 0.0
    turn = sum(m["role"] == "assistant" for m in history)
    return 1.0 - 0.5 * (turn - 1) / (MAX_TURNS - 1)


WORD_GUESS = Game(
    "word_guess", examples, opening, partner, reward, solved, max_turns=MAX_TURNS, max_turn_tokens=8
)


def feedback(history: History) -> list[tuple[str, str]]:
    """``(guess, pattern)`` of every answered guess so far."""
    found = []
    for answer in history[2::2]:
        guessed, sep, marks = answer["content"].partition(": ")
        if sep and len(guessed) == 5:
            found.append((guessed, marks.replace(" ", "")))
    return found


def random_strategy(history: History, rng: np.random.Generator) -> str:
    """A baseline: a random word of the list each turn."""
    return words()[int(rng.integers(len(words())))]


def consistent_strategy(history: History, rng: np.random.Generator) -> str:
    """A strong baseline: a random word that fits every pattern seen so far."""
    seen = feedback(history)
    fits = [w for w in words() if all(pattern(g, w) == p for g, p in seen)]
    return fits[int(rng.integers(len(fits)))] if fits else random_strategy(history, rng)


STRATEGIES = {"random": random_strategy, "consistent": consistent_strategy}
