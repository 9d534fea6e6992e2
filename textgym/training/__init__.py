"""The main job: train a causal LM with the stock SB3 PPO on a textgym env, then report.

- ``trainer.py``: :func:`train` (evaluate, train, evaluate again, save), :func:`build_ppo`,
  :func:`build_env` and :class:`TrainResult`.
- ``config.py``: :class:`TrainConfig`, every setting of a run; ``checks.py``: its checks.
- ``checkpoints.py`` and ``resume_state.py``: atomic checkpoints and what resumes a run
  exactly.
- ``run_folder.py``: which files a run owns in ``--out`` and when it is finished.
- ``held_out.py``: the run's held-out env (:func:`make_eval_env`) and its evaluations.
"""

from textgym.training.config import TrainConfig
from textgym.training.held_out import make_eval_env
from textgym.training.trainer import TrainResult, build_env, build_ppo, train

__all__ = ["TrainConfig", "TrainResult", "build_env", "build_ppo", "make_eval_env", "train"]
