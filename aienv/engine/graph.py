"""The component tree with cross-component dependencies, as Graphviz DOT or Mermaid.

Only components appear (as nodes, and as clusters/subgraphs when they contain components), plus
one edge per pair of components whose resources depend on each other (dependencies, property
dependencies and provider references), labelled with the number of such dependencies.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from aienv.engine.model import Plan


@dataclass
class ComponentGraph:
    names: dict[str, str]  # node id -> label
    children: dict[str | None, list[str]] = field(default_factory=dict)  # parent node -> child nodes
    edges: Counter[tuple[str, str]] = field(default_factory=Counter)


def component_graph(plan: Plan) -> ComponentGraph:
    root = plan.root.urn
    comps = [r for r in plan.resources if r.is_component]
    node_of = {c.urn: f"c{i}" for i, c in enumerate(comps)}
    graph = ComponentGraph(names={node_of[c.urn]: f"{c.name}\n{c.type}" for c in comps})
    parent_of = {r.urn: r.parent for r in plan.resources}
    for c in comps:
        parent = c.parent if c.parent in node_of else None
        graph.children.setdefault(node_of[parent] if parent else None, []).append(node_of[c.urn])

    owner_cache: dict[str, str | None] = {}

    def owner(urn: str) -> str | None:
        if urn in owner_cache:
            return owner_cache[urn]
        cur: str | None = urn
        while cur is not None and cur != root and cur not in node_of:
            cur = parent_of.get(cur)
        result = node_of.get(cur) if cur is not None else None
        owner_cache[urn] = result
        return result

    ancestors: dict[str, set[str]] = {}
    for c in comps:
        chain: set[str] = set()
        cur = c.parent
        while cur in node_of:
            chain.add(node_of[cur])
            cur = parent_of.get(cur)
        ancestors[node_of[c.urn]] = chain

    for r in plan.resources:
        src = owner(r.urn)
        if src is None:
            continue
        targets = set(r.dependencies)
        for urns in r.property_dependencies.values():
            targets.update(urns)
        if r.provider:
            targets.add(r.provider.rsplit("::", 1)[0])
        for t in targets:
            dst = owner(t)
            if dst is None or dst == src or dst in ancestors[src] or src in ancestors.get(dst, set()):
                continue
            graph.edges[(src, dst)] += 1
    return graph


def _q(text: str) -> str:
    return json.dumps(text)


def to_dot(plan: Plan) -> str:
    g = component_graph(plan)
    lines = [f"digraph {_q(plan.project + '-' + plan.stack)} {{", "  rankdir=LR;", "  compound=true;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica"];',
             '  edge [color="#666666", fontname="Helvetica", fontsize=10];']

    def emit(node: str, depth: int) -> None:
        pad = "  " * depth
        kids = g.children.get(node, [])
        label = _q(g.names[node]).replace("\\n", "\\n")
        if kids:
            lines.append(f"{pad}subgraph cluster_{node} {{")
            lines.append(f"{pad}  label={label};")
            lines.append(f'{pad}  style="rounded"; color="#8899bb";')
            lines.append(f"{pad}  {node} [label={label}];")
            for kid in kids:
                emit(kid, depth + 1)
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{node} [label={label}];")

    for top in g.children.get(None, []):
        emit(top, 1)
    for (src, dst), n in sorted(g.edges.items()):
        lines.append(f'  {src} -> {dst} [label="{n}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(plan: Plan) -> str:
    g = component_graph(plan)
    lines = ["flowchart LR"]

    def emit(node: str, depth: int) -> None:
        pad = "  " * depth
        kids = g.children.get(node, [])
        label = _mermaid_label(g.names[node])
        if kids:
            lines.append(f"{pad}subgraph sg_{node}[{label}]")
            lines.append(f"{pad}  {node}[{label}]")
            for kid in kids:
                emit(kid, depth + 1)
            lines.append(f"{pad}end")
        else:
            lines.append(f"{pad}{node}[{label}]")

    for top in g.children.get(None, []):
        emit(top, 1)
    for (src, dst), n in sorted(g.edges.items()):
        lines.append(f"  {src} -->|{n}| {dst}")
    return "\n".join(lines) + "\n"
