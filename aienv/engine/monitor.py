"""A `MockMonitor` that records every registration in full and answers with realistic outputs.

The monitor works on the wire protobufs directly: inputs are recorded from the request `Struct`
(camelCase names, secrets and unknowns as the SDK encoded them) and the response is the request
`Struct` plus the computed outputs, without a deserialize/serialize round trip per resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.mocks import MockMonitor, Mocks
from pulumi.runtime.proto import resource_pb2

from aienv.engine.model import STACK_REFERENCE_TYPE, STACK_TYPE, RecordedResource, package_of
from aienv.engine.outputs import MockContext, mock_invoke, mock_resource, preview_outputs
from aienv.engine.wire import is_secret, py_to_struct, secret, struct_to_py
from aienv.errors import current_spec_field

ProgressFn = Callable[[int, str], None]

# The SDK sends alias specs, which the monitor turns into the alias URNs the state records (see
# `_alias_urns`): computing them here is string work, while the SDK builds each through Output chains,
# which cost a third of an Azure plan (azure-native types carry a dozen API-version aliases each).
_ROOT_QUALIFIER = f"::{STACK_TYPE}$"
_UNSUPPORTED_FEATURES: set[int] = set()


def _inherited_alias(child_name: str, child_type: str, parent_name: str, parent_alias: str) -> str:
    """The child's URN under an alias of its parent; a name derived from the parent's (`{parent}-role`)
    follows the parent's old name, as the SDK's `inherited_child_alias` does."""
    prefix, project, qualified, alias_name = parent_alias.split("::", 3)
    if parent_name and child_name.startswith(parent_name):
        child_name = alias_name + child_name[len(parent_name):]
    return f"{prefix}::{project}::{qualified}${child_type}::{child_name}"


class EngineMocks(Mocks):
    """The `Mocks` handed to `set_mocks`; the recording monitor answers registrations itself."""

    def __init__(self, context: MockContext):
        self.context = context

    def new_resource(self, args: Any) -> tuple[str | None, dict[Any, Any]]:
        id_, computed = mock_resource(args.typ, args.name, dict(args.inputs), {}, self.context)
        return id_, {**args.inputs, **computed}

    def call(self, args: Any) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        # No failures: an empty list, not None (the SDK's MockMonitor.Invoke iterates it).
        return mock_invoke(args.token, dict(args.args), {}, self.context), []


class RecordingMonitor(MockMonitor):
    """Records every registration; answers with invented outputs (the known view) or, with `preview`, with
    what a first `pulumi preview` of a new stack knows: inputs, auto-names and provider defaults, every other
    computed output unknown and no ids (the first-preview view)."""

    def __init__(self, mocks: EngineMocks, progress: ProgressFn | None = None, *, preview: bool = False):
        super().__init__(mocks)
        self.preview = preview
        self.context = mocks.context
        self.records: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}
        self.provider_inputs: dict[str, dict[str, Any]] = {}
        self.default_providers: dict[str, str] = {}
        self.aliases_of: dict[str, list[str]] = {}  # alias URNs by resource URN, for children to inherit
        self.stack_urn: str | None = None
        self.stack_outputs: dict[str, Any] = {}
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.progress = progress
        self._prefix = f"urn:pulumi:{self.context.stack}::{self.context.project}::"

    # -- helpers --------------------------------------------------------------------------------

    def _urn(self, parent: str, type_: str, name: str) -> str:
        # Like the real engine (and unlike the SDK's MockMonitor), the root stack's type is not
        # part of its children's qualified types.
        if parent and parent != self.stack_urn:
            type_ = parent.split("::")[2] + "$" + type_
        return f"{self._prefix}{type_}::{name}"

    def _alias_urns(self, request: Any, type_: str, name: str) -> list[str]:
        """Alias URNs as the engine records them: the resource's own aliases (URNs or specs), and, as the
        SDK's `all_aliases` derives them, the same under every alias of its parent."""
        parent = request.parent or ""
        own = [u.replace(_ROOT_QUALIFIER, "::") for u in request.aliasURNs]
        for alias in request.aliases:
            if alias.urn:
                own.append(alias.urn.replace(_ROOT_QUALIFIER, "::"))
            elif alias.HasField("spec"):
                own.append(self._spec_urn(alias.spec, parent, type_, name))
        found = set(own)
        parent_name = parent.rsplit("::", 1)[-1] if parent else ""
        for parent_alias in self.aliases_of.get(parent, ()):
            found.add(_inherited_alias(name, type_, parent_name, parent_alias))
            for child_alias in own:
                child_type = child_alias.split("::")[2].rsplit("$", 1)[-1]
                found.add(_inherited_alias(child_alias.rsplit("::", 1)[-1], child_type, parent_name, parent_alias))
        aliases = sorted(found)
        if aliases:
            self.aliases_of[self._urn(parent, type_, name)] = aliases
        return aliases

    def _spec_urn(self, spec: Any, parent: str, type_: str, name: str) -> str:
        """The URN an alias spec stands for; empty fields mean the resource's current value."""
        if spec.noParent:
            parent = ""
        elif spec.parentUrn:
            parent = spec.parentUrn
        qualified = spec.type or type_
        if parent and parent != self.stack_urn and parent.split("::")[2] != STACK_TYPE:
            qualified = parent.split("::")[2] + "$" + qualified
        return (f"urn:pulumi:{spec.stack or self.context.stack}::{spec.project or self.context.project}::"
                f"{qualified}::{spec.name or name}")

    def _default_provider(self, type_: str, version: str) -> str:
        """The engine's default provider for the package of `type_` (created on first use)."""
        pkg = package_of(type_)
        key = f"{pkg}@{version}"
        ref = self.default_providers.get(key)
        if ref is not None:
            return ref
        name = "default_" + version.replace(".", "_").replace("-", "_") if version else "default"
        ptype = f"pulumi:providers:{pkg}"
        urn = self._urn("", ptype, name)
        prefix = pkg + ":"
        secret_keys = self.context.secret_keys
        inputs: dict[str, Any] = {k[len(prefix):]: secret(v) if k in secret_keys else v
                                  for k, v in sorted(self.context.config.items()) if k.startswith(prefix)}
        if version:
            inputs["version"] = version
        id_, _ = mock_resource(ptype, name, inputs, {}, self.context)
        ref = f"{urn}::{id_}"
        rec = RecordedResource(urn=urn, type=ptype, name=name, custom=True, inputs=inputs, outputs=dict(inputs),
                               id=id_, default_provider=True)
        self._add(rec)
        self.provider_inputs[ref] = inputs
        self.default_providers[key] = ref
        return ref

    def _add(self, rec: RecordedResource) -> None:
        self.records.append(rec)
        self.by_urn[rec.urn] = rec
        if self.progress is not None:
            self.progress(len(self.records), rec.type)

    # -- ResourceMonitor ------------------------------------------------------------------------

    def GetDeploymentInfo(self, request: Any) -> Any:
        info = super().GetDeploymentInfo(request)
        return resource_pb2.DeploymentInfo(
            supportedFeatures=[f for f in info.supportedFeatures if f not in _UNSUPPORTED_FEATURES])

    def SupportsFeature(self, request: Any) -> Any:
        has_support = request.id != "outputValues"
        return type("SupportsFeatureResponse", (object,), {"hasSupport": has_support})

    def RegisterResource(self, request: Any) -> Any:
        type_ = request.type
        urn = self._urn(request.parent, type_, request.name)
        if type_ == STACK_TYPE:
            self.stack_urn = urn
            self._add(RecordedResource(urn=urn, type=type_, name=request.name, custom=False))
            return resource_pb2.RegisterResourceResponse(urn=urn)

        inputs = struct_to_py(request.object)
        custom = bool(request.custom)
        remote = bool(request.remote)
        provider = request.provider or None
        if provider is None and custom and not type_.startswith(("pulumi:providers:", "pulumi:pulumi:")):
            provider = self._default_provider(type_, request.version)

        id_: str | None = None
        outputs: dict[str, Any] = {}
        response = None
        if custom or remote:
            provider_inputs = self.provider_inputs.get(provider, {}) if provider else {}
            id_, computed = mock_resource(type_, request.name, inputs, provider_inputs, self.context)
            if self.preview and not type_.startswith("pulumi:providers:") and type_ != STACK_REFERENCE_TYPE:
                computed = preview_outputs(type_, inputs, computed)
                id_ = None  # the SDK reads an empty id as unknown during preview
            for key in request.additionalSecretOutputs:
                value = computed.get(key, inputs.get(key))
                if value is not None and not is_secret(value):
                    computed[key] = secret(value)
            outputs = {**inputs, **computed} if custom else {}  # a remote component's outputs: unknown (below)
            response = struct_pb2.Struct()
            response.CopyFrom(request.object)
            if computed:
                response.update(computed)
            if type_.startswith("pulumi:providers:"):
                self.provider_inputs[f"{urn}::{id_}"] = inputs
        timeouts = request.customTimeouts
        rec = RecordedResource(
            urn=urn,
            type=type_,
            name=request.name,
            custom=custom,
            parent=request.parent or None,
            provider=provider,
            inputs=inputs,
            outputs=outputs,
            id=id_ if custom else None,
            # Sorted: the SDK sends them from sets, in an order that varies between runs.
            dependencies=sorted(request.dependencies),
            property_dependencies={k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())},
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            aliases=self._alias_urns(request, type_, request.name),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            custom_timeouts={k: v for k, v in (("create", timeouts.create), ("update", timeouts.update),
                                               ("delete", timeouts.delete)) if v},
            replace_on_changes=list(request.replaceOnChanges),
            remote=remote,
            spec_field=current_spec_field(),
            source_position=(request.sourcePosition.uri, request.sourcePosition.line)
            if request.HasField("sourcePosition") and request.sourcePosition.uri else None,
        )
        self._add(rec)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, id_ or "", outputs)
        if response is None:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        if remote:
            # A multi-language component (awsx, eks...) runs in its own provider plugin, which registers its
            # children and outputs; offline it is one node whose outputs are all unknown. The SDK resolves every
            # output of a registration reported as not succeeded as unknown (custom or not), which is the only
            # signal it honours for components: echoing the inputs would hand typed outputs plain dicts.
            return resource_pb2.RegisterResourceResponse(urn=urn, result=resource_pb2.Result.FAIL)
        # `unknown`: outputs the engine returns no value for resolve as unknown, not as None, so `apply`
        # callbacks on outputs the mocks cannot invent are skipped as a real preview would skip them
        # (in the first-preview view the SDK does that by itself).
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=response, unknown=custom)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        outputs = struct_to_py(request.outputs)
        rec = self.by_urn.get(request.urn)
        if request.urn == self.stack_urn:
            self.stack_outputs = outputs
        if rec is not None:
            rec.registered_outputs = outputs
            rec.outputs = outputs
        return empty_pb2.Empty()

    def ReadResource(self, request: Any) -> Any:
        type_ = request.type
        urn = self._urn(request.parent, type_, request.name)
        inputs = struct_to_py(request.properties)
        provider = request.provider or None
        if provider is None and not type_.startswith("pulumi:"):
            provider = self._default_provider(type_, request.version)
        provider_inputs = self.provider_inputs.get(provider, {}) if provider else {}
        _, computed = mock_resource(type_, request.name, inputs, provider_inputs, self.context)
        outputs = {**inputs, **computed}
        rec = RecordedResource(urn=urn, type=type_, name=request.name, custom=True, parent=request.parent or None,
                               provider=provider, inputs=inputs, outputs=outputs, id=request.id,
                               dependencies=sorted(request.dependencies), external=True,
                               spec_field=current_spec_field())
        self._add(rec)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, request.id, outputs)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=py_to_struct(outputs))

    def Invoke(self, request: Any) -> Any:
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)
        args = struct_to_py(request.args)
        self.invokes.append((request.tok, args))
        provider_inputs = self.provider_inputs.get(request.provider, {}) if request.provider else {}
        result = mock_invoke(request.tok, args, provider_inputs, self.context)
        return resource_pb2.ResourceInvokeResponse(**{"return": py_to_struct(result)})
