"""Datasets for textgym's tasks: load rows from files, lists or ``datasets`` as examples."""

from textgym.data.example import Example
from textgym.data.loading import TASKS, load_examples

__all__ = ["TASKS", "Example", "load_examples"]
