"""The page in a real browser: Debian's Chromium, headless, loading it from `serve_app` on
loopback — light and dark, 320 px wide, JavaScript off — with axe-core injected: no violations.

Locally the test skips when Chromium or axe-core is missing; under CI (CI set) it fails, since
.ci/run installs both (Debian `chromium`, npm `axe-core`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from statusbot import config as configmod
from statusbot.model import CheckResult, State, UpdateIncident
from statusbot.pipeline import Pipeline
from statusbot.store import Store

ROOT = Path(__file__).parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(os.environ.get("STATUSBOT_AXE", ROOT / ".cache/npm/node_modules/axe-core/axe.min.js"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("STATUSBOT_SCREENSHOTS", ROOT / ".cache/screenshots"))


def _need(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; .ci/run should have installed it")
    pytest.skip(f"{what} is not installed (Debian chromium, npm axe-core; .ci/run installs both)")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    page = pytest.importorskip("statusbot.page.site")
    t0 = datetime.now(UTC) - timedelta(hours=2)
    text = f"""
site: {{title: Example Status, url: "https://status.example.com", output_dir: "{tmp_path}/site"}}
components:
  - {{id: api, name: Public API, group: Core, checks: [{{type: tcp, host: 127.0.0.1, port: 1}}]}}
  - {{id: db, name: Database, group: Core, checks: [{{type: tcp, host: 127.0.0.1, port: 2}}]}}
  - {{id: web, name: Website, checks: [{{type: tcp, host: 127.0.0.1, port: 3}}]}}
"""
    config = configmod.from_text(text, "t.yaml", env={})
    store = Store.open(f"sqlite:///{tmp_path}/s.db")
    pipeline = Pipeline(config, store)
    for n, state in enumerate([State.UP, State.UP, State.DOWN, State.DOWN]):
        at = t0 + timedelta(seconds=30 * n)
        pipeline.handle(
            [
                CheckResult(f"{c}.tcp", c, at, state if c == "api" else State.UP)
                for c in ("api", "db", "web")
            ]
        )
    with store.write(durable=True) as tx:
        tx.apply(
            UpdateIncident(
                1, t0 + timedelta(minutes=5), "We found it: <script>alert(1)</script> a bad deploy."
            ),
            config.channels.route,
        )
    page.build(store, config, datetime.now(UTC))
    store.close()
    runner = web.AppRunner(page.serve_app(tmp_path / "site"))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _need("Chromium", Path(CHROMIUM).exists())
    playwright = pytest.importorskip("playwright.async_api")
    async with playwright.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        await b.close()


async def _axe(page: Any) -> list[dict[str, Any]]:
    _need("axe-core", AXE.exists())
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize(
    ("name", "scheme", "width"),
    [("light", "light", 1280), ("dark", "dark", 1280), ("narrow", "light", 320)],
)
async def test_the_page_has_no_accessibility_violations(site, browser, name, scheme, width) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    await page.emulate_media(color_scheme=scheme)
    for path in ("/", "/incidents/1.html", "/history.html"):
        await page.goto(site + path)
        assert await _axe(page) == [], f"{path} ({name})"
    await page.goto(site + "/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"index-{name}.png"), full_page=True)
    if width == 320:
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= 320, "no sideways scrolling at 320 px"
    await context.close()


async def test_readable_without_javascript_and_hostile_text_stays_text(site, browser) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(site + "/")
    body = await page.inner_text("body")
    assert "Public API" in body
    assert "partial outage" in body.lower()
    await page.goto(site + "/incidents/1.html")
    body = await page.inner_text("body")
    assert "<script>alert(1)</script>" in body, "the update's text is shown, not run"
    await context.close()
