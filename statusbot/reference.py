"""The configuration reference as Markdown, generated from the models' own descriptions.

README.md embeds this output; a test fails when the two drift apart.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from statusbot.config import Config
from statusbot.probes import AnyCheck
from statusbot.values import Secret, format_duration

CHECKS = "components[].checks[]"


def markdown() -> str:
    """One table for the config file, one per check type."""
    out = ["| option | type | default | meaning |", "|---|---|---|---|"]
    out += [_row(path, info) for path, info in _fields(Config, "") if path != "source"]
    for check in typing.get_args(AnyCheck):
        kind = typing.get_args(check.model_fields["type"].annotation)[0]
        out += ["", f"**`type: {kind}`** — {_first_line(check.__doc__)}", ""]
        out += ["| option | type | default | meaning |", "|---|---|---|---|"]
        out += [_row(p, i) for p, i in _fields(check, "") if p != "type"]
    return "\n".join(out) + "\n"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def _fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, FieldInfo]]:
    for field_name, info in model.model_fields.items():
        name = info.alias or field_name
        path = f"{prefix}{name}"
        nested = _nested_model(info.annotation)
        if nested is not None:
            yield from _fields(nested, f"{path}[]." if _is_list(info.annotation) else f"{path}.")
        else:
            yield path, info


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The one model a field holds (directly, optionally or as a list); None for leaves.

    A union of several models (the check types) is a leaf here: each gets its own table.
    """
    candidates = [annotation, *typing.get_args(annotation)]
    candidates += [typing.get_args(a)[0] for a in candidates if typing.get_origin(a) is list]
    models = {a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)}
    return models.pop() if len(models) == 1 else None


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(
        typing.get_origin(a) is list for a in typing.get_args(annotation)
    )


def _row(path: str, info: FieldInfo) -> str:
    meaning = (info.description or "").replace("|", "\\|")
    return f"| `{path}` | {_type(info.annotation)} | {_default(info)} | {meaning} |"


def _type(annotation: Any) -> str:  # noqa: PLR0911 - one line per kind of annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is timedelta or (origin is typing.Annotated and args[0] is timedelta):
        return "duration"
    if origin is typing.Annotated:
        return "check" if "Check" in repr(annotation) else _type(args[0])
    if origin in (UnionType, typing.Union):
        kept = [a for a in args if a is not NoneType]
        return " or ".join(dict.fromkeys(_type(a) for a in kept))
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[1])}"
    if annotation is Secret:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    return getattr(annotation, "__name__", str(annotation)).replace("Pattern", "regex")


def _default(info: FieldInfo) -> str:  # noqa: PLR0911 - one line per kind of value
    if info.is_required():
        return "required"
    value = info.default if info.default_factory is None else info.default_factory()  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, list | dict) and not value:
        return "none"
    if value == "":
        return '`""`'
    return f"`{value}`"


TEMPLATES_DOC = "data/templates/README.md"


def templates_markdown() -> str:
    """The template documentation shipped beside the templates (embedded in README)."""
    from importlib import resources  # noqa: PLC0415 - only for docs

    return resources.files("statusbot").joinpath(TEMPLATES_DOC).read_text("utf-8")


def splice(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    return text.split(start, maxsplit=1)[0] + start + body + end + text.split(end)[1]


def sections() -> dict[str, str]:
    return {"reference": markdown(), "templates": templates_markdown()}


if __name__ == "__main__":
    import sys
    from pathlib import Path

    path = Path(sys.argv[1])
    text = path.read_text("utf-8")
    for name, body in sections().items():
        text = splice(text, name, body)
    path.write_text(text, "utf-8")
