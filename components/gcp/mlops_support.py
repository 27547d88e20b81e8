"""The GCP side of the MLOps loop as the Kubernetes layer uses it (the `MlopsSupport` contract): capture uploads
to Cloud Storage and retraining runs as Vertex AI PipelineJobs, with the pod's Workload Identity token from the
GKE metadata server (`aienv/gcprest.py`: `gcloud` has no command for either call as least privilege needs it)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence

import pulumi

from aienv import gcprest
from aienv.spec.model import StackSpec
from components.contracts import MLOPS_TOOL_DIR, MlopsSupport, PipelineRun


def put_file(path_var: str, uri_var: str) -> str:
    return f'python {MLOPS_TOOL_DIR}/gcprest.py upload --file "${path_var}" --uri "${uri_var}"'


START = f'python {MLOPS_TOOL_DIR}/gcprest.py pipeline-job --url "$PIPELINE_URL" --request "$REQUEST" --run-id "$RUN_ID"'


def mlops_support(spec: StackSpec, runtime_accounts: Mapping[str, pulumi.Input[str]],
                  data_bucket_url: pulumi.Input[str], kms_key: pulumi.Input[str] | None,
                  grants: Mapping[str, Sequence[pulumi.Resource]] | None = None) -> MlopsSupport:
    """`runtime_accounts`: endpoint -> e-mail of the service account its pipeline runs as; the pipeline root is
    `<data bucket>/pipelines/<endpoint>/`; `kms_key` encrypts the run's artifacts (None: Google-managed)."""
    region, project = spec.region, spec.cloud.project
    url = f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/pipelineJobs"
    pipelines: dict[str, PipelineRun] = {}
    for ep in spec.model_endpoints:
        rt = ep.retraining
        if rt is None:
            continue

        def template(values: list[str | None], uri: str = rt.pipeline, name: str = ep.name) -> str:
            account, bucket, key = values
            body: dict[str, object] = {
                "displayName": "$RUN_ID", "templateUri": uri, "serviceAccount": account,
                "runtimeConfig": {"gcsOutputDirectory": f"{(bucket or '').rstrip('/')}/pipelines/{name}/"},
                "labels": {"aienv-environment": spec.name, "aienv-endpoint": name}}
            if key:
                body["encryptionSpec"] = {"kmsKeyName": key}
            return json.dumps(body, sort_keys=True)

        pipelines[ep.name] = PipelineRun(
            shape="vertex", start=START, env={"PIPELINE_URL": url},
            template=pulumi.Output.all(runtime_accounts[ep.name], data_bucket_url, kms_key).apply(template))
    return MlopsSupport(tool="python", put_file=put_file, pipelines=pipelines, grants=dict(grants or {}),
                        files={"gcprest.py": inspect.getsource(gcprest)})
