#!/usr/bin/env python3
"""Prints which top-level modules of src/ import which, and fails on a cycle or a layer breach.

    python3 scripts/module-graph.py            # the graph, one module per line; exit 1 on a problem
    python3 scripts/module-graph.py --dot      # the graph in Graphviz dot

A module's imports are the `crate::<module>` paths in its files (`use crate::{a, b::c}` counts
`a` and `b`; in a top-level module's own file `super::<module>` counts too), outside comments and
outside the `#[cfg(test)]` module at the end of a file. The layers (docs/ARCHITECTURE.md) are
listed below, lowest first: a module may import only modules on lower rows. `make lint` runs this.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module may import only modules on lower rows.
LAYERS: list[list[str]] = [
    ["clock", "domain", "trust", "healthcheck"],
    ["config", "store"],
    ["auth", "scenario", "events", "telemetry"],
    ["resource"],
    ["fixtures"],
    ["error", "state"],
    ["http"],
    ["api"],
    ["smtp"],
    ["persist"],
    ["startup"],
]

# Imports that break the layers today and are being removed; each is reported, none fails the
# check. Keep this empty: an entry is a debt with a name on it.
KNOWN: dict[tuple[str, str], str] = {}

ROW = {module: row for row, modules in enumerate(LAYERS) for module in modules}


def modules() -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for entry in sorted(SRC.iterdir()):
        if entry.name in ("lib.rs", "main.rs"):
            continue
        if entry.is_dir():
            found[entry.name] = sorted(entry.rglob("*.rs"))
        elif entry.suffix == ".rs":
            found[entry.stem] = [entry]
    return found


def strip(text: str) -> str:
    """`text` without comments and with string and char literals emptied (one pass, so that
    `"://"` is no comment and `'"'` no string)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + len(hashes) + 2)
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", text[i:]):
            out.append("' '")
            i += len(re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", text[i:]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def code_of(path: Path) -> str:
    """The file's code: no comments, no literals' contents, not its trailing test module."""
    text = path.read_text()
    cut = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+", text, re.M)
    if cut:
        text = text[: cut.start()]
    return strip(text)


def imports(name: str, files: list[Path], known: set[str]) -> set[str]:
    found: set[str] = set()
    for path in files:
        code = code_of(path)
        roots = ["crate"]
        # In a top-level module's own file (src/x.rs, src/x/mod.rs), `super` is the crate.
        if path.parent == SRC or path.name == "mod.rs" and path.parent.parent == SRC:
            roots.append("super")
        for root in roots:
            for m in re.finditer(rf"\b{root}::(\w+)", code):
                found.add(m.group(1))
            for m in re.finditer(rf"\b{root}::\{{([^}}]*(?:\{{[^}}]*\}}[^}}]*)*)\}}", code):
                for item in re.split(r",", re.sub(r"\{[^}]*\}", "", m.group(1))):
                    head = item.strip().split("::")[0].strip()
                    if head:
                        found.add(head)
    return {m for m in found if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's nodes once (Tarjan's strongly connected components > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    found = modules()
    names = set(found)
    graph = {name: imports(name, files, names) for name, files in found.items()}
    if "--dot" in sys.argv:
        print("digraph modules {\n  rankdir=BT;")
        for name in sorted(graph):
            for dep in sorted(graph[name]):
                print(f"  {name} -> {dep};")
        print("}")
        return 0
    problems: list[str] = []
    notes: list[str] = []
    for name in sorted(graph, key=lambda n: (ROW.get(n, -1), n)):
        row = ROW.get(name)
        print(f"{row if row is not None else '?'}  {name:12} -> {', '.join(sorted(graph[name])) or '-'}")
        if row is None:
            problems.append(f"{name}: not in a layer (add it to LAYERS in {Path(__file__).name})")
            continue
        for dep in sorted(graph[name]):
            if ROW.get(dep, -1) < row:
                continue
            if (name, dep) in KNOWN:
                notes.append(f"{name} -> {dep}: known, being removed: {KNOWN[(name, dep)]}")
            else:
                problems.append(
                    f"{name} (row {row}) imports {dep} (row {ROW.get(dep)}): only lower rows may be imported"
                )
    known_edges = set(KNOWN)
    for component in cycles({n: {d for d in deps if (n, d) not in known_edges} for n, deps in graph.items()}):
        problems.append(f"import cycle between {', '.join(component)}")
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
