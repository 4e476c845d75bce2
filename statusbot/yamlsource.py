"""YAML that remembers where things are: data plus a map from each value's path to its line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass
class Located:
    """Parsed YAML data and the 1-based line of every mapping key and sequence item."""

    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: PathKey) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return line
        return None


def format_path(path: PathKey) -> str:
    """``("components", 2, "checks", 0, "url")`` → ``components[2].checks[0].url``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_yaml(text: str, file: str) -> Located:
    """Parse one YAML document. Syntax errors and duplicate keys become Problems, not raises."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located({}, {(): 1})
        located = Located(None, {(): node.start_mark.line + 1})
        _walk(node, (), located, file)
        located.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = f"YAML syntax: {exc.problem or exc.context}"
        return Located(None, {}, [Problem(file, line, "", message)])
    except yaml.YAMLError as exc:
        return Located(None, {}, [Problem(file, None, "", f"YAML: {exc}")])
    finally:
        loader.dispose()
    return located


def _walk(node: yaml.Node, path: PathKey, located: Located, file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                located.problems.append(
                    Problem(file, key_node.start_mark.line + 1, format_path(child), "duplicate key")
                )
            seen.add(key)
            located.lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, located, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            located.lines[child] = item.start_mark.line + 1
            _walk(item, child, located, file)


def read_located(path: Path) -> Located:
    """Read and parse ``path``; an unreadable file is a Problem too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Located(None, {}, [Problem(str(path), None, "", f"cannot read: {reason}")])
    return load_yaml(text, str(path))
