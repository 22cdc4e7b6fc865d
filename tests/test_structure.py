"""The import structure is one-way (docs/architecture.md): no cycle between files or
between folders, and nothing below imports the leaderboard or the CLI.

The graph is read from the code's own ``import`` statements (every one, those inside
functions too: a lazy import is a dependency all the same), with `ast`; nothing is run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("episodes", "benchmark", "baselines", "methods", "leaderboard")


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `PACKAGES` under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The project modules ``tree`` imports (``from a.b import c`` is ``a.b.c`` when that
    is a module, else ``a.b``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import a.b.c` of a package-level name
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(root: Path = ROOT) -> nx.DiGraph:
    """Files as nodes (paths relative to ``root``), an edge from importer to imported."""
    modules = module_files(root)
    graph = nx.DiGraph()
    for name, path in modules.items():
        here = path.relative_to(root).as_posix()
        graph.add_node(here)
        for other in imported(ast.parse(path.read_text(), str(path)), modules):
            there = modules[other].relative_to(root).as_posix()
            if there != here:
                graph.add_edge(here, there)
    return graph


def folder_of(file: str) -> str:
    return file.rpartition("/")[0]


def folder_graph(files: nx.DiGraph) -> nx.DiGraph:
    folders = nx.DiGraph()
    for a, b in files.edges:
        if folder_of(a) != folder_of(b) and not folder_of(a).startswith(folder_of(b) + "/"):
            folders.add_edge(folder_of(a), folder_of(b))  # a package's own __init__ is not a cycle
    return folders


def cycles(graph: nx.DiGraph) -> list[set[str]]:
    return [c for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_no_cycle_between_files():
    found = cycles(import_graph())
    assert not found, "import cycles between files (break each: move what both need one layer down): " + "; ".join(
        " <-> ".join(sorted(c)) for c in found
    )


def test_no_cycle_between_folders():
    found = cycles(folder_graph(import_graph()))
    assert not found, (
        f"import cycles between folders (an import that runs against the layers of docs/architecture.md): {found}"
    )


def test_nothing_below_imports_the_leaderboard_or_the_cli():
    def rank(file: str) -> int:  # 2: the CLI (and `python -m benchmark`), 1: the leaderboard, 0: below
        return (
            2
            if file.startswith("benchmark/cli/") or file == "benchmark/__main__.py"
            else 1
            if file.startswith("leaderboard/")
            else 0
        )

    upward = [(a, b) for a, b in import_graph().edges if rank(b) > rank(a)]
    assert not upward, f"imports that run back up the layers: {upward}"


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The graph is not empty by mistake: a planted cycle and an upward import are seen."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "episodes" / "a.py").write_text("def f():\n    from episodes.b import g\n")
    (tmp_path / "episodes" / "b.py").write_text("from episodes import a\nimport leaderboard.c\n")
    (tmp_path / "leaderboard" / "c.py").write_text("")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [{"episodes/a.py", "episodes/b.py"}]
    assert ("episodes/b.py", "leaderboard/c.py") in graph.edges
    assert len(import_graph().edges) > 300  # the real tree is read
