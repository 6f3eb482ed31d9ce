"""The package's layers hold: no import cycles, and no module imports a higher layer,
not even inside a function (``if TYPE_CHECKING:`` blocks aside: they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "runner"

#: Low to high. A module may import its own layer or any lower one.
LAYERS: dict[str, int] = {
    "core": 0,
    "inrun": 1,
    "store": 2, "snapshot": 2, "envs": 2, "registry": 2,
    "api": 3,
    "execution": 4,
    "targets": 5, "sweep": 5, "integrations": 5,
    "cli": 6, "studio": 6, "server": 6, "widgets": 6, "__init__": 6, "__main__": 6,
    "compat": 6,
}

#: The most a module may be, in lines.
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    is_package = MODULES[module].name == "__init__.py"
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
        names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
                 for a in node.names]
    else:
        target = node.module or ""
        names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target
                 for a in node.names]
    return [name for name in names if name in MODULES and name != module]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                edges.update(_targets(module, node))
        # A subpackage's modules importing it means running its docstring-only __init__.
        graph[module] = {t for t in edges if not module.startswith(t + ".")}
    return graph


def layer_of(module: str) -> str:
    """The layer a module belongs to: its subpackage, or its own name at the top."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_module_has_a_layer() -> None:
    """Every module of the package belongs to a known layer."""
    assert [] == sorted(m for m in MODULES if layer_of(m) not in LAYERS)


def test_no_module_imports_a_higher_layer() -> None:
    """No module imports a module of a higher layer, at the top or inside a function."""
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            if LAYERS[layer_of(target)] > LAYERS[layer_of(module)]:
                upward.append(f"{module} -> {target}")
    assert [] == sorted(upward)


def test_import_graph_has_no_cycle() -> None:
    """The import graph, function-level imports included, has no cycle."""
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    for start in graph:  # iterative depth-first search; the path is kept on a stack
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                cycles.append([*path[path.index(child):], child])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    assert [] == cycles


def test_every_module_is_small() -> None:
    """No module is over the line limit."""
    lines = {m: p.read_text(encoding="utf-8").count("\n") for m, p in MODULES.items()}
    assert {} == {m: n for m, n in lines.items() if n > MAX_LINES}


@pytest.mark.parametrize("package", sorted(p for p in MODULES if MODULES[p].name == "__init__.py"))
def test_every_subpackage_says_what_it_owns(package: str) -> None:
    """Every subpackage's docstring says what it owns and what it may import."""
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
    assert doc
    if package != "runner":
        assert "import" in doc


#: Layers that run inside the user's interpreter, where nothing may be installed.
STDLIB_ONLY = ("core", "inrun", "store")


def test_in_run_layers_import_in_a_venv_with_nothing_installed(tmp_path: Path) -> None:
    """Every module of core, inrun and store imports in a bare virtualenv, and loads
    nothing outside the standard library."""
    import subprocess
    import venv

    venv.create(tmp_path / "bare", with_pip=False)
    python = tmp_path / "bare" / "bin" / "python"
    names = sorted(m for m in MODULES if layer_of(m) in STDLIB_ONLY)
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules}"
        " - set(sys.stdlib_module_names) - {'runner', '__main__'})))\n"
    )
    proc = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                          timeout=60)

    assert 0 == proc.returncode, proc.stderr
    assert [] == __import__("json").loads(proc.stdout.splitlines()[-1])
