"""Writing the site (atomic, unchanged files left alone) and serving it (types, caching, ETags,
CORS, no way out of the folder)."""

from __future__ import annotations

import asyncio
import json
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from statusbot.model import UpdateIncident
from statusbot.page import site, snapshot
from tests.page.test_html import NOW, filled

EXPECTED = {
    "index.html",
    "history.html",
    "incidents/1.html",
    "incidents/2.html",
    "maintenance/1.html",
    "assets/style.css",
    "assets/favicon.svg",
    "feed.atom",
    "badge.json",
    "api/v2/summary.json",
    "api/v2/status.json",
    "api/v2/components.json",
    "api/v2/incidents.json",
    "api/v2/incidents/unresolved.json",
    "api/v2/scheduled-maintenances.json",
    "api/v2/scheduled-maintenances/upcoming.json",
    "api/v2/scheduled-maintenances/active.json",
}


def files_in(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def test_build_writes_every_file_with_no_temp_files_left(tmp_path: Path) -> None:
    config, store = filled(tmp_path)
    stats = site.build(store, config, NOW)
    store.close()
    root = tmp_path / "site"
    written = files_in(root)
    assert set(written) == EXPECTED
    assert (stats.files, stats.written, stats.unchanged) == (len(EXPECTED), len(EXPECTED), 0)
    assert stats.output_dir == root
    assert stats.seconds > 0
    assert not [p for p in written if Path(p).name.startswith(".")], "no temp files left"
    for path in written.values():
        assert path.stat().st_mode & 0o777 == 0o644, f"{path}: readable by the web server"
    assert "Partial outage" in (root / "index.html").read_text()
    assert json.loads((root / "badge.json").read_text())["schemaVersion"] == 1
    assert (root / "feed.atom").read_text().startswith("<?xml")


def test_render_all_is_pure_and_is_what_build_writes(tmp_path: Path) -> None:
    config, store = filled(tmp_path)
    rendered = site.render_all(snapshot.take(store, config, NOW), None)
    assert not (tmp_path / "site").exists()
    site.build(store, config, NOW)
    store.close()
    on_disk = {p: f.read_bytes() for p, f in files_in(tmp_path / "site").items()}
    assert on_disk == rendered


def test_a_second_build_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    config, store = filled(tmp_path)
    site.build(store, config, NOW)
    root = tmp_path / "site"
    past = 1_000_000_000
    for path in files_in(root).values():
        os.utime(path, ns=(past, past))
    again = site.build(store, config, NOW)
    assert (again.written, again.unchanged) == (0, len(EXPECTED))
    assert {p.stat().st_mtime_ns for p in files_in(root).values()} == {past}
    with store.write(durable=True) as tx:  # an operator's word changes what customers see
        tx.apply(
            UpdateIncident(2, NOW + timedelta(minutes=1), "Replica restored."),
            config.channels.route,
        )
    third = site.build(store, config, NOW + timedelta(minutes=2))
    store.close()
    mtimes = {p: f.stat().st_mtime_ns for p, f in files_in(root).items()}
    assert "Replica restored." in (root / "incidents/2.html").read_text()
    assert mtimes["incidents/2.html"] != past
    assert mtimes["index.html"] != past
    for path in ("incidents/1.html", "maintenance/1.html", "assets/style.css"):
        assert mtimes[path] == past, f"{path} did not change, so it was not rewritten"
    assert third.written + third.unchanged == len(EXPECTED)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "index.html"
    site.write_atomic(target, b"old")

    def broken(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        site.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_write_atomic_says_whether_it_wrote(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    assert site.write_atomic(target, b"{}") is True
    assert site.write_atomic(target, b"{}") is False
    assert site.write_atomic(target, b"[]") is True
    assert target.read_bytes() == b"[]"


def test_write_atomic_compares_large_files_block_by_block(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    size = site.COMPARE_BLOCK * 3 + 17  # blocks, and a short last one
    data = bytes(n % 251 for n in range(size))
    assert site.write_atomic(target, data) is True
    assert site.write_atomic(target, bytes(data)) is False
    for changed in (
        data[:-1] + b"\x00",  # same size, the last byte differs
        data[: site.COMPARE_BLOCK] + b"\xff" + data[site.COMPARE_BLOCK + 1 :],  # a block start
        data[:-1],  # shorter
        data + b"!",  # longer
    ):
        assert site.write_atomic(target, changed) is True
        assert target.read_bytes() == changed
    assert site.write_atomic(target, b"") is True
    assert site.write_atomic(target, b"") is False


def test_write_atomic_takes_pieces_and_compares_them_with_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    assert site.write_atomic(target, iter([b"<p>", b"up", b"</p>"])) is True
    assert site.write_atomic(target, iter([b"<p>u", b"p</p>"])) is False  # same bytes
    assert site.write_atomic(target, iter([b"<p>", b"down", b"</p>"])) is True
    assert site.write_atomic(target, iter([])) is True
    assert target.read_bytes() == b""


def test_a_render_that_fails_midway_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "index.html"
    site.write_atomic(target, b"old")

    def pieces() -> Iterator[bytes]:
        yield b"half a "
        raise RuntimeError("template error")

    with pytest.raises(RuntimeError, match="template error"):
        site.write_atomic(target, pieces())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def test_a_build_never_holds_a_whole_page(tmp_path: Path) -> None:
    """The front page is written as it renders: a 6 MB page costs the build far less than 6 MB
    (held whole, the page and its UTF-8 copy were most of a build's peak)."""
    templates = tmp_path / "templates"
    config, store = filled(tmp_path, extra=f"templates_dir: {templates}\n")
    (templates / "page").mkdir(parents=True)
    (templates / "page/index.html.j2").write_text(
        "{% for n in range(80000) %}<p>{{ n }} {{ site.title }} is fine, thanks.</p>\n{% endfor %}"
    )
    site.build(store, config, NOW)  # compiles the templates, fills caches
    (tmp_path / "site/index.html").unlink()
    tracemalloc.start()
    try:
        site.build(store, config, NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    size = (tmp_path / "site/index.html").stat().st_size
    assert size > 3_000_000
    assert peak < size / 4, f"build peak {peak:,} bytes for a page of {size:,}"


def test_templates_dir_overrides_the_stylesheet(tmp_path: Path) -> None:
    config, store = filled(tmp_path, extra=f"templates_dir: {tmp_path / 'templates'}\n")
    (tmp_path / "templates/page/assets").mkdir(parents=True)
    (tmp_path / "templates/page/assets/style.css").write_text("body { color: red; }\n")
    site.build(store, config, NOW)
    store.close()
    assert (tmp_path / "site/assets/style.css").read_text() == "body { color: red; }\n"
    assert (tmp_path / "site/assets/favicon.svg").read_text().startswith("<svg")


# --- serving ------------------------------------------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    config, store = filled(tmp_path)
    site.build(store, config, NOW)
    store.close()
    (tmp_path / "secret.txt").write_text("outside the site")
    (tmp_path / "site" / ".index.html.abc.tmp").write_text("half a page")
    (tmp_path / "site" / "escape").symlink_to(tmp_path)
    async with TestClient(TestServer(site.serve_app(tmp_path / "site"))) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "content_type", "max_age"),
    [
        ("/", "text/html; charset=utf-8", 60),
        ("/incidents/1.html", "text/html; charset=utf-8", 60),
        ("/assets/style.css", "text/css; charset=utf-8", 300),
        ("/assets/favicon.svg", "image/svg+xml", 300),
        ("/api/v2/summary.json", "application/json", 30),
        ("/badge.json", "application/json", 30),
        ("/feed.atom", "application/atom+xml", 30),
    ],
)
async def test_serves_each_kind_with_its_type_and_cache_lifetime(
    client: TestClient, path: str, content_type: str, max_age: int
) -> None:
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == f"max-age={max_age}"
    assert response.headers["ETag"].startswith('"')


async def test_index_is_served_for_the_root(client: TestClient, tmp_path: Path) -> None:
    response = await client.get("/")
    assert await response.read() == (tmp_path / "site/index.html").read_bytes()


async def test_if_none_match_gets_304(client: TestClient) -> None:
    first = await client.get("/api/v2/summary.json")
    etag = first.headers["ETag"]
    again = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "max-age=30"
    weak = await client.get("/api/v2/summary.json", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status == 304
    other = await client.get("/api/v2/summary.json", headers={"If-None-Match": '"nope"'})
    assert other.status == 200
    head = await client.head("/index.html")
    assert head.status == 200
    assert head.headers["ETag"]


async def test_cors_on_the_json_api_only(client: TestClient) -> None:
    api = await client.get("/api/v2/incidents/unresolved.json")
    assert api.headers["Access-Control-Allow-Origin"] == "*"
    assert json.loads(await api.read())["incidents"][0]["name"] == "Database outage"
    page = await client.get("/index.html")
    assert "Access-Control-Allow-Origin" not in page.headers


@pytest.mark.parametrize(
    "raw",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/incidents/../../secret.txt",
        "//etc/passwd",
        "/escape/secret.txt",  # a symlink pointing out of the folder
        "/.index.html.abc.tmp",  # a build's temp file
        "/no-such-page.html",
        "/incidents/",
    ],
)
async def test_nothing_outside_the_folder_is_served(client: TestClient, raw: str) -> None:
    status, body = await raw_get(client, raw)
    assert status in {"404 Not Found", "400 Bad Request"}
    assert b"outside the site" not in body
    assert b"half a page" not in body
    assert b"root:" not in body


async def test_the_client_view_of_an_encoded_dot_dot_is_404(client: TestClient) -> None:
    response = await client.get(URL("/%2e%2e/secret.txt", encoded=True))
    assert response.status == 404


async def raw_get(client: TestClient, path: str) -> tuple[str, bytes]:
    """GET ``path`` exactly as written (no client normalising it first)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode().removeprefix("HTTP/1.1 "), body


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_json_bytes_is_compact_json_written_in_pieces(doc: object) -> None:
    expected = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert site.json_bytes(doc) == expected.encode()
