"""Success rates on the multi-turn games' held-out examples: baselines and an untrained LM.

Each game's text strategies (a random guesser and a strong scripted one) play every test
example; the LM (greedy, one token per step through ``LMPolicy``, as PPO would sample it)
plays the first ``--model-games`` of them. Writes a JSON file (docs/results/games/).

Run: python examples/game_baselines.py [--model smollm2-135m-instruct] [--model-games 20]
     [--out docs/results/games/baselines.json]
"""

import argparse
import datetime
import json
from pathlib import Path

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import textgym
from textgym.atomic import write_text_atomic
from textgym.evaluation.games import play_games
from textgym.games import guess_number, word_guess
from textgym.policies import LMPolicy

GAMES = {"TextGuessNumber-v0": guess_number, "TextWordGuess-v0": word_guess}

parser = argparse.ArgumentParser()
parser.add_argument("--model", default=textgym.DEFAULT_MODEL)
parser.add_argument("--model-games", type=int, default=20, help="games the LM plays per env")
parser.add_argument("--out", default="docs/results/games/baselines.json")
args = parser.parse_args()

results = {"date": datetime.date.today().isoformat(), "model": args.model, "games": {}}
for env_id, game in GAMES.items():
    env = gym.make(env_id, split="test", tokenizer=args.model).unwrapped
    played = {name: play_games(env, s) for name, s in game.STRATEGIES.items()}
    venv = make_vec_env(env_id, n_envs=1, env_kwargs={"split": "test", "tokenizer": args.model})
    lm = PPO(LMPolicy, venv, policy_kwargs={"model": args.model}, seed=0)
    played["initial LM, greedy"] = play_games(env, lm, limit=args.model_games)
    players = {name: result.to_dict() for name, result in played.items()}
    transcripts = {name: result.transcripts[0] for name, result in played.items()}
    results["games"][env_id] = {
        "split": "test",
        "examples": len(env.examples),
        "players": players,
        "first_transcript": transcripts,  # of the first held-out example, for reading
    }
    for name, r in players.items():
        print(f"{env_id} {name}: {r['success_rate']:.2f} solved in {r['games']} games")
write_text_atomic(Path(args.out), json.dumps(results, indent=1) + "\n")
print(f"-> {args.out}")
