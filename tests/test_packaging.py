"""What an installed textgym holds: every package of the source tree is declared."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def source_packages() -> set[str]:
    """Dotted names of the folders with an ``__init__.py`` (``policies/`` is textgym.policies)."""
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "textgym").rglob("__init__.py")
        if "policies" not in init.relative_to(ROOT).parts
    }
    return found | {"textgym.policies"}


def test_every_package_is_declared_in_pyproject():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    missing = source_packages() - set(settings["packages"])
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
