"""The web console for people (DESIGN "People: console and notifications"), served at `/` by the HTTP server.

Server-rendered (Jinja2) on the API's own FastAPI app, with one hand-written stylesheet and no JavaScript:
sign in with a key or SSO, my approvals, actions, an action's page with approve / deny / reverse, drills,
gaps, the three questions, the audit trail with CSV download, and the charter.
"""

from cxgov.console.mount import mount_console

__all__ = ["mount_console"]
