"""The HTTP API (`cxgov serve`): the front door for agents, people and integrations (see DESIGN "HTTP API")."""

from cxgov.api.app import Gate, create_app

__all__ = ["Gate", "create_app"]
