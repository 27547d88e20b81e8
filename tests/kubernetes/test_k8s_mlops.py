"""The MLOps loop on the Kubernetes layer, piece by piece from the spec: capture, drift on what capture wrote,
the retraining trigger on a fired alert, the progressive rollout, scale to zero, the node weight cache."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aienv import capture, drift, retrain
from aienv import conventions as c
from aienv.engine import Plan
from components.kubernetes.retraining import receiver_url

from .conftest import reference_plan
from .fakecli import Sandbox, env_of, store_path
from .k8splan import DEPLOYMENT, HTTPROUTE, RELEASE, of_type, one, plain, plan_layer, reference

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ANALYSIS = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HTTP_SCALED_OBJECT = "kubernetes:http.keda.sh/v1alpha1:HTTPScaledObject"
CRONJOB = "kubernetes:batch/v1:CronJob"
PV = "kubernetes:core/v1:PersistentVolume"


def _pod(r: Any) -> dict[str, Any]:
    inputs = plain(r.inputs)
    if r.type == CRONJOB:
        return inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return inputs["spec"]["template"]["spec"]


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c_ for c_ in [*pod.get("initContainers", []), *pod["containers"]] if c_["name"] == name)


def _route(plan: Plan, endpoint: str) -> dict[str, Any]:
    return next(plain(r.inputs) for r in of_type(plan, HTTPROUTE) if plain(r.inputs)["metadata"]["name"] == endpoint)


# --- 1. capture ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod-aws", "prod-azure", "prod-gcp"])
def test_the_route_mirrors_the_sample_rate_to_the_capture_writer(stack: str) -> None:
    plan, spec = reference_plan(stack), reference(stack)
    for ep in spec.model_endpoints:
        mirrors = [f for f in _route(plan, ep.name)["spec"]["rules"][0]["filters"] if f["type"] == "RequestMirror"]
        assert mirrors == [{"type": "RequestMirror", "requestMirror": {
            "backendRef": {"group": "", "kind": "Service", "name": f"{ep.name}-capture", "port": 80},
            "fraction": {"numerator": round(ep.capture.sample_percent * 100), "denominator": 10000}}}]
        writer = plain(one(plan, DEPLOYMENT, f"{stack}-k8s-{ep.name}-capture-deployment").inputs)
        assert writer["metadata"]["annotations"][c.CAPTURE_PII_ANNOTATION] == "redact"
        pod = writer["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == f"{ep.name}-capture"
        assert env_of(_container(pod, "uploader"))["CAPTURE_URI"].endswith(f"/drift/{ep.name}/recent/")


def test_capture_off_builds_no_writer_and_no_mirror() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    ep = spec.model_endpoints[2]
    ep.capture.enabled, ep.drift = False, False
    plan = plan_layer(spec)
    assert not [r for r in of_type(plan, DEPLOYMENT) if r.name.endswith(f"{ep.name}-capture-deployment")]
    assert not [f for f in _route(plan, ep.name)["spec"]["rules"][0]["filters"] if f["type"] == "RequestMirror"]
    assert not [r for r in of_type(plan, CRONJOB) if r.name.endswith(f"{ep.name}-drift-cron-job")]


def test_capture_writer_keeps_no_text_and_no_personal_data_when_redacting() -> None:
    body = json.dumps({"model": "m", "temperature": 0.2, "max_tokens": 128, "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "I am jane.doe@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958"}],
        "user": "jane.doe@example.com"}).encode()
    redacted, = capture.features("vllm", body, "redact")
    text = json.dumps(redacted)
    assert "jane" not in text and "4111" not in text and "7946" not in text
    assert redacted["prompt_chars"] > 40 and redacted["messages"] == 2 and redacted["temperature"] == 0.2
    kept, = capture.features("vllm", body, "keep")
    assert "4111 1111 1111 1111" in kept["prompt"]


def test_capture_writer_reads_batches_and_kserve_tensors() -> None:
    batch = capture.features("custom", json.dumps({"instances": [
        {"amount": 12.5, "country": "DE", "iban": "DE89370400440532013000"}, {"amount": 3.0, "country": "FR"}]}
    ).encode(), "redact")
    assert batch == [{"amount": 12.5, "country": "DE"}, {"amount": 3.0, "country": "FR"}]
    tensors, = capture.features("triton", json.dumps({"inputs": [
        {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}]}).encode(), "redact")
    assert tensors["x_mean"] == 2.5 and tensors["x_len"] == 4


# --- 2. drift on what capture wrote ----------------------------------------------------------------------------

class _Pushgateway(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str]] = []

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _requests(seed: int, n: int, prompt_words: float, temperature: float) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"model": "chat", "max_tokens": rng.choice([128, 256, 512]),
                        "temperature": round(max(0.0, rng.gauss(temperature, 0.1)), 3),
                        "messages": [{"role": "user", "content": " ".join(["word"] * max(1, int(
                            rng.gauss(prompt_words, prompt_words / 5))))}]}).encode() for _ in range(n)]


@pytest.mark.parametrize("shifted", [True, False])
def test_drift_job_scores_what_the_capture_writer_uploaded(tmp_path: Path, shifted: bool) -> None:
    """Requests hit the writer over HTTP, its uploader puts the batches where the drift job reads them, and the
    drift CronJob's own containers fetch and score them against a baseline of the same features."""
    plan = reference_plan("prod-aws")
    box = Sandbox(tmp_path)
    # The baseline: features of the traffic the model was validated on, as the writer records them.
    baseline = [capture.features("vllm", b, "redact")[0] for b in _requests(1, 1500, 40, 0.7)]
    box.put("test-data/drift/chat/baseline/train.jsonl", "".join(json.dumps(r) + "\n" for r in baseline))

    spool = box.volumes / "spool"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), capture.handler(
        "vllm", "redact", capture.Spool(str(spool), max_records=200, flush_seconds=3600)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
        for body in _requests(2, 600, 120 if shifted else 40, 0.2 if shifted else 0.7):
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            assert conn.getresponse().status == 204
    finally:
        server.shutdown()
    ready = sorted((spool / "ready").rglob("*.jsonl"))
    assert len(ready) == 3  # 600 records in batches of 200

    writer = one(plan, DEPLOYMENT, "prod-aws-k8s-chat-capture-deployment")
    uploaded = box.run(_container(_pod(writer), "uploader"))
    assert uploaded.returncode != 0 and ["sleep"] in box.calls()  # one pass, then its wait (the stand-in `sleep`)
    assert not list((spool / "ready").rglob("*.jsonl"))  # stored, then deleted locally
    stored = sorted((box.store / "test-data" / "drift" / "chat" / "recent").rglob("*.jsonl"))
    assert len(stored) == 3 and all(p.relative_to(box.store).parts[4].isdigit() for p in stored)  # recent/<yyyy>/
    assert [a[:2] for a in box.calls() if a[0] == "aws"] == [["aws", "s3"]] * 3
    assert all(a[2] == "cp" for a in box.calls() if a[0] == "aws")  # PutObject only: no sync, no listing

    job = one(plan, CRONJOB, "prod-aws-k8s-chat-drift-cron-job")
    pod = _pod(job)
    for init in pod["initContainers"]:
        fetched = box.run(init)
        assert fetched.returncode == 0, fetched.stderr
    _Pushgateway.received = []
    push, port = _serve(_Pushgateway)
    try:
        score = pod["containers"][0]["command"]
        args = [a.replace("/data", str(box.volumes / "data")) for a in score[2:]]
        args[args.index("--pushgateway") + 1] = f"http://127.0.0.1:{port}"
        assert drift.main(args) == 0
    finally:
        push.shutdown()
    path, body = _Pushgateway.received[0]
    assert path == "/metrics/job/aienv-drift/endpoint/chat"
    value = float(next(line for line in body.splitlines() if line.startswith("aienv_drift_score")).split()[-1])
    assert (value > 0.2) is shifted, value
    assert 'feature="prompt_words"' in body and "_ts" not in body  # metadata is not a feature


# --- 3. the retraining trigger on a fired alert ----------------------------------------------------------------

def _alertmanager_message(endpoint: str, status: str = "firing", alertname: str = "ModelEndpointDrift",
                          fingerprint: str = "6d5e3c1b2a907f11") -> dict[str, Any]:
    """A webhook message as Alertmanager v0.28 sends it (docs/configuration.md, `<webhook_config>`)."""
    alert = {"status": status,
             "labels": {"alertname": alertname, "endpoint": endpoint, "environment": "prod-aws",
                        "severity": "warning", "namespace": "aienv-monitoring"},
             "annotations": {"summary": f"{endpoint}: psi drift score above 0.2", "endpoint": endpoint,
                             "score": "0.3412"},
             "startsAt": "2026-08-20T10:15:30.123Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://kps-prometheus.aienv-prometheus:9090/graph?g0.expr=...",
             "fingerprint": fingerprint}
    return {"version": "4", "groupKey": '{}/{alertname=~"ModelEndpointDrift"}:{alertname="ModelEndpointDrift"}',
            "truncatedAlerts": 0, "status": status, "receiver": f"retrain-{endpoint}",
            "groupLabels": {"alertname": alertname, "endpoint": endpoint}, "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"], "externalURL": "http://kps-alertmanager:9093",
            "alerts": [alert]}


def _trigger_pod(plan: Plan, stack: str) -> dict[str, Any]:
    return _pod(one(plan, DEPLOYMENT, f"{stack}-k8s-chat-retrain-deployment"))


def _run_receiver(pod: dict[str, Any], queue: Path, message: dict[str, Any]) -> list[str]:
    receiver = _container(pod, "receiver")
    args = receiver["command"][2:]
    opt = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
    code_map = next(v for v in pod["volumes"] if v["name"] == "code")
    assert code_map["configMap"]["name"] == "chat-retrain-code"
    template = json.loads(_TEMPLATES[opt["--shape"]])
    trigger = retrain.Trigger(opt["--endpoint"], opt["--alerts"].split(","), opt["--shape"], template, str(queue),
                              float(opt["--cooldown-hours"]), json.loads(opt["--parameters"]))
    return trigger.handle(message, now=1_800_000_000)


_TEMPLATES: dict[str, str] = {}


@pytest.mark.parametrize("stack", ["prod-aws", "prod-azure", "prod-gcp"])
def test_alertmanager_routes_the_endpoints_alerts_to_its_trigger(stack: str) -> None:
    plan = reference_plan(stack)
    kps = next(plain(r.inputs) for r in of_type(plan, RELEASE) if plain(r.inputs)["name"] == "kube-prometheus-stack")
    config = kps["values"]["alertmanager"]["config"]
    route = config["route"]["routes"][0]
    assert route["receiver"] == "retrain-chat" and route["continue"] is True
    assert route["matchers"][1] == 'endpoint="chat"'
    receiver = next(r for r in config["receivers"] if r["name"] == "retrain-chat")
    assert receiver["webhook_configs"] == [{"url": receiver_url("chat"), "send_resolved": False, "max_alerts": 10}]


def test_a_fired_drift_alert_starts_one_sagemaker_run(tmp_path: Path) -> None:
    plan = reference_plan("prod-aws")
    pod = _trigger_pod(plan, "prod-aws")
    code = next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
                if plain(r.inputs)["metadata"]["name"] == "chat-retrain-code")
    _TEMPLATES["sagemaker"] = code["data"]["request.json"]
    box = Sandbox(tmp_path)
    queue = box.volumes / "queue"
    queued = _run_receiver(pod, queue, _alertmanager_message("chat"))
    assert len(queued) == 1 and queued[0].startswith("aienv-chat-drift-")
    # A repeat of the notification (Alertmanager's repeat_interval), a resolved alert and another endpoint's
    # alert start nothing.
    assert _run_receiver(pod, queue, _alertmanager_message("chat")) == []
    assert _run_receiver(pod, queue, _alertmanager_message("chat", status="resolved")) == []
    assert _run_receiver(pod, queue, _alertmanager_message("rerank", fingerprint="ff")) == []
    request = json.loads((queue / f"{queued[0]}.json").read_text())
    assert request["PipelineName"] == "prod-aws-chat-retrain" and request["ClientRequestToken"] == queued[0]
    params = {p["Name"]: p["Value"] for p in request["PipelineParameters"]}
    assert params["endpoint"] == "chat" and params["reason"] == "drift" and params["score"] == "0.3412"
    assert params["base_model"] == "meta-llama/Llama-3.1-8B-Instruct" and params["model_version"] == "3"
    assert params["captured_data"] == "s3://test-data/drift/chat/recent/"

    ran = box.run(_container(pod, "runner"))
    assert ran.returncode != 0 and ["sleep"] in box.calls()
    assert (queue / "done" / f"{queued[0]}.json").exists()
    runs = list((box.store / "_sagemaker").glob("*.json"))
    assert [p.stem for p in runs] == [queued[0]]
    assert ["aws", "sagemaker", "start-pipeline-execution", "--cli-input-json",
            f"file://{queue}/{queued[0]}.json", "--query", "PipelineExecutionArn", "--output", "text"] in box.calls()


def test_the_same_alert_instance_after_a_restart_is_the_same_run() -> None:
    message = _alertmanager_message("chat")
    assert retrain.run_id("chat", message["alerts"][0]) == retrain.run_id("chat", message["alerts"][0])
    other = _alertmanager_message("chat", fingerprint="0a")["alerts"][0]
    assert retrain.run_id("chat", message["alerts"][0]) != retrain.run_id("chat", other)


def test_a_fired_alert_submits_an_azure_ml_pipeline_job_once(tmp_path: Path) -> None:
    plan = reference_plan("prod-azure")
    pod = _trigger_pod(plan, "prod-azure")
    code = next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
                if plain(r.inputs)["metadata"]["name"] == "chat-retrain-code")
    _TEMPLATES["azureml"] = code["data"]["request.json"]
    box = Sandbox(tmp_path)
    queue = box.volumes / "queue"
    rid, = _run_receiver(pod, queue, _alertmanager_message("chat"))
    body = json.loads((queue / f"{rid}.json").read_text())["properties"]
    assert body["jobType"] == "Pipeline" and body["identity"] == {"identityType": "Managed"}
    assert body["componentId"].endswith("/registries/acme-ml-registry/components/retrain-chat/versions/3")
    assert body["computeId"].endswith("/workspaces/ws/computes/gpu-cluster")
    assert body["inputs"]["reason"] == {"jobInputType": "literal", "value": "drift"}
    ran = box.run(_container(pod, "runner"))
    assert ["sleep"] in box.calls() and (queue / "done" / f"{rid}.json").exists(), ran.stderr
    submitted = json.loads((box.store / "_azureml" / f"{rid}.json").read_text())
    assert submitted["url"].startswith("https://management.azure.com/subscriptions/s/") and "jobs/" + rid in submitted["url"]
    # Sent again (a second pod, the same run id): the job exists, nothing is submitted twice.
    (queue / f"{rid}.json").write_text(json.dumps(body))
    box.run(_container(pod, "runner"))
    assert (queue / "done" / f"{rid}.json").exists() and len(list((box.store / "_azureml").iterdir())) == 1


class _GoogleApis(http.server.BaseHTTPRequestHandler):
    jobs: dict[str, dict[str, Any]] = {}
    objects: dict[str, bytes] = {}

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the metadata server
        assert self.headers["Metadata-Flavor"] == "Google"
        self._json(200, {"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"})

    def do_POST(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs, urlparse
        assert self.headers["Authorization"] == "Bearer ya29.test"
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if url.path.endswith("/pipelineJobs"):
            if query["pipelineJobId"] in self.jobs:
                self._json(409, {"error": {"code": 409, "status": "ALREADY_EXISTS"}})
                return
            self.jobs[query["pipelineJobId"]] = json.loads(body)
            self._json(200, {"name": f"projects/p/locations/l/pipelineJobs/{query['pipelineJobId']}"})
            return
        assert query["ifGenerationMatch"] == "0" and query["uploadType"] == "media"
        self.objects[url.path.split("/b/")[1].split("/")[0] + "/" + query["name"]] = body
        self._json(200, {"name": query["name"]})

    def log_message(self, *args: Any) -> None:
        return


def test_a_fired_alert_creates_a_vertex_pipeline_job_once(tmp_path: Path) -> None:
    plan = reference_plan("prod-gcp")
    pod = _trigger_pod(plan, "prod-gcp")
    code = next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
                if plain(r.inputs)["metadata"]["name"] == "chat-retrain-code")
    _TEMPLATES["vertex"] = code["data"]["request.json"]
    box = Sandbox(tmp_path)
    queue = box.volumes / "queue"
    rid, = _run_receiver(pod, queue, _alertmanager_message("chat"))
    body = json.loads((queue / f"{rid}.json").read_text())
    assert body["templateUri"] == "gs://acme-ml-prod-pipelines/chat/retrain-pipeline.json"
    assert body["serviceAccount"] == "chat-pipeline@acme-ml-prod.iam.gserviceaccount.com"
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://test-data/pipelines/chat/"
    assert body["runtimeConfig"]["parameterValues"]["reason"] == "drift"
    assert body["encryptionSpec"]["kmsKeyName"].endswith("/cryptoKeys/data")
    _GoogleApis.jobs = {}
    apis, port = _serve(_GoogleApis)
    try:
        env = {"GCE_METADATA_HOST": f"127.0.0.1:{port}",
               "PIPELINE_URL": f"http://127.0.0.1:{port}/v1/projects/acme-ml-prod/locations/europe-west4/pipelineJobs"}
        box.run(_container(pod, "runner"), {"code": {"gcprest.py": code["data"]["gcprest.py"]}}, extra_env=env)
        assert list(_GoogleApis.jobs) == [rid] and (queue / "done" / f"{rid}.json").exists()
        (queue / f"{rid}.json").write_text(json.dumps(body))  # sent again: 409, the run exists
        box.run(_container(pod, "runner"), {"code": {"gcprest.py": code["data"]["gcprest.py"]}}, extra_env=env)
        assert list(_GoogleApis.jobs) == [rid] and not (queue / f"{rid}.json").exists()
    finally:
        apis.shutdown()


def test_gcp_capture_uploads_create_objects_only(tmp_path: Path) -> None:
    plan = reference_plan("prod-gcp")
    writer = _pod(one(plan, DEPLOYMENT, "prod-gcp-k8s-chat-capture-deployment"))
    code = next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
                if plain(r.inputs)["metadata"]["name"] == "chat-capture-code")
    box = Sandbox(tmp_path)
    batch = box.volumes / "spool" / "ready" / "2026" / "08" / "20" / "writer-1-000001.jsonl"
    batch.parent.mkdir(parents=True)
    batch.write_text('{"_ts":"2026-08-20T10:00:00.000+00:00","prompt_words":12.0}\n')
    _GoogleApis.objects = {}
    apis, port = _serve(_GoogleApis)
    try:
        box.run(_container(writer, "uploader"), {"code": {"gcprest.py": code["data"]["gcprest.py"]}},
                extra_env={"GCE_METADATA_HOST": f"127.0.0.1:{port}", "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"})
    finally:
        apis.shutdown()
    assert list(_GoogleApis.objects) == ["test-data/drift/chat/recent/2026/08/20/writer-1-000001.jsonl"]
    assert not batch.exists()


# --- 4. progressive delivery ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod-aws", "prod-azure", "prod-gcp"])
def test_chat_rolls_out_progressively_with_slo_analysis(stack: str) -> None:
    plan, spec = reference_plan(stack), reference(stack)
    ep = spec.model_endpoints[0]
    assert ep.rollout is not None
    rollout = plain(one(plan, ROLLOUT, f"{stack}-k8s-chat-rollout-rollout").inputs)["spec"]
    assert rollout["workloadRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat-stable",
                                      "scaleDown": "progressively"}
    canary = rollout["strategy"]["canary"]
    assert [s["setWeight"] for s in canary["steps"] if "setWeight" in s] == ep.rollout.steps[:-1]
    assert canary["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]["httpRoute"] == "chat"
    assert canary["analysis"] == {"templates": [{"templateName": "chat-slo"}], "startingStep": 1}
    metrics = {m["name"]: m for m in plain(one(plan, ANALYSIS, f"{stack}-k8s-chat-rollout-analysis").inputs)
               ["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "latency-p95", "ttft-p95"}
    ttft = metrics["ttft-p95"]
    assert "vllm:time_to_first_token_seconds_bucket" in ttft["provider"]["prometheus"]["query"]
    assert 'aienv_io_track="canary"' in ttft["provider"]["prometheus"]["query"]
    assert ttft["failureCondition"].endswith(f"result[0] > {ep.rollout.analysis.max_ttft_p95_ms / 1000:g}")
    assert "isNaN(result[0])" in ttft["failureCondition"]  # no traffic on the new version fails, never passes
    # The route starts on stable; its weights are the Rollout's afterwards (Pulumi ignores them).
    backends = _route(plan, "chat")["spec"]["rules"][0]["backendRefs"]
    assert [(b["name"], b["weight"]) for b in backends] == [("chat-stable", 100), ("chat-canary", 0)]
    route = next(r for r in of_type(plan, HTTPROUTE) if plain(r.inputs)["metadata"]["name"] == "chat")
    assert route.ignore_changes == ["spec.rules[0].backendRefs[0].weight", "spec.rules[0].backendRefs[1].weight"]
    hpa = plain(one(plan, HPA, f"{stack}-k8s-chat-stable-hpa").inputs)["spec"]["scaleTargetRef"]
    assert hpa == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "chat"}


def test_each_pod_is_scraped_once_and_the_canary_series_are_the_new_revision(aws: Plan) -> None:
    # Argo Rollouts points the canary Service at the stable pods whenever no rollout runs; the ServiceMonitor
    # drops the canary Service's targets unless the pod carries the new revision's ephemeral label.
    import re

    canary = plain(one(aws, ROLLOUT, "prod-aws-k8s-chat-rollout-rollout").inputs)["spec"]["strategy"]["canary"]
    assert canary["canaryMetadata"] == {"labels": {"aienv.io/revision": "canary"}}
    assert canary["stableMetadata"] == {"labels": {"aienv.io/revision": "stable"}}
    monitors = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["spec"]
                for r in of_type(aws, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")}
    (rule,) = monitors["chat"]["endpoints"][0]["relabelings"]
    assert rule["sourceLabels"] == ["__meta_kubernetes_service_label_aienv_io_track",
                                    "__meta_kubernetes_pod_label_aienv_io_revision"]
    assert rule["action"] == "drop"

    def dropped(service_track: str, pod_revision: str) -> bool:  # Prometheus anchors the regex
        return re.fullmatch(rule["regex"], f"{service_track};{pod_revision}") is not None

    assert dropped("canary", "stable") and dropped("canary", "")  # idle: the stable pods behind the canary Service
    assert not dropped("canary", "canary") and not dropped("stable", "stable") and not dropped("stable", "")
    assert "relabelings" not in monitors["rerank"]["endpoints"][0]  # no rollout: nothing to drop


def test_the_rollouts_controller_runs_the_gateway_api_plugin_from_its_image(aws: Plan) -> None:
    release = next(plain(r.inputs) for r in of_type(aws, RELEASE) if plain(r.inputs)["name"] == "argo-rollouts")
    assert release["chart"] == "argo-rollouts" and release["version"] == "2.41.0"
    controller = release["values"]["controller"]
    assert controller["trafficRouterPlugins"] == [{
        "name": "argoproj-labs/gatewayAPI", "location": "file:///plugins/rollouts-plugin-trafficrouter-gatewayapi"}]
    assert controller["initContainers"][0]["image"].endswith("rollouts-plugin-trafficrouter-gatewayapi:v0.15.0")
    providers = release["values"]["providerRBAC"]["providers"]
    assert [p for p, on in providers.items() if on] == ["gatewayAPI"]


def test_no_rollout_no_controller() -> None:
    plan = plan_layer(reference("dev-aws"))
    assert not of_type(plan, ROLLOUT)
    assert "argo-rollouts" not in {plain(r.inputs)["name"] for r in of_type(plan, RELEASE)}


# --- 5. scale to zero ------------------------------------------------------------------------------------------

def test_dev_endpoints_scale_to_zero_through_keda() -> None:
    spec = reference("dev-aws")
    plan = plan_layer(spec)
    assert not of_type(plan, HPA)  # KEDA owns the HPA
    deployment = plain(one(plan, DEPLOYMENT, "dev-aws-k8s-chat-stable-deployment").inputs)
    assert deployment["spec"]["replicas"] == 0
    scaled = plain(one(plan, SCALED_OBJECT, "dev-aws-k8s-chat-scale-to-zero-scaled-object").inputs)["spec"]
    assert scaled["minReplicaCount"] == 0 and scaled["cooldownPeriod"] == 20 * 60
    assert [t["type"] for t in scaled["triggers"]] == ["external-push", "prometheus"]  # + GPU utilisation
    http_so = plain(one(plan, HTTP_SCALED_OBJECT, "dev-aws-k8s-chat-scale-to-zero-http-scaled-object").inputs)
    assert http_so["metadata"]["annotations"]["httpscaledobject.keda.sh/skip-scaledobject-creation"] == "true"
    assert http_so["spec"]["hosts"] == ["chat.aienv-serving.svc"]
    route = _route(plan, "chat")["spec"]["rules"][0]
    assert route["backendRefs"] == [{"group": "", "kind": "Service", "name": "keda-add-ons-http-interceptor-proxy",
                                     "namespace": "keda", "port": 8080}]
    assert route["filters"][0]["urlRewrite"]["hostname"] == "chat.aienv-serving.svc"
    pdb = plain(one(plan, "kubernetes:policy/v1:PodDisruptionBudget", "dev-aws-k8s-chat-stable-pdb").inputs)
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {c.ENDPOINT_LABEL: "chat",
                                                                              c.TRACK_LABEL: "stable"}}}
    assert spec.cluster.gpu_pools[0].min_nodes == 0  # nothing holds a GPU node when idle
    releases = {plain(r.inputs)["name"]: plain(r.inputs) for r in of_type(plan, RELEASE)}
    assert releases["keda"]["version"] == "2.20.2"  # dev-aws runs 1.35: KEDA 2.20 is tested on 1.33 to 1.35
    assert releases["keda"]["values"]["service"]["portHttpsTarget"] == c.CONTROL_PLANE_POD_PORTS[0]


def test_keda_follows_the_cluster_minor() -> None:
    spec = reference("dev-aws").model_copy(deep=True)
    spec.cluster.kubernetes_version = "1.34"
    releases = {plain(r.inputs)["name"]: plain(r.inputs) for r in of_type(plan_layer(spec), RELEASE)}
    assert releases["keda"]["version"] == "2.20.2"


def test_an_idle_endpoint_has_no_unavailable_page() -> None:
    plan = plan_layer(reference("dev-aws"))
    rules = plain(one(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
                      "dev-aws-k8s-chat-monitoring-rules").inputs)["spec"]["groups"][-1]["rules"]
    unavailable = next(r for r in rules if r["alert"] == "ModelEndpointUnavailable")
    assert unavailable["expr"].startswith("(sum(kube_deployment_spec_replicas{")


# --- 6. the node weight cache ----------------------------------------------------------------------------------

def test_weight_cache_volumes_and_the_directories_daemon_set(aws: Plan) -> None:
    volume = plain(one(aws, PV, "prod-aws-k8s-weight-cache-summarize-volume").inputs)["spec"]
    assert volume["local"] == {"path": "/var/lib/aienv/model-cache/summarize"}
    assert volume["claimRef"] == {"namespace": c.SERVING_NAMESPACE, "name": "summarize-model-cache"}
    terms = volume["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": c.GPU_TYPE_LABEL, "operator": "In", "values": ["nvidia-a100-80gb"]} in terms
    assert volume["capacity"]["storage"] == "416Gi"  # 3 x 140 GB x 1.05 + 5
    dirs = plain(one(aws, "kubernetes:apps/v1:DaemonSet", "prod-aws-k8s-weight-cache-dirs").inputs)
    pod = dirs["spec"]["template"]["spec"]
    assert {v["hostPath"]["path"] for v in pod["volumes"]} == {f"{c.MODEL_CACHE_DIR}/{e}"
                                                               for e in ("chat", "summarize", "rerank")}
    assert all(v["hostPath"]["type"] == "DirectoryOrCreate" for v in pod["volumes"])
    hold = pod["containers"][0]
    assert hold["securityContext"]["runAsNonRoot"] and hold["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    serving = _pod(one(aws, DEPLOYMENT, "prod-aws-k8s-summarize-stable-deployment"))
    assert serving["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert {m["mountPath"]: m.get("readOnly") for m in serving["containers"][0]["volumeMounts"]}["/models"] is True


def _fetch(plan: Plan, name: str) -> dict[str, Any]:
    return _container(_pod(one(plan, DEPLOYMENT, name)), "fetch-model")


def test_weight_cache_hit_copies_nothing_and_keeps_two_versions(tmp_path: Path, aws: Plan) -> None:
    fetch = _fetch(aws, "prod-aws-k8s-chat-stable-deployment")
    box = Sandbox(tmp_path)
    uri = env_of(fetch)["MODEL_URI"]
    box.put(store_path(uri) + "model.safetensors", b"\x07" * 64)
    box.put(store_path(env_of(fetch)["MARKER"]), "imported\n")
    cache = box.volumes / "model"
    for age, old in ((7200, "v-1"), (3600, "v-2")):  # two older versions already on the node, v-1 used last
        (cache / old).mkdir(parents=True)
        (cache / old / ".aienv-cached").write_text("")
        os.utime(cache / old, (time.time() - age, time.time() - age))
    first = box.run(fetch, extra_env={"POD_NAME": "chat-stable-a"})
    assert first.returncode == 0, first.stderr
    assert (cache / "v-3" / "model.safetensors").read_bytes() == b"\x07" * 64
    assert sorted(p.name for p in cache.iterdir()) == ["v-2", "v-3"]  # the least recently used version went
    calls = len(box.calls())
    again = box.run(fetch, extra_env={"POD_NAME": "chat-stable-b"})
    assert again.returncode == 0 and "cached on this node" in again.stdout
    assert len(box.calls()) == calls  # no call to the object store at all


def test_a_pod_that_loses_the_race_drops_its_copy(tmp_path: Path, aws: Plan) -> None:
    fetch = _fetch(aws, "prod-aws-k8s-chat-stable-deployment")
    box = Sandbox(tmp_path)
    box.put(store_path(env_of(fetch)["MODEL_URI"]) + "model.safetensors", b"new")
    box.put(store_path(env_of(fetch)["MARKER"]), "imported\n")
    winner = box.volumes / "model" / "v-3"
    winner.mkdir(parents=True)
    (winner / "model.safetensors").write_bytes(b"winner")  # another pod renamed its copy in first
    # (not yet marked cached: this pod copies, then loses the rename)
    done = box.run(fetch, extra_env={"POD_NAME": "chat-stable-late"})
    assert done.returncode == 0 and "another pod cached" in done.stdout
    assert (winner / "model.safetensors").read_bytes() == b"winner"
    assert not list((box.volumes / "model").glob(".partial-*"))


def test_weight_cache_none_keeps_the_scratch_volume() -> None:
    spec = reference("prod-gcp")
    plan = reference_plan("prod-gcp")
    assert next(e for e in spec.model_endpoints if e.name == "fraud").weight_cache == "none"
    volumes = {v["name"]: v for v in _pod(one(plan, DEPLOYMENT, "prod-gcp-k8s-fraud-stable-deployment"))["volumes"]}
    assert "ephemeral" in volumes["model"]
    assert not [r for r in of_type(plan, PV) if r.name.endswith("fraud-volume")]


def test_keda_follows_the_cluster_minor_it_is_tested_on() -> None:
    from components.kubernetes.scaling import keda_chart

    assert keda_chart("1.32").version == "2.19.0"  # "v2.19 | v1.32 - v1.34"
    assert {keda_chart(f"1.{m}").version for m in (33, 34, 35)} == {"2.20.2"}  # "v2.20 | v1.33 - v1.35"
