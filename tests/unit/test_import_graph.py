"""No import cycles in the service, the worker or the UI (issue 10), counting the imports made
inside functions: a cycle hidden by a function-local import still ties two modules together."""

from __future__ import annotations

import sys

import grimp


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle() -> None:
    graph = grimp.build_graph("service", "worker", "ui")
    assert len(graph.modules) > 100, "the packages were read"
    assert cycles(graph) == []


def test_a_circle_is_found() -> None:
    """The check itself: a graph with a cycle through a function-local import is caught."""
    graph = grimp.ImportGraph()
    for name in ("a", "a.cli", "a.stack", "a.leaf"):
        graph.add_module(name)
    graph.add_import(importer="a.cli", imported="a.stack")
    graph.add_import(importer="a.stack", imported="a.cli")
    graph.add_import(importer="a.stack", imported="a.leaf")
    assert cycles(graph) == [["a.cli", "a.stack"]]
