"""Inference capture writer of one endpoint: receives the requests the gateway mirrors to it and spools the
features the model saw as JSON lines, which the pod's uploader writes to `drift/<endpoint>/recent/`.

A single self-contained file using only the Python standard library: the Kubernetes layer mounts it into the
capture writer from a ConfigMap and runs it with a plain `python` image.

    python capture.py --endpoint chat --runtime vllm --pii redact --spool /spool --port 8080

The gateway mirrors a sample of the endpoint's requests (Gateway API `RequestMirror`, a fraction of them) and
ignores the answers, so this server answers at once and never reaches the model. Each request becomes one record
(a batch request, one per instance): numbers and booleans as they are, short categorical strings, and for text
its length and word count. With `--pii redact` (the default) no text is stored and strings that look like
e-mail addresses, phone, card or national id numbers, IBANs or IP addresses are dropped; `--pii keep` stores the
text as sent. Headers are never stored (they carry the callers' credentials). Keys starting with `_` are
metadata (`_ts`), which the drift job does not score.

Records are appended to an open batch, which is closed (renamed into `<spool>/ready/<yyyy>/<mm>/<dd>/`) after
`--max-records` records or `--flush-seconds`; the uploader moves closed batches to the bucket.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HEALTH_PATH = "/aienv-capture/healthz"
MAX_BODY_BYTES = 1 << 20  # a mirrored request larger than this is recorded by its size only
MAX_INSTANCES = 100  # records taken from one batch request
SHORT_TEXT = 32  # strings up to this long (and without spaces) are categorical values
MAX_KEPT_TEXT = 4096  # `--pii keep`: text is truncated to this many characters
MAX_VECTOR = 64  # numeric lists up to this long are summarised, longer ones too (only summaries are stored)

Record = dict[str, float | str | bool]

# --- PII ------------------------------------------------------------------------------------------------------
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_personal(text: str) -> bool:
    """Whether `text` contains something that identifies a person: an e-mail address, a phone, card or national
    id number, an IBAN or an IP address."""
    if _EMAIL.search(text) or _SSN.search(text) or _IBAN.search(text.upper()) or _IPV4.search(text):
        return True
    for run in _DIGIT_RUN.findall(text):
        digits = re.sub(r"\D", "", run)
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return True  # a payment card number
        if 9 <= len(digits) <= 15:
            return True  # a phone number (E.164 has at most 15 digits)
    return False


# --- features ---------------------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _text(key: str, value: str, pii: str, out: Record) -> None:
    """A string: a categorical value when short, else its size (and, with `keep`, the text)."""
    if pii == "redact" and looks_personal(value):
        return
    if len(value) <= SHORT_TEXT and not any(ch.isspace() for ch in value):
        out[key] = value
        return
    out[f"{key}_chars"] = float(len(value))
    out[f"{key}_words"] = float(len(value.split()))
    if pii == "keep":
        out[key] = value[:MAX_KEPT_TEXT]


def _summary(key: str, values: list[float], out: Record) -> None:
    n = len(values)
    mean = sum(values) / n
    out[f"{key}_len"] = float(n)
    out[f"{key}_mean"] = mean
    out[f"{key}_std"] = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    out[f"{key}_min"] = min(values)
    out[f"{key}_max"] = max(values)


def flatten(obj: Mapping[str, Any], pii: str, prefix: str = "", depth: int = 0) -> Record:
    """The features of a JSON object: scalars by key, one level of nested objects as `a.b`, numeric lists as
    summaries, lists of strings as their joined text."""
    out: Record = {}
    for raw_key, value in obj.items():
        key = f"{prefix}{raw_key}"
        if key.startswith("_"):
            key = key.lstrip("_") or "field"  # `_` marks our metadata
        number = _number(value)
        if number is not None:
            out[key] = number
        elif isinstance(value, bool):
            out[key] = value
        elif isinstance(value, str):
            _text(key, value, pii, out)
        elif isinstance(value, Mapping) and depth == 0:
            out.update(flatten(value, pii, f"{key}.", depth + 1))
        elif isinstance(value, list) and value:
            numbers = [_number(v) for v in _leaves(value)]
            if all(n is not None for n in numbers) and numbers:
                _summary(key, [n for n in numbers if n is not None], out)
            elif all(isinstance(v, str) for v in value):
                _text(key, " ".join(value), pii, out)
    return out


def _leaves(values: Iterable[Any]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _leaves(v)
        else:
            yield v


def _content_text(content: Any) -> tuple[str, int]:
    """The text of an OpenAI message `content` (a string or a list of parts) and how many non-text parts it has."""
    if isinstance(content, str):
        return content, 0
    texts, others = [], 0
    for part in content if isinstance(content, list) else []:
        if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            others += 1
    return "\n".join(texts), others


def openai_features(body: Mapping[str, Any], pii: str) -> Record:
    """An OpenAI-compatible request (vLLM): its sampling parameters and the size of the prompt."""
    out = flatten({k: v for k, v in body.items() if k not in ("messages", "prompt", "tools", "response_format")}, pii)
    messages = body.get("messages")
    if isinstance(messages, list):
        texts: list[str] = []
        media = 0
        roles: dict[str, int] = {}
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            role = str(message.get("role", "unknown"))
            roles[role] = roles.get(role, 0) + 1
            text, others = _content_text(message.get("content"))
            media += others
            if role != "system":
                texts.append(text)
        out["messages"] = float(len(messages))
        for role, count in sorted(roles.items()):
            out[f"messages_{role}"] = float(count)
        out["media_parts"] = float(media)
        _prompt("prompt", "\n".join(texts), pii, out)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        _prompt("prompt", prompt, pii, out)
    elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        _prompt("prompt", "\n".join(prompt), pii, out)
    if isinstance(body.get("tools"), list):
        out["tools"] = float(len(body["tools"]))
    return out


def _prompt(key: str, text: str, pii: str, out: Record) -> None:
    out[f"{key}_chars"] = float(len(text))
    out[f"{key}_words"] = float(len(text.split()))
    if pii == "keep":
        out[key] = text[:MAX_KEPT_TEXT]


def kserve_features(body: Mapping[str, Any], pii: str) -> list[Record]:
    """A KServe v2 inference request (Triton): each input tensor summarised by name; BYTES inputs as text."""
    out: Record = {}
    for tensor in body.get("inputs") or []:
        if not isinstance(tensor, Mapping) or not isinstance(tensor.get("name"), str):
            continue
        name, data = tensor["name"], tensor.get("data")
        values = list(_leaves(data)) if isinstance(data, list) else []
        numbers = [_number(v) for v in values]
        if values and all(n is not None for n in numbers):
            _summary(name, [n for n in numbers if n is not None], out)
        elif values and all(isinstance(v, str) for v in values):
            _text(name, " ".join(values), pii, out)
    return [out] if out else []


def features(runtime: str, body: bytes, pii: str) -> list[Record]:
    """The records of one mirrored request body."""
    if len(body) > MAX_BODY_BYTES:
        return [{"body_bytes": float(len(body))}]
    try:
        doc = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return [{"body_bytes": float(len(body))}] if body else []
    if not isinstance(doc, Mapping):
        return [{"body_bytes": float(len(body))}]
    if runtime == "vllm":
        return [openai_features(doc, pii)]
    if runtime == "triton":
        return kserve_features(doc, pii)
    batch = next((doc[k] for k in ("instances", "inputs", "records") if isinstance(doc.get(k), list)), None)
    if batch is not None and all(isinstance(i, Mapping) for i in batch):
        return [flatten(i, pii) for i in batch[:MAX_INSTANCES]]
    return [flatten(doc, pii)]


# --- spooling ---------------------------------------------------------------------------------------------------
class Spool:
    """An open batch of records, closed into `<root>/ready/<yyyy>/<mm>/<dd>/<host>-<ms>-<seq>.jsonl`."""

    def __init__(self, root: str, max_records: int, flush_seconds: float):
        self.root, self.max_records, self.flush_seconds = root, max_records, flush_seconds
        self.host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "capture"
        self.lock = threading.Lock()
        self.records: list[Record] = []
        self.opened = time.monotonic()
        self.seq = 0
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
        os.makedirs(os.path.join(root, "ready"), exist_ok=True)

    def add(self, records: list[Record], now: datetime | None = None) -> None:
        stamp = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
        with self.lock:
            for record in records:
                self.records.append({"_ts": stamp, **record})
            if len(self.records) >= self.max_records:
                self._close()

    def tick(self) -> None:
        with self.lock:
            if self.records and time.monotonic() - self.opened >= self.flush_seconds:
                self._close()

    def close(self) -> None:
        with self.lock:
            self._close()

    def _close(self) -> str | None:
        records, self.records, self.opened = self.records, [], time.monotonic()
        if not records:
            return None
        now = datetime.now(UTC)
        self.seq += 1
        name = f"{self.host}-{int(now.timestamp() * 1000)}-{self.seq:06d}.jsonl"
        day = os.path.join(self.root, "ready", f"{now:%Y}", f"{now:%m}", f"{now:%d}")
        os.makedirs(day, exist_ok=True)
        tmp = os.path.join(self.root, "tmp", name)
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        final = os.path.join(day, name)
        os.replace(tmp, final)  # the uploader only ever sees complete batches
        return final


def handler(runtime: str, pii: str, spool: Spool) -> type[BaseHTTPRequestHandler]:
    class Capture(BaseHTTPRequestHandler):
        server_version = "aienv-capture"

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _body(self) -> tuple[bytes, int]:
            """The request body (up to MAX_BODY_BYTES) and its full size; larger bodies are read and dropped."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                parts, size = [], 0
                while True:
                    line = self.rfile.readline(1024).split(b";")[0].strip()
                    chunk = int(line or b"0", 16)
                    if chunk == 0:
                        self.rfile.readline(1024)
                        break
                    data = self.rfile.read(chunk)
                    self.rfile.readline(1024)
                    size += len(data)
                    if size <= MAX_BODY_BYTES:
                        parts.append(data)
                return b"".join(parts), size
            length = int(self.headers.get("Content-Length") or 0)
            if length <= MAX_BODY_BYTES:
                return (self.rfile.read(length) if length > 0 else b""), length
            remaining = length
            while remaining > 0:
                data = self.rfile.read(min(65536, remaining))
                if not data:
                    break
                remaining -= len(data)
            return b"", length

        def _capture(self) -> None:
            try:
                body, size = self._body()
                spool.add(features(runtime, body, pii) if size <= MAX_BODY_BYTES else [{"body_bytes": float(size)}])
            finally:
                self._answer(204)  # the gateway ignores a mirror's answer; answer at once

        def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's naming
            if self.path == HEALTH_PATH:
                self._answer(200)
            else:
                self._capture()

        do_POST = do_PUT = do_PATCH = _capture  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
            return  # no per-request logs: they would repeat what the records hold

    return Capture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spool the features of mirrored inference requests.")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--runtime", choices=("vllm", "triton", "custom"), required=True)
    parser.add_argument("--pii", choices=("redact", "keep"), default="redact")
    parser.add_argument("--spool", required=True, help="directory the uploader reads closed batches from")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--max-records", type=int, default=1000)
    parser.add_argument("--flush-seconds", type=float, default=60.0)
    ns = parser.parse_args(argv)
    spool = Spool(ns.spool, ns.max_records, ns.flush_seconds)
    server = ThreadingHTTPServer(("0.0.0.0", ns.port), handler(ns.runtime, ns.pii, spool))  # noqa: S104 - a pod
    stop = threading.Event()

    def flusher() -> None:
        while not stop.wait(1.0):
            spool.tick()

    threading.Thread(target=flusher, daemon=True).start()

    def shutdown(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    print(json.dumps({"endpoint": ns.endpoint, "runtime": ns.runtime, "pii": ns.pii, "port": ns.port}), flush=True)
    try:
        server.serve_forever()
    finally:
        spool.close()  # the last open batch is closed before the pod stops; the uploader sends it
    return 0


if __name__ == "__main__":
    sys.exit(main())
