"""The MCP server for agents (DESIGN "Agents: MCP server"): `cxgov mcp` over stdio, and `/mcp` on the HTTP server.

Each agent sees one tool per charter action its credential holds a grant for, named as the action, with its
limits in the description, plus `get_action` and `wait_for_action`. Every call goes through the HTTP API with the
caller's own credential (`door`), so the API's checks, signatures and decisions apply unchanged; results carry
the action JSON and one sentence an agent can act on (`results`).
"""
