"""Moved to :mod:`textgym.validity`; this module re-exports its public names.

Import from :mod:`textgym.validity` in new code. (Patching a name here does not reach the
package: e.g. patch ``textgym.validity.run.score_summaries``, where
:func:`~textgym.validity.validate_rewards` looks it up.)
"""

from textgym.validity import *  # noqa: F403
from textgym.validity import __all__  # noqa: F401
