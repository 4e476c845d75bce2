"""The status page as a folder of static files: rendered from the store, written atomically,
and served (by ``statusbot serve``, the daemon, or any web server).

:func:`build` reads a snapshot from the store (DESIGN invariant 4: never from memory), renders
every file with :func:`render_all` and writes each one atomically (temp file in the same
folder, fsync, rename), leaving files whose content did not change untouched, so their mtime
and ETag stay stable. Pages of incidents that left the snapshot are kept (links stay valid).

Any web server can serve the folder. For nginx::

    location / {
        root /var/lib/statusbot/site;
        index index.html;
        etag on;
        types { text/html html; text/css css; image/svg+xml svg;
                application/json json; application/atom+xml atom; }
        location ~ \\.(json|atom)$ { add_header Cache-Control "max-age=30"; }
        location ~ \\.html$ { add_header Cache-Control "max-age=60"; }
        location /api/v2/ { add_header Access-Control-Allow-Origin "*";
                            add_header Cache-Control "max-age=30"; }
    }
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from aiohttp import web

from statusbot.config import Config
from statusbot.page import api, feed, html, snapshot
from statusbot.page.snapshot import Snapshot
from statusbot.store import Store

__all__ = [
    "ASSETS",
    "BuildStats",
    "FileSource",
    "build",
    "render_all",
    "serve_app",
    "sources",
    "write_atomic",
]

ASSETS = ("assets/style.css", "assets/favicon.svg")
"""Static files copied from ``statusbot/data/page/`` (or the operator's ``templates_dir/page/``)."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".atom": "application/atom+xml",
    ".txt": "text/plain; charset=utf-8",
}
CACHE_SECONDS = {".json": 30, ".atom": 30, ".html": 60}
OTHER_CACHE_SECONDS = 300
COMPARE_BLOCK = 256 * 1024
WRITE_BUFFER = 64 * 1024
JSON_SPLIT_DEPTH = 4  # document → incidents → incident → updates → (each update: one C call)


@dataclass(frozen=True, slots=True)
class BuildStats:
    """What one build did."""

    files: int  # rendered
    written: int  # changed or new, so (re)written
    unchanged: int  # identical on disk, left alone
    seconds: float  # wall time of the whole build (read, render, write)
    output_dir: Path


FileSource = Callable[[], Iterator[bytes]]
"""A file of the site not rendered yet: each call renders it anew, in UTF-8 pieces."""


def sources(snap: Snapshot, templates_dir: Path | None) -> dict[str, FileSource]:
    """Every file of the site by path relative to its root, rendered only when called.

    :func:`build` writes each piece as it comes, so no file is ever whole in memory: held
    whole, the front page (1.4 MB at 100 components, 14 MB at 1,000) and the JSON documents
    were most of a build's peak."""
    pages = html.page_sources(snap, templates_dir)
    out: dict[str, FileSource] = {path: partial(_encoded, page) for path, page in pages.items()}
    for path, doc in api.documents(snap).items():
        out[path] = partial(_json_chunks, doc)
    out["feed.atom"] = partial(_encoded, partial(feed.atom, snap))
    for path in ASSETS:
        out[path] = partial(_asset, path, templates_dir)
    return out


def render_all(snap: Snapshot, templates_dir: Path | None) -> dict[str, bytes]:
    """Every file of the site by path relative to its root, whole (pure: no writes)."""
    return {path: b"".join(source()) for path, source in sources(snap, templates_dir).items()}


def json_bytes(doc: object) -> bytes:
    """``doc`` as compact JSON (as Statuspage serves it) and a newline, in UTF-8."""
    return b"".join(_json_chunks(doc))


def _json_chunks(doc: object) -> Iterator[bytes]:
    """``json_bytes(doc)`` in pieces.

    json's C encoder does the work (``indent=`` would fall back to the pure-Python one: after a
    200-component storm the 8 MB incident documents took 4.7 s and a 60 MB peak that way), but
    never on a whole document at once: one call holds the GIL throughout, and for a 5 MB
    document that stopped the event loop for 50 ms. Containers down to ``JSON_SPLIT_DEPTH``
    levels are written here, so each C call encodes one incident update or component."""
    return _encoded(partial(itertools.chain, _json_pieces(doc, JSON_SPLIT_DEPTH), "\n"))


def _encoded(render: Callable[[], Iterable[str]]) -> Iterator[bytes]:
    """The pieces of ``render()`` in UTF-8, a piece at a time."""
    return (piece.encode() for piece in render())


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_pieces(value: object, depth: int) -> Iterator[str]:
    if depth and isinstance(value, dict) and value:
        sep = "{"
        for key, item in value.items():
            yield sep + _ENCODE(key) + ":"
            yield from _json_pieces(item, depth - 1)
            sep = ","
        yield "}"
    elif depth and isinstance(value, list) and value:
        sep = "["
        for item in value:
            yield sep
            yield from _json_pieces(item, depth - 1)
            sep = ","
        yield "]"
    else:
        yield _ENCODE(value)


def build(store: Store, config: Config, now: datetime) -> BuildStats:
    """Regenerate the site from the store into ``site.output_dir``."""
    started = time.perf_counter()
    templates = config.resolve(config.templates_dir) if config.templates_dir else None
    files = sources(snapshot.take(store, config, now), templates)
    root = config.resolve(config.site.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    # Pages before the documents that link to them, the front page last.
    for path in sorted(files, key=_write_order):
        written += write_atomic(root / path, files[path]())
    return BuildStats(
        files=len(files),
        written=written,
        unchanged=len(files) - written,
        seconds=time.perf_counter() - started,
        output_dir=root,
    )


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> bool:
    """Replace ``path`` with ``data`` (bytes, or pieces written as they come) atomically;
    False, and the file left alone (its mtime and ETag too), when the content is the same.

    The new content goes to a temporary file in the same folder first, and is compared with the
    old file there, a block at a time: neither is ever whole in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    replaced = False
    try:
        with os.fdopen(fd, "w+b", buffering=WRITE_BUFFER) as f:
            for piece in (data,) if isinstance(data, bytes) else data:
                f.write(piece)
            f.flush()
            if _same_as(f, path):
                return False
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; the web server must read it
            os.fsync(f.fileno())
        os.replace(tmp, path)
        replaced = True
    finally:
        if not replaced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    _fsync_dir(path.parent)
    return True


def _same_as(new: BinaryIO, path: Path) -> bool:
    """Whether the file ``path`` holds exactly what ``new`` (open, flushed) holds."""
    try:
        old = path.open("rb")
    except FileNotFoundError:
        return False
    with old:
        size = os.fstat(new.fileno()).st_size
        if os.fstat(old.fileno()).st_size != size:
            return False
        new.seek(0)
        while block := old.read(COMPARE_BLOCK):
            if new.read(COMPARE_BLOCK) != block:
                return False
        return new.read(1) == b""


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_order(path: str) -> tuple[int, str]:
    if path.startswith("assets/"):
        rank = 0
    elif path.startswith(("incidents/", "maintenance/")):
        rank = 1
    elif path == "index.html":
        rank = 3
    else:
        rank = 2
    return rank, path


def _asset(path: str, templates_dir: Path | None) -> Iterator[bytes]:
    if templates_dir is not None:
        override = templates_dir / html.PAGE_DIR / path
        if override.is_file():
            yield override.read_bytes()
            return
    yield (resources.files("statusbot") / "data" / html.PAGE_DIR / path).read_bytes()


# --- serving ------------------------------------------------------------------------------


def serve_app(output_dir: Path) -> web.Application:
    """An aiohttp app serving the built folder (see ``static_handler``)."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", static_handler(output_dir))
    return app


def static_handler(
    output_dir: Path,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A GET handler for ``/{tail:.*}`` serving the built folder: content types, short cache
    lifetimes, ETags (``If-None-Match`` → 304), CORS on the JSON API, ``index.html`` for
    folders, and 404 for anything outside the folder or hidden (dot files: temp files of a
    build in progress)."""
    root = output_dir.resolve()

    async def handle(request: web.Request) -> web.StreamResponse:
        found = _locate(root, request.match_info["tail"])
        if found is None:
            return web.Response(status=404, text="not found\n")
        try:
            body = await asyncio.to_thread(found.read_bytes)
        except OSError:
            return web.Response(status=404, text="not found\n")
        suffix = found.suffix.lower()
        headers = {
            "ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"',
            "Cache-Control": f"max-age={CACHE_SECONDS.get(suffix, OTHER_CACHE_SECONDS)}",
            "X-Content-Type-Options": "nosniff",
        }
        if suffix in {".json", ".atom"}:
            headers["Access-Control-Allow-Origin"] = "*"
        if _matches(request.headers.get("If-None-Match", ""), headers["ETag"]):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = CONTENT_TYPES.get(suffix, "application/octet-stream")
        return web.Response(body=body, headers=headers)

    return handle


def _locate(root: Path, tail: str) -> Path | None:
    """The file ``tail`` (URL path, decoded) names inside ``root``, or None."""
    parts = PurePosixPath(tail).parts
    if any(p.startswith(".") or "\\" in p or "\0" in p for p in parts) or tail.startswith("/"):
        return None
    try:
        candidate = root.joinpath(*parts).resolve()
    except (OSError, ValueError):
        return None
    if not candidate.is_relative_to(root):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    return candidate if candidate.is_file() else None


def _matches(header: str, etag: str) -> bool:
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags
