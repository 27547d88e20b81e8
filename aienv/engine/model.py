"""The captured resource graph: `RecordedResource`, `Plan` and `ProgramError`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from aienv.errors import AienvError

# "known": every output the engine can invent is known, as an update of an existing stack sees it.
# "preview": the first `pulumi preview` of a new stack: provider-computed outputs unknown, applies on them skipped.
View = Literal["known", "preview"]

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"

CLOUD_OF_PACKAGE = {
    "aws": "aws",
    "azure-native": "azure",
    "azure": "azure",
    "azuread": "azure",
    "gcp": "gcp",
    "google-native": "gcp",
    "kubernetes": "kubernetes",
    "random": "random",
}


def package_of(type_: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return type_.split(":", 2)[2]
    return type_.split(":", 1)[0]


def cloud_of(type_: str) -> str:
    return CLOUD_OF_PACKAGE.get(package_of(type_), "other")


@dataclass
class RecordedResource:
    """One RegisterResource request (plus the mock response) as the engine saw it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None = None
    provider: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    replace_on_changes: list[str] = field(default_factory=list)
    remote: bool = False
    external: bool = False
    # For components: the outputs passed to register_outputs (None until registered).
    registered_outputs: dict[str, Any] | None = None
    # True for the default providers the engine itself creates (not registered by the program).
    default_provider: bool = False
    # The spec field (aienv.errors.spec_field) active when the resource was constructed.
    spec_field: str | None = None
    # Where the program constructed it: (file URI, line), as the SDK sends it (`sourcePosition`).
    source_position: tuple[str, int] | None = None

    @property
    def is_component(self) -> bool:
        return not self.custom and self.type != STACK_TYPE


class ProgramError(AienvError):
    """The program (a component, a provider `...Args` class, an apply callback) raised."""

    def __init__(self, message: str, *, component_type: str | None = None, component_name: str | None = None,
                 spec_field: str | None = None, cause: BaseException | None = None):
        self.component_type = component_type
        self.component_name = component_name
        self.spec_field = spec_field
        self.cause = cause
        super().__init__(message)

    def lines(self) -> list[str]:
        return str(self).splitlines() or [str(self)]


@dataclass
class Plan:
    """The result of `plan_program`: resources in registration order (root stack first)."""

    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    diagnostics: list[tuple[str, str]] = field(default_factory=list)
    view: View = "known"

    @property
    def root(self) -> RecordedResource:
        return self.resources[0]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}

    def to_export(self, time: str | None = None) -> dict[str, Any]:
        from aienv.engine.export import to_export

        return to_export(self, time)

    def to_document(self) -> dict[str, Any]:
        """The document Pulumi writes for this view: a `pulumi stack export` (v3) of the known view, the
        `pulumi preview --json` output of a new stack's first preview."""
        from aienv.engine.export import to_preview_json

        return self.to_export() if self.view == "known" else to_preview_json(self)

    def grouping_root(self) -> str:
        """The URN whose children the summary groups by: the stack, or the one component that holds everything
        (an aienv spec's `aienv:index:Environment`), so its components are the groups."""
        root = self.root.urn
        tops = [r for r in self.resources if r.parent == root and not r.default_provider]
        if len(tops) == 1 and tops[0].is_component:
            return tops[0].urn
        return root

    def top_component_of(self) -> dict[str, str]:
        """urn -> display key of the component directly under `grouping_root` it belongs to."""
        group_root = self.grouping_root()
        stops = {None, group_root, self.root.urn}
        parent = {r.urn: r.parent for r in self.resources}
        records = self.by_urn()
        result: dict[str, str] = {}
        for r in self.resources:
            if r.urn in (self.root.urn, group_root):
                continue
            cur = r.urn
            while parent.get(cur) not in stops:
                cur = parent[cur]  # type: ignore[assignment]
            top = records.get(cur)
            result[r.urn] = top.name if top is not None and top.is_component else "(stack)"
        return result

    def summary(self) -> dict[str, Any]:
        custom = [r for r in self.resources if r.custom and not r.default_provider]
        top = self.top_component_of()
        by_component: Counter[str] = Counter(top[r.urn] for r in custom)
        group_root = self.grouping_root()
        top_components = {r.name: r.type for r in self.resources if r.is_component and r.parent == group_root}
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": len(custom),
            "components": sum(1 for r in self.resources if r.is_component),
            "by_cloud": dict(sorted(Counter(cloud_of(r.type) for r in custom).items())),
            "by_component": {name: by_component.get(name, 0) for name in
                             sorted(set(by_component) | set(top_components))},
            "component_types": dict(sorted(top_components.items())),
            "by_type": dict(sorted(Counter(r.type for r in custom).items())),
            "outputs": sorted(self.outputs),
        }
