"""The built-in sandbox system of record and its connectors for the reference actions.

One implementation of `cxgov.connectors.SystemOfRecord`, bound like any other (`cxgov.sandbox.system`): the
embedded default, and the demo's world.
"""

from cxgov.sandbox.seed import WorldSummary
from cxgov.sandbox.store import Sandbox

__all__ = ["Sandbox", "WorldSummary"]
