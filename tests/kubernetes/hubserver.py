"""A local stand-in of the Hugging Face Hub and its CDN, for the model download (scripts/fetch_weights.py)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hub:
    repo: str
    files: dict[str, bytes]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    gated_token: str | None = None  # when set, the hub answers 401 without this bearer token
    endpoint: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization) at the hub
    cdn_requests: list[tuple[str, str | None]] = field(default_factory=list)  # the same at the CDN


@contextmanager
def serve(hub: Hub) -> Iterator[Hub]:
    cdn_url: list[str] = []

    class CdnHandler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hub.cdn_requests.append((self.path, self.headers.get("Authorization")))
            name = urllib.parse.unquote(self.path.removeprefix("/blob/"))
            body = hub.files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class HubHandler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            auth = self.headers.get("Authorization")
            hub.requests.append((self.path, auth))
            if hub.gated_token and auth != f"Bearer {hub.gated_token}":
                self.send_response(401)
                self.end_headers()
                return
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith(f"/api/models/{hub.repo}/revision/"):
                body = json.dumps({"sha": hub.sha, "siblings": [
                    {"rfilename": n, "size": len(b)} for n, b in hub.files.items()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            prefix = f"/{hub.repo}/resolve/{hub.sha}/"
            if path.startswith(prefix):
                name = urllib.parse.unquote(path[len(prefix):])
                if name.endswith(".safetensors"):  # large files go to the CDN, like the Hub's LFS files
                    self.send_response(302)
                    self.send_header("Location", f"{cdn_url[0]}/blob/{urllib.parse.quote(name)}")
                    self.end_headers()
                    return
                body = hub.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(404)
            self.end_headers()

    hub_server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    cdn_server = ThreadingHTTPServer(("127.0.0.1", 0), CdnHandler)
    cdn_url.append(f"http://127.0.0.1:{cdn_server.server_address[1]}")
    hub.endpoint = f"http://127.0.0.1:{hub_server.server_address[1]}"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (hub_server, cdn_server)]
    for t in threads:
        t.start()
    try:
        yield hub
    finally:
        for s in (hub_server, cdn_server):
            s.shutdown()
            s.server_close()
