"""Hostile config files (property-based): loading gives a ``Config`` or a ``ConfigError`` whose
problems name the file (and a line where there is one), never any other exception and never a
secret's value; ``statusbot validate`` answers bad input with clear lines and no traceback.

Documents come from three places: random text and bytes; the packaged example config (plus every
channel) mutated structurally (values replaced by wrong types, huge numbers, unicode and NUL,
keys misspelt, renamed, dropped or added, subtrees shared so that PyYAML writes anchors and
aliases, even cycles); and its YAML text mutated line by line (duplicate keys, tags, anchors,
truncation, BOMs, control characters), plus alias bombs and deep nesting.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import string
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from statusbot import config as configmod
from statusbot.cli import main
from statusbot.config import Config, ConfigError
from statusbot.yamlsource import load_yaml

EXAMPLE = Path(configmod.__file__).parent / "data" / "config" / "example.yaml"
SECRET_NAME = "STATUSBOT_PROP_SECRET"
SECRET_MARK = "s3cr3t"  # no static message of ours contains it: found in an error means leaked
ENV = {  # every ${env:…} of the base document, with values that must never show
    "API_HEALTH_TOKEN": "s3cr3t-api-health",
    "EXPORT_HEARTBEAT_TOKEN": "s3cr3t-heartbeat-0123456789",
    "MASTODON_TOKEN": "s3cr3t-mastodon",
    "X_CONSUMER_KEY": "s3cr3t-x-ck",
    "X_CONSUMER_SECRET": "s3cr3t-x-cs",
    "X_ACCESS_TOKEN": "s3cr3t-x-at",
    "X_ACCESS_SECRET": "s3cr3t-x-as",
    "WEBHOOK_URL": "https://hooks.example/s3cr3t-webhook-path",
    "WEBHOOK_KEY": "s3cr3t-webhook-hmac",
    "APPRISE_URL": "json://localhost/s3cr3t-apprise",
    "COMMAND_PASSWORD": "s3cr3t-command-env",
    SECRET_NAME: "s3cr3t-planted",
}
PROBLEM_TYPES = (ConfigError,)  # the one documented error type of config loading


def props(examples: int) -> settings:
    """Settings of these properties: ``examples`` runs, no deadline (loading is I/O)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- the base document: the packaged example with every channel ------------------------------


def _base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["channels"] = {
        "console": {"enabled": True},
        "mastodon": {
            "api_base_url": "https://social.example",
            "access_token": "${env:MASTODON_TOKEN}",
        },
        "x": {
            "consumer_key": "${env:X_CONSUMER_KEY}",
            "consumer_secret": "${env:X_CONSUMER_SECRET}",
            "access_token": "${env:X_ACCESS_TOKEN}",
            "access_token_secret": "${env:X_ACCESS_SECRET}",
            "events": ["incident.opened", "incident.resolved"],
        },
        "webhook": {
            "url": "${env:WEBHOOK_URL}",
            "secret": "${env:WEBHOOK_KEY}",
            "headers": {"Authorization": "Bearer ${env:API_HEALTH_TOKEN}"},
        },
        "apprise": {"urls": ["${env:APPRISE_URL}"], "title": "Status"},
    }
    queue = next(c for c in data["components"] if c["id"] == "queue")
    queue["checks"][0]["env"] = {"PGPASSWORD": "${env:COMMAND_PASSWORD}"}
    return data


BASE = _base()


def _schema_keys(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            yield from props
        for value in node.values():
            yield from _schema_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_keys(item)


KEYS = sorted(set(_schema_keys(Config.model_json_schema())) | {"twitter", "type"})


# --- strategies -------------------------------------------------------------------------------


@st.composite
def misspelt_keys(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(KEYS))
    i = draw(st.integers(0, len(key) - 1))
    how = draw(st.sampled_from(["drop", "double", "upper", "insert", "swap", "plural"]))
    if how == "drop":
        return key[:i] + key[i + 1 :]
    if how == "double":
        return key[:i] + key[i] + key[i:]
    if how == "upper":
        return key.upper()
    if how == "insert":
        return key[:i] + draw(st.characters()) + key[i:]
    if how == "swap" and i + 1 < len(key):
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    return key + "s"


INTERESTING = [
    "", " ", "0", "-1", "30s", "0s", "-5s", "1500ms", "1e400", "9" * 40, "99999999999999d",
    "7d", "1.5h", "nan", "https://", "http://[::1", "https://status.example.com", "ftp://x/",
    "sqlite:///", "sqlite:///:memory:", "sqlite:///\x00", "postgres://x",
    "UTC", "Europe/Berlin", "Europe", "Etc", "UTC/", "a" * 300, "../../etc/passwd", "zone.tab",
    "${env:UNSET_STATUSBOT_VARIABLE}", "${env:" + SECRET_NAME + "}",
    "Bearer ${env:API_HEALTH_TOKEN}",
    "${file:/nonexistent/secret}", "${file:/}", "${cred:token}", "${env:}", "${", "$${env:X}",
    "0 3 * * sun", "61 * * * *", "* * * * * *", "@reboot", "*/0 * * * *", "0 0 31 2 *",
    "a{4294967296}", "(" * 2000 + ")" * 2000, "[", "\\", "(?P<", "checks[0].state", "a..b", "[99",
    "\x00", "\ufeff", "\u202e", "\u2028", "👨‍👩‍👧‍👦", "e\u0301", "<script>alert(1)</script>",
    "127.0.0.1:8080", ":0", "[::1]:99999", "host:", "9.9.9.9:53", "::1", "1.2.3.4:x",
    "true", "null", "~", "&a", "*a", "!!int", "- x", "? x", "#", "'", '"',
    "2026-13-45T00:00:00+00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "incident.opened", "maintenance.started", "http", "tcp", "dns", "tls", "heartbeat", "command",
    "/", "/nonexistent", "/dev/null", ".", "~/x",
]  # fmt: skip
OFFSETS = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=23, minutes=59))]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 100_000),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(INTERESTING),
    st.datetimes(timezones=OFFSETS),
    st.dates(),
)
KEYISH = st.one_of(
    st.sampled_from(KEYS), misspelt_keys(), st.text(max_size=12), st.integers(), st.none()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS) | KEYISH, inner, max_size=4),
    ),
    max_leaves=10,
)

Path_ = tuple[Any, ...]


def _paths(node: Any, here: Path_ = (), active: frozenset[int] = frozenset()) -> Iterator[Path_]:
    yield here
    if id(node) in active:  # a cycle made by an earlier "alias" mutation
        return
    inner = active | {id(node)}
    if isinstance(node, dict):
        for key, value in list(node.items()):
            yield from _paths(value, (*here, key), inner)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*here, index), inner)


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def structures(draw: st.DrawFn) -> Any:
    """The base document after a few structural mutations."""
    data: Any = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        node = _at(data, path)
        parent: Any = _at(data, path[:-1]) if path else None
        op = draw(
            st.sampled_from(["replace", "replace", "delete", "rename", "add", "alias", "wrap"])
        )
        if op == "replace" or (op in ("delete", "rename") and parent is None):
            new = draw(VALUES)
        elif op == "alias":  # the same object twice: PyYAML writes an anchor and an alias
            new = _at(data, draw(st.sampled_from(paths)))
        elif op == "wrap":
            new = draw(st.sampled_from([[node], {draw(KEYISH): node}]))
        elif op == "add":
            if isinstance(node, dict):
                node[draw(KEYISH)] = draw(VALUES)
            elif isinstance(node, list):
                node.append(draw(VALUES))
            continue
        elif op == "delete":
            del parent[path[-1]]
            continue
        else:  # rename
            if isinstance(parent, dict):
                parent[draw(KEYISH)] = parent.pop(path[-1])
            continue
        if parent is None:
            data = new
        else:
            parent[path[-1]] = new
    return data


@st.composite
def dumped(draw: st.DrawFn) -> str:
    data = draw(structures())
    try:
        return yaml.safe_dump(
            data,
            allow_unicode=draw(st.booleans()),
            default_flow_style=draw(st.sampled_from([False, None, True])),
            sort_keys=False,
            width=draw(st.sampled_from([80, 20, 10**6])),
        )
    except (yaml.YAMLError, RecursionError):  # a structure PyYAML cannot write: not our subject
        assume(False)
        raise


FRAGMENTS = [
    "!!float ", "!!int ", "!!timestamp ", "!!binary ", "!!bool ", "!!null ", "!!str ", "!!map ",
    "!!seq ", "!!set ", "!!omap ", "!!python/object/apply:os.system ", "!custom ", "&a ", "*a ",
    "*undefined ", "<<: *a\n", "<<: ", "? ", "- ", "{", "}", "[", "]", "'", '"', "|", ">", "#",
    "%YAML 1.1\n---\n", "%TAG ! tag:x,2026:\n---\n", "---\n", "...\n", "\t", "\x00", "\x7f",
    "\ufeff", "\r\n", "\r", "\u2028", "\x85", "   ", "key: value\n", "components: []\n",
    "2026-13-45", "2026-01-01T99:00:00", "0x", "0o9", "1_000", ".nan", ".inf", "~", ": ",
    "9" * 5000, "\\x", "\"\\u0000\"", "\"\\ud800\"", "@", "`", "%",
]  # fmt: skip


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """A dumped document changed line by line: duplicate keys, tags, anchors, cuts."""
    lines = draw(dumped()).splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["duplicate", "drop", "insert", "insert", "truncate", "indent"]))
        if op == "duplicate":  # a mapping key written twice, or a list item
            lines.insert(n, lines[n])
        elif op == "drop" and len(lines) > 1:
            del lines[n]
        elif op == "insert":
            line = lines[n]
            at = draw(st.integers(0, len(line)))
            piece = draw(st.sampled_from(FRAGMENTS) | st.text(max_size=8))
            lines[n] = line[:at] + piece + line[at:]
        elif op == "truncate":
            lines[n] = lines[n][: draw(st.integers(0, len(lines[n])))]
            del lines[n + 1 :]
        else:
            lines[n] = draw(st.sampled_from([" ", "  ", "\t", "- "])) + lines[n]
    return "".join(lines)


ALIAS_DOCS = [
    "a: &a [*a]\ncomponents: [{id: a, name: A}]\n",
    "components: &c [{id: a, name: A, checks: *c}]\n",
    "components: [{id: a, name: A, checks: [{type: http, url: 'https://x.example/',"
    " expect: {json: {path: a, equals: &e [*e]}}}]}]\n",
    "components: [{id: a, name: A, checks: [{type: http, url: 'https://x.example/',"
    " expect: {json: {path: a, equals: &e {k: *e}}}}]}]\n",
    "components: [&b {id: a, name: A}, *b]\n",
    "site: &s {title: T}\ncomponents: [{<<: *s, id: a, name: A}]\n",
    "components: [{id: a, name: A}]\nsite: *missing\n",
    "components: [{id: a, name: A}]\ndefaults: &d {interval: *d}\n",
    "&r {components: [{id: a, name: A}], site: *r}\n",
]


BOMB_SPOTS = [
    "components: *l{d}",
    "components: [{{id: a, name: A, checks: [{{type: http, url: 'https://x.example/',"
    " expect: {{json: {{path: a, equals: *l{d}}}}}}}]}}]",
    "components: [{{id: a, name: A, checks: [{{type: command, argv: *l{d}}}]}}]",
]


def bomb(width: int, depth: int, spot: int) -> str:
    """ "Billion laughs": ``width ** depth`` values once its aliases are expanded."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"l{d}: &l{d} [{', '.join([f'*l{d - 1}'] * width)}]" for d in range(1, depth + 1)]
    return "\n".join([*lines, BOMB_SPOTS[spot].format(d=depth)]) + "\n"


def alias_bombs() -> st.SearchStrategy[str]:
    return st.builds(
        bomb, st.integers(2, 9), st.integers(2, 5), st.integers(0, len(BOMB_SPOTS) - 1)
    )


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 700))  # PyYAML's scanner is quadratic in it
    opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
    if opener == "- ":
        body = "".join("  " * n + "-\n" for n in range(min(depth, 400))) + "  " * depth + "x\n"
    else:
        body = opener * depth + closer * depth
    field = draw(st.sampled_from(["site: ", "components: ", "x: ", ""]))
    return f"components: [{{id: a, name: A}}]\n{field}{body}\n" if field else body


YAMLISH = st.text(
    alphabet=st.sampled_from(list(string.ascii_letters[:6] + ":-[]{},&*!|>'\"#%@ \n\t?"))
)
DOCUMENTS = st.one_of(
    dumped(),
    mutated_texts(),
    st.text(),
    YAMLISH,
    st.binary(),
    st.sampled_from(ALIAS_DOCS),
    alias_bombs(),
    deep_nesting(),
)


# --- what a loading must satisfy --------------------------------------------------------------


def write(folder: Path, doc: str | bytes, name: str = "config.yaml") -> Path:
    path = folder / name
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc, encoding="utf-8", newline="")
    return path


def line_count(doc: str | bytes) -> int:
    text = doc.decode("utf-8", "replace") if isinstance(doc, bytes) else doc
    return len(text.splitlines()) + 1  # YAML's marks may point just past the last line


def texts_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts_in(key)
            yield from texts_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts_in(item)


def check_load(path: Path, doc: str | bytes, env: dict[str, str]) -> Config | ConfigError:
    """Load ``path``: a Config, or a ConfigError whose every problem is located; nothing else."""
    try:
        config = configmod.load(path, env=env)
    except PROBLEM_TYPES as exc:
        err = exc
    else:  # what was accepted can be written out again (pages, posts, the summary)
        for text in texts_in(config.model_dump()):
            text.encode("utf-8")
        return config
    assert err.problems, "a ConfigError without a problem"
    for problem in err.problems:
        shown = str(problem)
        assert problem.file == str(path)
        assert shown.startswith(f"{path}:" if problem.line is None else f"{path}:{problem.line}")
        assert problem.message.strip(), shown
        assert shown.isprintable(), f"one line, no control characters: {shown!r}"
        if problem.line is not None:
            assert 1 <= problem.line <= line_count(doc), shown
    syntax_ok = isinstance(doc, str) and not load_yaml(doc, str(path)).problems
    if syntax_ok:  # a value that was read has a place: every problem names its line
        assert all(p.line is not None for p in err.problems), [str(p) for p in err.problems]
    text = str(err)
    for value in env.values():
        assert value not in text, f"secret value {value!r} leaked into: {text}"
    return err


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-props")


def test_the_base_document_is_valid(folder: Path) -> None:
    """The mutations start from a config that loads, so they probe one mistake at a time."""
    config = configmod.load(write(folder, yaml.safe_dump(BASE, sort_keys=False)), env=ENV)
    assert set(config.channels.names()) == {"console", "mastodon", "x", "webhook", "apprise"}


@props(150)
@given(doc=DOCUMENTS)
@example(doc="defaults: {interval: 99999999999999999999}\ncomponents: [{id: a, name: A}]\n")
@example(doc="defaults: {timeout: 99999999999999d}\ncomponents: [{id: a, name: A}]\n")
@example(doc="site: {timezone: Europe}\ncomponents: [{id: a, name: A}]\n")
@example(doc="site: {title: 2026-13-45}\ncomponents: [{id: a, name: A}]\n")
@example(doc="site: {title: !!int abc}\ncomponents: [{id: a, name: A}]\n")
@example(doc="site: {title: !!timestamp x}\ncomponents: [{id: a, name: A}]\n")
@example(doc="components: [{id: a, name: A}]\nsite: {title: \x1f}\n")
@example(doc='"a\\nb\\e[31m": 1\ncomponents: [{id: a, name: A}]\n')
@example(doc="site: {title: [!!float ]}\ncomponents: [{id: a, name: A}]\n")
@example(doc='site: {title: "\\ud800"}\ncomponents: [{id: a, name: A}]\n')
@example(
    doc="components: [{id: a, name: A, checks: [{type: http, url: 'https://x.example/',"
    " expect: {body_regex: 'a{4294967296}'}}]}]\n"
)
@example(doc="a: &a [*a]\ncomponents: [{id: a, name: A}]\n")
@example(doc=ALIAS_DOCS[2])  # a loop where any value is accepted (expect.json.equals)
@example(doc=bomb(10, 9, 1))  # 10**9 values: refused, not walked
@example(doc="components: [{id: a, name: A}]\nx: " + "[" * 1000 + "]" * 1000 + "\n")
def test_loading_gives_a_config_or_located_problems(folder: Path, doc: str | bytes) -> None:
    check_load(write(folder, doc), doc, ENV)


@st.composite
def secret_values(draw: st.DrawFn) -> str:
    tail = draw(
        st.text(alphabet=string.ascii_letters + string.digits + ":/@._-+=~%?&#", max_size=24)
    )
    return SECRET_MARK + tail + draw(st.sampled_from(["", ":", "://", "/", "@host", " "]))


SECRET_SPOTS = [  # where a secret may be written: (path from the root, how it is written)
    (("components", 0, "checks", 0, "headers", "Authorization"), "Bearer {ref}"),
    (("components", 0, "checks", 0, "headers", "X-Token"), "{ref}"),
    (("components", 3, "checks", 0, "token"), "{ref}"),
    (("components", 4, "checks", 0, "env", "PGPASSWORD"), "{ref}"),
    (("channels", "mastodon", "access_token"), "{ref}"),
    (("channels", "x", "consumer_secret"), "{ref}"),
    (("channels", "webhook", "url"), "{ref}"),
    (("channels", "webhook", "url"), "https://hooks.example/{ref}"),
    (("channels", "webhook", "secret"), "{ref}"),
    (("channels", "webhook", "headers", "Authorization"), "{ref}"),
    (("channels", "apprise", "urls", 0), "{ref}"),
    (("channels", "apprise", "urls", 0), "json://{ref}@localhost/"),
    (("site", "title"), "{ref}"),  # not a secret field: refused, and never resolved
    (("components", 0, "checks", 0, "url"), "https://{ref}/"),
]


@st.composite
def documents_with_a_secret(draw: st.DrawFn) -> tuple[str, str]:
    """(YAML text, planted secret): the secret sits in some field, something else may break."""
    data = draw(structures()) if draw(st.booleans()) else copy.deepcopy(BASE)
    path, shape = draw(st.sampled_from(SECRET_SPOTS))
    try:
        parent = _at(data, path[:-1])
        parent[path[-1]] = shape.format(ref="${env:" + SECRET_NAME + "}")
    except (KeyError, IndexError, TypeError):  # the mutations removed that place
        assume(False)
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        assume(False)
        raise
    return text, draw(secret_values())


@props(80)
@given(case=documents_with_a_secret())
@example(case=(yaml.safe_dump(BASE).replace("${env:APPRISE_URL}", "${env:" + SECRET_NAME + "}"),
               "s3cr3tabc:"))  # fmt: skip
def test_a_secret_never_shows_in_problems(folder: Path, case: tuple[str, str]) -> None:
    text, secret = case
    assume(secret not in text)
    env = {**ENV, SECRET_NAME: secret}
    result = check_load(write(folder, text, "secret.yaml"), text, env)
    if isinstance(result, Config):
        for shown in (repr(result), str(result), result.model_dump_json()):
            assert secret not in shown


# --- the command line -------------------------------------------------------------------------


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """stdout and stderr of an in-process ``main``; the root logger restored after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        root.handlers[:], root.level = handlers, level


@props(40)
@given(doc=DOCUMENTS)
def test_validate_in_process_prints_each_problem_and_exits_2(
    folder: Path, doc: str | bytes
) -> None:
    path = write(folder, doc, "cli.yaml")
    loaded = check_load(path, doc, ENV)
    with mock.patch.dict(os.environ, ENV, clear=True), captured() as (out, err):
        code = main(["validate", "-c", str(path)])
    if isinstance(loaded, ConfigError):
        assert code == 2
        assert err.getvalue() == "".join(f"{p}\n" for p in loaded.problems)
        assert out.getvalue() == ""
    else:
        assert code in (0, 2), err.getvalue()
        assert "Traceback" not in err.getvalue()


BAD_DOCUMENTS = st.one_of(mutated_texts(), st.binary(min_size=1), deep_nesting(), alias_bombs())


@props(1)
@given(docs=st.lists(BAD_DOCUMENTS, min_size=2, max_size=2))
@example(
    docs=[
        "site: {timezone: Etc}\ncomponents: [{id: a, name: A}]\n",
        "a: &a [*a]\ncomponents: [{id: a, name: A}]\n",
        '"a\\nb\\e[31m": 1\ncomponents: [{id: a, name: A}]\n',
        'site: {title: "\\ud800"}\ncomponents: [{id: a, name: A}]\n',
    ]
)
def test_validate_command_exits_nonzero_with_clear_lines(
    folder: Path, docs: list[str | bytes]
) -> None:
    """The real process, a few at a time (each start imports the whole program: ~1.5 s)."""
    runs = []
    for n, doc in enumerate(docs):
        path = write(folder, doc, f"sub-{n}.yaml")
        loaded = check_load(path, doc, ENV)
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **ENV}
        command = [sys.executable, "-m", "statusbot", "validate", "-c", str(path)]
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
        )
        runs.append((path, loaded, process))
    for path, loaded, process in runs:
        out, err = process.communicate(timeout=120)
        assert "Traceback" not in err, err
        if isinstance(loaded, Config):
            assert process.returncode in (0, 2), err
            continue
        assert process.returncode == 2, (process.returncode, err)
        assert out == ""
        lines = err.splitlines()
        assert lines, "no message at all"
        assert lines == [str(p) for p in loaded.problems]
        assert lines[0].startswith(str(path))
