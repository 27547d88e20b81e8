"""The two Google Cloud calls of the MLOps loop that `gcloud` has no command for, with the standard library only.

    python gcprest.py upload --file batch.jsonl --uri gs://bucket/drift/chat/recent/2026/08/20/x.jsonl
    python gcprest.py pipeline-job --url https://<region>-aiplatform.googleapis.com/v1/projects/<p>/locations/<r>/pipelineJobs \
        --request run.json --run-id aienv-chat-drift-...

The pod's token comes from the GKE metadata server (Workload Identity: "the GKE metadata server ... returns a
token for the IAM service account", GKE docs, "About Workload Identity Federation for GKE").

- `upload` creates one object with the JSON API (`objects.insert`, `uploadType=media`) and `ifGenerationMatch=0`
  ("Setting to 0 makes the operation succeed only if there are no live versions of the object", Cloud Storage
  JSON API, Objects: insert). It needs only `storage.objects.create` (roles/storage.objectCreator): `gcloud
  storage cp` and `gsutil cp` to a path first list the bucket (GoogleCloudPlatform/gsutil#546).
- `pipeline-job` creates a Vertex AI PipelineJob (`projects.locations.pipelineJobs.create`, `pipelineJobId`); a
  409 (the id exists: this run was started before) is success.

`GCE_METADATA_HOST` and `STORAGE_EMULATOR_HOST` point the calls elsewhere (as Google's client libraries do).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


def token(timeout: float = 10.0) -> str:
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    request = urllib.request.Request(f"http://{host}{TOKEN_PATH}", headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the metadata server
        return str(json.load(response)["access_token"])


def _send(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - fixed Google APIs
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def upload(path: str, uri: str, timeout: float = 120.0) -> int:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not an object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    base = os.environ.get("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com").rstrip("/")
    query = urllib.parse.urlencode({"uploadType": "media", "name": name, "ifGenerationMatch": "0"})
    with open(path, "rb") as handle:
        data = handle.read()
    request = urllib.request.Request(
        f"{base}/upload/storage/v1/b/{urllib.parse.quote(bucket, safe='')}/o?{query}", data=data, method="POST",
        headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/x-ndjson"})
    status, body = _send(request, timeout)
    if status >= 300:
        print(f"upload of {uri} failed: HTTP {status} {body[:500]!r}", file=sys.stderr)
        return 1
    return 0


def pipeline_job(url: str, request_file: str, run_id: str, timeout: float = 60.0) -> int:
    with open(request_file, "rb") as handle:
        data = handle.read()
    target = f"{url}?{urllib.parse.urlencode({'pipelineJobId': run_id})}"
    request = urllib.request.Request(target, data=data, method="POST",
                                     headers={"Authorization": f"Bearer {token()}",
                                              "Content-Type": "application/json"})
    status, body = _send(request, timeout)
    if status == 409:
        print(json.dumps({"run": run_id, "status": "already started"}))
        return 0
    if status >= 300:
        print(f"pipeline job {run_id} failed: HTTP {status} {body[:1000]!r}", file=sys.stderr)
        return 1
    print(json.dumps({"run": run_id, "name": json.loads(body or b"{}").get("name")}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Google Cloud calls of the aienv MLOps loop.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload")
    up.add_argument("--file", required=True)
    up.add_argument("--uri", required=True)
    job = sub.add_parser("pipeline-job")
    job.add_argument("--url", required=True)
    job.add_argument("--request", required=True)
    job.add_argument("--run-id", required=True)
    ns = parser.parse_args(argv)
    if ns.command == "upload":
        return upload(ns.file, ns.uri)
    return pipeline_job(ns.url, ns.request, ns.run_id)


if __name__ == "__main__":
    sys.exit(main())
