"""Smoke test of the benchmark code paths (benchmarks/run.py) on a tiny generated spec: structure, no timings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import run as bench


def test_fit_line_recovers_slope_and_intercept() -> None:
    xs = [1.0, 10.0, 100.0, 500.0]
    fit = bench.fit_line(xs, [0.004 * x + 1.5 for x in xs])
    assert math.isclose(fit["slope"], 0.004, rel_tol=1e-9)
    assert math.isclose(fit["intercept"], 1.5, rel_tol=1e-9)
    assert math.isclose(fit["r2"], 1.0)
    noisy = bench.fit_line([0, 1, 2, 3], [1, 3, 2, 4])  # least squares: slope 0.8, intercept 1.3
    assert math.isclose(noisy["slope"], 0.8) and math.isclose(noisy["intercept"], 1.3)
    assert bench.marginal_costs([10, 1, 100], [3, 1, 21]) == pytest.approx([2 / 9, 18 / 90])
    with pytest.raises(ValueError):
        bench.fit_line([1.0], [1.0])


def test_generated_specs_are_valid_and_scale(tmp_path: Path) -> None:
    from aienv.spec import load_spec

    for n in (1, 76):
        spec = load_spec(bench.write_scaling_spec(n, tmp_path)).spec
        assert len(spec.model_endpoints) == n
        assert len({e.name for e in spec.model_endpoints}) == n
        assert all(spec.pool_for(e) is not None for e in spec.model_endpoints)
        assert spec.budget is not None
        assert sum(spec.budget.gpu_quota.values()) == sum(p.max_nodes for p in spec.cluster.gpu_pools)
    assert len(load_spec(tmp_path / "scale-76.yaml").spec.cluster.gpu_pools) == 4  # l4 x2 (26 endpoints), a10g, t4


def test_measurements_on_a_one_endpoint_spec(tmp_path: Path) -> None:
    spec = str(bench.write_scaling_spec(1, tmp_path))

    scale = bench.measure_scale(spec)
    assert scale["endpoints"] == 1 and scale["gpu_pools"] == 1
    assert scale["resources"] > 50 and scale["mandatory"] == 0
    for key in ("plan_s", "export_s", "check_s", "check_share", "check_ms_per_1000", "self_peak_rss_mib"):
        assert scale[key] >= 0

    floor = bench.measure_floor(spec, repeat=1)
    assert floor["resources"] > 50
    for key in ("plan_s", "replay_s", "replay_same_wait_s", "sdk_program_s", "replay_ratio",
                "replay_same_wait_ratio", "sdk_program_ratio"):
        assert floor[key] > 0

    e2e = bench.measure_end_to_end(spec, runs=1, commands=("plan",))
    assert e2e["plan"]["exit"] == 0 and e2e["plan"]["wall_s"] > 0 and e2e["plan"]["peak_rss_mib"] > 50
    assert e2e["resources"] == scale["resources"]

    results = {"quick": True, "total_s": 1.0, "machine": bench.machine_info(), "floor": [floor],
               "end_to_end": [{**e2e, "spec": "prod-aws", "check": e2e["plan"]}],
               "scaling": [{**scale, "peak_rss_mib": 300.0, "process_wall_s": 5.0},
                           {**scale, "endpoints": 2, "resources": scale["resources"] * 2,
                            "plan_s": scale["plan_s"] * 2, "peak_rss_mib": 310.0, "process_wall_s": 6.0}]}
    results["scaling_fit"] = bench.scaling_fit(results["scaling"])
    results["targets"] = bench.evaluate_targets(results)
    assert {t["target"].split()[0] for t in results["targets"]} >= {"floor", "`aienv", "scaling", "plan"}
    report = bench.render(results, "python benchmarks/run.py --quick")
    out = tmp_path / "RESULTS.md"
    out.write_text(f"# Results\n\nhand-written\n\n{bench.BEGIN}\nold\n{bench.END}\n\ntail\n")
    bench.write_results(out, report)
    text = out.read_text()
    assert "hand-written" in text and "tail" in text and "old" not in text and "### Floor ratio" in text
