"""Subcommands of the ``textgym`` command line."""
