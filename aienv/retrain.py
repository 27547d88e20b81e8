"""Retraining trigger of one endpoint: an Alertmanager webhook receiver that turns a fired drift (or quality)
alert into a run request of the cloud's pipeline service, queued for the pod's runner.

A single self-contained file using only the Python standard library: the Kubernetes layer mounts it into the
trigger from a ConfigMap and runs it with a plain `python` image.

    python retrain.py --endpoint chat --alerts ModelEndpointDrift --shape sagemaker \
        --request /opt/aienv/request.json --queue /queue --cooldown-hours 24 --port 8080

Alertmanager posts its webhook message (`{"version": "4", "status": ..., "alerts": [{"status", "labels",
"annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}, ...]}`, Alertmanager docs, configuration,
`<webhook_config>`). Every alert that is `firing`, is one of `--alerts` and carries `endpoint=<--endpoint>` asks
for a run; at most one run is queued per `--cooldown-hours` (Alertmanager repeats a firing alert's notification
every `repeat_interval`, and a restarted receiver relies on the run id instead: the same alert instance always
gets the same id, which the pipeline services treat as already started).

A queued run is `<queue>/<run id>.json`: the cloud's request body (`--request`, with the run id and the
parameters written in the cloud's shape, `--shape`), which the runner container sends with the cloud's CLI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HEALTH_PATH = "/healthz"
SHAPES = ("sagemaker", "vertex", "azureml")
REASONS = {"ModelEndpointDrift": "drift", "ModelEndpointQualityLow": "quality"}
RUN_ID_TOKEN = "$RUN_ID"


def run_id(endpoint: str, alert: Mapping[str, Any]) -> str:
    """A stable id for one firing instance of an alert: `aienv-<endpoint>-<reason>-<32 hex>`.

    It satisfies every service's run-id rules at once: SageMaker ClientRequestToken (32 to 128 characters),
    Vertex AI pipelineJobId (lowercase letters, digits and `-`), Azure ML job names."""
    labels = alert.get("labels") or {}
    reason = REASONS.get(str(labels.get("alertname")), "alert")
    seed = f"{alert.get('fingerprint', '')}|{alert.get('startsAt', '')}|{endpoint}|{reason}"
    return f"aienv-{endpoint}-{reason}-{hashlib.sha256(seed.encode()).hexdigest()[:32]}"


def parameters(endpoint: str, alert: Mapping[str, Any], base: Mapping[str, str]) -> dict[str, str]:
    """The run's parameters: the spec's, then what the alert says (which endpoint, why, the drift score)."""
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    out = dict(base)
    out["endpoint"] = endpoint
    out["reason"] = REASONS.get(str(labels.get("alertname")), "alert")
    out["alert_started_at"] = str(alert.get("startsAt", ""))
    for key in ("score", "quality"):
        if key in annotations:
            out[key] = str(annotations[key])
    return out


def _replace(value: Any, token: str, text: str) -> Any:
    if isinstance(value, str):
        return value.replace(token, text)
    if isinstance(value, list):
        return [_replace(v, token, text) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, token, text) for k, v in value.items()}
    return value


def render(shape: str, template: Mapping[str, Any], rid: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The cloud's request body: the template with the run id, and the parameters where each service takes them.

    - sagemaker: StartPipelineExecution `ClientRequestToken` and `PipelineParameters: [{"Name", "Value"}]`;
    - vertex: a PipelineJob, `runtimeConfig.parameterValues: {name: value}`;
    - azureml: a Pipeline job, `properties.inputs: {name: {"jobInputType": "literal", "value"}}`.
    """
    body: dict[str, Any] = _replace(json.loads(json.dumps(template)), RUN_ID_TOKEN, rid)
    if shape == "sagemaker":
        body["ClientRequestToken"] = rid
        body["PipelineParameters"] = [{"Name": k, "Value": v} for k, v in sorted(params.items())]
    elif shape == "vertex":
        runtime = body.setdefault("runtimeConfig", {})
        runtime["parameterValues"] = {**runtime.get("parameterValues", {}), **dict(sorted(params.items()))}
    elif shape == "azureml":
        props = body.setdefault("properties", {})
        props["inputs"] = {**props.get("inputs", {}),
                           **{k: {"jobInputType": "literal", "value": v} for k, v in sorted(params.items())}}
    else:
        raise ValueError(f"unknown request shape {shape!r} (known: {', '.join(SHAPES)})")
    return body


class Trigger:
    """Decides which alerts start a run and queues the run requests."""

    def __init__(self, endpoint: str, alerts: Sequence[str], shape: str, template: Mapping[str, Any],
                 queue: str, cooldown_hours: float, base_parameters: Mapping[str, str] | None = None):
        self.endpoint, self.alerts, self.shape, self.template = endpoint, set(alerts), shape, template
        self.queue, self.cooldown = queue, cooldown_hours * 3600
        self.base = dict(base_parameters or {})
        self.lock = threading.Lock()
        os.makedirs(queue, exist_ok=True)
        self.stamp = os.path.join(queue, ".last-run")

    def _last(self) -> float:
        try:
            with open(self.stamp, encoding="utf-8") as handle:
                return float(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    def handle(self, message: Mapping[str, Any], now: float | None = None) -> list[str]:
        """Queue runs for the firing alerts of an Alertmanager message; returns the queued run ids."""
        now = time.time() if now is None else now
        if str(message.get("version", "4")) != "4":
            raise ValueError(f"unsupported Alertmanager webhook version {message.get('version')!r}")
        queued: list[str] = []
        for alert in message.get("alerts") or []:
            labels = alert.get("labels") or {}
            if alert.get("status") != "firing" or labels.get("alertname") not in self.alerts:
                continue
            if labels.get("endpoint") != self.endpoint:
                continue
            with self.lock:
                if now - self._last() < self.cooldown:
                    continue  # one run per cooldown; Alertmanager repeats firing notifications
                rid = run_id(self.endpoint, alert)
                body = render(self.shape, self.template, rid, parameters(self.endpoint, alert, self.base))
                tmp = os.path.join(self.queue, f".{rid}.tmp")
                with open(tmp, "w", encoding="utf-8") as handle:
                    json.dump(body, handle, sort_keys=True)
                os.replace(tmp, os.path.join(self.queue, f"{rid}.json"))
                with open(self.stamp, "w", encoding="utf-8") as handle:
                    handle.write(f"{now:.0f}")
                queued.append(rid)
        return queued


def handler(trigger: Trigger) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        server_version = "aienv-retrain"

        def _answer(self, status: int, body: Mapping[str, Any] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
            self._answer(200 if self.path == HEALTH_PATH else 404)

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
                message = json.loads(self.rfile.read(length) or b"{}")
                queued = trigger.handle(message)
            except (ValueError, TypeError, AttributeError) as exc:
                # A 4xx is not retried by Alertmanager: a malformed message would only be refused again.
                self._answer(400, {"error": str(exc)})
                return
            print(json.dumps({"endpoint": trigger.endpoint, "queued": queued}), flush=True)
            self._answer(200, {"queued": queued})

    return Receiver


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Queue pipeline runs for fired Alertmanager alerts.")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--alerts", required=True, help="comma-separated alert names that start a run")
    parser.add_argument("--shape", choices=SHAPES, required=True)
    parser.add_argument("--request", required=True, help="JSON template of the cloud's request body")
    parser.add_argument("--parameters", default=None, help="JSON object of the spec's pipeline parameters")
    parser.add_argument("--queue", required=True)
    parser.add_argument("--cooldown-hours", type=float, default=24.0)
    parser.add_argument("--port", type=int, default=8080)
    ns = parser.parse_args(argv)
    with open(ns.request, encoding="utf-8") as handle:
        template = json.load(handle)
    base = json.loads(ns.parameters) if ns.parameters else {}
    trigger = Trigger(ns.endpoint, [a for a in ns.alerts.split(",") if a], ns.shape, template, ns.queue,
                      ns.cooldown_hours, base)
    server = ThreadingHTTPServer(("0.0.0.0", ns.port), handler(trigger))  # noqa: S104 - a pod
    print(json.dumps({"endpoint": ns.endpoint, "alerts": sorted(trigger.alerts), "port": ns.port}), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
