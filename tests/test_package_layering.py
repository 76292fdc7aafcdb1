"""How the top-level packages may import each other, read from the source with ``ast`` (nothing is imported).

- No import cycle between the top-level packages, counting every import at any depth (inside functions, under
  ``try``), absolute and relative (resolved), and ``importlib.import_module("literal")``.
- ``tokenizers_ext`` imports no other package of ours; nothing imports ``tinylm_cli`` (the command line, which
  may import everything).
- ``hf_tinylm/modeling/`` is the set transformers copies flat next to saved weights: its files import each other
  with ``from .name import ...`` only, and nothing else of ours except inside ``try``/``except ImportError``.
"""

import ast
import dataclasses
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELING = ("hf_tinylm", "modeling")
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


@dataclasses.dataclass(frozen=True)
class Import:
    file: str  # relative to the root, with "/"
    line: int
    module: str  # absolute, relative imports resolved ("" when a relative import climbs above the top level)
    level: int  # 0 for absolute; the number of leading dots otherwise
    names: tuple  # what `from module import ...` takes; () for `import module`
    guarded: bool  # inside the body of a `try` that catches ImportError or ModuleNotFoundError

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def top_level_packages(root: Path) -> list:
    return sorted(path.parent.name for path in root.glob("*/__init__.py"))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(name, ast.Name) and name.id in IMPORT_ERRORS for name in caught)


def _guarded_nodes(tree: ast.AST) -> set:
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and any(
            handler.type is not None and _catches_import_error(handler) for handler in node.handlers
        ):
            guarded.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return guarded


def imports_of(path: Path, root: Path) -> list:
    """Every import in one file, at any depth."""
    relative = path.relative_to(root)
    parts = relative.with_suffix("").parts
    package = parts[:-1]  # the package a relative import starts from (for __init__.py: the package itself)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded = _guarded_nodes(tree)
    found = []

    def add(node, module, level=0, names=()):
        found.append(Import(relative.as_posix(), node.lineno, module, level, names, id(node) in guarded))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            if node.level == 0:
                add(node, node.module, 0, names)
                continue
            keep = len(package) - (node.level - 1)
            base = list(package[:keep]) if keep > 0 else []
            module = ".".join(base + ([node.module] if node.module else [])) if base else ""
            add(node, module, node.level, names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            add(node, node.args[0].value)
    return found


def package_graph(root: Path) -> dict:
    """{(importer, imported): [the imports behind the edge]} between the top-level packages of ``root``."""
    packages = set(top_level_packages(root))
    edges = {}
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            for found in imports_of(path, root):
                target = found.module.split(".")[0]
                if target in packages and target != package:
                    edges.setdefault((package, target), []).append(found)
    return edges


def find_cycle(edges: dict):
    """One cycle of the graph as [a, b, ..., a], or None."""
    successors = {}
    for source, target in sorted(edges):
        successors.setdefault(source, []).append(target)
    state = {}  # node -> "open" while on the DFS stack, "done" after

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for following in successors.get(node, []):
            if state.get(following) == "open":
                return stack[stack.index(following):] + [following]
            if following not in state:
                cycle = visit(following, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(successors):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def describe_cycle(cycle: list, edges: dict) -> str:
    steps = []
    for source, target in zip(cycle, cycle[1:]):
        evidence = ", ".join(f"{found.where()} ({found.module})" for found in edges[(source, target)])
        steps.append(f"  {source} → {target}: {evidence}")
    return " → ".join(cycle) + "\n" + "\n".join(steps)


def modeling_violations(root: Path) -> list:
    """Imports in hf_tinylm/modeling/ that a flat copy next to saved weights could not satisfy."""
    ours = set(top_level_packages(root))
    inside = ".".join(MODELING)
    paths = sorted(root.joinpath(*MODELING).rglob("*.py"))
    violations = [] if paths else [f"no .py files in {'/'.join(MODELING)}/ (moved? then update this test)"]
    for path in paths:
        for found in imports_of(path, root):
            if found.guarded or found.module.split(".")[0] not in ours | {""}:
                continue
            if found.level == 0:
                violations.append(f"{found.where()}: absolute import of {found.module}")
            elif found.level > 1 or not (found.module == inside or found.module.startswith(inside + ".")):
                violations.append(f"{found.where()}: {found.module or 'above the top level'} is outside {inside}")
            elif found.module == inside:
                violations.append(f"{found.where()}: `from . import` (transformers copies `from .name import` only)")
            elif found.module.count(".") != inside.count(".") + 1:
                violations.append(f"{found.where()}: {found.module} is in a subfolder (the copy is flat)")
    return violations


# ---- the project ---------------------------------------------------------------------------------------------
def test_the_packages_checked_are_the_ones_pyproject_ships():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as file:
        include = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(pattern.rstrip("*") for pattern in include) == top_level_packages(ROOT)


def test_no_import_cycle_between_the_top_level_packages():
    edges = package_graph(ROOT)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between packages: " + describe_cycle(cycle, edges)


def test_tokenizers_ext_imports_no_other_package_of_ours():
    edges = package_graph(ROOT)
    assert [found.where() for (source, _), imports in edges.items() if source == "tokenizers_ext"
            for found in imports] == []


def test_no_package_imports_the_command_line():
    edges = package_graph(ROOT)
    assert {source for (source, target) in edges if target == "tinylm_cli"} == set()


def test_the_modeling_folder_imports_only_itself():
    violations = modeling_violations(ROOT)
    assert violations == [], "\n".join(violations)


# ---- the checker itself, on a made-up tree ---------------------------------------------------------------------
def _write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_function_level_relative_and_dynamic_import_is_found(tmp_path):
    root = _write(tmp_path, {
        "alpha/__init__.py": "",
        "alpha/sub/__init__.py": "",
        "alpha/sub/deep.py": "def f():\n    from ..own import x\n    from beta.things import y\n",
        "alpha/own.py": "x = 1\n",
        "beta/__init__.py": "import importlib\nmod = importlib.import_module('gamma.z')\n",
        "gamma/__init__.py": "try:\n    import json\nexcept ImportError:\n    pass\n",
        "gamma/z.py": "from alpha import own\n",
    })
    edges = package_graph(root)
    assert sorted(edges) == [("alpha", "beta"), ("beta", "gamma"), ("gamma", "alpha")]
    cycle = find_cycle(edges)
    assert cycle == ["alpha", "beta", "gamma", "alpha"]
    assert "alpha/sub/deep.py:3 (beta.things)" in describe_cycle(cycle, edges)
    del edges[("gamma", "alpha")]
    assert find_cycle(edges) is None


def test_modeling_rules_on_a_made_up_folder(tmp_path):
    root = _write(tmp_path, {
        "hf_tinylm/__init__.py": "",
        "hf_tinylm/hub.py": "",
        "hf_tinylm/modeling/__init__.py": "",
        "hf_tinylm/modeling/ok.py": (
            "import torch\nfrom .other import thing\n"
            "try:\n    from hf_tinylm.hub import Mixin\nexcept (ImportError, AttributeError):\n    Mixin = object\n"
        ),
        "hf_tinylm/modeling/bad.py": (
            "from hf_tinylm.modeling.other import thing\n"
            "def later():\n    from ..hub import Mixin\n"
            "try:\n    from hf_tinylm import hub\nexcept ValueError:\n    pass\n"
        ),
    })
    assert modeling_violations(root) == [
        "hf_tinylm/modeling/bad.py:1: absolute import of hf_tinylm.modeling.other",
        "hf_tinylm/modeling/bad.py:3: hf_tinylm.hub is outside hf_tinylm.modeling",
        "hf_tinylm/modeling/bad.py:5: absolute import of hf_tinylm",
    ]
