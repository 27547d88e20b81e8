"""Plan the GCP foundation offline for the reference spec and its variants (cached per variant).

Helpers live here, not in conftest.py, so every test module shares one cache."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aienv.engine import Plan, RecordedResource, monitor, plan_program
from aienv.engine.wire import is_secret
from aienv.spec import StackSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GcpPlan:
    plan: Plan
    foundation: Any

    @property
    def resources(self) -> list[RecordedResource]:
        return self.plan.resources

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.plan.resources if r.type == type_]

    def one(self, type_: str, name_suffix: str = "") -> RecordedResource:
        found = [r for r in self.of_type(type_) if r.name.endswith(name_suffix)]
        assert len(found) == 1, f"{len(found)} {type_} named *{name_suffix}: {[r.name for r in found]}"
        return found[0]

    @property
    def outputs(self) -> dict[str, Any]:
        """The Foundation component's registered outputs, secrets revealed."""
        return reveal(self.one("aienv:gcp:Foundation").registered_outputs or {})

    def named(self, name: str) -> RecordedResource:
        return next(r for r in self.plan.resources if r.name == name)

    def children_of(self, component_type: str) -> list[RecordedResource]:
        parent = {r.urn for r in self.plan.resources if r.type == component_type}
        return [r for r in self.plan.resources if r.parent in parent]


def reveal(value: Any) -> Any:
    """`value` with every wire secret unwrapped."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def inputs(resource: RecordedResource) -> dict[str, Any]:
    """Inputs with secrets revealed (wire-encoded otherwise)."""
    return reveal(resource.inputs)


def prod_spec() -> StackSpec:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return load_spec("stacks/prod-gcp.yaml").spec
    finally:
        os.chdir(cwd)


def variant(edit: Callable[[StackSpec], None] | None = None) -> StackSpec:
    spec = prod_spec().model_copy(deep=True)
    if edit is not None:
        edit(spec)
    return spec


_CACHE: dict[str, GcpPlan] = {}

# Invokes the offline engine does not answer yet, answered the way the provider does (the agent e-mail formats
# of Google's "Service agents" reference). The engine's own table should carry them (see the GCP report).
LAZY_AGENT_INVOKES = {
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        lambda n: {"emailAddress": f"service-{n}@gs-project-accounts.iam.gserviceaccount.com"},
    "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
        lambda n: {"email": f"bq-{n}@bigquery-encryption.iam.gserviceaccount.com"},
}


def _gke_endpoints(mock_resource: Callable[..., Any]) -> Callable[..., Any]:
    """GKE's computed endpoint outputs (the engine's table has only the public IP): the private endpoint and
    peering of a private cluster, and the DNS endpoint `gke-<id>.<region>.gke.goog`."""
    def resource(type_: str, name: str, inputs: Any, provider_inputs: Any, ctx: Any) -> Any:
        id_, out = mock_resource(type_, name, inputs, provider_inputs, ctx)
        tail = hashlib.sha256(name.encode()).hexdigest()
        if type_ == "gcp:container/cluster:Cluster":
            private = dict(out.get("privateClusterConfig") or {})
            private.update(privateEndpoint="172.16.0.34", peeringName=f"gke-n{tail[:12]}-peer")
            endpoints = dict(out.get("controlPlaneEndpointsConfig") or {})
            dns = dict(endpoints.get("dnsEndpointConfig") or {})
            dns["endpoint"] = f"gke-{tail[12:24]}.{out.get('location')}.gke.goog"
            out = {**out, "privateClusterConfig": private,
                   "controlPlaneEndpointsConfig": {**endpoints, "dnsEndpointConfig": dns}}
        return id_, out
    return resource


def _answer_lazy_agents(number: str) -> Callable[..., Any]:
    engine_invoke = monitor.mock_invoke

    def invoke(token: str, args: Any, provider_inputs: Any, ctx: Any) -> Any:
        if token in LAZY_AGENT_INVOKES:
            out = LAZY_AGENT_INVOKES[token](number)
            email = next(iter(out.values()))
            return {**out, "member": f"serviceAccount:{email}", "project": args.get("project"), "id": email}
        return engine_invoke(token, args, provider_inputs, ctx)

    return invoke


def plan_gcp(spec: StackSpec, key: str | None = None, build: Callable[[StackSpec], Any] | None = None,
             **kwargs: Any) -> GcpPlan:
    """Plan `GcpFoundation(spec)` alone (the Kubernetes layer is not needed for the foundation), or `build(spec)`."""
    from components.gcp.foundation import GcpFoundation, GcpFoundationArgs

    if key is not None and key in _CACHE:
        return _CACHE[key]
    holder: dict[str, Any] = {}

    def program() -> None:
        holder["f"] = build(spec) if build else GcpFoundation(spec.name, GcpFoundationArgs(spec=spec))

    engine_invoke, engine_resource = monitor.mock_invoke, monitor.mock_resource
    monitor.mock_invoke = _answer_lazy_agents(spec.gcp.project_number or "0")  # type: ignore[assignment]
    monitor.mock_resource = _gke_endpoints(engine_resource)  # type: ignore[assignment]
    try:
        result = GcpPlan(plan_program(program, project="aienv", stack=spec.name, **kwargs), holder["f"])
    finally:
        monitor.mock_invoke, monitor.mock_resource = engine_invoke, engine_resource  # type: ignore[assignment]
    if key is not None:
        _CACHE[key] = result
    return result
