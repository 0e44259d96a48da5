"""The built-in sandbox system of record and its connectors for the reference actions."""

from cxgov.sandbox.connectors import Connector
from cxgov.sandbox.seed import WorldSummary
from cxgov.sandbox.store import Sandbox

__all__ = ["Connector", "Sandbox", "WorldSummary"]
