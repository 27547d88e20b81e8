"""scripts/fetch_weights.py, the model download of the import Jobs, against a local stand-in of the Hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.kubernetes.scripts import fetch_weights

from .hubserver import Hub, serve

FILES = {"config.json": b"{}", "model.safetensors": b"\x07" * 2048, "nested/tokenizer.json": b'{"a": 1}'}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    with serve(Hub(repo="org/model", files=FILES)) as running:
        monkeypatch.setattr(fetch_weights, "HF_ENDPOINT", running.endpoint)
        yield running


def test_downloads_every_file_of_the_revision(hub: Hub, tmp_path: Path) -> None:
    assert fetch_weights.huggingface("org/model", "main", None, str(tmp_path)) == len(FILES)
    for name, body in FILES.items():
        assert (tmp_path / name).read_bytes() == body
    # Files are fetched at the listed commit, not at a moving branch.
    assert all(f"/resolve/{hub.sha}/" in path for path, _ in hub.requests if "/resolve/" in path)
    assert not list(tmp_path.rglob("*.part"))


def test_a_retry_keeps_complete_files(hub: Hub, tmp_path: Path) -> None:
    fetch_weights.huggingface("org/model", "main", None, str(tmp_path))
    before = len(hub.requests) + len(hub.cdn_requests)
    fetch_weights.huggingface("org/model", "main", None, str(tmp_path))
    assert len(hub.requests) + len(hub.cdn_requests) == before + 1  # the listing only


def test_gated_model_without_token_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with serve(Hub(repo="org/gated", files=FILES, gated_token="secret")) as gated:
        monkeypatch.setattr(fetch_weights, "HF_ENDPOINT", gated.endpoint)
        code = fetch_weights.main(["huggingface", "org/gated", "--dest", str(tmp_path / "out")])
    assert code == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_token_is_read_from_the_file_and_kept_from_the_cdn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    with serve(Hub(repo="org/gated", files=FILES, gated_token="secret")) as gated:
        monkeypatch.setattr(fetch_weights, "HF_ENDPOINT", gated.endpoint)
        assert fetch_weights.main(["huggingface", "org/gated", "--token-file", str(token),
                                   "--dest", str(tmp_path / "out")]) == 0
    assert {auth for _, auth in gated.requests} == {"Bearer secret"}
    assert {auth for _, auth in gated.cdn_requests} == {None}


def test_a_file_name_leaving_the_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(Hub(repo="org/evil", files={"../escape.json": b"{}"})) as evil:
        monkeypatch.setattr(fetch_weights, "HF_ENDPOINT", evil.endpoint)
        with pytest.raises(fetch_weights.FetchError, match="refusing"):
            fetch_weights.huggingface("org/evil", "main", None, str(tmp_path / "out"))
    assert not (tmp_path / "escape.json").exists()
