"""The data flows one way (DESIGN.md section 2): reader -> tokens -> embedder -> head -> metric ->
cell -> report. Read from the source (every ``import``, also those inside functions): no two
modules import each other, directly or round a longer loop, and no room reaches a room it must not
know."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "elmo_bench"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # an embedder knows no task, head, training loop, grid or report
    "elmo_bench.embedders": (
        "elmo_bench.heads", "elmo_bench.task", "elmo_bench.families", "elmo_bench.training",
        "elmo_bench.runner", "elmo_bench.report", "elmo_bench.curves", "elmo_bench.cell",
        "elmo_bench.compared",
    ),
    # the report reads result files: it builds no model
    "elmo_bench.report": (
        "elmo_bench.embedders", "elmo_bench.heads", "elmo_bench.training", "elmo_bench.runner",
        "elmo_bench.pretrain", "elmo_bench.finetune", "elmo_bench.compared",
    ),
    # a reader knows no model
    "elmo_bench.data": (
        "elmo_bench.embedders", "elmo_bench.heads", "elmo_bench.pretrain", "elmo_bench.finetune",
        "elmo_bench.training", "elmo_bench.task", "elmo_bench.families", "elmo_bench.runner",
        "elmo_bench.compared",
    ),
    # a head sees tensors (it may read the embedders' layer types): no files, tasks or grid
    "elmo_bench.heads": (
        "elmo_bench.data", "elmo_bench.task", "elmo_bench.families",
        "elmo_bench.runner", "elmo_bench.report", "elmo_bench.compared",
    ),
    # a task does not drive the grid
    "elmo_bench.task": ("elmo_bench.runner", "elmo_bench.curves", "elmo_bench.report"),
    "elmo_bench.families": ("elmo_bench.runner", "elmo_bench.curves", "elmo_bench.report"),
}
"""Module prefix -> prefixes it must not import."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The elmo_bench modules ``path`` imports (``from package import module`` counts as the
    module; ``from module import name`` as the module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in modules else source)
    return {module for module in found if module in modules and module != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iteratively
    written out here because the standard library has none and a graph library for one test is
    more weight than these lines)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "elmo_bench.embedders.elmo.embedder" in graph
    assert "elmo_bench.embedders.base" in graph["elmo_bench.embedders.static"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_two_modules_import_each_other():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_no_room_reaches_a_room_it_must_not_know(room):
    broken = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items() if under(module, room)
        for target in targets
        for forbidden in FORBIDDEN[room] if under(target, forbidden)
    )
    assert broken == []
