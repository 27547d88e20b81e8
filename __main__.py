"""Pulumi entry point: `pulumi up` on a machine with the Pulumi CLI and cloud credentials.

The spec is `stacks/<stack>.yaml` for the selected stack, or the path in config `aienv:spec`
(with template variables from `aienv:vars`, a YAML file). The same `build_environment` runs
offline under `aienv plan`.
"""

import sys

import pulumi

from aienv.errors import AienvError
from aienv.spec import load_spec
from components.environment import build_environment

config = pulumi.Config("aienv")
spec_ref = config.get("spec") or pulumi.get_stack()
vars_file = config.get("vars")
# `foundation`: the first phase of a two-phase first deploy behind a private API server (docs/deploy.md).
layers = config.get("layers") or "all"
if layers not in ("all", "foundation"):
    print(f"config aienv:layers: is `{layers}`; use `foundation` or `all`", file=sys.stderr)
    raise SystemExit(2)
try:
    loaded = load_spec(spec_ref, vars_file=vars_file)
except AienvError as exc:
    for line in exc.lines():
        print(line, file=sys.stderr)
    raise SystemExit(2) from None
if loaded.spec.name != pulumi.get_stack():
    pulumi.log.warn(f"stack `{pulumi.get_stack()}` deploys spec `{loaded.spec.name}` ({loaded.path})")
build_environment(loaded.spec, kubernetes=layers == "all")
