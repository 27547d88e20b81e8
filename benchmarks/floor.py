"""Floor ratio: `plan_program` time over the bare Pulumi SDK registering the same resources.

The replay registers every recorded resource again (same types, names, wire inputs, parents and
providers) directly through `pulumi.CustomResource` / `ComponentResource` / `ProviderResource`
under the SDK's own `MockMonitor` and plain mocks, in the same process.

    python benchmarks/floor.py SPEC            # a spec path or stack name
    python benchmarks/floor.py --demo 300      # a synthetic program of ~300 resources
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.stack import run_pulumi_func

from aienv.engine import Plan, RecordedResource, plan_program
from aienv.engine.monitor import EngineMocks
from aienv.engine.outputs import MockContext
from aienv.engine.wire import SECRET_SIG, SIG_KEY


class PlainMocks(Mocks):
    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[Any, Any]]:
        return f"{args.name}_id", args.inputs

    def call(self, args: MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


def _python_value(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return pulumi.Output.secret(_python_value(value.get("value")))
        return {k: _python_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_python_value(v) for v in value]
    return value


def replay_program(plan: Plan) -> Callable[[], None]:
    records = [r for r in plan.resources[1:] if not r.default_provider]

    def program() -> None:
        created: dict[str, pulumi.Resource] = {}
        providers: dict[str, pulumi.ProviderResource] = {}
        for rec in records:
            parent = created.get(rec.parent or "")
            opts = pulumi.ResourceOptions(parent=parent, provider=providers.get(rec.provider or ""),
                                          protect=rec.protect or None, retain_on_delete=rec.retain_on_delete or None)
            res = _register(rec, opts)
            created[rec.urn] = res
            if isinstance(res, pulumi.ProviderResource):
                providers[f"{rec.urn}::{rec.id}"] = res
        for rec in records:
            if rec.is_component and rec.registered_outputs is not None:
                comp = created[rec.urn]
                assert isinstance(comp, pulumi.ComponentResource)
                comp.register_outputs(_python_value(rec.registered_outputs))

    return program


def _register(rec: RecordedResource, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    props = _python_value(rec.inputs)
    if rec.type.startswith("pulumi:providers:"):
        return pulumi.ProviderResource(rec.type.split(":", 2)[2], rec.name, props, opts)
    if rec.custom:
        return pulumi.CustomResource(rec.type, rec.name, props, opts)
    return pulumi.ComponentResource(rec.type, rec.name, None, opts)


def run_plain(program: Callable[[], None], project: str, stack: str, mocks: Mocks | None = None) -> float:
    """Seconds to run `program` under the SDK's own MockMonitor (fresh context and loop)."""

    def run() -> float:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pulumi_settings.ROOT.set(None)
            start = time.perf_counter()
            set_mocks(mocks or PlainMocks(), project=project, stack=stack, preview=False)
            pulumi_settings.SETTINGS.outputs = set()
            loop.run_until_complete(run_pulumi_func(program))
            return time.perf_counter() - start
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    return contextvars.Context().run(run)


def floor_ratio(program: Callable[[], None], *, project: str = "aienv", stack: str = "dev",
                config: dict[str, str] | None = None, repeat: int = 3) -> dict[str, Any]:
    """Best-of-`repeat` times of planning `program` and of replaying its resources on the bare SDK."""
    plan_times, replay_times = [], []
    plan: Plan | None = None
    for _ in range(repeat):
        start = time.perf_counter()
        plan = plan_program(program, project=project, stack=stack, config=config)
        plan_times.append(time.perf_counter() - start)
    assert plan is not None
    replay = replay_program(plan)
    for _ in range(repeat):
        replay_times.append(run_plain(replay, project, stack))
    # The program itself on the SDK's stock MockMonitor, with the engine's mock outputs (plain
    # mocks would starve programs that read outputs such as a Namespace's metadata.name).
    mocks = EngineMocks(MockContext(project=project, stack=stack, config=dict(config or {})))
    sdk_times = [run_plain(program, project, stack, mocks) for _ in range(repeat)]
    resources = sum(1 for r in plan.resources if not r.default_provider)
    plan_s, replay_s, sdk_s = min(plan_times), min(replay_times), min(sdk_times)
    return {"sdk_program_s": round(sdk_s, 4), "sdk_program_ratio": round(plan_s / sdk_s, 3),
            "plan_s": round(plan_s, 4), "replay_s": round(replay_s, 4), "ratio": round(plan_s / replay_s, 3),
            "resources": resources, "plan_ms_per_resource": round(1000 * plan_s / resources, 3),
            "replay_ms_per_resource": round(1000 * replay_s / resources, 3)}


def demo_program(n: int = 300) -> Callable[[], None]:
    """A synthetic program: ~n resources over aws, kubernetes and random, in components."""
    import pulumi_aws as aws
    import pulumi_kubernetes as k8s
    import pulumi_random as random

    class Unit(pulumi.ComponentResource):
        def __init__(self, name: str, provider: pulumi.ProviderResource):
            super().__init__("aienv:bench:Unit", name, None, None)
            child = pulumi.ResourceOptions(parent=self)
            key = aws.kms.Key(f"{name}-key", enable_key_rotation=True, opts=child)
            bucket = aws.s3.Bucket(f"{name}-bucket", tags={"unit": name}, opts=child)
            aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id,
                                policy=bucket.arn.apply(lambda a: json.dumps({"Resource": a})), opts=child)
            role = aws.iam.Role(f"{name}-role", assume_role_policy="{}", opts=child)
            aws.iam.RolePolicyAttachment(f"{name}-attach", role=role.name, policy_arn=key.arn, opts=child)
            pw = random.RandomPassword(f"{name}-pw", length=20, opts=child)
            kopts = pulumi.ResourceOptions(parent=self, provider=provider)
            ns = k8s.core.v1.Namespace(f"{name}-ns", opts=kopts)
            k8s.core.v1.Secret(f"{name}-secret", metadata={"namespace": ns.metadata.name},
                               string_data={"password": pw.result}, opts=kopts)
            k8s.core.v1.ConfigMap(f"{name}-cfg", metadata={"namespace": ns.metadata.name},
                                  data={"bucket": bucket.bucket}, opts=kopts)
            self.register_outputs({"bucket": bucket.arn})

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="{}")
        for i in range(max(1, n // 10)):
            Unit(f"u{i}", provider)

    return program


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", help="spec path or stack name")
    parser.add_argument("--demo", type=int, metavar="N", help="plan a synthetic program of ~N resources")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.spec:
        from aienv.cli.plan import load_program

        stack, program = load_program(args.spec, {}, None)
    else:
        stack, program = "bench", demo_program(args.demo or 300)
    print(json.dumps(floor_ratio(program, stack=stack, repeat=args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
