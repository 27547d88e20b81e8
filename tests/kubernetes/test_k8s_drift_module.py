"""aienv/drift.py on generated data with known drift: shifted data is flagged, unshifted data passes."""

from __future__ import annotations

import csv
import http.server
import json
import random
import threading
import time
from pathlib import Path

import pytest

from aienv import drift


def _normal(seed: int, n: int, mean: float = 0.0, sd: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


def test_psi_and_ks_pass_unshifted_data() -> None:
    base, recent = _normal(1, 5000), _normal(2, 2000)
    assert drift.psi(base, recent) < 0.1
    d = drift.ks_statistic(base, recent)
    assert d < 0.05
    assert drift.ks_pvalue(d, len(base), len(recent)) > 0.01


def test_psi_and_ks_flag_shifted_data() -> None:
    base, recent = _normal(1, 5000), _normal(2, 2000, mean=0.8)
    assert drift.psi(base, recent) > 0.2
    d = drift.ks_statistic(base, recent)
    assert d > 0.2
    assert drift.ks_pvalue(d, len(base), len(recent)) < 1e-6


def test_scale_change_is_drift_too() -> None:
    assert drift.psi(_normal(1, 5000), _normal(2, 2000, sd=2.5)) > 0.2


def test_ks_statistic_exact_small_case() -> None:
    assert drift.ks_statistic([1, 2, 3], [1, 2, 3]) == 0
    assert drift.ks_statistic([1, 2, 3], [4, 5, 6]) == 1
    assert drift.ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)


def test_categorical_psi() -> None:
    base = ["a"] * 500 + ["b"] * 500
    assert drift.categorical_psi(base, ["a"] * 250 + ["b"] * 250) == pytest.approx(0.0)
    assert drift.categorical_psi(base, ["a"] * 450 + ["b"] * 30 + ["c"] * 20) > 0.2


def test_score_takes_the_worst_feature() -> None:
    baseline = {"x": _normal(1, 3000), "y": _normal(3, 3000), "plan": ["free", "pro"] * 1500}
    recent = {"x": _normal(2, 1000), "y": _normal(4, 1000, mean=1.0), "plan": ["free", "pro"] * 500}
    report = drift.score(baseline, recent, "psi", 0.2)
    assert report.drifted and report.score == max(f.psi for f in report.features)
    assert {f.name: f.kind for f in report.features} == {"x": "numeric", "y": "numeric", "plan": "categorical"}
    by_ks = drift.score(baseline, recent, "ks", 0.2)
    assert by_ks.metric == "ks" and by_ks.drifted and by_ks.score < 1


def _write(directory: Path, rows: list[dict[str, object]], fmt: str) -> None:
    directory.mkdir(parents=True)
    if fmt == "csv":
        with open(directory / "part-0.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        (directory / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _data(tmp_path: Path, shift: float) -> tuple[Path, Path]:
    base = [{"tenure": a, "score": b} for a, b in zip(_normal(1, 3000), _normal(5, 3000), strict=True)]
    recent = [{"tenure": a, "score": b}
              for a, b in zip(_normal(2, 1000, mean=shift), _normal(6, 1000), strict=True)]
    _write(tmp_path / "baseline", base, "csv")
    _write(tmp_path / "recent", recent, "jsonl")
    return tmp_path / "baseline", tmp_path / "recent"


@pytest.mark.parametrize(("shift", "drifted"), [(0.0, False), (1.0, True)])
def test_main_reads_files_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str], shift: float,
                                      drifted: bool) -> None:
    baseline, recent = _data(tmp_path, shift)
    code = drift.main(["--baseline", str(baseline), "--recent", str(recent), "--endpoint", "chat",
                       "--metric", "psi", "--threshold", "0.2", "--window-hours", "24"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["endpoint"] == "chat" and out["drifted"] is drifted
    assert out["recent_samples"] == 1000 and out["baseline_samples"] == 3000


def test_main_without_data_fails(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "r").mkdir()
    assert drift.main(["--baseline", str(tmp_path / "b"), "--recent", str(tmp_path / "r"), "--endpoint", "x"]) == 2


def test_bad_data_still_fails_with_recent_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline, recent = _data(tmp_path, 0.0)
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    _write(other, [{"unrelated": 1.0}], "csv")
    for base in (tmp_path / "empty", other):  # no baseline; a baseline sharing no feature with the samples
        assert drift.main(["--baseline", str(base), "--recent", str(recent), "--endpoint", "chat"]) == 2
        assert "error" in json.loads(capsys.readouterr().err)


def _pushgateway(received: list[tuple[str, str, str]]) -> http.server.HTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.command, self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    return server


@pytest.mark.parametrize("window", ["no files", "only old files"])
def test_an_empty_recent_window_is_not_a_failed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    window: str) -> None:
    # B6: the first run after a deploy, a quiet hour or a low sample rate leaves the window empty; exit 2 made
    # ModelEndpointDriftJobFailed fire. The run pushes no score (the PUT replaces the group, so an older score
    # goes) but its time, which keeps ModelEndpointDriftStale quiet.
    baseline, recent = _data(tmp_path, 1.0)
    if window == "no files":
        for f in recent.iterdir():
            f.unlink()
    times = tmp_path / "recent.times"
    times.write_text("part-0.jsonl\t2001-01-01T00:00:00+00:00\n")
    received: list[tuple[str, str, str]] = []
    server = _pushgateway(received)
    before = time.time()
    code = drift.main(["--baseline", str(baseline), "--recent", str(recent), "--endpoint", "chat",
                       "--window-hours", "24", "--recent-times", str(times),
                       "--pushgateway", f"http://127.0.0.1:{server.server_port}"])
    server.server_close()
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recent_samples"] == 0 and out["score"] is None and out["drifted"] is False
    assert "no recent samples" in out["note"]
    method, path, body = received[0]
    assert (method, path) == ("PUT", "/metrics/job/aienv-drift/endpoint/chat")
    samples = [line for line in body.splitlines() if not line.startswith("#")]
    assert not any(line.startswith(("aienv_drift_score", "aienv_drift_psi", "aienv_drift_ks")) for line in samples)
    assert 'aienv_drift_samples{set="recent"} 0' in samples
    assert 'aienv_drift_samples{set="baseline"} 3000' in samples
    stamp = next(line for line in samples if line.startswith("aienv_drift_last_run_timestamp_seconds "))
    assert float(stamp.split()[-1]) >= before - 1


def test_window_skips_old_files(tmp_path: Path) -> None:
    _, recent = _data(tmp_path, 0.0)
    assert drift.load_columns(str(recent), window_hours=1, now=10**11) == {}
    assert len(drift.load_columns(str(recent), window_hours=1)["tenure"]) == 1000


def test_push_replaces_the_endpoint_group(tmp_path: Path) -> None:
    received: list[tuple[str, str, str]] = []
    server = _pushgateway(received)
    baseline, recent = _data(tmp_path, 1.0)
    code = drift.main(["--baseline", str(baseline), "--recent", str(recent), "--endpoint", "chat",
                       "--pushgateway", f"http://127.0.0.1:{server.server_port}"])
    server.server_close()
    assert code == 0
    method, path, body = received[0]
    assert (method, path) == ("PUT", "/metrics/job/aienv-drift/endpoint/chat")
    score_line = next(line for line in body.splitlines() if line.startswith("aienv_drift_score{"))
    assert score_line.startswith('aienv_drift_score{metric="psi"} ') and float(score_line.split()[-1]) > 0.2
    assert 'aienv_drift_ks{feature="tenure"}' in body


def test_module_is_standard_library_only() -> None:
    import ast

    tree = ast.parse(Path(drift.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    import sys

    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
