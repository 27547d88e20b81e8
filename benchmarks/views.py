"""The cost of both views (issue 13): the known view and the first-preview view against one plan.

    .venv/bin/python benchmarks/views.py                    # the four reference specs, 3 repeats
    .venv/bin/python benchmarks/views.py --repeat 1 dev-aws
    .venv/bin/python benchmarks/views.py --json out.json    # also the raw figures

Per spec, median over the repeats:

- whole processes (what a user and CI wait for): `aienv plan SPEC --export FILE` (one plan, the known view:
  the plan as it was before the first-preview view existed) against `aienv check SPEC` (both views planned and
  checked, the first-preview view in a forked worker where the machine has two CPUs) and
  `AIENV_JOBS=1 aienv check SPEC` (both views one after the other); wall time, and CPU time (user + system of
  the command and its worker, from `os.wait4`);
- in process, after a warm-up of each view (no import counted): the known plan, the first-preview plan, and
  (known + first-preview) / known: what a second run of the program costs.

The target: both views within 1.5x of the plan (`check` over `plan`, wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks._env import timed_child  # noqa: E402 - standard library only; the checkout is on the path now

REFERENCE_SPECS = ("dev-aws", "prod-aws", "prod-azure", "prod-gcp")
TARGET_RATIO = 1.5
AIENV = [sys.executable, "-m", "aienv"]


def timed(argv: list[str], jobs: str | None = None) -> dict[str, float]:
    """Wall and CPU time (the command and the children it waited for) of `argv` run from the project root;
    `AIENV_JOBS` as given (unset: the command decides)."""
    env = {k: v for k, v in os.environ.items() if k != "AIENV_JOBS"}
    if jobs is not None:
        env["AIENV_JOBS"] = jobs
    run = timed_child(argv, ROOT, env)
    if run["code"] not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed with exit code {run['code']}")
    return {"wall": run["wall"], "cpu": run["cpu"]}


def measure_spec(spec: str, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"plan": [], "check": [], "check_sequential": []}
    with tempfile.TemporaryDirectory() as tmp:
        export = str(Path(tmp) / "plan.json")
        for _ in range(repeat):
            runs["plan"].append(timed([*AIENV, "plan", spec, "--export", export]))
            runs["check"].append(timed([*AIENV, "check", spec]))
            runs["check_sequential"].append(timed([*AIENV, "check", spec], jobs="1"))
    med = {name: {k: statistics.median(r[k] for r in rows) for k in ("wall", "cpu")} for name, rows in runs.items()}
    proc = subprocess.run([sys.executable, __file__, "--worker", spec], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    in_process = json.loads(proc.stdout)
    return {"spec": spec, **med, "in_process": in_process,
            "ratio": med["check"]["wall"] / med["plan"]["wall"],
            "ratio_sequential": med["check_sequential"]["wall"] / med["plan"]["wall"]}


def worker(spec: str) -> None:
    """Warm plans of each view in this process, best of 3."""
    from aienv.cli._target import load_program
    from aienv.engine.runner import plan_program

    stack, program = load_program(spec, {}, None)
    best: dict[str, float] = {}
    resources = 0
    for view in ("known", "preview"):
        resources = len(plan_program(program, stack=stack, view=view).resources)  # warm-up: lazy imports
        times = []
        for _ in range(3):
            start = time.perf_counter()
            plan_program(program, stack=stack, view=view)
            times.append(time.perf_counter() - start)
        best[view] = min(times)
    print(json.dumps({"resources": resources, "known": best["known"], "preview": best["preview"],
                      "ratio": (best["known"] + best["preview"]) / best["known"]}))


def report(figures: list[dict[str, Any]], repeat: int) -> str:
    lines = [
        f"whole processes, median of {repeat} (wall s / CPU s); ratio = check wall / plan wall, "
        f"target <= {TARGET_RATIO}",
        "",
        "| spec | resources | `aienv plan --export` | `aienv check` (both views) | ratio | "
        "`AIENV_JOBS=1 aienv check` | ratio | warm known plan s | warm first-preview plan s | both / known |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        ip = f["in_process"]
        lines.append(
            f"| {f['spec']} | {ip['resources']} | {f['plan']['wall']:.2f} / {f['plan']['cpu']:.2f} | "
            f"{f['check']['wall']:.2f} / {f['check']['cpu']:.2f} | **{f['ratio']:.2f}** | "
            f"{f['check_sequential']['wall']:.2f} / {f['check_sequential']['cpu']:.2f} | "
            f"{f['ratio_sequential']:.2f} | {ip['known']:.3f} | {ip['preview']:.3f} | {ip['ratio']:.2f} |")
    met = all(f["ratio"] <= TARGET_RATIO for f in figures)
    lines += ["", f"target (check within {TARGET_RATIO}x of the plan, every spec): {'met' if met else 'not met'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=list(REFERENCE_SPECS), metavar="SPEC")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.specs[0])
        return 0
    figures = [measure_spec(spec, args.repeat) for spec in args.specs]
    print(report(figures, args.repeat))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    from benchmarks._env import require_project_interpreter

    require_project_interpreter("benchmarks/views.py")
    sys.exit(main())
