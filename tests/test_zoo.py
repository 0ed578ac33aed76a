"""The download cache (resume, sha256 checks) against a local HTTP server, and the model zoo on top of it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import serving
from vjengine.downloads import fetch
from vjengine.errors import ModelError
from vjengine.models import zoo
from vjengine.models.zoo import ZooEntry, is_remote, resolve

PAYLOAD = bytes(range(256)) * 24  # 6 KiB, every byte value, so a misplaced byte shows


class FileServer(ThreadingHTTPServer):
    """Serves PAYLOAD at any path ending in /model.pkl, records each Range header, and can cut a response off."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None  # close the next response after this many body bytes
        self.supports_range = True

    def url(self, path: str = "/model.pkl") -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.ranges.append(self.headers.get("Range"))
        if not self.path.endswith("/model.pkl"):
            self.send_error(404)
            return
        start = self._range_start()
        if start is not None and start >= len(PAYLOAD):
            self.send_error(416)
            return
        if start is None:
            self.send_response(200)
            start = 0
        else:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.server.cut_after is not None:
            body, self.server.cut_after = body[: self.server.cut_after], None
        self.wfile.write(body)

    def _range_start(self) -> int | None:
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        return int(match[1]) if match and self.server.supports_range else None

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    monkeypatch.setenv("VJENGINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy from the environment must not see these requests
    with serving(FileServer()) as httpd:
        yield httpd


def cached_files(tmp_path: Path) -> list[str]:
    models = tmp_path / "cache" / "models"
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_first_fetch_downloads_and_second_is_served_from_cache(server: FileServer, tmp_path: Path) -> None:
    path = fetch(server.url(), progress=False)
    assert path.read_bytes() == PAYLOAD
    assert path.parent == tmp_path / "cache" / "models"
    assert path.name.endswith("-model.pkl")

    assert fetch(server.url(), progress=False) == path
    assert len(server.ranges) == 1


def test_urls_with_the_same_basename_are_cached_apart(server: FileServer) -> None:
    first = fetch(server.url("/a/model.pkl"), progress=False)
    second = fetch(server.url("/b/model.pkl"), progress=False)
    assert first != second
    assert len(server.ranges) == 2


def test_matching_published_sha256_is_accepted(server: FileServer) -> None:
    path = fetch(server.url(), sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert path.read_bytes() == PAYLOAD


def test_wrong_published_sha256_is_refused_and_nothing_is_cached(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not match its published sha256"):
        fetch(server.url(), sha256="0" * 64, progress=False)
    assert cached_files(tmp_path) == []


def test_without_published_sha256_the_first_download_is_recorded(server: FileServer) -> None:
    path = fetch(server.url(), progress=False)
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text().strip() == hashlib.sha256(PAYLOAD).hexdigest()


def test_a_cached_file_that_changed_is_refused(server: FileServer) -> None:
    path = fetch(server.url(), progress=False)
    path.write_bytes(b"tampered" + PAYLOAD[8:])
    with pytest.raises(ModelError, match="has changed since it was downloaded"):
        fetch(server.url(), progress=False)


def test_interrupted_download_leaves_a_part_file_and_the_next_fetch_resumes(server: FileServer, tmp_path: Path) -> None:
    server.cut_after = 1000
    with pytest.raises(ModelError, match="interrupted after 1000 bytes.*run again to resume"):
        fetch(server.url(), progress=False)
    [part] = (tmp_path / "cache" / "models").glob("*.part")
    assert part.stat().st_size == 1000

    path = fetch(server.url(), progress=False)
    assert server.ranges[-1] == "bytes=1000-"
    assert path.read_bytes() == PAYLOAD
    assert not part.exists()


def test_resume_starts_over_when_the_server_ignores_range(server: FileServer) -> None:
    server.cut_after, server.supports_range = 1000, False
    with pytest.raises(ModelError, match="interrupted"):
        fetch(server.url(), progress=False)

    path = fetch(server.url(), progress=False)
    assert server.ranges[-1] == "bytes=1000-"
    assert path.read_bytes() == PAYLOAD


def test_a_part_file_the_server_cannot_continue_is_downloaded_afresh(server: FileServer, tmp_path: Path) -> None:
    server.cut_after = 1000
    with pytest.raises(ModelError, match="interrupted"):
        fetch(server.url(), progress=False)
    [part] = (tmp_path / "cache" / "models").glob("*.part")
    part.write_bytes(PAYLOAD + b"junk")

    path = fetch(server.url(), progress=False)
    assert server.ranges[-2:] == [f"bytes={len(PAYLOAD) + 4}-", None]
    assert path.read_bytes() == PAYLOAD


def test_http_404_is_a_one_line_error_naming_the_url(server: FileServer) -> None:
    url = server.url("/missing.pkl")
    with pytest.raises(ModelError) as caught:
        fetch(url, progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert url in message and "404" in message


def test_unreachable_server_is_a_one_line_error(server: FileServer) -> None:
    url = server.url()
    server.shutdown()
    server.server_close()
    with pytest.raises(ModelError, match="could not download") as caught:
        fetch(url, progress=False)
    assert "\n" not in str(caught.value)


def test_resolve_a_zoo_name_fetches_its_entry(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = ZooEntry("test-model-64", server.url(), hashlib.sha256(PAYLOAD).hexdigest(), "test model")
    monkeypatch.setattr(zoo, "ZOO", {entry.name: entry})
    assert resolve("test-model-64", progress=False).read_bytes() == PAYLOAD


def test_resolve_a_url_fetches_it(server: FileServer) -> None:
    assert resolve(server.url(), progress=False).read_bytes() == PAYLOAD


def test_resolve_an_unknown_name_lists_the_zoo() -> None:
    with pytest.raises(ModelError, match="unknown model 'ffhq'.*stylegan3-t-ffhq-1024"):
        resolve("ffhq")


def test_is_remote_for_zoo_names_and_urls_but_not_paths() -> None:
    assert is_remote("stylegan2-afhqcat-512")
    assert is_remote("https://example.com/model.pkl")
    assert is_remote("http://example.com/model.pkl")
    assert not is_remote("models/ffhq.pkl")
    assert not is_remote("/abs/stylegan3-t-ffhq-1024.pkl")
    assert not is_remote("ftp://example.com/model.pkl")


def test_zoo_names_drop_the_repeated_resolution() -> None:
    assert zoo.ZOO["stylegan3-t-ffhq-1024"].url.endswith("/stylegan3/versions/1/files/stylegan3-t-ffhq-1024x1024.pkl")
    assert zoo.ZOO["stylegan2-cifar10-32"].url.endswith("/stylegan2/versions/1/files/stylegan2-cifar10-32x32.pkl")
    assert all(entry.sha256 is None for entry in zoo.ZOO.values())
