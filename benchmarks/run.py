"""aienv benchmarks (issue 9): floor ratio, end-to-end CLI cost, scaling, check cost per 1,000 resources.

    python benchmarks/run.py              # the full run (< 10 min on 2 cores); rewrites benchmarks/RESULTS.md
    python benchmarks/run.py --quick      # a smoke run (fewer repeats, smaller scaling); prints the report
    python benchmarks/run.py --json FILE  # also dump the raw figures as JSON

Sections:

- floor ratio, per reference spec: `plan_program` time over (a) a replay of the recorded resources through
  plain `pulumi.CustomResource` under the SDK's `MockMonitor` and (b) the same program on the SDK's
  `MockMonitor`, in one process, best of N (`benchmarks/floor.py` holds the replay);
- end to end, per reference spec: `aienv plan SPEC --export FILE` and `aienv check SPEC` as whole processes,
  median wall time and peak RSS (`os.wait4` rusage of each child) over N runs;
- scaling: generated dev-aws specs with 1..500 model endpoints, each planned and checked in a fresh worker
  process (plan, export and check times, peak RSS); a least-squares fit of time against resources.

Every heavy measurement runs in a child process (`run.py --worker ...`), so one spec's imports and heap
never colour another's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: `python benchmarks/run.py`
    sys.path.insert(0, str(ROOT))
if __name__ == "__main__":
    from benchmarks._env import require_project_interpreter

    require_project_interpreter("benchmarks/run.py")

REFERENCE_SPECS = ("dev-aws", "prod-aws", "prod-azure", "prod-gcp")
SCALING_ENDPOINTS = (1, 10, 100, 500)
QUICK_SCALING_ENDPOINTS = (1, 10, 50)
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BEGIN, END = "<!-- BEGIN GENERATED: benchmarks/run.py -->", "<!-- END GENERATED -->"

# Targets (issues 3, 8, 9).
FLOOR_TARGET = 1.3
PLAN_PROD_AWS_TARGET_S = 3.0
SCALE_MEMORY_TARGET_MIB = 1536.0
CHECK_SHARE_TARGET = 0.10
PACKAGES = ("pulumi", "pulumi-aws", "pulumi-azure-native", "pulumi-gcp", "pulumi-kubernetes", "pulumi-random",
            "pulumi-policy", "pydantic", "protobuf", "grpcio")

# GPU mix of the generated endpoints: (gpu type, model, size in billions, precision). All three are sold in
# us-east-1 as one-GPU machines (g6, g5, g4dn) and fit their model at one GPU per replica.
GPU_MIX = (
    ("nvidia-l4", "meta-llama/Llama-3.1-8B-Instruct", 8, "bf16"),
    ("nvidia-a10g", "mistralai/Mistral-7B-Instruct-v0.3", 7, "bf16"),
    ("nvidia-t4", "Qwen/Qwen2.5-3B-Instruct", 3, "fp16"),
)
ENDPOINTS_PER_POOL = 25  # a GPU pool per GPU type per 25 endpoints (node groups stay a manageable size)
REPLICAS_MAX = 2


# ---------------------------------------------------------------------------------------------------------
# generated specs


def scaling_spec(endpoints: int, name: str | None = None) -> dict[str, Any]:
    """A dev-aws-like spec (extends base.yaml) with `endpoints` model endpoints and matching GPU pools.

    Endpoints cycle through `GPU_MIX`; each GPU type used gets ceil(endpoints of that type / 25) pools of
    one-GPU spot nodes scaling to zero, with max_nodes = 2 x the endpoints a pool serves (their max
    replicas), and `budget.gpu_quota` is exactly what the pools can reach. Every fifth endpoint runs on
    Triton instead of vLLM, every tenth is exposed internally with a 10% canary.
    """
    if endpoints < 1:
        raise ValueError("endpoints must be >= 1")
    by_type: dict[str, int] = {}
    model_endpoints: list[dict[str, Any]] = []
    for i in range(endpoints):
        gpu_type, model, size, precision = GPU_MIX[i % len(GPU_MIX)]
        by_type[gpu_type] = by_type.get(gpu_type, 0) + 1
        ep: dict[str, Any] = {
            "name": f"ep-{i:04d}",
            "runtime": "triton" if i % 5 == 4 else "vllm",
            # ECR cannot cache nvcr.io: the Triton image is the team's CI's to push (docs/aws.md).
            **({"image_supply": "ci"} if i % 5 == 4 else {}),
            "model": {"name": model, "version": "1", "size_billion_params": size, "precision": precision,
                      "source": {"huggingface": model} if "/" in model else {"uploaded": True}},
            "gpu": {"type": gpu_type, "count": 1},
            "replicas": {"max": REPLICAS_MAX},
            "resources": {"cpu": "3", "memory": "12Gi"},
        }
        if i % 10 == 9:
            ep["exposure"] = "internal"
            ep["canary"] = {"version": "2", "weight": 10}
        model_endpoints.append(ep)
    pools: list[dict[str, Any]] = []
    quota: dict[str, int] = {}
    for gpu_type, count in by_type.items():
        short = gpu_type.removeprefix("nvidia-")
        n_pools = math.ceil(count / ENDPOINTS_PER_POOL)
        for p in range(n_pools):
            served = min(ENDPOINTS_PER_POOL, count - p * ENDPOINTS_PER_POOL)
            max_nodes = REPLICAS_MAX * served
            pools.append({"name": f"{short}-{p}", "gpu_type": gpu_type, "gpus_per_node": 1,
                          "max_nodes": max_nodes, "spot": True})
            quota[gpu_type] = quota.get(gpu_type, 0) + max_nodes
    return {
        "extends": "base.yaml",
        "name": name or f"scale-{endpoints}",
        "environment": "dev",
        "cloud": {"provider": "aws", "region": "us-east-1"},
        "network": {"cidr": "10.41.0.0/16"},
        "cluster": {"deployer": {"path": "private_network", "cidrs": ["10.200.8.0/24"]}, "gpu_pools": pools},
        "model_endpoints": model_endpoints,
        # Docker Hub (vLLM, Python, Feast) is cached by ECR only with credentials.
        "registries": {"upstreams": {"docker.io": {"secret": "ecr-pullthroughcache/docker-hub"}}},
        "feature_store": {
            "enabled": True,
            "online_store": {"size": "small"},
            "feature_views": [{"name": "user_profile", "entities": ["user_id"],
                               "features": [{"name": "tenure_days", "dtype": "int64"},
                                            {"name": "avg_session_minutes", "dtype": "float32"}]}],
        },
        "monitoring": {"alert_routes": [{"name": "ml-dev", "kind": "email", "target": "ml-dev@example.com",
                                         "severities": ["critical"]}]},
        "budget": {"monthly_amount": 3000 + 500 * endpoints, "alert_thresholds_percent": [50, 90, 100],
                   "notify_emails": ["ml-platform@example.com"], "gpu_quota": quota},
    }


def write_scaling_spec(endpoints: int, folder: Path) -> Path:
    """Write `scale-<endpoints>.yaml` (and the base it extends) into `folder`; returns the spec path."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "stacks" / "base.yaml", folder / "base.yaml")
    path = folder / f"scale-{endpoints}.yaml"
    path.write_text(yaml.safe_dump(scaling_spec(endpoints), sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# statistics


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares line y = slope * x + intercept, with R^2."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need at least two (x, y) points")
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all x are equal")
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2}


def marginal_costs(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """dy/dx between consecutive points (x sorted): constant for a linear total, growing for a quadratic."""
    pts = sorted(zip(xs, ys, strict=True))
    return [(y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False) if x1 != x0]


# ---------------------------------------------------------------------------------------------------------
# child processes


def run_child(argv: Sequence[str], *, cwd: Path = ROOT, timeout: float = 600) -> dict[str, Any]:
    """Run `argv`; wall seconds, exit code, peak RSS (MiB, the child's own rusage) and its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return {"rc": proc.returncode, "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def aienv_command() -> list[str]:
    """The `aienv` console script next to this interpreter (what CI runs), else `python -m aienv`."""
    script = Path(sys.executable).parent / "aienv"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aienv"]


def worker(kind: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run `run.py --worker KIND ARGS...` in a fresh interpreter; its JSON result plus wall and peak RSS."""
    child = run_child([sys.executable, str(Path(__file__).resolve()), "--worker", kind, *args], timeout=timeout)
    if child["rc"] != 0:
        raise RuntimeError(f"worker {kind} {' '.join(args)} failed (exit {child['rc']}):\n{child['stderr'][-4000:]}")
    result: dict[str, Any] = json.loads(child["stdout"].strip().splitlines()[-1])
    result["process_wall_s"] = round(child["wall_s"], 3)
    result["peak_rss_mib"] = round(child["peak_rss_mib"], 1)
    return result


# ---------------------------------------------------------------------------------------------------------
# in-process measurements (the workers' bodies; also what the smoke test calls)


def _program(spec: str) -> tuple[str, Callable[[], None], Any]:
    from aienv.spec import load_spec
    from components.environment import build_environment

    loaded = load_spec(spec)
    stack_spec = loaded.spec

    def program() -> None:
        build_environment(stack_spec)

    return str(stack_spec.name), program, stack_spec


@contextlib.contextmanager
def _engine_runtime() -> Iterator[None]:
    """The engine's runtime settings around an SDK run: its end-of-program wait and GC settings."""
    from aienv.engine import runner

    with contextlib.ExitStack() as stack:
        for name in ("_linear_wait", "_frozen_heap"):  # absent in an engine without these fixes
            if hasattr(runner, name):
                stack.enter_context(getattr(runner, name)())
        yield


def measure_floor(spec: str, repeat: int = 3) -> dict[str, Any]:
    """Best-of-`repeat` plan time over the bare-SDK baselines, for one spec, in this process.

    - `replay_ratio`: plan / replay of the recorded resources (same types, names, wire inputs, parents,
      providers, protect) through plain `pulumi.CustomResource` etc. under the SDK's stock `MockMonitor`;
    - `replay_same_wait_ratio`: the same replay, run with the engine's end-of-program wait and GC settings
      (both sides share them: what the engine's own recording and mock outputs cost);
    - `sdk_program_ratio`: plan / the same program (typed provider classes, applies) under the SDK's stock
      `MockMonitor` with the engine's mock outputs: what the engine adds to or saves from the SDK's own mock run.
    """
    from aienv.engine import plan_program
    from aienv.engine.monitor import EngineMocks
    from aienv.engine.outputs import MockContext
    from benchmarks.floor import replay_program, run_plain

    stack, program, _ = _program(spec)
    plan_times, replay_times, replay_same_times, sdk_times = [], [], [], []
    plan = plan_program(program, project="aienv", stack=stack)  # warm-up: lazy provider imports
    for _ in range(repeat):
        start = time.perf_counter()
        plan = plan_program(program, project="aienv", stack=stack)
        plan_times.append(time.perf_counter() - start)
    replay = replay_program(plan)
    run_plain(replay, "aienv", stack)  # warm-up: the first SDK run pays one-off costs
    for _ in range(repeat):
        replay_times.append(run_plain(replay, "aienv", stack))
        with _engine_runtime():
            replay_same_times.append(run_plain(replay, "aienv", stack))
        mocks = EngineMocks(MockContext(project="aienv", stack=stack, config={}))
        sdk_times.append(run_plain(program, "aienv", stack, mocks))
    resources = sum(1 for r in plan.resources if not r.default_provider)
    plan_s, replay_s, same_s, sdk_s = min(plan_times), min(replay_times), min(replay_same_times), min(sdk_times)
    return {
        "spec": spec, "resources": resources, "repeat": repeat,
        "plan_s": round(plan_s, 4), "replay_s": round(replay_s, 4), "replay_same_wait_s": round(same_s, 4),
        "sdk_program_s": round(sdk_s, 4),
        "replay_ratio": round(plan_s / replay_s, 3), "replay_same_wait_ratio": round(plan_s / same_s, 3),
        "sdk_program_ratio": round(plan_s / sdk_s, 3),
        "plan_ms_per_resource": round(1000 * plan_s / resources, 3),
        "replay_ms_per_resource": round(1000 * replay_s / resources, 3),
    }


def measure_scale(spec: str, warmup: str | None = None) -> dict[str, Any]:
    """Load, plan, export and check one spec in this process; seconds per phase and the resource count.

    `warmup` (a small spec) is planned first so the plan time excludes the providers' lazy imports.
    """
    import resource

    from aienv.check import from_export, run_packs
    from aienv.engine import plan_program

    if warmup:
        w_stack, w_program, _ = _program(warmup)
        plan_program(w_program, project="aienv", stack=w_stack)
    start = time.perf_counter()
    stack, program, stack_spec = _program(spec)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_program(program, project="aienv", stack=stack)
    plan_s = time.perf_counter() - start
    start = time.perf_counter()
    export = plan.to_export()
    text = json.dumps(export, indent=2)
    export_s = time.perf_counter() - start
    packs = [str(getattr(p, "value", p)) for p in stack_spec.compliance.packs]
    extra = ({"data-residency": {"allowedRegions": list(stack_spec.compliance.allowed_regions)}}
             if stack_spec.compliance.allowed_regions else {})
    # The platform team that runs these endpoints raises the pack's GPU cap (64) to its budget's quota.
    budget = stack_spec.budget
    quota = sum(budget.gpu_quota.values()) if budget is not None and budget.gpu_quota else 0
    user = {"ai-gpu-quota": {"maxGpus": quota}} if quota > 64 else None
    start = time.perf_counter()
    result = run_packs(from_export(export, None), packs, user_config=user, extra_config=extra)
    check_s = time.perf_counter() - start
    resources = len(export["deployment"]["resources"])
    return {
        "spec": spec, "endpoints": len(stack_spec.model_endpoints), "gpu_pools": len(stack_spec.cluster.gpu_pools),
        "resources": resources, "load_s": round(load_s, 4), "plan_s": round(plan_s, 4),
        "export_s": round(export_s, 4), "export_mib": round(len(text) / 2**20, 2), "check_s": round(check_s, 4),
        "check_share": round(check_s / plan_s, 4), "plan_ms_per_resource": round(1000 * plan_s / resources, 3),
        "check_ms_per_1000": round(1000 * check_s / resources * 1000, 1),
        "violations": len(result.violations), "mandatory": len(result.mandatory),
        "self_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure_end_to_end(spec: str, runs: int = 3, commands: Sequence[str] = ("plan", "check"),
                       folder: Path | None = None) -> dict[str, Any]:
    """Median wall time and peak RSS of `aienv plan SPEC --export FILE` and `aienv check SPEC` processes."""
    result: dict[str, Any] = {"spec": spec, "runs": runs}
    with tempfile.TemporaryDirectory(prefix="aienv-bench-") as tmp:
        export = Path(folder or tmp) / f"{Path(spec).stem}.export.json"
        argvs = {"plan": [*aienv_command(), "plan", spec, "--export", str(export)],
                 "check": [*aienv_command(), "check", spec]}
        for command in commands:
            samples = [run_child(argvs[command]) for _ in range(runs)]
            for s in samples:
                if s["rc"] not in (0, 1):  # check exits 1 on a mandatory violation: still a measurement
                    raise RuntimeError(f"`{' '.join(argvs[command])}` failed (exit {s['rc']}):\n{s['stderr'][-4000:]}")
            result[command] = {
                "wall_s": round(statistics.median(s["wall_s"] for s in samples), 3),
                "wall_s_all": [round(s["wall_s"], 3) for s in samples],
                "peak_rss_mib": round(statistics.median(s["peak_rss_mib"] for s in samples), 1),
                "exit": samples[-1]["rc"],
            }
        if "plan" in commands:
            doc = json.loads(export.read_text(encoding="utf-8"))
            result["resources"] = len(doc["deployment"]["resources"])
    return result


# ---------------------------------------------------------------------------------------------------------
# the machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def machine_info() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "-"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(), "mem_gib": _mem_total_gib(), "cpu": _cpu_model(),
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "platform": platform.platform(), "packages": versions,
        "git": (commit.stdout.strip() or "?") + (" (+ uncommitted changes)" if dirty.stdout.strip() else ""),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    }


# ---------------------------------------------------------------------------------------------------------
# the run


def run_all(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    repeat = 1 if quick else 3
    runs = 1 if quick else 3
    endpoints = QUICK_SCALING_ENDPOINTS if quick else SCALING_ENDPOINTS
    results: dict[str, Any] = {"quick": quick, "machine": machine_info(), "floor": [], "end_to_end": [],
                               "scaling": []}
    started = time.perf_counter()
    for spec in REFERENCE_SPECS:
        log(f"floor ratio: {spec}")
        results["floor"].append(worker("floor", spec, str(repeat)))
    for spec in REFERENCE_SPECS:
        log(f"end to end: {spec}")
        results["end_to_end"].append(measure_end_to_end(spec, runs=runs))
    with tempfile.TemporaryDirectory(prefix="aienv-scale-") as tmp:
        folder = Path(tmp)
        warmup = write_scaling_spec(1, folder)
        for n in endpoints:
            path = write_scaling_spec(n, folder)
            log(f"scaling: {n} endpoints")
            results["scaling"].append(worker("scale", str(path), str(warmup)))
    results["scaling_fit"] = scaling_fit(results["scaling"])
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = evaluate_targets(results)
    return results


def scaling_fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    xs = [float(r["resources"]) for r in rows]
    fit: dict[str, Any] = {}
    for key in ("plan_s", "check_s", "peak_rss_mib"):
        ys = [float(r[key]) for r in rows]
        line = fit_line(xs, ys)
        fit[key] = {"per_resource": line["slope"], "intercept": line["intercept"], "r2": round(line["r2"], 5),
                    "marginal": [round(m, 6) for m in marginal_costs(xs, ys)]}
    return fit


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for row in results["floor"]:
        targets.append({"target": f"floor ratio {row['spec']} (plan / SDK replay) <= {FLOOR_TARGET}",
                        "value": row["replay_ratio"], "met": row["replay_ratio"] <= FLOOR_TARGET,
                        "miss_by": _miss(row["replay_ratio"], FLOOR_TARGET)})
    for row in results["end_to_end"]:
        if row["spec"] == "prod-aws":
            v = row["plan"]["wall_s"]
            targets.append({"target": f"`aienv plan prod-aws --export` < {PLAN_PROD_AWS_TARGET_S:g} s",
                            "value": v, "met": v < PLAN_PROD_AWS_TARGET_S, "miss_by": _miss(v, PLAN_PROD_AWS_TARGET_S)})
    if results["scaling"]:
        big = max(results["scaling"], key=lambda r: r["endpoints"])
        n = big["endpoints"]
        targets.append({"target": f"scaling {n} endpoints: peak memory < {SCALE_MEMORY_TARGET_MIB:g} MiB",
                        "value": big["peak_rss_mib"], "met": big["peak_rss_mib"] < SCALE_MEMORY_TARGET_MIB,
                        "miss_by": _miss(big["peak_rss_mib"], SCALE_MEMORY_TARGET_MIB)})
        targets.append({"target": f"scaling {n} endpoints: check time < {CHECK_SHARE_TARGET:.0%} of plan time",
                        "value": big["check_share"], "met": big["check_share"] < CHECK_SHARE_TARGET,
                        "miss_by": _miss(big["check_share"], CHECK_SHARE_TARGET)})
        fit = results["scaling_fit"]["plan_s"]
        marg = [m for m in fit["marginal"] if m > 0]
        growth = marg[-1] / marg[0] if len(marg) >= 2 else 1.0
        targets.append({"target": "plan time linear in resources (R^2 >= 0.99, last marginal cost <= 1.5x first)",
                        "value": f"R^2 {fit['r2']:.4f}, marginal x{growth:.2f}",
                        "met": fit["r2"] >= 0.99 and growth <= 1.5, "miss_by": None})
    return targets


def _miss(value: float, target: float) -> str | None:
    return None if value <= target else f"{100 * (value / target - 1):.0f}% over"


# ---------------------------------------------------------------------------------------------------------
# the report


def render(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    lines = [
        f"Command: `{command}` — total {results['total_s']:.0f} s{' (quick run)' if results['quick'] else ''}.",
        "",
        f"Machine: {m['nproc']} CPUs (`nproc`), {m['mem_gib']} GiB RAM, {m['cpu']}; {m['platform']}; "
        f"{m['implementation']} {m['python']}; git {m['git']}. Load average (1/5/15 min) at start "
        f"{'/'.join(map(str, m['loadavg_start']))}, at end {'/'.join(map(str, m.get('loadavg_end', [])))}"
        + (" — other work was running on the machine, so figures are noisy." if max(m["loadavg_start"][0],
           m.get("loadavg_end", [0])[0]) > 0.5 else ".")
        + (" `PYTHONDONTWRITEBYTECODE` was set (the project's own modules are compiled in every process)."
           if m.get("pythondontwritebytecode") else ""),
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "",
        "### Targets",
        "",
        "| target | value | met |",
        "|---|---|---|",
    ]
    for t in results["targets"]:
        verdict = "yes" if t["met"] else f"**no** ({t['miss_by']})" if t["miss_by"] else "**no**"
        lines.append(f"| {t['target']} | {t['value']} | {verdict} |")
    lines += [
        "",
        "### Floor ratio (in process, best of {})".format(results["floor"][0]["repeat"] if results["floor"] else "-"),
        "",
        "| spec | resources | plan s | ms/resource | SDK replay s | **replay ratio** | replay, engine wait s "
        "| ratio | same program on SDK MockMonitor s | **SDK-program ratio** |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["floor"]:
        lines.append(f"| {r['spec']} | {r['resources']} | {r['plan_s']:.3f} | {r['plan_ms_per_resource']:.2f} | "
                     f"{r['replay_s']:.3f} | **{r['replay_ratio']:.2f}** | {r['replay_same_wait_s']:.3f} | "
                     f"{r['replay_same_wait_ratio']:.2f} | {r['sdk_program_s']:.3f} | **{r['sdk_program_ratio']:.2f}** |")
    lines += [
        "",
        "### End to end (whole processes, median of {})".format(
            results["end_to_end"][0]["runs"] if results["end_to_end"] else "-"),
        "",
        "| spec | resources | `aienv plan SPEC --export FILE` s | peak RSS MiB | `aienv check SPEC` s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results["end_to_end"]:
        lines.append(f"| {r['spec']} | {r.get('resources', '-')} | {r['plan']['wall_s']:.2f} "
                     f"({', '.join(f'{x:.2f}' for x in r['plan']['wall_s_all'])}) | {r['plan']['peak_rss_mib']:.0f} | "
                     f"{r['check']['wall_s']:.2f} ({', '.join(f'{x:.2f}' for x in r['check']['wall_s_all'])}) | "
                     f"{r['check']['peak_rss_mib']:.0f} |")
    lines += [
        "",
        "### Scaling (generated dev-aws specs; one worker process per spec, plan timed after a warm-up plan)",
        "",
        "| endpoints | GPU pools | resources | plan s | plan ms/resource | export s | check s | check / plan "
        "| check s per 1,000 resources | peak RSS MiB | worker process s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["scaling"]:
        lines.append(f"| {r['endpoints']} | {r['gpu_pools']} | {r['resources']} | {r['plan_s']:.2f} | "
                     f"{r['plan_ms_per_resource']:.2f} | {r['export_s']:.2f} | {r['check_s']:.2f} | "
                     f"{100 * r['check_share']:.1f}% | {r['check_ms_per_1000'] / 1000:.3f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['process_wall_s']:.1f} |")
    fit = results.get("scaling_fit")
    if fit:
        p, c, mem = fit["plan_s"], fit["check_s"], fit["peak_rss_mib"]
        lines += [
            "",
            "Least-squares fit against resources: "
            f"plan {1000 * p['per_resource']:.3f} ms/resource + {p['intercept']:.2f} s (R² {p['r2']:.4f}); "
            f"check {1000 * c['per_resource']:.3f} ms/resource + {c['intercept']:.2f} s (R² {c['r2']:.4f}) "
            f"= {c['per_resource'] * 1000:.2f} s per 1,000 resources; "
            f"peak memory {1024 * mem['per_resource']:.1f} KiB/resource + {mem['intercept']:.0f} MiB "
            f"(R² {mem['r2']:.4f}).",
            "Marginal plan cost between consecutive sizes (ms/resource): "
            + ", ".join(f"{1000 * x:.3f}" for x in p["marginal"])
            + "; marginal check cost: " + ", ".join(f"{1000 * x:.3f}" for x in c["marginal"]) + ".",
        ]
    lines += ["", "### Check time per 1,000 resources", "",
              "| spec | resources | check s (in process) | s per 1,000 resources |", "|---|---:|---:|---:|"]
    for r in results["scaling"]:
        lines.append(f"| scale-{r['endpoints']} | {r['resources']} | {r['check_s']:.3f} | "
                     f"{r['check_ms_per_1000'] / 1000:.3f} |")
    return "\n".join(lines) + "\n"


def write_results(path: Path, generated: str) -> None:
    """Put `generated` between the markers of `path` (keeping the hand-written text around them)."""
    block = f"{BEGIN}\n{generated}{END}"
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat, scaling to 50 endpoints; "
                                                             "prints the report, writes RESULTS.md only with --results")
    parser.add_argument("--results", metavar="FILE", help=f"Markdown file to update (default: {RESULTS.relative_to(ROOT)} "
                                                          "for a full run)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    parser.add_argument("--worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    os.chdir(ROOT)
    results = run_all(quick=args.quick, log=log)
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    report = render(results, command)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    target = Path(args.results) if args.results else (None if args.quick else RESULTS)
    if target is not None:
        write_results(target, report)
        log(f"wrote {target}")
    print(report)
    return 0


def _worker(argv: list[str]) -> int:
    kind, *rest = argv
    os.chdir(ROOT)
    if kind == "floor":
        result = measure_floor(rest[0], int(rest[1]) if len(rest) > 1 else 3)
    elif kind == "scale":
        result = measure_scale(rest[0], rest[1] if len(rest) > 1 else None)
    else:
        raise SystemExit(f"unknown worker {kind}")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (not part of any measurement)


if __name__ == "__main__":
    sys.exit(main())
