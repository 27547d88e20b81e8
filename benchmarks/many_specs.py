"""Many specs, one process: `aienv check A B C D` against four separate `aienv check X` runs (issue 22).

    .venv/bin/python benchmarks/many_specs.py                  # the four reference specs, 3 repeats
    .venv/bin/python benchmarks/many_specs.py --repeat 1 dev-aws prod-aws
    .venv/bin/python benchmarks/many_specs.py --json out.json   # also the raw figures

What it measures, each command as a whole child process (the way CI runs it), median over the repeats:

- separate: `aienv check SPEC` once per spec, one after the other; the sum of their wall times and of their CPU
  times (user + system, from `os.wait4`, so other load on the machine does not count);
- one process: `aienv check SPEC...` with every spec;
- the ratio one process / separate, for wall and CPU time, and whether both gave the same findings per spec
  (the runs are isolated: a spec's findings do not depend on what ran before it in the process);
- where the time goes: one process checks the specs twice in a row; the first pass pays the provider SDK
  imports of each cloud, the second finds them imported (the difference is what only one process can share).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks._env import timed_child  # noqa: E402 - standard library only; the checkout is on the path now

REFERENCE_SPECS = ("dev-aws", "prod-aws", "prod-azure", "prod-gcp")
TARGET_RATIO = 0.5
AIENV = [sys.executable, "-m", "aienv"]


def timed(argv: list[str]) -> dict[str, Any]:
    """Run `argv` from the project root; wall time, CPU time of the child, exit code and stdout."""
    return timed_child(argv, ROOT)


def findings_by_spec(stdout: str) -> dict[str, list[tuple[str, str, str]]]:
    """{spec file: sorted (policy, urn, message)} from `aienv check --json` output."""
    doc = json.loads(stdout)
    out: dict[str, list[tuple[str, str, str]]] = {s["spec"]: [] for s in doc["specs"]}
    for v in doc["violations"]:
        out.setdefault(v["spec"], []).append((v["policy"], v["urn"], v["message"]))
    return {k: sorted(v) for k, v in out.items()}


def measure(specs: list[str], repeat: int) -> dict[str, Any]:
    separate: list[dict[str, float]] = []
    combined: list[dict[str, float]] = []
    same = True
    for _ in range(repeat):
        runs = [timed([*AIENV, "check", spec, "--json"]) for spec in specs]
        one = timed([*AIENV, "check", *specs, "--json"])
        if any(r["code"] not in (0, 1) for r in [*runs, one]):
            raise SystemExit(f"aienv check failed: exit codes {[r['code'] for r in runs]} and {one['code']}")
        alone: dict[str, list[tuple[str, str, str]]] = {}
        for r in runs:
            alone.update(findings_by_spec(r["stdout"]))
        same = same and alone == findings_by_spec(one["stdout"])
        separate.append({"wall": sum(r["wall"] for r in runs), "cpu": sum(r["cpu"] for r in runs),
                         **{f"{s}_wall": r["wall"] for s, r in zip(specs, runs, strict=True)}})
        combined.append({"wall": one["wall"], "cpu": one["cpu"]})
    sep = {k: statistics.median(r[k] for r in separate) for k in separate[0]}
    com = {k: statistics.median(r[k] for r in combined) for k in combined[0]}
    return {"specs": specs, "repeat": repeat, "separate": sep, "one_process": com,
            "ratio_wall": com["wall"] / sep["wall"], "ratio_cpu": com["cpu"] / sep["cpu"],
            "same_findings": same, "passes": passes(specs)}


def passes(specs: list[str]) -> list[dict[str, Any]]:
    """Per spec, CPU seconds of the first check in a process and of a second one (SDKs already imported)."""
    proc = subprocess.run([sys.executable, __file__, "--worker", *specs], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def worker(specs: list[str]) -> None:
    import contextlib
    import io

    from aienv.cli import main

    rows: dict[str, dict[str, float]] = {s: {} for s in specs}
    for label in ("first", "second"):
        for spec in specs:
            start = time.process_time()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                main(["check", spec])
            rows[spec][label] = time.process_time() - start
    print(json.dumps([{"spec": s, **r} for s, r in rows.items()]))


def report(figures: dict[str, Any]) -> str:
    sep, com = figures["separate"], figures["one_process"]
    lines = [
        f"specs: {', '.join(figures['specs'])} (median of {figures['repeat']})",
        f"separate runs:   {sep['wall']:6.2f} s wall, {sep['cpu']:6.2f} s CPU",
        f"one process:     {com['wall']:6.2f} s wall, {com['cpu']:6.2f} s CPU",
        f"ratio:           {figures['ratio_wall']:.2f} wall, {figures['ratio_cpu']:.2f} CPU "
        f"(target {TARGET_RATIO} of the wall time a user waits: "
        f"{'met' if figures['ratio_wall'] <= TARGET_RATIO else 'not met'})",
        f"same findings per spec in both: {'yes' if figures['same_findings'] else 'NO'}",
        "",
        "CPU seconds per spec in one process: first check (imports its cloud's SDK modules), second check",
    ]
    for row in figures["passes"]:
        lines.append(f"  {row['spec']:<12} {row['first']:6.2f}  {row['second']:6.2f}")
    first = sum(r["first"] for r in figures["passes"])
    second = sum(r["second"] for r in figures["passes"])
    lines.append(f"  {'total':<12} {first:6.2f}  {second:6.2f}  (imports and first-use cost: {first - second:.2f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=list(REFERENCE_SPECS), metavar="SPEC")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.specs)
        return 0
    figures = measure(args.specs, args.repeat)
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    from benchmarks._env import require_project_interpreter

    require_project_interpreter("benchmarks/many_specs.py")
    sys.exit(main())
