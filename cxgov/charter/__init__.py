"""The charter: who may do what, for whom, up to what, with whose approval, signed off by whom."""

from cxgov.charter.gaps import CharterGap, charter_gaps
from cxgov.charter.loader import CharterCache, LoadedCharter, charter_from_text, load_charter, read_charter
from cxgov.charter.models import Action, Actor, Charter, Grant, Person, parse_duration

__all__ = [
    "Action",
    "Actor",
    "Charter",
    "CharterCache",
    "CharterGap",
    "Grant",
    "LoadedCharter",
    "Person",
    "charter_from_text",
    "charter_gaps",
    "load_charter",
    "parse_duration",
    "read_charter",
]
