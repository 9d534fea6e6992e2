"""Datasets for textgym's tasks: load rows from files, lists or ``datasets`` as examples."""

from textgym.data.example import Example
from textgym.data.loading import load_examples
from textgym.tasks import BUILTIN_TASKS as TASKS

__all__ = ["TASKS", "Example", "load_examples"]
