"""Load a charter file: parse, validate, check sign-offs. Any error names file, line and key; nothing loads."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cxgov.charter.models import Charter
from cxgov.errors import CharterError
from cxgov.yamlsource import YamlSource, load_yaml, parse_yaml

RECHECK_REFUSED = 5.0
"""Seconds a refused charter file is refused without asking the registry again."""


@dataclass(frozen=True)
class LoadedCharter:
    """A charter with the exact text it was loaded from and that text's sha256 (what people sign)."""

    charter: Charter
    text: str
    sha256: str


def load_charter(path: Path) -> Charter:
    """Load and validate the charter at `path`.

    Raises:
        CharterError: the file is missing, is not YAML, does not match the format, or the version lacks a
            required sign-off. The message names the file, the line and the key.
    """
    return read_charter(path).charter


def read_charter(path: Path) -> LoadedCharter:
    """Load and validate the charter at `path`, keeping its text and sha256 (see `load_charter`)."""
    return _validated(load_yaml(path, CharterError))


def charter_from_text(text: str, *, shown: str) -> LoadedCharter:
    """Load and validate a charter sent as text (`shown` names where it came from in errors)."""
    return _validated(parse_yaml(text, shown=shown, error_type=CharterError))


def charter_sha256(text: str) -> str:
    """The sha256 (hex) of a charter's text as UTF-8: the identity of one exact file."""
    return hashlib.sha256(text.encode()).hexdigest()


def _validated(source: YamlSource) -> LoadedCharter:
    if not isinstance(source.data, dict):
        raise source.error(CharterError, (), "the charter must be a mapping of keys (charter, version, ...)")
    charter = source.validate(Charter, CharterError)
    _check_signoffs(source, charter)
    _check_names(source, charter)
    return LoadedCharter(charter=charter, text=source.text, sha256=charter_sha256(source.text))


def _check_signoffs(source: YamlSource, charter: Charter) -> None:
    signed = {signoff.function for signoff in charter.signoffs}
    for index, function in enumerate(charter.required_signoffs):
        if function not in signed:
            raise source.error(
                CharterError,
                ("required_signoffs", index),
                f"version {charter.version} is missing the required sign-off of {function!r}; "
                "an unsigned version does not load",
            )
    for index, signoff in enumerate(charter.signoffs):
        if signoff.by not in charter.people:
            raise source.error(
                CharterError,
                ("signoffs", index, "by"),
                f"{signoff.by!r} signed off {signoff.function!r} but is not one of the charter's people",
            )


def _check_names(source: YamlSource, charter: Charter) -> None:
    # An actor and a person with one name would make "who acted" ambiguous on the audit trail.
    for name in charter.actors:
        if name in charter.people:
            raise source.error(CharterError, ("actors", name), f"{name!r} is both an actor and a person")
    for key in ("freeze_roles", "override_roles", "hold_roles"):
        for index, role in enumerate(getattr(charter, key)):
            if role not in charter.roles:
                known = ", ".join(charter.roles) or "none"
                raise source.error(
                    CharterError, (key, index), f"{role!r} is not a role of this charter (roles: {known})"
                )


class CharterCache:
    """Loads a charter once and again only when the file changes (mtime, size), so deciding stays cheap.

    Args:
        path: The charter file.
        admit: Called with each newly loaded file before it is used; raising CharterError refuses it (a
            production worker refuses a file whose sign-offs are not signed, or whose version does not
            increase). A refused file is checked again at most every `RECHECK_REFUSED` seconds (or at once
            when it changes), so that signing it lets the worker take it up without a restart.
    """

    def __init__(self, path: Path, *, admit: Callable[[LoadedCharter], None] | None = None) -> None:
        self.path = path
        self.admit = admit
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._loaded: LoadedCharter | None = None
        self._refused: tuple[tuple[int, int], float, CharterError] | None = None

    def get(self) -> Charter:
        """The current charter; a file that stopped loading raises CharterError (never the stale one)."""
        return self.loaded().charter

    def loaded(self) -> LoadedCharter:
        """The current charter with its text and sha256 (same rules as `get`)."""
        try:
            stat = os.stat(self.path)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._loaded is None or stamp is None or stamp != self._stamp:
                refused = self._refused
                if refused is not None and stamp == refused[0] and time.monotonic() - refused[1] < RECHECK_REFUSED:
                    raise refused[2]
                self._loaded, self._stamp = None, None
                loaded = read_charter(self.path)
                if self.admit is not None:
                    try:
                        self.admit(loaded)
                    except CharterError as refused:
                        self._refused = (stamp, time.monotonic(), refused) if stamp is not None else None
                        raise
                self._loaded, self._stamp, self._refused = loaded, stamp, None
            return self._loaded
