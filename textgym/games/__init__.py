"""Multi-turn tasks: a :class:`Game` is played by the policy against a scripted partner.

- ``game.py``: :class:`Game`, :func:`register_game`, :func:`get_game`.
- ``guess_number.py``: find a number from 1 to 100 from "higher" / "lower" answers (and
  ``guess_number_shaped``, the same game with a denser reward).
- ``word_guess.py``: find a five-letter word from Wordle's letter marks.
- ``simulated_user.py``: chat with a user played by a language model, any reward per turn.
"""

from textgym.games.game import Game, History, Message, get_game, known_games, register_game
from textgym.games.guess_number import GUESS_NUMBER, GUESS_NUMBER_SHAPED
from textgym.games.simulated_user import LMUser, simulated_user_game
from textgym.games.word_guess import WORD_GUESS

for _game in (GUESS_NUMBER, GUESS_NUMBER_SHAPED, WORD_GUESS, simulated_user_game()):
    register_game(_game)

__all__ = [
    "GUESS_NUMBER",
    "GUESS_NUMBER_SHAPED",
    "WORD_GUESS",
    "Game",
    "History",
    "LMUser",
    "Message",
    "get_game",
    "known_games",
    "register_game",
    "simulated_user_game",
]
