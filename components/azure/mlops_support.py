"""The Azure side of the MLOps loop as the Kubernetes layer uses it (the `MlopsSupport` contract): capture uploads
to Blob Storage and retraining runs as Azure ML pipeline jobs, with the Azure CLI signed in as the pod's
workload identity."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi

from aienv.spec.model import StackSpec
from components.azure.kubernetes_support import AzureCli, _split
from components.contracts import MlopsSupport, PipelineRun

# Azure ML REST API version of jobs (Jobs - Create Or Update: "PUT https://management.azure.com/subscriptions/
# {subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/
# {workspaceName}/jobs/{id}?api-version=2024-04-01").
JOBS_API_VERSION = "2024-04-01"


def put_file(path_var: str, uri_var: str) -> str:
    # Put Blob of a new name only (`--overwrite false` sends If-None-Match: *): the capture identity may only write
    # blobs under its prefix (a custom role without read, list or delete).
    return (f'{{ {_split(uri_var)}; az storage blob upload --account-name "$_a" --container-name "$_c" '
            f'--name "$_k" --file "${path_var}" --overwrite false --no-progress --auth-mode login --output none; }}')


def start_lines() -> str:
    """A job exists once created: a repeat of the run id reads it and stops (Azure ML does not update a job)."""
    url = f'"$WORKSPACE_JOBS/$RUN_ID?api-version={JOBS_API_VERSION}"'
    return (f"if az rest --method get --url {url} --output none 2>/dev/null; then echo \"$RUN_ID exists\"; "
            f"else az rest --method put --url {url} --body \"@$REQUEST\" --output none; fi")


def mlops_support(spec: StackSpec, workspace_id: pulumi.Input[str],
                  grants: Mapping[str, Sequence[pulumi.Resource]] | None = None) -> MlopsSupport:
    """`workspace_id`: the ARM id of the environment's Azure ML workspace, where the pipeline jobs run."""
    pipelines: dict[str, PipelineRun] = {}
    for ep in spec.model_endpoints:
        rt = ep.retraining
        if rt is None:
            continue

        def template(ws: str, rt_pipeline: str = rt.pipeline, compute: str = rt.compute or "",
                     name: str = ep.name) -> str:
            compute_id = f"{ws}/computes/{compute}"
            body: Mapping[str, object] = {"properties": {
                "jobType": "Pipeline", "displayName": "$RUN_ID", "experimentName": f"aienv-{name}-retraining",
                "componentId": rt_pipeline, "computeId": compute_id,
                "settings": {"default_compute": compute_id},
                # The steps run as the compute cluster's managed identity, not the trigger's.
                "identity": {"identityType": "Managed"},
                "tags": {"aienv-environment": spec.name, "aienv-endpoint": name}}}
            return json.dumps(body, sort_keys=True)

        pipelines[ep.name] = PipelineRun(
            shape="azureml", template=pulumi.Output.from_input(workspace_id).apply(template), start=start_lines(),
            env={"WORKSPACE_JOBS": pulumi.Output.concat("https://management.azure.com", workspace_id, "/jobs")})
    return MlopsSupport(tool="object-store", put_file=put_file, pipelines=pipelines, login=AzureCli().login(),
                        grants=dict(grants or {}))
