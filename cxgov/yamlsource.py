"""YAML source files that remember where every key came from, so errors name file, line and key."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

from cxgov.errors import SourceError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

MAX_SOURCE_BYTES = 5_000_000
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in a source file. The parser and the checks recurse once per level, and
a file nested a hundred thousand deep would crash the process; real files nest a handful of levels."""
MAX_ALIAS_NODES = 100_000
"""Most values that aliases (`*name`) may stand for in one file, counted as expanded. An alias repeats its anchor's
whole value, so a few lines of nested aliases ("billion laughs") would otherwise expand to billions of values."""
MAX_NUMBER_BITS = 256
MAX_NUMBER_DIGITS = 77
"""A whole number in a source file has at most this many bits (77 decimal digits): larger ones cannot even be
printed in an error (Python refuses to turn ints of over 4300 digits into text) and mean nothing in a config."""
MAX_SHOWN_KEY = 60
"""Characters of one key shown in an error; a longer (made-up) key is cut, so that the message stays one line."""

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
"""`${NAME}` or `${NAME:-default}`: a value taken from the environment when a file loads."""


class YamlSource:
    """A parsed YAML document as plain Python data, and the line of every key and list item.

    The data comes from the fast (C) safe loader; the lines from ruamel's round-trip parser, which is about a
    hundred times slower, so they are worked out only when an error needs one.
    """

    def __init__(self, *, path: str, data: Any, text: str) -> None:
        self.path = path
        self.data = data
        self._text = text
        self._lines: dict[Loc, int] | None = None

    @property
    def text(self) -> str:
        """The document's text exactly as read."""
        return self._text

    @property
    def lines(self) -> dict[Loc, int]:
        """(key, index, ...) -> 1-based line, for every key and list item of the document."""
        if self._lines is None:
            lines: dict[Loc, int] = {}
            # Should the round-trip parser read a value differently, the error is told without its line.
            with contextlib.suppress(YAMLError, ValueError, KeyError, TypeError, OverflowError, _Unreadable):
                _plain(YAML(typ="rt").load(self._text), (), lines)
            self._lines = lines
        return self._lines

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest known key on `loc` (1-based), or None."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def error(self, error_type: type[SourceError], loc: Loc, problem: str) -> SourceError:
        """Build an error that names this file, the line of `loc`, and `loc` as a dotted key."""
        return error_type(problem, path=self.path, line=self.line_of(loc), key=dotted(_shown_loc(loc)) or None)

    def validate(self, model: type[M], error_type: type[SourceError], context: dict[str, Any] | None = None) -> M:
        """Validate the whole document into `model`; the first problem becomes one located error."""
        try:
            return model.model_validate(self.data, context=context)
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            loc = tuple(part for part in first["loc"] if not _is_internal(part))
            message = first["msg"].removeprefix("Value error, ")
            raise self.error(error_type, loc, message) from None


def _is_internal(part: str | int) -> bool:
    # pydantic inserts union/validator tags like "function-after[...]" into locations.
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _shown_loc(loc: Loc) -> Loc:
    return tuple(
        f"{part[:MAX_SHOWN_KEY]}..." if isinstance(part, str) and len(part) > MAX_SHOWN_KEY else part for part in loc
    )


def dotted(loc: Loc) -> str:
    """('actions', 'refund', 'params', 0) -> 'actions.refund.params[0]'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def expand_env(
    source: YamlSource,
    node: Any,
    loc: Loc,
    error_type: type[SourceError],
    *,
    env: Mapping[str, str] | None = None,
    used: list[str] | None = None,
) -> Any:
    """`${NAME}` in every string of `node`, from the environment, so that secrets stay out of the file.

    `${NAME:-default}` gives a default; a variable that is unset (or empty) without one is an error at its key.

    Args:
        source: The file `node` comes from (for the error's file and line).
        node: A plain value of `source.data`; `loc` is where it sits.
        error_type: The error raised for an unset variable.
        env: The variables (default: `os.environ`, read at call time).
        used: When given, every substituted value is appended to it (to tell secrets from literals).
    """
    variables = os.environ if env is None else env
    if isinstance(node, dict):
        return {
            key: expand_env(source, value, (*loc, key), error_type, env=variables, used=used)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            expand_env(source, value, (*loc, index), error_type, env=variables, used=used)
            for index, value in enumerate(node)
        ]
    if not isinstance(node, str) or "${" not in node:
        return node

    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1)) or match.group(2)
        if found is None:
            raise source.error(error_type, loc, f"environment variable {match.group(1)} is not set")
        if used is not None:
            used.append(found)
        return found

    return ENV_REFERENCE.sub(value, node)


def load_yaml(path: Path, error_type: type[SourceError]) -> YamlSource:
    """Read and parse `path`; a missing file, bad encoding or YAML syntax error is one located error."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error_type("file not found", path=shown) from None
    except IsADirectoryError:
        raise error_type("is a directory, not a YAML file", path=shown) from None
    except OSError as err:
        raise error_type(f"cannot be read ({err.strerror})", path=shown) from None
    if len(raw) > MAX_SOURCE_BYTES:
        raise error_type(f"is {len(raw)} bytes; the limit is {MAX_SOURCE_BYTES}", path=shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error_type(f"is not UTF-8 text (byte {err.start})", path=shown) from None
    return parse_yaml(text, shown=shown, error_type=error_type)


def parse_yaml(text: str, *, shown: str, error_type: type[SourceError]) -> YamlSource:
    """Parse YAML `text` read from `shown` (a file name, or where the text came from); errors name it.

    Besides syntax, refused before anything is built: more than MAX_SOURCE_BYTES, nesting deeper than MAX_DEPTH,
    an alias inside its own anchor, and aliases that expand to more than MAX_ALIAS_NODES values.
    """
    if len(text.encode()) > MAX_SOURCE_BYTES:
        raise error_type(f"is {len(text.encode())} bytes; the limit is {MAX_SOURCE_BYTES}", path=shown)
    try:
        _check_shape(text, shown=shown, error_type=error_type)
        document = _fast_yaml().load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join((err.problem or err.context or "YAML syntax error").split())
        raise error_type(f"YAML syntax error: {problem}", path=shown, line=line) from None
    except YAMLError as err:
        raise error_type(f"YAML syntax error: {_one_line(str(err))}", path=shown) from None
    except (ValueError, KeyError, TypeError, OverflowError) as err:
        # The safe loader builds dates, numbers and booleans itself and lets their errors through
        # (`2026-02-30`, a 5,000-digit number, `!!bool maybe`).
        raise error_type(f"a value cannot be read: {_value_problem(err)}", path=shown) from None
    if document is None:
        raise error_type("is empty", path=shown)
    source = YamlSource(path=shown, data=None, text=text)
    try:
        source.data = _plain(document, (), None)
    except _Unreadable as unreadable:
        raise source.error(error_type, unreadable.loc, unreadable.problem) from None
    return source


class _Unreadable(Exception):
    """A value the parser read that no source file may hold: two keys that are one key once read as text
    (`1:` and `"1":`), or a number too large to print (`0x` and a thousand `f`s)."""

    def __init__(self, loc: Loc, problem: str) -> None:
        super().__init__(problem)
        self.loc = loc
        self.problem = problem


def _check_shape(text: str, *, shown: str, error_type: type[SourceError]) -> None:
    """Walk the parse events once, before the document is built: refuse nesting deeper than MAX_DEPTH, an alias
    that refers to its own anchor, and aliases that expand to more than MAX_ALIAS_NODES values in all.

    Each anchor's expanded size is known when its value ends, so an alias costs its anchor's size: a billion
    laughs is refused after a few dozen events, without expanding anything.
    """
    sizes: dict[str, int] = {}
    """Anchor -> how many values its value stands for, expanded (itself included)."""
    open_nodes: list[tuple[str | None, list[int]]] = []
    """The mappings and lists being read, outermost first: their anchor and their expanded size so far."""
    expanded = 0
    for event in _fast_yaml().parse(text):
        size = 0
        if isinstance(event, CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise error_type(
                    f"nests mappings and lists deeper than {MAX_DEPTH} levels", path=shown, line=_line(event)
                )
            open_nodes.append((event.anchor, [1]))
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, counted = open_nodes.pop()
            size = counted[0]
            if anchor is not None:
                sizes[anchor] = size
        elif isinstance(event, ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = size
        elif isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                raise error_type(
                    f"the alias *{event.anchor} is inside its own anchor &{event.anchor} (a value cannot contain itself)",
                    path=shown,
                    line=_line(event),
                )
            size = sizes.get(event.anchor, 1)  # an undefined alias: the loader reports it
            expanded += size
            if expanded > MAX_ALIAS_NODES:
                raise error_type(
                    f"its aliases (*name) expand to more than {MAX_ALIAS_NODES} values; write the values out instead",
                    path=shown,
                    line=_line(event),
                )
        if open_nodes:
            open_nodes[-1][1][0] += size


def _line(event: object) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _value_problem(err: Exception) -> str:
    text = str(err)
    if "integer string conversion" in text:  # Python's guard against huge numbers, worded for programmers
        return "a number has more than 4300 digits"
    if isinstance(err, KeyError):
        return f"{text} is not a value of its type"
    return _one_line(text)


def _fast_yaml() -> YAML:
    """ruamel's safe loader, on its C extension (ruamel.yaml.clib) when installed."""
    try:
        return YAML(typ="safe", pure=False)
    except Exception:  # no C extension: the pure-Python safe loader is still several times faster than rt
        return YAML(typ="safe", pure=True)


def _key_text(key: Any, loc: Loc) -> str:
    """A key that YAML read as something else (`1:`, `true:`, `? [a, b]`) as the text it is compared as."""
    try:
        return str(key)
    except ValueError:  # a number too large to print (Python refuses ints of over 4300 digits)
        raise _Unreadable(loc, f"a key is a number of over {MAX_NUMBER_DIGITS} digits") from None


def _plain(node: Any, loc: Loc, lines: dict[Loc, int] | None) -> Any:
    """Plain dicts (string keys), lists and scalars; with `lines`, record the line of each key and item."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            name = key if isinstance(key, str) else _key_text(key, loc)
            child = (*loc, name)
            if lines is not None and isinstance(node, CommentedMap):
                lines[child] = node.lc.key(key)[0] + 1
            if name in out:  # `1:` and `"1":` are different YAML keys, but one key of the file
                raise _Unreadable(child, "this key is written twice")
            out[name] = _plain(value, child, lines)
        return out
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            child = (*loc, index)
            if lines is not None and isinstance(node, CommentedSeq):
                lines[child] = node.lc.item(index)[0] + 1
            items.append(_plain(value, child, lines))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int) and node.bit_length() > MAX_NUMBER_BITS:
        raise _Unreadable(loc, f"the number is too large (over {MAX_NUMBER_DIGITS} digits)")
    return node
