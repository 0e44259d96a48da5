"""Every side effect of cxgov's workflows: charter loading, system-of-record lookups, connector calls."""

from activities.authorize import AuthorizeActivities
from activities.connector import ConnectorActivities
from activities.reversal import ReversalActivities

__all__ = ["AuthorizeActivities", "ConnectorActivities", "ReversalActivities"]
