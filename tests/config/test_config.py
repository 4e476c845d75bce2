"""Config loading: a corpus of bad files with their exact messages, and the good examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statusbot import config as configmod
from statusbot.cli import main
from statusbot.config import ConfigError
from statusbot.demo import write_config
from statusbot.values import Secret

BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
EXAMPLES = Path(__file__).parents[2] / "statusbot" / "data" / "config"
ENV = {"API_HEALTH_TOKEN": "t0ps3cret-api", "EXPORT_HEARTBEAT_TOKEN": "hb-0123456789abcdef"}


def expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    return first.removeprefix("# error: ").replace("{file}", str(path))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_names_file_line_and_field(path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        configmod.load(path, env={})
    assert str(err.value.problems[0]) == expected_error(path)


@pytest.mark.parametrize("path", BAD[:3], ids=[p.stem for p in BAD[:3]])
def test_validate_command_prints_problem_and_exits_2(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == expected_error(path)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "defaults: {interval: soon}\n"
        "components:\n"
        "  - {id: api, name: API, checks: [{type: tcp, host: h, port: 0}]}\n"
        "  - {id: db, nam: DB}\n"
    )
    with pytest.raises(ConfigError) as err:
        configmod.load(path, env={})
    lines = [str(p) for p in err.value.problems]
    assert len(lines) == 4, lines
    assert any(":1 defaults.interval:" in line for line in lines)
    assert any(":3 components[0].checks[0].port:" in line for line in lines)
    assert any(
        ":4 components[1].nam: unknown key 'nam' (did you mean 'name'?)" in line for line in lines
    )
    assert any(":4 components[1].name: required" in line for line in lines)


def test_example_config_is_valid_and_covers_every_check_type() -> None:
    config = configmod.load(EXAMPLES / "example.yaml", env=ENV)
    kinds = {c.spec.type for c in config.checks()}  # type: ignore[attr-defined]
    assert kinds == {"http", "tcp", "dns", "tls", "heartbeat", "command"}
    assert [c.id for c in config.checks()][:2] == ["api.health", "api.tls"]
    assert config.channels.names() == ["console"]
    assert config.check_count() == len(config.checks()) == 6


def test_demo_config_is_valid(tmp_path: Path) -> None:
    config = configmod.load(write_config(tmp_path, 8123, 8124), env={})
    assert config.http.listen == "127.0.0.1:8124"
    assert config.store_url() == f"sqlite:///{tmp_path}/statusbot.db"
    assert [c.id for c in config.checks()] == ["api.http", "port.tcp"]


def test_secrets_resolve_but_never_show(tmp_path: Path) -> None:
    config = configmod.load(EXAMPLES / "example.yaml", env=ENV)
    header = config.components[0].checks[0].headers["Authorization"]  # type: ignore[union-attr]
    assert isinstance(header, Secret)
    assert header.reveal() == "Bearer t0ps3cret-api" or header.reveal() == "t0ps3cret-api"
    for text in (repr(config), str(config), config.model_dump_json()):
        assert "t0ps3cret-api" not in text
        assert "hb-0123456789abcdef" not in text


def test_secret_from_file_and_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file-secret\nsecond line ignored\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "hb").write_text("from-credential-0001\n")
    path = tmp_path / "c.yaml"
    path.write_text(
        "components:\n"
        "  - id: api\n    name: API\n    checks:\n"
        "      - type: http\n"
        "        url: https://x.example/\n"
        f"        headers: {{X-Token: '${{file:{tmp_path}/tok}}'}}\n"
        "      - {type: heartbeat, token: '${cred:hb}', period: 5m}\n"
    )
    config = configmod.load(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    specs = config.components[0].checks
    assert specs[0].headers["X-Token"].reveal() == "from-file-secret"  # type: ignore[union-attr]
    assert specs[1].token.reveal() == "from-credential-0001"  # type: ignore[union-attr]


def test_missing_secret_file_error_does_not_leak_other_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "components:\n  - id: api\n    name: API\n    checks:\n"
        "      - type: http\n"
        "        url: https://x.example/\n"
        "        headers: {A: '${file:/nonexistent/tok}', B: literal-s3cret}\n"
        "      - {type: tcp, host: h, port: 99999}\n"
    )
    with pytest.raises(ConfigError) as err:
        configmod.load(path, env={})
    text = str(err.value)
    assert "secret file /nonexistent/tok cannot be read: No such file or directory" in text
    assert "literal-s3cret" not in text


def test_schema_is_json_schema_with_every_check_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert "source" not in schema["properties"]
    text = json.dumps(schema)
    for kind in ("http", "tcp", "dns", "tls", "heartbeat", "command"):
        assert f'"const": "{kind}"' in text or f'"enum": ["{kind}"]' in text


def test_default_path_prefers_environment() -> None:
    assert configmod.default_path({"STATUSBOT_CONFIG": "/x/y.yaml"}) == Path("/x/y.yaml")
    assert configmod.default_path({}) == Path("/etc/statusbot/config.yaml")


def test_unreadable_config_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["validate", "-c", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"{missing}: cannot read: No such file or directory"


@pytest.mark.parametrize("section", ["reference", "templates"])
def test_readme_generated_sections_are_current(section: str) -> None:
    from statusbot.reference import sections

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    embedded = readme.split(f"<!-- {section}:start -->\n")[1].split(f"<!-- {section}:end -->")[0]
    assert embedded == sections()[section], "run: make docs"


def test_schema_example_prints_the_packaged_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--example"]) == 0
    assert capsys.readouterr().out == (EXAMPLES / "example.yaml").read_text()


def test_channels_route_events_by_kind_and_component_and_accept_twitter(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "components: [{id: api, name: API}, {id: db, name: DB}]\n"
        "channels:\n"
        "  console: {}\n"
        "  twitter: {consumer_key: ck-s3cret, consumer_secret: cs-s3cret,\n"
        "            access_token: at-s3cret, access_token_secret: as-s3cret,\n"
        "            events: [incident.opened, incident.resolved],\n"
        "            components: [api]}\n"
    )
    config = configmod.load(path, env={})
    assert config.channels.names() == ["console", "x"]
    opened = {"kind": "incident.opened", "components": [{"id": "api", "name": "API"}]}
    updated = {"kind": "incident.updated", "components": [{"id": "api", "name": "API"}]}
    db_only = {"kind": "incident.opened", "components": [{"id": "db", "name": "DB"}]}
    assert config.channels.route(opened) == ["console", "x"]
    assert config.channels.route(updated) == ["console"]
    assert config.channels.route(db_only) == ["console"]
    assert "s3cret" not in repr(config.channels) + str(config.channels.model_dump())


def test_a_real_setting_in_the_wrong_section_is_not_suggested_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("components: [{id: a, name: A}]\nchannels:\n  console: {type: console}\n")
    with pytest.raises(ConfigError) as caught:
        configmod.load(path)
    (problem,) = caught.value.problems
    assert str(problem) == (
        f"{path}:3 channels.console.type: unknown key 'type' (not a setting of this section)"
    )
