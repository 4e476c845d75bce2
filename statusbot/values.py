"""Config value types shared by every config model: durations and secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
DURATION_PATTERN = r"^\d+(\.\d+)?(ms|s|m|h|d)$"


def parse_duration(value: object) -> object:
    """ "30s", "5m", "1500ms", "2h", "7d" or a number of seconds → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise PydanticCustomError("duration", "not a duration (use e.g. 30s, 5m, 1500ms)")
    if isinstance(value, int | float) and value < 0:  # strings cannot say it: no sign allowed
        raise PydanticCustomError(
            "duration", "a duration cannot be negative: {value}", {"value": repr(value)}
        )
    try:
        if isinstance(value, int | float):
            return timedelta(seconds=value)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match:
                return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    except (OverflowError, ValueError):  # 1e400, 99999999999999d, .nan: not a timedelta
        pass
    raise PydanticCustomError(
        "duration", "not a duration: {value} (use e.g. 30s, 5m, 1500ms)", {"value": repr(value)}
    )


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: 30s, 5m, 1500ms."""
    ms = round(value.total_seconds() * 1000)
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s", "1500ms"]}),
]

_REF = re.compile(r"\$\{(env|file|cred):([^}]+)\}")
SECRET_REF = re.compile(r"\$\{(env|file|cred):[^}]*\}")


class Secret:
    """A string that never shows itself: repr and str are redacted, ``reveal()`` gives it.

    In config a secret is written ``${env:NAME}``, ``${file:/path}`` (first line of the file),
    ``${cred:NAME}`` (``$CREDENTIALS_DIRECTORY/NAME``, systemd ``LoadCredential=``) or literally.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        return self._value

    @property
    def source(self) -> str:
        """Where it came from ("env:NAME", "file:/p", "cred:NAME", "literal"): not secret."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret({self._source}, '********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            _validate_secret,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda _s: "********"),
            json_schema_input_schema=core_schema.str_schema(),
        )


def resolve_secret(text: str, context: Mapping[str, Any] | None = None) -> Secret:
    """Resolve ``${kind:name}`` references (or take a literal) into a Secret.

    References may sit inside a longer value (``"Bearer ${env:API_TOKEN}"``). ``context`` may
    carry ``env`` (a mapping, default ``os.environ``); the credentials directory is
    ``env["CREDENTIALS_DIRECTORY"]``. Errors never contain a secret's value.
    """
    env: Mapping[str, str] = (context or {}).get("env") or os.environ
    sources: list[str] = []

    def one(match: re.Match[str]) -> str:
        kind, name = match[1], match[2].strip()
        sources.append(f"{kind}:{name}")
        return _lookup(kind, name, env)

    value = _REF.sub(one, text)
    return Secret(value, ",".join(sources) or "literal")


def _lookup(kind: str, name: str, env: Mapping[str, str]) -> str:
    if kind == "env":
        if name not in env:
            raise PydanticCustomError(
                "secret", "environment variable {name} is not set", {"name": name}
            )
        return env[name]
    if kind == "cred":
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise PydanticCustomError(
                "secret", "credential {name}: CREDENTIALS_DIRECTORY is not set", {"name": name}
            )
        return _first_line(Path(directory) / name, f"credential {name}")
    return _first_line(Path(name), f"secret file {name}")


def _first_line(path: Path, what: str) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PydanticCustomError(
            "secret",
            "{what} cannot be read: {why}",
            {"what": what, "why": exc.strerror or str(exc)},
        ) from None
    if not lines or not lines[0].strip():
        raise PydanticCustomError("secret", "{what} is empty", {"what": what})
    return lines[0].strip()


def _validate_secret(value: object, info: core_schema.ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("secret", "expected a string or ${env:NAME}")
    return resolve_secret(value, info.context)
