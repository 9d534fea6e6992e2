"""Tools around reward-model training: pairs, duplicates, splits, length baselines and fits.

Each module holds one idea and imports only numpy (torch inside functions), so
:mod:`textgym.rewards.reward_model` can read a saved length fit without loading a trainer.
"""
