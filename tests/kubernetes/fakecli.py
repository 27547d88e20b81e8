"""Run the layer's container scripts on this machine against stand-ins of the cloud CLIs.

The stand-ins (`aws`, `gcloud`, `az`) implement only the subcommands the layer's `ObjectStoreCli` fragments
call, on a local directory tree as the object store (`<store>/<bucket>/<key>`, Azure `<store>/<account>/
<container>/<blob>`), and log every call. They check the script logic (order, idempotence, waits, what reaches
the store, where the token goes), not the real CLIs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAKE = textwrap.dedent('''\
    import fnmatch, json, os, shutil, sys, time, datetime
    STORE = os.environ["FAKE_STORE"]
    def log(*a):
        with open(os.environ["FAKE_LOG"], "a") as f:
            f.write(json.dumps([os.path.basename(sys.argv[0]), *a]) + "\\n")
    def iso(path):
        return datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc).isoformat()
    def opt(args, name, default=None):
        for i, a in enumerate(args):
            if a == name:
                return args[i + 1]
            if a.startswith(name + "="):
                return a.split("=", 1)[1]
        return default
    def local(uri):
        for scheme in ("s3://", "gs://"):
            if uri.startswith(scheme):
                return os.path.join(STORE, uri[len(scheme):])
        raise SystemExit("not a bucket uri: " + uri)
    def files_under(root):
        for d, _, names in os.walk(root):
            for n in names:
                yield os.path.join(d, n)
    def copy_down(prefix_path, dest):
        base = prefix_path if prefix_path.endswith("/") else prefix_path + "/"
        os.makedirs(dest, exist_ok=True)
        for f in files_under(os.path.dirname(base)):
            if f.startswith(base):
                rel = f[len(base):]
                os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
                shutil.copy(f, os.path.join(dest, rel))  # stamped with the download time, as most sync tools do
    def copy_up(src, prefix_path):
        for f in files_under(src):
            target = os.path.join(prefix_path, os.path.relpath(f, src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(f, target)
    def secret(ref):
        secrets = json.load(open(os.environ["FAKE_SECRETS"]))
        if ref not in secrets:
            sys.stderr.write("no secret " + ref + "\\n"); raise SystemExit(254)
        sys.stdout.write(secrets[ref])
    args = sys.argv[1:]
    log(*args)
    tool = os.path.basename(sys.argv[0])
    if tool == "aws":
        if args[:2] == ["s3", "sync"]:
            src, dst = [a for a in args[2:] if not a.startswith("--")]
            (copy_down(local(src), dst) if src.startswith("s3://") else copy_up(src, local(dst)))
        elif args[:2] == ["s3", "cp"] and args[-2] == "-":
            target = local(args[-1]); os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "wb").write(sys.stdin.buffer.read())
        elif args[:2] == ["s3", "cp"]:
            src, dst = [a for a in args[2:] if not a.startswith("--")]
            target = local(dst); os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(src, target)
        elif args[:2] == ["sagemaker", "start-pipeline-execution"]:
            request = json.load(open(opt(args, "--cli-input-json").removeprefix("file://")))
            runs = os.path.join(STORE, "_sagemaker"); os.makedirs(runs, exist_ok=True)
            path = os.path.join(runs, request["ClientRequestToken"] + ".json")
            if not os.path.exists(path):  # idempotent on ClientRequestToken
                json.dump(request, open(path, "w"))
            print("arn:aws:sagemaker:us-east-1:123456789012:pipeline/" + request["PipelineName"].lower()
                  + "/execution/" + request["ClientRequestToken"][-12:])
        elif args[:2] == ["s3api", "head-object"]:
            raise SystemExit(0 if os.path.isfile(os.path.join(STORE, opt(args, "--bucket"), opt(args, "--key"))) else 254)
        elif args[:2] == ["s3api", "list-objects-v2"]:
            bucket, prefix = opt(args, "--bucket"), opt(args, "--prefix")
            root = os.path.join(STORE, bucket)
            rows = [(os.path.relpath(f, root), iso(f)) for f in files_under(root) if os.path.relpath(f, root).startswith(prefix)]
            print("\\n".join(k + "\\t" + t for k, t in rows) if rows else "None")
        elif args[:2] == ["secretsmanager", "get-secret-value"]:
            secret(opt(args, "--secret-id"))
        else:
            raise SystemExit("unsupported: " + " ".join(args))
    elif tool == "gcloud":
        if args[:2] == ["storage", "rsync"]:
            src, dst = [a for a in args[2:] if not a.startswith("--")]
            (copy_down(local(src), dst) if src.startswith("gs://") else copy_up(src, local(dst)))
        elif args[:2] == ["storage", "cp"] and args[2] == "-":
            target = local(args[3]); os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "wb").write(sys.stdin.buffer.read())
        elif args[:3] == ["storage", "objects", "describe"]:
            raise SystemExit(0 if os.path.isfile(local(args[3])) else 1)
        elif args[:2] == ["storage", "ls"]:
            pattern = [a for a in args[2:] if not a.startswith("--")][0]
            prefix = local(pattern.rstrip("*"))
            rows = [f for f in files_under(os.path.dirname(prefix)) if f.startswith(prefix)]
            for f in rows:
                print(f"{os.path.getsize(f):>10}  {iso(f)}  gs://{os.path.relpath(f, STORE)}")
            print(f"TOTAL: {len(rows)} objects")
        elif args[:3] == ["secrets", "versions", "access"]:
            ref = opt(args, "--secret") or args[3]
            secret(ref)
        else:
            raise SystemExit("unsupported: " + " ".join(args))
    elif tool == "az":
        def blob_root(container_flag="--container-name"):
            return os.path.join(STORE, opt(args, "--account-name"), opt(args, container_flag))
        if args[0] == "login":
            token_file = os.environ["AZURE_FEDERATED_TOKEN_FILE"]
            assert opt(args, "--federated-token") == open(token_file).read(), "az login without the projected token"
        elif args[:3] == ["storage", "blob", "download-batch"]:
            root, dest, pattern = blob_root("--source"), opt(args, "--destination"), opt(args, "--pattern")
            for f in files_under(root):
                name = os.path.relpath(f, root)
                if fnmatch.fnmatch(name, pattern):
                    os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
                    shutil.copy(f, os.path.join(dest, name))
        elif args[:3] == ["storage", "blob", "upload-batch"]:
            copy_up(opt(args, "--source"), os.path.join(blob_root("--destination"), opt(args, "--destination-path")))
        elif args[:3] == ["storage", "blob", "upload"]:
            target = os.path.join(blob_root(), opt(args, "--name")); os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(opt(args, "--file"), target)
        elif args[:3] == ["storage", "blob", "exists"]:
            print("true" if os.path.isfile(os.path.join(blob_root(), opt(args, "--name"))) else "false")
        elif args[:3] == ["storage", "blob", "list"]:
            root, prefix = blob_root(), opt(args, "--prefix")
            for f in files_under(root):
                if os.path.relpath(f, root).startswith(prefix):
                    print(os.path.relpath(f, root) + "\\t" + iso(f))
        elif args[:3] == ["keyvault", "secret", "show"]:
            secret(opt(args, "--id"))
        elif args[0] == "rest":
            url = opt(args, "--url"); job = url.split("?")[0].rsplit("/", 1)[-1]
            jobs = os.path.join(STORE, "_azureml"); os.makedirs(jobs, exist_ok=True)
            path = os.path.join(jobs, job + ".json")
            if opt(args, "--method") == "get":
                raise SystemExit(0 if os.path.exists(path) else 3)
            if os.path.exists(path):
                sys.stderr.write("UserError: jobs cannot be updated\\n"); raise SystemExit(1)
            json.dump({"url": url, "body": json.load(open(opt(args, "--body").removeprefix("@")))}, open(path, "w"))
        else:
            raise SystemExit("unsupported: " + " ".join(args))
    ''')


@dataclass
class Sandbox:
    """A local object store, secrets, fake CLIs and the volumes of one pod."""

    root: Path
    secrets: dict[str, str] = field(default_factory=dict)
    sleep_fails: bool = True  # a wait loop's `sleep` ends the script (the test sees it waited)

    def __post_init__(self) -> None:
        self.store = self.root / "store"
        self.bin = self.root / "bin"
        self.volumes = self.root / "volumes"
        self.log_file = self.root / "calls.log"
        for d in (self.store, self.bin, self.volumes):
            d.mkdir(parents=True, exist_ok=True)
        for tool in ("aws", "gcloud", "az"):  # the program reads its tool name from argv[0]
            self._exe(tool, f"#!{sys.executable}\n{FAKE}")
        self._exe("python", f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        self._exe("sleep", '#!/bin/sh\necho \'["sleep"]\' >> "$FAKE_LOG"\n' + ("exit 1\n" if self.sleep_fails else ""))
        self.token_file = self.root / "azure-token"
        self.token_file.write_text("projected-token")

    def _exe(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)

    def calls(self) -> list[list[str]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def put(self, key: str, data: bytes | str) -> Path:
        path = self.store / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def run(self, container: dict[str, Any], files: dict[str, dict[str, str]] | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run one container's `sh -c` script; its volume mounts become directories of this sandbox (shared by
        name across containers, like a pod's volumes); `files` fills mounts by volume name (ConfigMaps)."""
        command = container["command"]
        assert command[:2] == ["sh", "-c"], command
        text = command[2]
        mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
        where = {m["mountPath"]: self.volumes / m["name"] for m in mounts}
        for m in mounts:
            where[m["mountPath"]].mkdir(parents=True, exist_ok=True)
            for name, content in (files or {}).get(m["name"], {}).items():
                (where[m["mountPath"]] / name).write_text(content)
        # One pass, so a sandbox path under /tmp is not rewritten again by the /tmp mount.
        paths = (re.compile(r"(?<![\w.:/-])(?:" + "|".join(re.escape(m["mountPath"]) for m in mounts) + r")(?=/|\"|$|\s)")
                 if mounts else None)

        def relocate(value: str) -> str:
            return paths.sub(lambda hit: str(where[hit.group(0)]), value) if paths else value

        text = relocate(text)
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "FAKE_STORE": str(self.store), "FAKE_LOG": str(self.log_file),
               "FAKE_SECRETS": str(self.root / "secrets.json"), "AZURE_CLIENT_ID": "client",
               "AZURE_TENANT_ID": "tenant", "AZURE_FEDERATED_TOKEN_FILE": str(self.token_file)}
        (self.root / "secrets.json").write_text(json.dumps(self.secrets))
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = str(var["value"])
        env.update(extra_env or {})
        for key in [k for k in env if k in {v["name"] for v in container.get("env", [])}]:
            env[key] = relocate(env[key])  # values naming mounted paths follow the mount
        return subprocess.run(["sh", "-c", text], env=env, capture_output=True, text=True, timeout=120)


def store_path(uri: str) -> str:
    """The sandbox store key of a bucket URI (`s3://b/k`, `gs://b/k`, `https://a.blob.core.windows.net/c/k`)."""
    for scheme in ("s3://", "gs://"):
        if uri.startswith(scheme):
            return uri[len(scheme):]
    host, _, rest = uri.removeprefix("https://").partition("/")
    return f"{host.split('.')[0]}/{rest}"


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: str(v["value"]) for v in container.get("env", []) if "value" in v}


__all__ = ["Sandbox", "env_of", "os", "store_path"]
