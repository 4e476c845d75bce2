"""YAML that remembers where things are: data plus a map from each value's path to its line."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from statusbot.located import Located, PathKey, Problem, format_path

MAX_VALUES = 100_000
"""Values a document may stand for once its aliases are expanded (a "billion laughs" stops)."""

_SURROGATE = re.compile("[\ud800-\udfff]")  # "\\ud800" in YAML: not encodable as UTF-8
_NO_CHARACTER = "a lone surrogate (\\ud800-\\udfff) is not a character"
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # as YAML counts lines
# What PyYAML's constructors raise on a bad scalar (``!!int x``, month 13, ``!!float ""``).
_UNREADABLE = (ValueError, TypeError, AttributeError, ArithmeticError, LookupError)


def load_yaml(text: str, file: str) -> Located:
    """Parse one YAML document. Syntax errors and duplicate keys become Problems, not raises."""
    try:
        loader = yaml.SafeLoader(text)  # refuses control characters at once
    except yaml.reader.ReaderError as exc:
        line = len(_LINE_BREAK.findall(text, 0, exc.position)) + 1
        return _failed(
            file, line, f"YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
        )
    try:
        return _compose(loader, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"YAML syntax: {exc.problem or exc.context}"
        return _failed(file, mark.line + 1 if mark else None, message)
    except yaml.YAMLError as exc:
        return _failed(file, None, f"YAML: {exc}")
    except RecursionError:
        return _failed(file, loader.line + 1, "YAML: nested too deeply")
    finally:
        loader.dispose()


def _compose(loader: yaml.SafeLoader, file: str) -> Located:
    """The document: its lines, the problems found on the way, then its data."""
    node = loader.get_single_node()
    if node is None:
        return Located({}, {(): 1})
    located = Located(None, {(): node.start_mark.line + 1})
    if _walk(node, (), located, file, sizes={}, active=set()) > MAX_VALUES:
        message = f"aliases expand to more than {MAX_VALUES} values"
        located.problems.append(Problem(file, node.start_mark.line + 1, "", message))
    try:
        located.data = loader.construct_document(node)
    except _UNREADABLE as exc:
        line = _unreadable(node).start_mark.line + 1
        return _failed(file, line, f"YAML: cannot read a value: {exc}")
    return located


def _failed(file: str, line: int | None, message: str) -> Located:
    return Located(None, {}, [Problem(file, line, "", message)])


def _walk(
    node: yaml.Node,
    path: PathKey,
    located: Located,
    file: str,
    *,
    sizes: dict[int, int],
    active: set[int],
) -> int:
    """Record lines under ``node``; return how many values it stands for, aliases expanded.

    A node used again through an alias is walked once (its size is remembered); one used
    inside itself (``&a [*a]``) is a problem, not an endless recursion.
    """
    if id(node) in active:
        where = format_path(path)
        located.problems.append(
            Problem(file, node.start_mark.line + 1, where, "an alias used inside its own anchor")
        )
        return 1
    if id(node) in sizes:
        return sizes[id(node)]
    active.add(id(node))
    size = 1
    if isinstance(node, yaml.ScalarNode) and _SURROGATE.search(node.value):
        where = format_path(path)
        located.problems.append(Problem(file, node.start_mark.line + 1, where, _NO_CHARACTER))
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*path, key)
            if _SURROGATE.search(key):
                located.problems.append(
                    Problem(file, key_node.start_mark.line + 1, "", _NO_CHARACTER)
                )
            if key in seen:
                located.problems.append(
                    Problem(file, key_node.start_mark.line + 1, format_path(child), "duplicate key")
                )
            seen.add(key)
            located.lines[child] = key_node.start_mark.line + 1
            size += _walk(value_node, child, located, file, sizes=sizes, active=active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            located.lines[child] = item.start_mark.line + 1
            size += _walk(item, child, located, file, sizes=sizes, active=active)
    active.discard(id(node))
    sizes[id(node)] = size
    return size


def _unreadable(node: yaml.Node) -> yaml.Node:
    """The first scalar under ``node`` that the safe loader cannot construct (else ``node``)."""
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            try:
                yaml.constructor.SafeConstructor().construct_object(current)
            except _UNREADABLE:
                return current
        elif isinstance(current, yaml.MappingNode):
            stack.extend(reversed([n for pair in current.value for n in pair]))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
    return node


def read_located(path: Path) -> Located:
    """Read and parse ``path``; an unreadable file is a Problem too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Located(None, {}, [Problem(str(path), None, "", f"cannot read: {reason}")])
    return load_yaml(text, str(path))
