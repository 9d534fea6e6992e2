"""The package layering, read from the source (no textgym module is imported).

- ``policies/`` (installed as ``textgym.policies``) plugs into the stock PPO and takes from
  the rest of textgym only its lowest layer: ``devices``, ``errors``, ``models`` and ``spaces``.
- No module imports another module's private names (``from x import _y``, ``x._y``) or
  from a private module (``from pkg._x import y``).
- The modules import each other without cycles at import time: imports inside functions and
  under ``if TYPE_CHECKING:`` are left out, as they run later or never.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What policies/ may import from textgym besides itself.
POLICY_IMPORTS = ("textgym.devices", "textgym.errors", "textgym.models", "textgym.spaces")


@dataclass(frozen=True)
class Import:
    """One ``import``/``from ... import`` of a textgym module: where, what, and when it runs."""

    line: int
    module: str  # the imported module (for ``from m import n``, ``m``)
    names: tuple[str, ...]  # the names of ``from m import n``; () for ``import m``
    top_level: bool  # runs when the module is imported (not in a function or TYPE_CHECKING)


def module_files() -> dict[str, Path]:
    """Dotted name -> file, for every module of textgym/ and policies/ (as textgym.policies)."""
    files = {}
    for folder, package in ((ROOT / "textgym", "textgym"), (ROOT / "policies", "textgym.policies")):
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[0] == "policies" and package == "textgym":
                continue  # the symlink to policies/, read once as textgym.policies
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join((package, *parts))] = path
    return files


MODULES = module_files()


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def absolute(module: str | None, level: int, importer: str) -> str:
    """The absolute name of a (possibly relative) ``from`` import in ``importer``."""
    if not level:
        return module or ""
    base = importer.split(".")
    base = base[: len(base) - level + (1 if is_package(importer) else 0)]
    return ".".join(base + ([module] if module else []))


@cache
def parse(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text("utf-8"))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str) -> Iterator[Import]:
    """Every import of a textgym module in module ``name``."""

    def walk(node: ast.AST, top_level: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "textgym":
                        yield Import(child.lineno, alias.name, (), top_level)
            elif isinstance(child, ast.ImportFrom):
                module = absolute(child.module, child.level, name)
                if module.split(".")[0] == "textgym":
                    names = tuple(alias.name for alias in child.names)
                    yield Import(child.lineno, module, names, top_level)
            elif isinstance(child, ast.If) and is_type_checking(child.test):
                for statement in child.body:
                    yield from walk(ast.Module([statement], []), False)
                for statement in child.orelse:
                    yield from walk(ast.Module([statement], []), top_level)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, False)
            else:
                yield from walk(child, top_level)

    yield from walk(parse(name), True)


def targets(found: Import) -> list[str]:
    """The textgym modules an import loads: ``from pkg import mod`` loads ``pkg.mod`` too."""
    loaded = [found.module] if found.module in MODULES else []
    loaded += [f"{found.module}.{n}" for n in found.names if f"{found.module}.{n}" in MODULES]
    return loaded


def where(name: str, found: Import) -> str:
    return f"{MODULES[name].relative_to(ROOT)}:{found.line}"


def test_modules_are_found():
    assert {"textgym", "textgym.errors", "textgym.policies", "textgym.policies.lm_policy"} <= set(
        MODULES
    )
    assert not any(".policies.policies" in name for name in MODULES)


def test_policies_import_only_the_lowest_layer_of_textgym():
    allowed = (*POLICY_IMPORTS, "textgym.policies")
    bad = [
        f"{where(name, found)} imports {found.module}"
        for name in MODULES
        if name.startswith("textgym.policies")
        for found in imports(name)
        if not any(found.module == a or found.module.startswith(a + ".") for a in allowed)
    ]
    assert not bad, (
        "policies/ may import from textgym only "
        + ", ".join(POLICY_IMPORTS)
        + (":\n" + "\n".join(bad))
    )


def private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def test_no_module_uses_another_modules_private_names():
    bad = []
    for name in MODULES:
        for found in imports(name):
            if found.module == name:
                continue
            if any(private(part) for part in found.module.split(".")):
                bad.append(f"{where(name, found)} imports from private module {found.module}")
            for imported in found.names:
                if private(imported):
                    bad.append(f"{where(name, found)} imports {imported} from {found.module}")
        bad += attribute_uses(name)
    assert not bad, "use public names (rename the helper if others need it):\n" + "\n".join(bad)


def attribute_uses(name: str) -> list[str]:
    """``alias._name`` where ``alias`` is a textgym module imported by ``import`` or ``from``."""
    tree = parse(name)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.name != name:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = absolute(node.module, node.level, name)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if full in MODULES and full != name:
                    aliases[alias.asname or alias.name] = full
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            owner = ast.unparse(node.value)
            if aliases.get(owner):
                bad.append(
                    f"{MODULES[name].relative_to(ROOT)}:{node.lineno} uses {owner}.{node.attr} "
                    f"(private to {aliases[owner]})"
                )
    return bad


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the textgym modules its top-level imports load (``deferred``: all imports).

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so those are edges
    too, except a module's own enclosing packages: they are already running when it is
    imported (a package importing its own modules to export their names is no cycle).
    """
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = set()
        for found in imports(name):
            if found.top_level or deferred:
                for target in targets(found):
                    parts = target.split(".")
                    edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        graph[name] = {
            t for t in edges if t in MODULES and t != name and not name.startswith(t + ".")
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_reports_a_readable_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_at_module_level():
    cycle = find_cycle(import_graph())
    assert cycle is None, (
        "import cycle (top-level imports): "
        + " -> ".join(cycle)
        + "\nmove the shared part to a lower module, or import inside the function that needs it."
    )


def test_no_import_cycles_even_through_deferred_imports():
    # An import inside a function or under TYPE_CHECKING runs later, but it is still a
    # dependency: two modules never need each other, whenever they import.
    cycle = find_cycle(import_graph(deferred=True))
    assert cycle is None, (
        "import cycle (counting imports inside functions and TYPE_CHECKING): "
        + " -> ".join(cycle)
        + "\nmove the shared part to a lower module, or pass plain values instead."
    )


@pytest.mark.parametrize("deferred", [False, True], ids=["import-time", "all-imports"])
def test_no_import_cycles_between_packages(deferred):
    # Layers, not only modules: two packages (or top-level modules) never import each other
    # both ways, even through different modules.

    def package(name: str) -> str:
        return ".".join(name.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for name, edges in import_graph(deferred).items():
        graph.setdefault(package(name), set()).update(
            package(t) for t in edges if t != "textgym" and package(t) != package(name)
        )
    cycle = find_cycle(graph)
    assert cycle is None, (
        "packages import each other at import time: "
        + " -> ".join(cycle)
        + "\n(textgym/__init__.py counts as the package 'textgym'; a top-level module as itself)"
    )


def only_reexports(tree: ast.Module) -> bool:
    """Whether a module body holds nothing but a docstring, imports and ``__all__``."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]:
            continue
        return False
    return True


def test_only_reexports_tells_a_shim_from_a_module():
    assert only_reexports(ast.parse('"""Moved."""\nfrom a import b\n__all__ = ["b"]\n'))
    assert not only_reexports(ast.parse("from a import b\n\ndef f():\n    return b\n"))


def test_no_shim_modules():
    # A module that only re-exports another's names is a second import path for them: the
    # package's __init__ may gather its modules' public names, nothing else may.
    shims = [
        str(MODULES[name].relative_to(ROOT))
        for name in MODULES
        if not is_package(name) and only_reexports(parse(name))
    ]
    assert not shims, "modules that only re-export names (import from the real home):\n" + (
        "\n".join(shims)
    )
