"""The AWS side of the MLOps loop as the Kubernetes layer uses it (the `MlopsSupport` contract): capture uploads
to S3 and retraining runs of SageMaker Pipelines, with the AWS CLI and the pod's IRSA role."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi

from aienv.spec.model import StackSpec
from components.contracts import MlopsSupport, PipelineRun


def put_file(path_var: str, uri_var: str) -> str:
    # One PutObject of a new key: the capture role may only `s3:PutObject` under its prefix (no list, no read);
    # `aws s3 cp` of a single file to a full key does not list the destination (`aws s3 sync` would).
    return f'aws s3 cp --only-show-errors --no-progress "${path_var}" "${uri_var}"'


# StartPipelineExecution is idempotent on ClientRequestToken ("A unique, case-sensitive identifier that you
# provide to ensure the idempotency of the operation. An idempotent operation completes no more than once.",
# SageMaker API reference); `--cli-input-json` takes the request's members by their API names.
START = ('aws sagemaker start-pipeline-execution --cli-input-json "file://$REQUEST" '
         '--query PipelineExecutionArn --output text')


def mlops_support(spec: StackSpec, grants: Mapping[str, Sequence[pulumi.Resource]] | None = None) -> MlopsSupport:
    pipelines = {}
    for ep in spec.model_endpoints:
        if ep.retraining is None:
            continue
        template = {"PipelineName": ep.retraining.pipeline,
                    "PipelineExecutionDescription": f"aienv {spec.name}: retrain {ep.name} after an alert"}
        pipelines[ep.name] = PipelineRun(shape="sagemaker", template=json.dumps(template, sort_keys=True),
                                         start=START)
    return MlopsSupport(tool="object-store", put_file=put_file, pipelines=pipelines, grants=dict(grants or {}))
