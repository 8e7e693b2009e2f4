"""The package's shape drawn from its imports: rooms, layers, arrows running up, circles, deferred.

    python bench/bench_structure.py [--depth N] [--list]

A *room* is a module or package `--depth` names deep under `digest` (2: `digest.web`,
`digest.model`; 3: `digest.web.app`); its submodules count as the room (`__main__`, the entry
point above the CLI, is left out). An *arrow* is one room
importing another at module level (imports under `if TYPE_CHECKING:` are for the type checker
and are left out). *Layers* are the longest chain of arrows, counted in rooms, once every circle
is drawn as one room. *Arrows running up* are the arrows that close a circle: the fewest that
would have to go for the rooms to stack (found greedily, so an upper bound). *Deferred* imports
are `digest` imports inside a function; the figures are given without and with them.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "digest"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    deferred: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            continue
        inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield child, inside
        yield from _walk(child, inside)


def _targets(node: ast.AST, name: str, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the importer's package, up `level - 1` packages
        package = name.split(".") if _is_package(name, known) else name.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]


def _is_package(name: str, known: set[str]) -> bool:
    return any(other.startswith(name + ".") for other in known)


def imports() -> list[Import]:
    found = modules()
    known = set(found)
    out = []
    for name, path in found.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, deferred in _walk(tree, False):
            for target in _targets(node, name, known):
                if target.split(".")[0] == "digest" and target != name:
                    out.append(Import(name, target, getattr(node, "lineno", 0), deferred))
    return sorted(set(out), key=lambda i: (i.importer, i.line, i.imported))


def room(name: str, depth: int) -> str:
    return ".".join(name.split(".")[:depth])


def arrows(found: list[Import], depth: int, deferred: bool) -> set[tuple[str, str]]:
    return {
        (room(i.importer, depth), room(i.imported, depth))
        for i in found
        if (deferred or not i.deferred)
        and room(i.importer, depth) != room(i.imported, depth)
        and room(i.imported, depth) != "digest"
        and room(i.importer, depth) != "digest.__main__"
    }


def circles(nodes: set[str], edges: set[tuple[str, str]]) -> list[set[str]]:
    """Strongly connected parts with more than one room (Tarjan)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while True:
                w = stack.pop()
                on.discard(w)
                part.add(w)
                if w == v:
                    break
            out.append(part)

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return [c for c in out if len(c) > 1]


def layers(nodes: set[str], edges: set[tuple[str, str]]) -> int:
    """The longest chain of rooms once each circle is one room."""
    return len(longest_chain(nodes, edges))


def longest_chain(nodes: set[str], edges: set[tuple[str, str]]) -> list[str]:
    """The rooms of the longest chain of arrows, top first (a circle shows as its first room)."""
    where = {n: n for n in nodes}
    for c in circles(nodes, edges):
        label = min(c)
        for n in c:
            where[n] = label
    dag = {(where[a], where[b]) for a, b in edges if where[a] != where[b]}
    below: dict[str, list[str]] = {}

    def chain(n: str) -> list[str]:
        if n not in below:
            longest = max((chain(b) for a, b in dag if a == n), key=len, default=[])
            below[n] = [n, *longest]
        return below[n]

    return max((chain(n) for n in sorted(set(where.values()))), key=len, default=[])


def arrows_up(nodes: set[str], edges: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """A small set of arrows whose removal stacks the rooms (Eades, Lin and Smyth's greedy)."""
    left = set(nodes)
    live = set(edges)
    first: list[str] = []
    last: list[str] = []
    while left:
        changed = True
        while changed:
            changed = False
            for n in sorted(left):
                if not any(a == n and b in left for a, b in live):  # a sink: to the end
                    last.insert(0, n)
                    left.discard(n)
                    changed = True
                elif not any(b == n and a in left for a, b in live):  # a source: to the front
                    first.append(n)
                    left.discard(n)
                    changed = True
        if left:
            best = max(
                sorted(left),
                key=lambda n: (
                    sum(1 for a, b in live if a == n and b in left)
                    - sum(1 for a, b in live if b == n and a in left)
                ),
            )
            first.append(best)
            left.discard(best)
    order = {n: i for i, n in enumerate(first + last)}
    return sorted((a, b) for a, b in edges if order[a] > order[b])


def report(depth: int, listing: bool) -> None:
    found = imports()
    nodes = {room(n, depth) for n in modules()} - {"digest", "digest.__main__"}
    deferred = [i for i in found if i.deferred]
    for label, with_deferred in (("module-level imports", False), ("with deferred", True)):
        edges = arrows(found, depth, with_deferred)
        loops = circles(nodes, edges)
        up = arrows_up(nodes, edges)
        print(f"{label}: {len(nodes)} rooms, {len(edges)} arrows, {layers(nodes, edges)} layers")
        if listing:
            print("  longest chain: " + " -> ".join(longest_chain(nodes, edges)))
        print(f"  arrows running up: {len(up)}" + ("".join(f"\n    {a} -> {b}" for a, b in up)))
        sizes = ", ".join(str(len(c)) for c in loops) or "none"
        print(f"  circles: {len(loops)} (rooms in each: {sizes})")
        if listing:
            for c in loops:
                print("    " + " ↔ ".join(sorted(c)))
    print(f"deferred digest imports: {len(deferred)}")
    if listing:
        for i in deferred:
            print(f"  {i.importer}:{i.line} -> {i.imported}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2, help="2: digest.X rooms; 3: digest.X.Y")
    parser.add_argument("--list", action="store_true", help="name the circles and deferred imports")
    args = parser.parse_args()
    report(args.depth, args.list)


if __name__ == "__main__":
    main()
