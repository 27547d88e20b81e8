"""Weights from the stack: a model-import Job per endpoint version in `aienv-models` copies the spec's source into
the model bucket once and writes the marker last; serving pods wait for the marker, then copy the weights onto
their own scratch volume. The Job and pod scripts run here against stand-ins of each cloud's CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aienv import conventions as c
from aienv.engine import Plan
from aienv.errors import AienvError
from aienv.spec.model import ModelSource
from components.kubernetes import serving
from components.kubernetes.model_import import deadline_seconds

from .fakecli import Sandbox, env_of, store_path
from .hubserver import Hub, serve
from .k8splan import DEPLOYMENT, of_type, one, plain, plan_layer, reference

JOB = "kubernetes:batch/v1:Job"
# The endpoint of each reference spec that imports from Hugging Face with a token, and its token secret.
HF_ENDPOINT = {"prod-aws": ("chat", "3", "aienv/huggingface-token"),
               "prod-azure": ("chat", "2", "https://acme-platform-kv.vault.azure.net/secrets/huggingface-token"),
               "prod-gcp": ("chat", "5", "huggingface-token")}
WEIGHTS = {"config.json": b'{"architectures": ["LlamaForCausalLM"]}',
           "model-00001-of-00002.safetensors": b"\x00" * 4096,
           "model-00002-of-00002.safetensors": b"\x01" * 1024,
           "tokenizer/tokenizer.json": b'{"version": "1.0"}'}


def _jobs(plan: Plan) -> dict[str, dict[str, Any]]:
    return {plain(r.inputs)["metadata"]["name"]: plain(r.inputs) for r in of_type(plan, JOB)
            if plain(r.inputs)["metadata"]["namespace"] == c.MODELS_NAMESPACE}


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def _run_pod(box: Sandbox, pod: dict[str, Any], files: dict[str, dict[str, str]], extra_env: dict[str, str]) -> list:
    results = []
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        result = box.run(container, files, extra_env)
        results.append((container["name"], result))
        assert result.returncode == 0, (container["name"], result.stdout, result.stderr)
    return results


def _code(plan: Plan, endpoint: str) -> dict[str, str]:
    cm = next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
              if plain(r.inputs)["metadata"]["name"] == f"{endpoint}-import-code")
    return cm["data"]


@pytest.mark.parametrize("stack", sorted(HF_ENDPOINT))
def test_import_job_copies_the_weights_once_and_writes_the_marker_last(stack: str, tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(stack.split("-")[1])
    endpoint, version, secret = HF_ENDPOINT[stack]
    job = _jobs(plan)[f"import-{endpoint}-stable"]
    pod = _pod(job)
    assert [x["name"] for x in pod["initContainers"]] == ["check", "token", "download"]
    assert [x["name"] for x in pod["containers"]] == ["upload"]
    target = env_of(pod["containers"][0])["TARGET"]
    marker = env_of(pod["containers"][0])["MARKER"]
    assert marker == target.rstrip("/") + "/" + c.MODEL_IMPORT_MARKER
    assert target.endswith(f"/models/{endpoint}/{version}/")

    box = Sandbox(tmp_path, secrets={secret: "hf_secret_token"})
    source = reference(stack).model_endpoints[0].model.source
    assert source is not None and source.huggingface is not None
    repo = source.huggingface
    with serve(Hub(repo=repo, files=WEIGHTS, gated_token="hf_secret_token")) as hub:
        files = {"code": _code(plan, endpoint)}
        _run_pod(box, pod, files, {"HF_ENDPOINT": hub.endpoint})
        prefix = tmp_path / "store" / store_path(target)
        for name, body in WEIGHTS.items():
            assert (prefix / name).read_bytes() == body, name
        assert (tmp_path / "store" / store_path(marker)).exists()
        # The token goes to the hub only, never to the CDN a redirect points at.
        assert hub.requests and all(auth == "Bearer hf_secret_token" for _, auth in hub.requests)
        assert hub.cdn_requests and all(auth is None for _, auth in hub.cdn_requests)
        # The marker is written after the weights are uploaded.
        calls = box.calls()
        uploads = [i for i, call in enumerate(calls) if call[1:3] in (["s3", "sync"], ["storage", "rsync"])
                   and call[-1] == target or call[1:4] == ["storage", "blob", "upload-batch"]]
        markers = [i for i, call in enumerate(calls) if (call[1:3] in (["s3", "cp"], ["storage", "cp"])
                                                          and call[-1] == marker) or (
            call[1:4] == ["storage", "blob", "upload"] and c.MODEL_IMPORT_MARKER in " ".join(call))]
        assert len(uploads) == 1 and len(markers) == 1 and markers[0] > uploads[0], calls
        hub_requests = len(hub.requests)

        # A second run (a re-created Job, a retried pod) finds the marker and downloads nothing.
        results = _run_pod(box, pod, files, {"HF_ENDPOINT": hub.endpoint})
        assert len(hub.requests) == hub_requests
        assert "already imported" in dict(results)["upload"].stdout


@pytest.mark.parametrize("stack", sorted(HF_ENDPOINT))
def test_serving_pods_wait_for_the_marker_then_copy_the_weights(stack: str, tmp_path: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(stack.split("-")[1])
    endpoint, version, _ = HF_ENDPOINT[stack]
    dep = plain(one(plan, DEPLOYMENT, f"{stack}-k8s-{endpoint}-stable-deployment").inputs)
    fetch = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["name"] == "fetch-model"
    uri = env_of(fetch)["MODEL_URI"]
    box = Sandbox(tmp_path)
    pod = {"POD_NAME": f"{endpoint}-stable-7c9d-x2k4p"}
    for name, body in WEIGHTS.items():  # half-written: no marker yet
        box.put(store_path(uri) + name, body)
    waiting = box.run(fetch, extra_env=pod)
    assert waiting.returncode != 0 and "waiting for" in waiting.stdout
    assert ["sleep"] in box.calls()
    model_dir = tmp_path / "volumes" / "model" / f"v-{version}"  # the version's directory in the node cache
    assert not model_dir.exists() or not any(model_dir.iterdir())

    box.put(store_path(env_of(fetch)["MARKER"]), "imported\n")
    done = box.run(fetch, extra_env=pod)
    assert done.returncode == 0, (done.stdout, done.stderr)
    for name, body in WEIGHTS.items():
        assert (model_dir / name).read_bytes() == body
    assert not (model_dir / c.MODEL_IMPORT_MARKER).exists()  # not handed to the server as a model file


def test_uploaded_weights_get_the_same_wait_and_no_import(aws: Plan) -> None:
    jobs = _jobs(aws)
    assert "import-rerank-stable" not in jobs  # rerank is `uploaded`
    dep = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-rerank-stable-deployment").inputs)
    fetch = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert env_of(fetch)["MARKER"] == f"s3://test-models/models/rerank/2/{c.MODEL_IMPORT_MARKER}"
    assert "until" in fetch["command"][2]


def test_one_job_per_version_with_the_import_identity(aws_canary: Plan) -> None:
    aws = aws_canary
    jobs = _jobs(aws)
    assert set(jobs) == {"import-chat-stable", "import-chat-canary", "import-summarize-stable"}
    canary = _pod(jobs["import-chat-canary"])
    assert env_of(canary["containers"][0])["TARGET"] == "s3://test-models/models/chat/4/"
    for job in jobs.values():
        pod = _pod(job)
        endpoint = job["metadata"]["labels"][c.ENDPOINT_LABEL]
        assert pod["serviceAccountName"] == f"{endpoint}-import"
        assert job["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        assert pod["restartPolicy"] == "Never"
    sas = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs) for r in of_type(aws, "kubernetes:core/v1:ServiceAccount")
           if plain(r.inputs)["metadata"]["namespace"] == c.MODELS_NAMESPACE}
    assert sas["chat-import"]["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "identity-import-chat"}


def test_import_scratch_is_a_scratch_volume_sized_from_the_model(aws: Plan) -> None:
    pod = _pod(_jobs(aws)["import-summarize-stable"])
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    claim = data["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == c.SCRATCH_STORAGE_CLASS
    # 70B at bf16 = 140e9 bytes = 130.4 GiB -> x1.2 + 10
    assert claim["resources"]["requests"]["storage"] == "167Gi"
    scratch = one(aws, "kubernetes:storage.k8s.io/v1:StorageClass", "prod-aws-k8s-scratch-class")
    sc = plain(scratch.inputs)
    assert sc["reclaimPolicy"] == "Delete" and sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["provisioner"] == "ebs.csi.aws.com" and sc["parameters"]["kmsKeyId"].startswith("arn:aws:kms:")


def test_fp8_is_sized_by_its_16_bit_checkpoint(gcp: Plan) -> None:
    ep = next(e for e in reference("prod-gcp").model_endpoints if e.name == "reason")
    assert ep.model.precision == "fp8"
    # vLLM quantizes a bf16 checkpoint at load: 70B x 2 bytes, not x 1.
    assert serving.model_volume_size(ep) == "167Gi"


def test_import_deadline_follows_the_model_size() -> None:
    eps = {e.name: e for e in reference("prod-aws").model_endpoints}
    assert deadline_seconds(eps["chat"]) == 2 * 3600  # 16 GB: the two-hour floor
    assert deadline_seconds(eps["summarize"]) == 3 * 2 * 2800  # 140 GB: 3 x (download + upload at 50 MB/s)


def test_import_network_policy_allows_the_hub_and_the_store_only(gcp: Plan) -> None:
    policies = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)
                for r in of_type(gcp, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                if plain(r.inputs)["metadata"]["namespace"] == c.MODELS_NAMESPACE}
    assert {"default-deny", "allow-dns", "chat-import", "reason-import"} <= set(policies)
    rule = policies["chat-import"]["spec"]
    assert rule["ingress"] == []
    egress = {(p["ipBlock"]["cidr"], port["port"]) for r in rule["egress"] for p in r["to"] for port in r["ports"]}
    assert egress == {("0.0.0.0/0", 443), ("169.254.169.254/32", 80), ("169.254.169.252/32", 988)}


def test_source_uri_of_another_cloud_is_refused() -> None:
    spec = reference("prod-gcp").model_copy(deep=True)
    spec.model_endpoints[0].model.source = ModelSource(uri="s3://elsewhere/weights/")
    with pytest.raises(AienvError, match=r"model_endpoints\[0\]\.model\.source\.uri"):
        plan_layer(spec)


def test_source_uri_is_copied_with_the_store_client(tmp_path: Path) -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.model_endpoints[0].model.source = ModelSource(uri="s3://team-bucket/llama/8b/")
    spec.model_endpoints[0].canary = None
    plan = plan_layer(spec)
    pod = _pod(_jobs(plan)["import-chat-stable"])
    assert [x["name"] for x in pod["initContainers"]] == ["check", "download"]
    box = Sandbox(tmp_path)
    for name, body in WEIGHTS.items():
        box.put(f"team-bucket/llama/8b/{name}", body)
    _run_pod(box, pod, {}, {})
    for name, body in WEIGHTS.items():
        assert (tmp_path / "store" / "test-models/models/chat/3" / name).read_bytes() == body
    assert (tmp_path / "store" / "test-models/models/chat/3" / c.MODEL_IMPORT_MARKER).exists()
