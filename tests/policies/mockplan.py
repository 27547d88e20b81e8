"""Test helper: run a small real Pulumi program under mocks and return a `pulumi stack export` v3 dict.

Uses `aienv.engine.plan_program` when the offline engine is installed; otherwise a minimal recording
mock monitor that captures each RegisterResource request exactly as the SDK serialized it (camelCase
wire names, secret signature objects, unknown sentinels), so the policy tests see engine-shaped props.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as _mocks

PROJECT = "aienv"
STACK = "test"


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        rid = f"{args.name}-id"
        token = args.typ
        if token == "aws:kms/key:Key":
            outputs["arn"] = f"arn:aws:kms:us-east-1:123456789012:key/{args.name}"
            outputs["keyId"] = args.name
        elif token.startswith("aws:"):
            outputs.setdefault("arn", f"arn:aws:{token.split(':')[1].split('/')[0]}:us-east-1:123456789012:{args.name}")
        if token == "aws:s3/bucket:Bucket":
            outputs.setdefault("bucket", args.name)
        if token.startswith("azure-native:"):
            rid = f"/subscriptions/0000/resourceGroups/rg/providers/{token.split(':')[1]}/{args.name}"
            if token == "azure-native:keyvault:Key":
                outputs["keyUriWithVersion"] = f"https://vault.vault.azure.net/keys/{args.name}/v1"
                outputs["keyUri"] = f"https://vault.vault.azure.net/keys/{args.name}"
        if token == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"projects/p/locations/us-central1/keyRings/ring/cryptoKeys/{args.name}"
        outputs.setdefault("id", rid)
        outputs.pop("id", None)
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


class _RecordingMonitor(_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[tuple[Any, Any]] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        response = super().RegisterResource(request)
        self.requests.append((request, response))
        return response


def _export_from_requests(monitor: _RecordingMonitor) -> dict:
    stack_urn = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
    resources: list[dict[str, Any]] = [{"urn": stack_urn, "custom": False, "type": "pulumi:pulumi:Stack"}]
    for request, response in monitor.requests:
        if request.type == "pulumi:pulumi:Stack":
            continue
        inputs = json_format.MessageToDict(request.object)
        outputs = json_format.MessageToDict(response.object) if response.object else {}
        res: dict[str, Any] = {
            "urn": response.urn,
            "custom": bool(request.custom),
            "type": request.type,
            "inputs": inputs,
            "outputs": outputs or dict(inputs),
            "parent": request.parent or stack_urn,
            "dependencies": list(request.dependencies),
            "propertyDependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
        }
        if request.custom:
            res["id"] = response.id
        if request.provider:
            res["provider"] = request.provider
        if request.protect:
            res["protect"] = True
        if request.retainOnDelete:
            res["retainOnDelete"] = True
        if request.additionalSecretOutputs:
            res["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
        resources.append(res)
    return {"version": 3, "deployment": {"manifest": {"time": "2025-01-01T00:00:00Z", "magic": "",
                                                       "version": "aienv-test"}, "resources": resources}}


def plan(program: Callable[[], None], *, stack: str = STACK) -> dict:
    """Run `program` (which creates real provider resources) and return the export v3 dict."""
    if importlib.util.find_spec("aienv.engine") is not None:  # pragma: no cover - when the engine lands
        try:
            from aienv.engine import plan_program

            return plan_program(program, project=PROJECT, stack=stack).to_export()
        except ImportError:
            pass
    monitor = _RecordingMonitor(_Mocks())
    pulumi.runtime.set_mocks(_Mocks(), project=PROJECT, stack=stack, preview=True, monitor=monitor)

    @pulumi.runtime.test
    def _run() -> None:
        program()

    _run()
    return _export_from_requests(monitor)
