"""The MCP tools' way in: the HTTP API with the caller's own credential, never Temporal directly.

Both transports share it. `cxgov mcp` (stdio) reaches the API over the network at CXGOV_API_URL; `/mcp` on the
HTTP server reaches the same FastAPI app in process (an ASGI transport, no socket). Either way the request goes
through the front door: the credential is checked again, the request is signed, every rule applies, and the
answer is the API's own JSON with its status code, which the tools turn into a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cxgov.errors import Denied, Unavailable
from cxgov.frontdoor import Credential, api_request
from cxgov.mcp.grants import PrincipalGrants


@dataclass(frozen=True)
class ApiAnswer:
    """What the API answered: its HTTP status and its JSON body (an error body is `{"error", "exit_code"}`)."""

    status: int
    payload: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> str:
        return str(self.payload.get("error", f"HTTP {self.status}"))


class CredentialRefused(Denied):
    """The API answered 401: the credential is unknown, expired or revoked (exit 3)."""

    def __init__(self, url: str, credential: Credential, answer: ApiAnswer) -> None:
        super().__init__(f"the cxgov API at {url} refused the key from {credential.source}: {answer.error}")
        self.answer = answer


class ApiDoor:
    """Calls on the HTTP API for whichever principal's credential is given.

    Args:
        url: The API's base URL (shown in errors).
        transport: An httpx transport to reach it by (the app in process); None: the network.
    """

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._transport = transport

    async def call(
        self,
        credential: Credential,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        wait: float = 0.0,
    ) -> ApiAnswer:
        """One request as `credential`'s principal; the API's answer, whatever its status.

        Raises:
            Unavailable: The API cannot be reached, did not answer in time, or answered without JSON.
        """
        answer, payload = await api_request(
            self.url, credential.token, method, path, body=body, wait=wait, transport=self._transport
        )
        if not isinstance(payload, dict):
            raise Unavailable(
                f"the cxgov API at {self.url} answered {answer.status_code} with {type(payload).__name__}"
            )
        return ApiAnswer(status=answer.status_code, payload=payload)

    async def me(self, credential: Credential) -> PrincipalGrants:
        """Who the credential proves and what the charter lets them do (`GET /v1/me`).

        Raises:
            CredentialRefused: The API does not accept the credential.
            Unavailable: The API cannot be reached or cannot answer.
        """
        answer = await self.call(credential, "GET", "/v1/me")
        if answer.status == 401:
            raise CredentialRefused(self.url, credential, answer)
        if not answer.ok:
            raise Unavailable(f"the cxgov API at {self.url} answered {answer.status} to GET /v1/me: {answer.error}")
        return PrincipalGrants.model_validate(answer.payload)
