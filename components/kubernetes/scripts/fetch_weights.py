"""Download one model version's weights from Hugging Face or NVIDIA NGC into a directory.

A self-contained file using only the Python standard library: the model-import Job mounts it from a ConfigMap
and runs it with a plain `python` image, before the object-store client uploads the directory.

    python fetch_weights.py huggingface meta-llama/Llama-3.1-8B-Instruct --revision main \
        --token-file /secrets/token --dest /data/model
    python fetch_weights.py ngc nvidia/nemo/model:1.0 --token-file /secrets/token --dest /data/model

Hugging Face (Hub HTTP API): `GET <endpoint>/api/models/<repo>/revision/<revision>?blobs=true` lists the
revision's files (`siblings[].rfilename`, `size`) and its commit (`sha`); each file is
`GET <endpoint>/<repo>/resolve/<sha>/<path>` with `Authorization: Bearer <token>`, which redirects large files
to a CDN. The token is sent only to the Hub's own host, never to the host a redirect points at. Files already
present with the listed size are kept, so a retried Job resumes.

NGC: the NGC CLI (`ngc registry model download-version <org>[/<team>]/<name>:<version> --dest <dir>`, API key
in NGC_CLI_API_KEY) fetched at a pinned version from NGC's own resource URL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

HF_ENDPOINT = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
NGC_CLI_VERSION = "3.41.3"
NGC_CLI_URL = ("https://api.ngc.nvidia.com/v2/resources/nvidia/ngc-apps/ngc_cli/versions/"
               f"{NGC_CLI_VERSION}/files/ngccli_linux.zip")
CHUNK = 8 * 1024 * 1024
MAX_REDIRECTS = 10


class FetchError(Exception):
    """A download that cannot succeed by retrying the same request (bad token, missing repo)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # redirects are followed by `open_url`, which decides where the token may go


_OPENER = urllib.request.build_opener(_NoRedirect)


def open_url(url: str, token: str | None, timeout: float = 60.0):
    """GET `url`, following redirects; the bearer token goes only to the first URL's host."""
    origin = urllib.parse.urlsplit(url).netloc
    for _ in range(MAX_REDIRECTS):
        headers = {"User-Agent": "aienv-model-import"}
        if token and urllib.parse.urlsplit(url).netloc == origin:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, headers=headers)
        try:
            return _OPENER.open(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code in (301, 302, 303, 307, 308) and err.headers.get("Location"):
                url = urllib.parse.urljoin(url, err.headers["Location"])
                continue
            if err.code in (401, 403, 404):
                raise FetchError(f"{url}: HTTP {err.code} (check the repository id, the revision and that the "
                                 "token may read it; gated models need their licence accepted)") from err
            raise
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def hf_listing(repo: str, revision: str, token: str | None) -> tuple[str, list[tuple[str, int | None]]]:
    """(commit sha, [(path, size)]) of a Hub model revision."""
    url = (f"{HF_ENDPOINT}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}?blobs=true")
    with open_url(url, token) as response:
        info = json.load(response)
    files = [(s["rfilename"], s.get("size")) for s in info.get("siblings", [])]
    if not files:
        raise FetchError(f"{repo}@{revision} lists no files")
    return str(info.get("sha") or revision), files


def _download(url: str, token: str | None, target: str, size: int | None) -> None:
    if size is not None and os.path.exists(target) and os.path.getsize(target) == size:
        return  # kept from an earlier attempt
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    partial = target + ".part"
    with open_url(url, token, timeout=300.0) as response, open(partial, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
    got = os.path.getsize(partial)
    if size is not None and got != size:
        raise FetchError(f"{url}: got {got} bytes, expected {size}")
    os.replace(partial, target)


def huggingface(repo: str, revision: str, token: str | None, dest: str, workers: int = 4) -> int:
    sha, files = hf_listing(repo, revision, token)
    quoted = urllib.parse.quote(sha, safe="")

    def fetch(entry: tuple[str, int | None]) -> None:
        path, size = entry
        if path.startswith("/") or ".." in path.split("/"):
            raise FetchError(f"refusing the file name {path!r}")
        url = f"{HF_ENDPOINT}/{repo}/resolve/{quoted}/{urllib.parse.quote(path)}"
        _download(url, token, os.path.join(dest, path), size)
        print(json.dumps({"file": path, "bytes": size}), flush=True)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, files))
    print(json.dumps({"repo": repo, "revision": revision, "commit": sha, "files": len(files)}), flush=True)
    return len(files)


def ngc(model: str, token: str | None, dest: str, work: str) -> None:
    if not token:
        raise FetchError("NGC downloads need an API key (model.source.token_secret)")
    path, _, version = model.partition(":")
    parts = path.split("/")
    org, team = parts[0], (parts[1] if len(parts) == 3 else "no-team")
    cli_dir = os.path.join(work, "ngc-cli-install")
    archive = os.path.join(work, "ngccli_linux.zip")
    with open_url(NGC_CLI_URL, None, timeout=300.0) as response, open(archive, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(cli_dir)
    binary = os.path.join(cli_dir, "ngc-cli", "ngc")
    os.chmod(binary, os.stat(binary).st_mode | stat.S_IXUSR)
    staging = os.path.join(work, "ngc-download")
    os.makedirs(staging, exist_ok=True)
    env = {**os.environ, "NGC_CLI_API_KEY": token, "NGC_CLI_ORG": org, "NGC_CLI_TEAM": team,
           "NGC_CLI_FORMAT_TYPE": "ascii", "HOME": work}
    subprocess.run([binary, "registry", "model", "download-version", f"{path}:{version}", "--dest", staging],
                   check=True, env=env)
    # The CLI writes one directory per version under --dest; its content is the model.
    entries = [os.path.join(staging, e) for e in os.listdir(staging)]
    root = entries[0] if len(entries) == 1 and os.path.isdir(entries[0]) else staging
    os.makedirs(dest, exist_ok=True)
    for name in os.listdir(root):
        os.replace(os.path.join(root, name), os.path.join(dest, name))
    print(json.dumps({"ngc": model, "files": len(os.listdir(dest))}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download model weights into a directory.")
    parser.add_argument("source", choices=("huggingface", "ngc"))
    parser.add_argument("model", help="Hugging Face repo id, or NGC org[/team]/name:version")
    parser.add_argument("--revision", default="main", help="Hugging Face revision (branch, tag or commit)")
    parser.add_argument("--token-file", default=None, help="file holding the token (absent: anonymous)")
    parser.add_argument("--dest", required=True)
    parser.add_argument("--work", default=None, help="scratch directory for the NGC CLI (default: <dest>.work)")
    ns = parser.parse_args(argv)
    token = None
    if ns.token_file and os.path.exists(ns.token_file):
        with open(ns.token_file, encoding="utf-8") as handle:
            token = handle.read().strip() or None
    try:
        if ns.source == "huggingface":
            huggingface(ns.model, ns.revision, token, ns.dest)
        else:
            work = ns.work or f"{ns.dest.rstrip('/')}.work"
            os.makedirs(work, exist_ok=True)
            ngc(ns.model, token, ns.dest, work)
    except FetchError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
