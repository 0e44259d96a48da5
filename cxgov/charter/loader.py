"""Load a charter file: parse, validate, check sign-offs. Any error names file, line and key; nothing loads."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cxgov.charter.models import Charter
from cxgov.errors import CharterError
from cxgov.yamlsource import YamlSource, load_yaml


def load_charter(path: Path) -> Charter:
    """Load and validate the charter at `path`.

    Raises:
        CharterError: the file is missing, is not YAML, does not match the format, or the version lacks a
            required sign-off. The message names the file, the line and the key.
    """
    source = load_yaml(path, CharterError)
    if not isinstance(source.data, dict):
        raise source.error(CharterError, (), "the charter must be a mapping of keys (charter, version, ...)")
    charter = source.validate(Charter, CharterError)
    _check_signoffs(source, charter)
    _check_names(source, charter)
    return charter


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


class CharterCache:
    """Loads a charter once and again only when the file changes (mtime, size), so deciding stays cheap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._charter: Charter | None = None

    def get(self) -> Charter:
        """The current charter; a file that stopped loading raises CharterError (never the stale one)."""
        try:
            stat = os.stat(self.path)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._charter is None or stamp is None or stamp != self._stamp:
                self._charter = load_charter(self.path)
                self._stamp = stamp
            return self._charter
