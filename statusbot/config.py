"""The configuration: YAML → a typed, validated ``Config``, or a ``ConfigError`` with every problem.

Each problem names the file, the line and the field:
``config/status.yaml:14 components[2].checks[0].url: not a URL (hint: include https://)``.
Secrets are ``${env:NAME}``, ``${file:PATH}`` or ``${cred:NAME}`` (see ``values.Secret``) and
are accepted only in fields meant for them (tokens, header values, command env).
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from statusbot import maintenance
from statusbot.located import Located, PathKey, Problem, format_path
from statusbot.model import ComponentInfo, State
from statusbot.probes import CheckSpec
from statusbot.probes.base import CheckBase
from statusbot.publishers import (
    AppriseChannel,
    ChannelBase,
    ConsoleChannel,
    MastodonChannel,
    WebhookChannel,
    XChannel,
)
from statusbot.values import SECRET_REF, Duration, Secret

DEFAULT_PATH = Path("/etc/statusbot/config.yaml")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class ConfigError(Exception):
    """Every problem found in a config file (not just the first)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Model(BaseModel):
    # hide_input_in_errors: a str(ValidationError) must never carry a header value or token.
    model_config = ConfigDict(
        extra="forbid", frozen=True, hide_input_in_errors=True, defer_build=True
    )


class Site(Model):
    title: str = Field("Service Status", description="Name of the status page and of the service.")
    url: str | None = Field(
        None, description="Public URL of the status page; incident links are built from it."
    )
    output_dir: Path = Field(
        Path("site"), description="Where the static page is written (relative: to the config file)."
    )
    timezone: str = Field("UTC", description="IANA time zone for times shown to customers.")
    description: str = Field("", description="One sentence for the page's meta description.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not a URL (hint: include https://)")
        return value.rstrip("/") if value else value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _valid_timezone(value)


class Defaults(Model):
    interval: Duration = Field(timedelta(seconds=30), description="How often each check runs.")
    timeout: Duration = Field(timedelta(seconds=10), description="Deadline of one check run.")
    fail_after: int = Field(
        2, ge=1, le=100, description="Consecutive failures that confirm an outage."
    )
    recover_after: int = Field(
        2, ge=1, le=100, description="Consecutive successes that confirm recovery."
    )


class Detection(Model):
    flap_window: Duration = Field(timedelta(minutes=10), description="Window for flap detection.")
    flap_threshold: int = Field(
        4,
        ge=2,
        description="State changes within flap_window that hold a component in its worse state.",
    )
    mass_failure_fraction: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Share of checks failing at once that means our own network is down.",
    )
    mass_failure_min_checks: int = Field(
        4, ge=2, description="Mass-failure guard needs this many checks."
    )


class Incidents(Model):
    open_on: Literal["down", "degraded"] = Field(
        "down", description="Open an incident when a component is down, or already when degraded."
    )
    storm_window: Duration = Field(
        timedelta(seconds=60),
        description="Components failing within this window share one incident.",
    )
    resolve_after: Duration = Field(
        timedelta(minutes=5),
        description="After recovery an incident stays in phase monitoring this long before it "
        "resolves; a relapse meanwhile continues it. 0s resolves at once.",
    )
    remind_after: Duration = Field(
        timedelta(minutes=30),
        description="While an incident is open and nothing was posted for this long, post a "
        "reminder update. 0s: never.",
    )


class Component(Model):
    id: str = Field(pattern=ID_PATTERN, description="Stable id: lower case, digits, - and _.")
    name: str = Field(min_length=1, description="Name customers see.")
    group: str | None = Field(None, description="Group heading on the page.")
    description: str | None = Field(None, description="One line shown on the page.")
    combine: Literal["worst", "best"] = Field(
        "worst", description="worst: any failing check counts; best: only when all checks fail."
    )
    fail_after: int | None = Field(None, ge=1, le=100, description="Overrides defaults.fail_after.")
    recover_after: int | None = Field(
        None, ge=1, le=100, description="Overrides defaults.recover_after."
    )
    checks: list[CheckSpec] = Field(
        default_factory=list, description="Health checks; none means manual incidents only."
    )


class MaintenanceWindow(Model):
    id: str = Field(pattern=ID_PATTERN, description="Stable id of the window.")
    title: str = Field(min_length=1, description="Headline customers see.")
    message: str = Field("", description="What is done and what customers may notice.")
    components: list[str] = Field(min_length=1, description="Component ids affected.")
    start: datetime | None = Field(None, description="One-off: start, ISO 8601 with offset.")
    end: datetime | None = Field(None, description="One-off: end, ISO 8601 with offset.")
    cron: str | None = Field(None, description='Recurring: crontab "m h dom mon dow", in timezone.')
    duration: Duration | None = Field(
        None, description="Recurring: how long each occurrence lasts."
    )
    timezone: str = Field("UTC", description="Time zone of cron.")
    notice: Duration = Field(
        timedelta(hours=24), description="Announce this long before the start."
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _valid_timezone(value)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-12-01T02:00:00+00:00")
        return value

    def spec(self) -> maintenance.WindowSpec:
        return maintenance.WindowSpec(
            id=self.id,
            title=self.title,
            message=self.message,
            components=tuple(self.components),
            start=self.start,
            end=self.end,
            cron=self.cron,
            duration=self.duration,
            timezone=self.timezone,
            notice=self.notice,
        )


class Channels(Model):
    console: ConsoleChannel | None = Field(
        None, description="Standard output; the default when no channel is configured."
    )
    mastodon: MastodonChannel | None = Field(None, description="A Mastodon account.")
    x: XChannel | None = Field(
        None,
        validation_alias=AliasChoices("x", "twitter"),
        description="An X (Twitter) account; `twitter:` is accepted too.",
    )
    webhook: WebhookChannel | None = Field(None, description="JSON POST, signed with HMAC.")
    apprise: AppriseChannel | None = Field(
        None, description="Any Apprise URL: Slack, Discord, Matrix, Telegram, e-mail, …"
    )

    def configured(self) -> dict[str, ChannelBase]:
        """Enabled channels by name; the console when nothing else is configured."""
        found = {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), ChannelBase) and value.enabled
        }
        return found or {"console": ConsoleChannel()}

    def names(self) -> list[str]:
        return list(self.configured())

    def route(self, payload: Mapping[str, object]) -> list[str]:
        """The channels that announce an event (by its kind and its components)."""
        kind = str(payload.get("kind"))
        raw = payload.get("components")
        items = raw if isinstance(raw, list) else []
        ids = [str(c.get("id")) for c in items if isinstance(c, dict)]
        return [name for name, ch in self.configured().items() if ch.wants(kind, ids)]


class Retention(Model):
    raw: Duration = Field(timedelta(days=7), description="Keep every check result this long.")
    hourly: Duration = Field(timedelta(days=90), description="Keep hourly rollups this long.")
    daily: Duration = Field(timedelta(days=730), description="Keep daily rollups this long.")

    @field_validator("raw", "hourly", "daily")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1) or value % timedelta(days=1):
            raise ValueError("retention is counted in whole days, at least 1d (e.g. 7d)")
        return value


class Storage(Model):
    url: str = Field(
        "sqlite:///statusbot.db",
        description="SQLAlchemy URL; a relative SQLite path is relative to the config file.",
    )
    retention: Retention = Field(default_factory=Retention)

    @field_validator("url")
    @classmethod
    def _sqlite(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError("only sqlite:///PATH is supported for now")
        return value


class Http(Model):
    listen: str | None = Field(
        None, description='"HOST:PORT" for the heartbeat /ping/<token> endpoint (and the page).'
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError('expected "HOST:PORT", e.g. 127.0.0.1:8080')
        return value


class Config(Model):
    site: Site = Field(default_factory=Site)
    defaults: Defaults = Field(default_factory=Defaults)
    detection: Detection = Field(default_factory=Detection)
    incidents: Incidents = Field(default_factory=Incidents)
    canary: CheckSpec | None = Field(
        None, description="A check of the probe's own network; when it fails, nothing is announced."
    )
    components: list[Component] = Field(min_length=1, description="What is watched and shown.")
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    channels: Channels = Field(default_factory=Channels)
    storage: Storage = Field(default_factory=Storage)
    http: Http = Field(default_factory=Http)
    templates_dir: Path | None = Field(
        None, description="Overrides for message and page templates."
    )

    # Set by load(): where the file was, so relative paths resolve against it.
    source: Path | None = Field(None, exclude=True, json_schema_extra={"readOnly": True})

    def resolve(self, path: Path) -> Path:
        """A path from this config, made absolute against the config file's directory."""
        if path.is_absolute() or self.source is None:
            return path
        return self.source.parent / path

    def store_url(self) -> str:
        raw = self.storage.url.removeprefix("sqlite:///")
        if raw.startswith("/") or raw == ":memory:":
            return self.storage.url
        return "sqlite:///" + str(self.resolve(Path(raw)).absolute())

    def checks(self) -> list[ResolvedCheck]:
        """Every component check with its id and effective interval and timeout."""
        out = []
        for component in self.components:
            for check_id, spec in zip(_check_ids(component), component.checks, strict=True):
                out.append(self._resolved(check_id, component.id, spec))
        return out

    def check_count(self) -> int:
        """``len(self.checks())`` without building them (the status line asks every tick)."""
        return sum(len(component.checks) for component in self.components)

    def canary_check(self) -> ResolvedCheck | None:
        return self._resolved("canary", "canary", self.canary) if self.canary else None

    def _resolved(self, check_id: str, component_id: str, spec: CheckBase) -> ResolvedCheck:
        interval = spec.interval or self.defaults.interval
        timeout = spec.timeout or self.defaults.timeout
        return ResolvedCheck(
            check_id, component_id, spec, interval.total_seconds(), timeout.total_seconds()
        )

    def component_infos(self) -> list[ComponentInfo]:
        return [
            ComponentInfo(c.id, c.name, c.group, c.description, position)
            for position, c in enumerate(self.components)
        ]

    def open_on(self) -> State:
        return State(self.incidents.open_on)


@dataclass(frozen=True)
class ResolvedCheck:
    """A check ready to schedule: its stable id, owner and effective timing (seconds)."""

    id: str
    component_id: str
    spec: CheckBase
    interval: float
    timeout: float


def _check_ids(component: Component) -> list[str]:
    ids: list[str] = []
    for spec in component.checks:
        if spec.id:
            ids.append(spec.id)
            continue
        base = f"{component.id}.{spec.type}"
        candidate, n = base, 1
        while candidate in ids:
            n += 1
            candidate = f"{base}-{n}"
        ids.append(candidate)
    return ids


def _valid_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe", "Etc"
        raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Europe/Berlin)") from None
    return value


# --- loading -------------------------------------------------------------------------------


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """``$STATUSBOT_CONFIG``, else /etc/statusbot/config.yaml."""
    env = os.environ if env is None else env
    return Path(env.get("STATUSBOT_CONFIG") or DEFAULT_PATH)


def load(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, parse and validate ``path``. Raises ConfigError with every problem found."""
    from statusbot.yamlsource import read_located  # noqa: PLC0415 - PyYAML only when reading

    return _checked(read_located(path), str(path), env, source=path)


def from_text(text: str, file: str, env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate YAML ``text`` as if read from ``file`` (benches, tests, tools)."""
    from statusbot.yamlsource import load_yaml  # noqa: PLC0415 - PyYAML only when reading

    return _checked(load_yaml(text, file), file, env)


def _checked(
    located: Located, file: str, env: Mapping[str, str] | None, source: Path | None = None
) -> Config:
    if located.problems:
        raise ConfigError(located.problems)
    return parse(located, file, env, source=source)


def parse(
    located: Located, file: str, env: Mapping[str, str] | None = None, source: Path | None = None
) -> Config:
    """Validate parsed YAML; ``env`` replaces os.environ for secrets (tests)."""
    if not isinstance(located.data, dict):
        raise ConfigError([Problem(file, 1, "", "expected a mapping of settings at the top level")])
    context = {"env": os.environ if env is None else env}
    try:
        config = Config.model_validate({**located.data, "source": source}, context=context)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, located, file)) from None
    problems = [
        Problem(file, located.line_of(path), format_path(path), message)
        for path, message in _cross_checks(config)
    ]
    if problems:
        raise ConfigError(problems)
    return config


def _problems(exc: ValidationError, located: Located, file: str) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _data_path(err["loc"], located.data)
        out.append(Problem(file, located.line_of(path), format_path(path), _message(err, path)))
    return sorted(out, key=lambda p: (p.line or 0, p.path))


def _data_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Follow pydantic's ``loc`` through the data, dropping union tags and validator names."""
    path: list[str | int] = []
    node = data
    for n, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
        elif isinstance(node, dict) and n == len(loc) - 1 and isinstance(part, str):
            path.append(part)  # a missing required key: name it, point at its parent's line
            break
        else:
            continue  # a union tag ("http") or validator name, not in the data
        path.append(part)
    return tuple(path)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _message(err: Mapping[str, Any], path: PathKey) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        if key in _ALL_FIELDS:  # a real setting, in the wrong section
            return f"unknown key {key!r} (not a setting of this section)"
        import difflib  # noqa: PLC0415 - only for a typo

        close = difflib.get_close_matches(key, _ALL_FIELDS, n=1)
        return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "required"
    if kind == "union_tag_invalid":
        tags = ", ".join(err.get("ctx", {}).get("expected_tags", "").replace("'", "").split(", "))
        return f"unknown check type (one of: {tags})"
    if kind == "union_tag_not_found":
        return "a check needs a type (http, tcp, dns, tls, heartbeat, command)"
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _model_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield name
        for sub in _models_in(info.annotation):
            yield from _model_fields(sub, seen)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models_in(arg)
    for meta in getattr(annotation, "__metadata__", ()) or ():
        yield from _models_in(meta)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _models_in(origin)


_ALL_FIELDS = sorted(set(_model_fields(Config, set())))


# --- checks across fields ------------------------------------------------------------------


def _cross_checks(config: Config) -> Iterator[tuple[PathKey, str]]:
    known: dict[str, PathKey] = {}
    for i, component in enumerate(config.components):
        here: PathKey = ("components", i, "id")
        if component.id in known:
            yield (
                here,
                f"duplicate component id {component.id!r} "
                f"(also at {format_path(known[component.id])})",
            )
        known[component.id] = here
    seen_checks: dict[str, PathKey] = {}
    for i, component in enumerate(config.components):
        for j, (check_id, spec) in enumerate(
            zip(_check_ids(component), component.checks, strict=True)
        ):
            here = ("components", i, "checks", j)
            if check_id in seen_checks:
                yield here, f"duplicate check id {check_id!r}"
            seen_checks[check_id] = here
            yield from _timing(config, spec, here)
    if config.canary is not None:
        yield from _timing(config, config.canary, ("canary",))
    windows: dict[str, int] = {}
    for i, window in enumerate(config.maintenance):
        first = windows.setdefault(window.id, i)
        if first != i:
            message = f"duplicate maintenance id {window.id!r} (also at maintenance[{first}])"
            yield ("maintenance", i, "id"), message
        yield from _window_problems(window, ("maintenance", i), set(known))
    yield from _secret_refs(config, ())


def _timing(config: Config, spec: CheckBase, here: PathKey) -> Iterator[tuple[PathKey, str]]:
    interval = spec.interval or config.defaults.interval
    timeout = spec.timeout or config.defaults.timeout
    if timeout >= interval:
        yield (
            here,
            (
                f"timeout ({timeout.total_seconds():g}s) must be shorter than the interval "
                f"({interval.total_seconds():g}s), or runs would pile up"
            ),
        )


def _window_problems(
    window: MaintenanceWindow, here: PathKey, components: set[str]
) -> Iterator[tuple[PathKey, str]]:
    for k, component in enumerate(window.components):
        if component not in components:
            yield (*here, "components", k), f"no component with id {component!r}"
    one_off = window.start is not None or window.end is not None
    recurring = window.cron is not None or window.duration is not None
    if one_off and recurring:
        yield here, "either start/end (one-off) or cron/duration (recurring), not both"
    elif one_off:
        if window.start is None or window.end is None:
            yield here, "a one-off window needs both start and end"
        elif window.end <= window.start:
            yield (*here, "end"), "must be after start"
    elif recurring:
        if window.cron is None or window.duration is None:
            yield here, "a recurring window needs both cron and duration"
        else:
            error = maintenance.validate_cron(window.cron, window.timezone)
            if error:
                yield (*here, "cron"), error
    else:
        yield here, "needs start and end, or cron and duration"


def _secret_refs(value: Any, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """``${env:…}`` outside a secret field would put a secret where logs and pages show it."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_refs(getattr(value, name), (*path, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _secret_refs(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_refs(item, (*path, str(key)))
    elif isinstance(value, str) and SECRET_REF.search(value):
        yield (
            path,
            "secret references (${env:…}) are only allowed in secret fields "
            "such as tokens and header values",
        )
    elif isinstance(value, Secret | Path):
        return
