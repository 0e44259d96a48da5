"""The charter: who may do what, for whom, up to what, with whose approval, signed off by whom."""

from cxgov.charter.gaps import CharterGap, charter_gaps
from cxgov.charter.loader import CharterCache, load_charter
from cxgov.charter.models import Action, Actor, Charter, Grant, Person, parse_duration

__all__ = [
    "Action",
    "Actor",
    "Charter",
    "CharterCache",
    "CharterGap",
    "Grant",
    "Person",
    "charter_gaps",
    "load_charter",
    "parse_duration",
]
