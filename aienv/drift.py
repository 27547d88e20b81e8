"""Drift score of a model endpoint: recent inputs/predictions against the training baseline.

A single self-contained file using only the Python standard library: the Kubernetes layer mounts it
into the drift CronJob from a ConfigMap and runs it with a plain `python` image.

    python drift.py --baseline /data/baseline --recent /data/recent --endpoint chat \
        --metric psi --threshold 0.2 --window-hours 24 --recent-times /data/recent.times \
        --pushgateway http://pushgateway:9091

Data: every `.csv` (with a header row), `.jsonl` (one JSON object per line) or `.json` (a list of
objects) file under each directory; each column/key is a feature, except keys starting with `_`, which are
metadata (the capture writer's `_ts`). Numeric features get the population
stability index (PSI, on baseline deciles) and the two-sample Kolmogorov-Smirnov statistic with its
asymptotic p-value; other features get a categorical PSI. The endpoint's score is the largest value
of the chosen metric over its features. The result is printed as JSON and, with `--pushgateway`,
pushed as Prometheus gauges (`aienv_drift_score{metric=...}` grouped by job and endpoint), which the
endpoint's PrometheusRule compares with the threshold. A recent window without samples is not a failure: the
run prints and pushes no score, only its time and `aienv_drift_samples{set="recent"} 0` (exit 0); bad data
(no baseline, no feature shared with it) exits 2.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import math
import os
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

EPSILON = 1e-4  # floor for empty bins so PSI stays finite
DEFAULT_BINS = 10
PUSH_JOB = "aienv-drift"
Value = float | str


# --- statistics ----------------------------------------------------------------------------------------

def _quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """Inner bin edges at the baseline's quantiles (duplicates dropped for discrete data)."""
    ordered = sorted(values)
    edges: list[float] = []
    for i in range(1, bins):
        pos = i * (len(ordered) - 1) / bins
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        edge = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def _psi_from_counts(expected: Sequence[int], actual: Sequence[int]) -> float:
    n_e, n_a = sum(expected), sum(actual)
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        pe = max(e / n_e, EPSILON)
        pa = max(a / n_a, EPSILON)
        total += (pa - pe) * math.log(pa / pe)
    return total


def psi(baseline: Sequence[float], recent: Sequence[float], bins: int = DEFAULT_BINS) -> float:
    """Population stability index of `recent` against `baseline`, on the baseline's quantile bins.

    Rule of thumb: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.
    """
    if not baseline or not recent:
        raise ValueError("PSI needs values in both samples")
    edges = _quantile_edges(baseline, bins)
    expected = [0] * (len(edges) + 1)
    actual = [0] * (len(edges) + 1)
    for v in baseline:
        expected[bisect.bisect_right(edges, v)] += 1
    for v in recent:
        actual[bisect.bisect_right(edges, v)] += 1
    return _psi_from_counts(expected, actual)


def categorical_psi(baseline: Sequence[str], recent: Sequence[str]) -> float:
    """PSI over categories (categories seen only in `recent` count as shift too)."""
    if not baseline or not recent:
        raise ValueError("PSI needs values in both samples")
    b, r = Counter(baseline), Counter(recent)
    categories = sorted(set(b) | set(r))
    return _psi_from_counts([b[k] for k in categories], [r[k] for k in categories])


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    if not a or not b:
        raise ValueError("KS needs values in both samples")
    xs, ys = sorted(a), sorted(b)
    n, m = len(xs), len(ys)
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(xs[i], ys[j])
        while i < n and xs[i] <= x:
            i += 1
        while j < m and ys[j] <= x:
            j += 1
        d = max(d, abs(i / n - j / m))
    return d


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic p-value of the two-sample KS statistic (Kolmogorov distribution, Stephens' correction)."""
    if d <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-10:
            break
    return min(1.0, max(0.0, total))


# --- data ----------------------------------------------------------------------------------------------

def _rows(path: str) -> Iterable[Mapping[str, object]]:
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)
    elif path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        yield from (data if isinstance(data, list) else [data])


def read_times(path: str) -> dict[str, float]:
    """Object times from a listing file: `<path relative to the data directory>\t<ISO 8601 time>` per line.

    Sync tools stamp downloaded files with the download time unless they preserve it (azcopy only with
    --preserve-last-modified-time, `gcloud storage rsync` only for objects it uploaded itself), so the recent
    window is decided on the objects' own times, listed next to the download.
    """
    times: dict[str, float] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, sep, stamp = line.rstrip("\n").partition("\t")
            if not sep or not key:
                continue
            try:
                when = datetime.fromisoformat(stamp.strip())
            except ValueError:
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            times[key.lstrip("/")] = when.timestamp()
    return times


def _files(directory: str, since: float | None, times: Mapping[str, float] | None = None) -> list[str]:
    found: list[str] = []
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if not name.endswith((".csv", ".jsonl", ".json")):
                continue
            if since is not None:
                relative = os.path.relpath(path, directory).replace(os.sep, "/")
                when = times.get(relative) if times is not None else None
                if (when if when is not None else os.path.getmtime(path)) < since:
                    continue
            found.append(path)
    return sorted(found)


def _coerce(value: object) -> Value | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else None


def load_columns(directory: str, window_hours: float | None = None, now: float | None = None,
                 times: Mapping[str, float] | None = None) -> dict[str, list[Value]]:
    """Feature name -> values, from every data file under `directory` (newer than the window, if given; a
    file's time is its object time from `times` when listed there, else its modification time)."""
    since = None if window_hours is None else (now if now is not None else time.time()) - window_hours * 3600
    columns: dict[str, list[Value]] = {}
    for path in _files(directory, since, times):
        for row in _rows(path):
            for key, raw in row.items():
                if str(key).startswith("_"):
                    continue  # metadata, not a feature the model saw
                value = _coerce(raw)
                if value is not None:
                    columns.setdefault(str(key), []).append(value)
    return columns


# --- scoring -------------------------------------------------------------------------------------------

@dataclass
class FeatureDrift:
    name: str
    kind: str  # numeric | categorical
    psi: float
    ks: float | None = None
    ks_pvalue: float | None = None


@dataclass
class DriftReport:
    metric: str
    threshold: float
    score: float
    drifted: bool
    baseline_samples: int
    recent_samples: int
    features: list[FeatureDrift] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "threshold": self.threshold, "score": round(self.score, 6),
                "drifted": self.drifted, "baseline_samples": self.baseline_samples,
                "recent_samples": self.recent_samples,
                "features": [{k: v for k, v in vars(f).items() if v is not None} for f in self.features]}


def score(baseline: Mapping[str, Sequence[Value]], recent: Mapping[str, Sequence[Value]], metric: str = "psi",
          threshold: float = 0.2, bins: int = DEFAULT_BINS) -> DriftReport:
    """Drift per shared feature and overall (the largest `metric` value over the features)."""
    if metric not in ("psi", "ks"):
        raise ValueError(f"metric must be psi or ks, not {metric!r}")
    shared = [name for name in baseline if name in recent and baseline[name] and recent[name]]
    if not shared:
        raise ValueError("baseline and recent data share no feature with values")
    features: list[FeatureDrift] = []
    for name in shared:
        b, r = baseline[name], recent[name]
        if all(isinstance(v, float) for v in b) and all(isinstance(v, float) for v in r):
            nb = [float(v) for v in b]
            nr = [float(v) for v in r]
            d = ks_statistic(nb, nr)
            features.append(FeatureDrift(name, "numeric", psi(nb, nr, bins), d, ks_pvalue(d, len(nb), len(nr))))
        else:
            features.append(FeatureDrift(name, "categorical", categorical_psi([str(v) for v in b],
                                                                              [str(v) for v in r])))
    values = [f.psi if metric == "psi" else (f.ks if f.ks is not None else 0.0) for f in features]
    overall = max(values)
    return DriftReport(metric, threshold, overall, overall > threshold,
                       max(len(baseline[n]) for n in shared), max(len(recent[n]) for n in shared), features)


# --- export --------------------------------------------------------------------------------------------

def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(report: DriftReport, now: float | None = None) -> str:
    """The report in the Prometheus text format (grouping labels job/endpoint come from the push URL)."""
    lines = [
        "# HELP aienv_drift_score Largest drift score of the endpoint's features for the configured metric.",
        "# TYPE aienv_drift_score gauge",
        f'aienv_drift_score{{metric="{report.metric}"}} {report.score:.6g}',
        "# TYPE aienv_drift_threshold gauge",
        f'aienv_drift_threshold{{metric="{report.metric}"}} {report.threshold:.6g}',
        "# TYPE aienv_drift_psi gauge",
        *(f'aienv_drift_psi{{feature="{_label(f.name)}"}} {f.psi:.6g}' for f in report.features),
        "# TYPE aienv_drift_ks gauge",
        *(f'aienv_drift_ks{{feature="{_label(f.name)}"}} {f.ks:.6g}' for f in report.features if f.ks is not None),
        "# TYPE aienv_drift_samples gauge",
        f'aienv_drift_samples{{set="baseline"}} {report.baseline_samples}',
        f'aienv_drift_samples{{set="recent"}} {report.recent_samples}',
        "# TYPE aienv_drift_last_run_timestamp_seconds gauge",
        f"aienv_drift_last_run_timestamp_seconds {now if now is not None else time.time():.0f}",
    ]
    return "\n".join(lines) + "\n"


def no_samples_exposition(metric: str, threshold: float, baseline_samples: int, now: float | None = None) -> str:
    """A run whose recent window held no samples: no score (the PUT replaces the group, so an older score goes
    away and cannot alert or start retraining again), but the run's time and its zero recent samples."""
    lines = [
        "# TYPE aienv_drift_threshold gauge",
        f'aienv_drift_threshold{{metric="{metric}"}} {threshold:.6g}',
        "# TYPE aienv_drift_samples gauge",
        f'aienv_drift_samples{{set="baseline"}} {baseline_samples}',
        'aienv_drift_samples{set="recent"} 0',
        "# TYPE aienv_drift_last_run_timestamp_seconds gauge",
        f"aienv_drift_last_run_timestamp_seconds {now if now is not None else time.time():.0f}",
    ]
    return "\n".join(lines) + "\n"


def push(url: str, endpoint: str, body: str, timeout: float = 30.0) -> None:
    """Replace the endpoint's group on the Pushgateway (HTTP PUT)."""
    target = f"{url.rstrip('/')}/metrics/job/{PUSH_JOB}/endpoint/{endpoint}"
    request = urllib.request.Request(target, data=body.encode(), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - in-cluster http URL
        if response.status >= 300:
            raise RuntimeError(f"push to {target} failed: HTTP {response.status}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare recent endpoint data with the training baseline.")
    parser.add_argument("--baseline", required=True, help="directory with the training baseline")
    parser.add_argument("--recent", required=True, help="directory with recent inputs/predictions")
    parser.add_argument("--endpoint", required=True, help="endpoint name (the push grouping label)")
    parser.add_argument("--metric", choices=("psi", "ks"), default="psi")
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--window-hours", type=float, default=None, help="only recent files newer than this")
    parser.add_argument("--recent-times", default=None,
                        help="listing of the recent objects' times (path<TAB>ISO time per line)")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS)
    parser.add_argument("--pushgateway", default=None, help="Pushgateway base URL; omit to only print")
    ns = parser.parse_args(argv)
    try:
        times = read_times(ns.recent_times) if ns.recent_times and os.path.exists(ns.recent_times) else None
        baseline = load_columns(ns.baseline)
        if not any(baseline.values()):
            raise ValueError("the baseline has no feature with values")
        recent = load_columns(ns.recent, ns.window_hours, times=times)
        report = score(baseline, recent, ns.metric, ns.threshold, ns.bins) if any(recent.values()) else None
    except ValueError as exc:
        print(json.dumps({"endpoint": ns.endpoint, "error": str(exc)}), file=sys.stderr)
        return 2
    if report is None:
        # An empty window (the first run after a deploy, a quiet hour, a low sample rate) is not a failed run:
        # nothing to score, so no score, and the run's time keeps ModelEndpointDriftStale quiet.
        baseline_samples = max(len(v) for v in baseline.values())
        print(json.dumps({"endpoint": ns.endpoint, "metric": ns.metric, "threshold": ns.threshold, "score": None,
                          "drifted": False, "baseline_samples": baseline_samples, "recent_samples": 0,
                          "note": "no recent samples in the window; nothing scored"}))
        if ns.pushgateway:
            push(ns.pushgateway, ns.endpoint, no_samples_exposition(ns.metric, ns.threshold, baseline_samples))
        return 0
    print(json.dumps({"endpoint": ns.endpoint, **report.to_dict()}))
    if ns.pushgateway:
        push(ns.pushgateway, ns.endpoint, exposition(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
