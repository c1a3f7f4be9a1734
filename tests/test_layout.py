"""The package's shape: rooms by role, no import cycles, small modules (no Spark needed)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "spark_job"
#: Rooms in the order of the flow: a room may import only rooms after it in this list
#: (``dev`` is development tooling: nothing in the job imports it).
ROOMS = [
    "dev", "__main__", "main", "deploy", "run", "sinks", "sources", "bigquery", "scoring",
    "report", "storage", "formats", "spec", "errors", "spark_lines",
]  # fmt: skip
MAX_TOP_MODULES = 6
MAX_LINES = 420


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every spark_job module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("spark_job")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.startswith("spark_job"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in _imports(path) if i in modules and i != name}
            for name, path in modules.items()}  # fmt: skip


def _room(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_rooms_import_only_the_rooms_below_them() -> None:
    wrong = []
    for module, imported in _graph().items():
        mine = ROOMS.index(_room(module)) if "." in module else -1
        for other in imported:
            room = _room(other)
            if room != _room(module) and ROOMS.index(room) <= mine:
                wrong.append(f"{module} -> {other}")
    assert not wrong, "imports against the flow:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_few_modules_at_the_top_and_none_large() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top
    large = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
             if (n := len(p.read_text().splitlines())) > MAX_LINES}  # fmt: skip
    assert not large, f"modules over {MAX_LINES} lines: {large}"


def test_formats_have_no_spark_imports() -> None:
    spark = [str(p.name) for p in (PACKAGE / "formats").glob("*.py")
             if "pyspark" in p.read_text()]  # fmt: skip
    assert not spark


def test_every_module_imports() -> None:
    """Each module on its own (dev tooling included), as a worker or spark-submit imports it."""
    import importlib

    for name in sorted(_graph()):
        if name != "spark_job.__main__":
            importlib.import_module(name)
