"""YAML source files that remember where every key came from, so errors name file, line and key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from cxgov.errors import SourceError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

MAX_SOURCE_BYTES = 5_000_000

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
        return error_type(problem, path=self.path, line=self.line_of(loc), key=dotted(loc) or None)

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
    """Parse YAML `text` read from `shown` (a file name, or where the text came from); errors name it."""
    if len(text.encode()) > MAX_SOURCE_BYTES:
        raise error_type(f"is {len(text.encode())} bytes; the limit is {MAX_SOURCE_BYTES}", path=shown)
    try:
        document = _fast_yaml().load(text)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (err.problem or err.context or "YAML syntax error").strip()
        raise error_type(f"YAML syntax error: {problem}", path=shown, line=line) from None
    except YAMLError as err:
        raise error_type(f"YAML syntax error: {err}", path=shown) from None
    if document is None:
        raise error_type("is empty", path=shown)
    return YamlSource(path=shown, data=_plain(document, (), None), text=text)


def _fast_yaml() -> YAML:
    """ruamel's safe loader, on its C extension (ruamel.yaml.clib) when installed."""
    try:
        return YAML(typ="safe", pure=False)
    except Exception:  # no C extension: the pure-Python safe loader is still several times faster than rt
        return YAML(typ="safe", pure=True)


def _plain(node: Any, loc: Loc, lines: dict[Loc, int] | None) -> Any:
    """Plain dicts (string keys), lists and scalars; with `lines`, record the line of each key and item."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*loc, str(key))
            if lines is not None and isinstance(node, CommentedMap):
                lines[child] = node.lc.key(key)[0] + 1
            out[str(key) if not isinstance(key, str) else key] = _plain(value, child, lines)
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
    return node
