"""What `aienv plan` and `aienv check` plan: a spec (SPEC) or any Pulumi Python program (--program DIR).

    source = add_target_arguments(parser)      # SPEC | --program DIR, --stack, --config, --stack-outputs...
    target = plan_target(args, progress)       # Target(plan, source, kind, default_packs, policy_config)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aienv.assignments import parse_assignments
from aienv.engine.model import Plan, View
from aienv.engine.monitor import ProgressFn
from aienv.errors import AienvError

PROGRAM_DEFAULT_PACKS = ("aienv-security", "aienv-ai", "aienv-deploy")


@dataclass
class Target:
    """A planned spec or program, with what the commands downstream need to know about it."""

    plan: Plan
    source: Path  # the spec file, or the program's entry file (for SARIF locations)
    kind: Literal["spec", "program"]
    default_packs: list[str]  # the spec's compliance.packs; PROGRAM_DEFAULT_PACKS for programs
    # Policy config the source implies (a spec's allowed regions -> data-residency); merge under the user's.
    policy_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    loaded: Any = None  # the spec's LoadedSpec (its field locations), None for programs
    frameworks: list[str] | None = None  # the spec's compliance.frameworks

    @property
    def stack(self) -> str:
        return self.plan.stack


def add_target_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> Any:
    """Add SPEC | --program DIR and their options; returns the mutually exclusive source group.

    `check` adds `--plan FILE` to the returned group.
    """
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("spec", metavar="SPEC", nargs="*", default=[],
                        help="spec files, stack names (stacks/<name>.yaml) or folders of specs (stacks/): "
                             "several are planned in one process, each on its own")
    source.add_argument("--program", metavar="DIR",
                        help="an existing Pulumi Python project folder (Pulumi.yaml) to plan instead of a spec")
    parser.add_argument("--var", action="append", default=[], metavar="K=V",
                        help="spec template variable (repeatable)")
    parser.add_argument("--vars", metavar="FILE", help="YAML/JSON file of spec template variables")
    parser.add_argument("--stack", metavar="NAME",
                        help="with --program: the stack (config from Pulumi.<NAME>.yaml; default: dev)")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="with --program: a config value, as `pulumi preview --config` (repeatable)")
    parser.add_argument("--stack-outputs", metavar="FILE",
                        help='outputs of referenced stacks: JSON {"org/project/stack": {"name": value}}')
    return source


def parse_vars(pairs: list[str]) -> dict[str, str]:
    return parse_assignments(pairs, "--var", "team=nlp")


def load_program(spec: str, variables: dict[str, str], vars_file: str | None) -> tuple[str, Callable[[], None]]:
    """(stack name, program) for a spec path or stack name."""
    stack, program, _ = _load_spec_program(spec, variables, vars_file)
    return stack, program


def _load_spec_program(spec: str, variables: dict[str, str], vars_file: str | None,
                       allow_abstract: bool = False) -> tuple[str, Callable[[], None], Any]:
    """(stack name, program, the `LoadedSpec`) for a spec path or stack name."""
    from aienv.spec import load_spec

    loaded = load_spec(spec, variables=variables, vars_file=vars_file, allow_abstract=allow_abstract)
    if loaded.abstract:
        return "", lambda: None, loaded
    from components.environment import build_environment

    stack_spec = loaded.spec

    def program() -> None:
        build_environment(stack_spec)

    return str(stack_spec.name), program, loaded


def stack_outputs_of(args: argparse.Namespace) -> dict[str, dict[str, Any]] | None:
    if getattr(args, "stack_outputs", None):
        from aienv.engine.program import load_stack_outputs

        return load_stack_outputs(args.stack_outputs)
    return None


def plan_target(args: argparse.Namespace, progress: ProgressFn | None = None, view: View = "known") -> Target:
    """Plan what the arguments name (one spec or `--program DIR`) in `view`; warnings go to stderr."""
    stack_outputs = stack_outputs_of(args)
    if getattr(args, "program", None):
        target = _plan_program(args, progress, stack_outputs, view)
    else:
        check_spec_options(args)
        specs = getattr(args, "spec", None) or []
        if isinstance(specs, str):
            specs = [specs]
        if len(specs) != 1:
            raise AienvError("give a SPEC or --program DIR")
        planned = plan_spec(specs[0], parse_vars(args.var), args.vars, progress, stack_outputs, view=view)
        assert planned is not None
        target = planned
    print_diagnostics(target.plan)
    return target


def check_spec_options(args: argparse.Namespace) -> None:
    if getattr(args, "stack", None) or getattr(args, "config", None):
        raise AienvError("--stack and --config apply to --program; a spec names its stack and holds its settings")
    if not getattr(args, "spec", None):
        raise AienvError("give a SPEC or --program DIR")


# A Pulumi stack: `name`, `org/name` or `org/project/name`; "Stack names may only contain alphanumeric characters,
# hyphens, underscores, or periods" (Pulumi docs, "Stacks").
_STACK_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_stack_name(stack: str) -> None:
    parts = stack.split("/")
    if len(parts) > 3 or any(not _STACK_PART.match(p) or p in (".", "..") for p in parts):
        raise AienvError(f"--stack {stack}: give a stack name (`dev`) or `org/project/dev`: letters, digits, `-`, "
                         "`_` and `.` in each part, no `..`")


def _plan_program(args: argparse.Namespace, progress: ProgressFn | None,
                  stack_outputs: dict[str, dict[str, Any]] | None, view: View = "known") -> Target:
    from aienv.engine.program import DEFAULT_STACK, load_project, parse_config_overrides, plan_pulumi_program

    if args.var or args.vars:
        raise AienvError("--var/--vars set spec template variables; with --program use --config KEY=VALUE")
    if args.stack:
        _check_stack_name(args.stack)
    project = load_project(args.program)
    plan = plan_pulumi_program(project, stack=args.stack or DEFAULT_STACK,
                               config_overrides=parse_config_overrides(args.config),
                               stack_outputs=stack_outputs, progress=progress, view=view)
    return Target(plan=plan, source=project.entry_file, kind="program", default_packs=list(PROGRAM_DEFAULT_PACKS))


@dataclass
class SpecProgram:
    """A loaded spec and the program that builds it, ready to plan in either view (any number of times)."""

    ref: str
    stack: str
    program: Callable[[], None]
    loaded: Any  # the LoadedSpec

    @property
    def abstract(self) -> bool:
        return bool(self.loaded is not None and self.loaded.abstract)

    @property
    def default_packs(self) -> list[str]:
        """The spec's `compliance.packs`."""
        if self.loaded is None or self.abstract:
            return []
        return [str(getattr(p, "value", p)) for p in self.loaded.spec.compliance.packs]

    @property
    def cloud(self) -> str:
        """The spec's cloud (`aws`, `azure`, `gcp`): the provider SDK its plan imports."""
        return str(self.loaded.spec.cloud.provider) if self.loaded is not None and not self.abstract else ""

    def preload(self) -> None:
        """Import the provider SDK modules the spec's components use (`aienv.engine.preload`), before a fork."""
        from aienv.engine.preload import preload

        if self.loaded is not None and not self.abstract:
            preload(["components.environment", f"components.{self.cloud}", "components.kubernetes"])


def load_spec_program(ref: str, variables: dict[str, str], vars_file: str | None, *,
                      allow_abstract: bool = False) -> SpecProgram:
    stack, program, loaded = _load_spec_program(ref, variables, vars_file, allow_abstract)
    return SpecProgram(ref, stack, program, loaded)


def plan_spec(ref: str, variables: dict[str, str], vars_file: str | None, progress: ProgressFn | None = None,
              stack_outputs: dict[str, dict[str, Any]] | None = None, *,
              skip_abstract: bool = False, view: View = "known") -> Target | None:
    """Plan one spec in `view` (a fresh engine run: nothing carries over from an earlier one). None for an
    abstract base when `skip_abstract` (a base found in a folder is only extended, never planned)."""
    spec = load_spec_program(ref, variables, vars_file, allow_abstract=skip_abstract)
    if spec.abstract:
        return None
    return plan_spec_program(spec, progress, stack_outputs, view=view)


def plan_spec_program(spec: SpecProgram, progress: ProgressFn | None = None,
                      stack_outputs: dict[str, dict[str, Any]] | None = None, *, view: View = "known") -> Target:
    """Plan a loaded spec in `view` (a fresh engine run)."""
    from aienv.engine import plan_program

    plan = plan_program(spec.program, project="aienv", stack=spec.stack, progress=progress,
                        stack_outputs_by_ref=stack_outputs, view=view)
    packs: list[str] = []
    policy_config: dict[str, dict[str, Any]] = {}
    source = Path(spec.ref)
    frameworks: list[str] | None = None
    loaded = spec.loaded
    if loaded is not None:
        source = Path(loaded.path)
        compliance = loaded.spec.compliance
        packs = spec.default_packs
        frameworks = [str(f) for f in compliance.frameworks]
        if compliance.allowed_regions:
            policy_config["data-residency"] = {"allowedRegions": list(compliance.allowed_regions)}
    return Target(plan=plan, source=source, kind="spec", default_packs=packs,
                  policy_config=policy_config, loaded=loaded, frameworks=frameworks)


def print_diagnostics(plan: Plan) -> None:
    """The plan's warnings and errors (SDK logs, unresolved stack references...) on stderr."""
    print_lines(diagnostic_lines(plan))


def print_lines(lines: list[str]) -> None:
    """`lines` on stderr, where diagnostics go."""
    for line in lines:
        print(line, file=sys.stderr)


def diagnostic_lines(plan: Plan) -> list[str]:
    """The lines `print_diagnostics` prints."""
    lines: list[str] = []
    stack_refs = False
    for level, message in plan.diagnostics:
        if level in ("warning", "error"):
            lines.append(f"{level}: {message}")
            stack_refs = stack_refs or message.startswith("stack reference `")
    if stack_refs:
        lines.append('hint: give referenced stacks\' outputs with --stack-outputs FILE '
                     '({"org/project/stack": {"outputName": value}})')
    return lines
