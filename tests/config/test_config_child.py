"""Large configs are parsed in a child process: same Config, same problems, same fallbacks."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from statusbot import config as configmod
from statusbot import config_child
from statusbot.config import ConfigError


def big_config(path: Path, checks: int) -> Path:
    lines = ["site: {title: Big}", "components:"]
    for n in range(0, checks, 10):
        lines.append(f"  - id: c{n}")
        lines.append(f"    name: Component {n}")
        lines.append("    checks:")
        for k in range(n, min(n + 10, checks)):
            lines.append(
                f"      - {{type: http, id: k{k}, url: 'https://api.example.com/h?n={k}', "
                "headers: {Authorization: 'Bearer ${env:BIG_TOKEN}'}}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BIG_TOKEN", "s3cret-bearer-token")
    return "s3cret-bearer-token"


@pytest.fixture
def no_fallback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if a load fell back to parsing in process: the equal answers it checks
    must be the child's (or, for a small file, must come without trying a child at all)."""
    with caplog.at_level(logging.WARNING, logger="statusbot.config_child"):
        yield
    assert [
        r.getMessage() for r in caplog.get_records("call") if r.name == "statusbot.config_child"
    ] == []


@pytest.mark.usefixtures("no_fallback")
def test_a_large_config_comes_back_from_the_child_equal(tmp_path: Path, token: str) -> None:
    path = big_config(tmp_path / "big.yaml", 500)
    assert path.stat().st_size >= config_child.APART_BYTES  # the default sends it to a child
    apart = config_child.load(path)
    here = configmod.load(path)
    assert apart == here
    assert apart.checks() == here.checks()
    assert apart.checks()[7].spec.headers["Authorization"].reveal() == f"Bearer {token}"


CHILD_ONLY = """
import sys
from pathlib import Path
from pydantic_core import SchemaValidator
from statusbot import config_child
from statusbot.config import Config
from statusbot.probes.http import HttpCheck
config = config_child.load(Path(sys.argv[1]))
assert len(config.checks()) == 500
print([m.__name__ for m in (Config, HttpCheck)
       if isinstance(m.__pydantic_validator__, SchemaValidator)])
"""


def test_a_daemon_that_got_its_config_from_the_child_builds_no_validators(
    tmp_path: Path, token: str
) -> None:
    """pydantic builds a model's validator at first use (``defer_build``), and a config from
    the child arrives pickled, never validated: the daemon is spared the validators (1.2 MB of
    its resident memory at 1,000 checks)."""
    path = big_config(tmp_path / "big.yaml", 500)
    done = subprocess.run(
        [sys.executable, "-c", CHILD_ONLY, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
    assert configmod.load(path).checks()[0].spec.url.startswith("https://")  # built at first use


@pytest.mark.usefixtures("no_fallback")
def test_the_childs_problems_name_file_line_and_field(tmp_path: Path, token: str) -> None:
    path = big_config(tmp_path / "big.yaml", 500)
    text = path.read_text().replace("id: k321,", "id: K321,")
    path.write_text(text.replace("name: Component 480", "nam: Component 480"))
    with pytest.raises(ConfigError) as here:
        configmod.load(path)
    with pytest.raises(ConfigError) as apart:
        config_child.load(path)
    assert apart.value.problems == here.value.problems
    lines = text.splitlines()
    bad_id = next(n for n, line in enumerate(lines, 1) if "id: K321," in line)
    renamed = lines.index("  - id: c480") + 1
    assert [str(p).split(": ", 1)[0] for p in apart.value.problems] == [
        f"{path}:{bad_id} components[32].checks[1].id",
        f"{path}:{renamed} components[48].name",  # missing: its component's line
        f"{path}:{renamed + 1} components[48].nam",
    ]


@pytest.mark.usefixtures("no_fallback")
async def test_the_async_load_gives_the_same_answers(tmp_path: Path, token: str) -> None:
    path = big_config(tmp_path / "big.yaml", 50)
    assert await config_child.load_async(path, apart_bytes=0) == configmod.load(path)
    path.write_text(path.read_text().replace("type: http", "type: htp", 1))
    with pytest.raises(ConfigError) as err:
        await config_child.load_async(path, apart_bytes=0)
    assert "components[0].checks[0]" in str(err.value)


@pytest.mark.usefixtures("no_fallback")
def test_a_small_config_is_parsed_in_process(
    tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = big_config(tmp_path / "small.yaml", 3)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    assert config_child.load(path) == configmod.load(path)  # no child was needed


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_child_that_cannot_run_falls_back_with_one_warning(
    tmp_path: Path,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    asynchronous: bool,
) -> None:
    path = big_config(tmp_path / "big.yaml", 20)
    expected = configmod.load(path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))  # e.g. mid-upgrade
    with caplog.at_level(logging.WARNING, logger="statusbot.config_child"):
        if asynchronous:
            got = await config_child.load_async(path, apart_bytes=0)
        else:
            got = config_child.load(path, apart_bytes=0)
    assert got == expected
    assert [r.getMessage() for r in caplog.records] == [
        f"parsing {path} in a child process failed (could not start: No such file or "
        "directory); parsing it here"
    ]


def test_a_child_that_fails_falls_back_without_logging_its_stderr(
    tmp_path: Path, token: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = big_config(tmp_path / "big.yaml", 20)
    # a "python" that prints a secret to stderr and fails, as a crashing child's traceback might
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho 'Bearer {token}' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with caplog.at_level(logging.WARNING, logger="statusbot.config_child"):
        assert config_child.load(path, apart_bytes=0) == configmod.load(path)
    assert "exited with status 3" in caplog.text
    assert token not in caplog.text
