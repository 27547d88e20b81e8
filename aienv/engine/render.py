"""A `pulumi preview`-like text rendering of a plan: the resource tree and the counts."""

from __future__ import annotations

from aienv.engine.model import Plan, RecordedResource


def render_tree(plan: Plan, columns: int | None = None) -> list[str]:
    """The resource tree; on a terminal `columns` wide, the Type column narrows so that names fit where it can."""
    children: dict[str | None, list[RecordedResource]] = {}
    for r in plan.resources:
        if r.default_provider:
            continue
        children.setdefault(r.parent, []).append(r)
    rows: list[tuple[str, str]] = []

    def walk(rec: RecordedResource, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        rows.append((prefix + branch + rec.type, rec.name))
        kids = children.get(rec.urn, [])
        child_prefix = prefix if top else prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            walk(kid, child_prefix, i == len(kids) - 1, False)

    walk(plan.root, "", True, True)
    width = min(max(len(t) for t, _ in rows) + 2, 100)
    if columns:
        width = max(min(width, columns - 5 - max(len(n) for _, n in rows)), 24)
    lines = [f"     {'Type':<{width}}Name"]
    # A type longer than the column keeps two spaces before its name rather than running into it.
    lines += [f" +   {t:<{width}}{n}" if len(t) < width else f" +   {t}  {n}" for t, n in rows]
    return lines


def render_counts(plan: Plan) -> list[str]:
    s = plan.summary()
    lines = ["", "Resources:", f"    + {s['resources']} to create ({s['components']} components)", ""]
    lines.append("By cloud:")
    lines += [f"    {k:<12}{v:>6}" for k, v in s["by_cloud"].items()]
    lines += ["", "By component:"]
    types = s["component_types"]
    lines += [f"    {k:<40}{v:>6}  {types.get(k, '')}".rstrip() for k, v in s["by_component"].items()]
    lines += ["", "By resource type:"]
    lines += [f"    {k:<60}{v:>6}" for k, v in s["by_type"].items()]
    if s["outputs"]:
        lines += ["", "Outputs:"] + [f"    {k}" for k in s["outputs"]]
    return lines


def render_plan(plan: Plan, columns: int | None = None) -> str:
    return "\n".join(render_tree(plan, columns) + render_counts(plan)) + "\n"
