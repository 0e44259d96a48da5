"""The CLI's way in: the HTTP API with a credential, never Temporal directly (`act`, `status`, `approvals`,
`approve`, `deny`, `reverse`). The caller is whoever the credential proves.

Which credential: CXGOV_TOKEN when set (then `--actor`/`--as` naming someone else is refused by the API,
exit 3); otherwise the key file `CXGOV_HOME/keys/<name>` of the `--actor`/`--as` given, which `cxgov up`
issues for every actor and person of the charter (the local operator holds them all anyway).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from cxgov.errors import BadRequest, CxgovError, Unavailable
from cxgov.settings import Settings

TIMEOUT_MARGIN = 30.0
"""Seconds the HTTP call may take beyond the wait it asks the server for."""


class ApiError(CxgovError):
    """An error the API answered with: its message and the CLI exit code it carries."""

    def __init__(self, message: str, *, exit_code: int, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.payload = payload or {}


class Credential(NamedTuple):
    """A token, and where it came from (for the one line that says why it was not accepted)."""

    token: str
    source: str


def credential(settings: Settings, name: str | None, *, who: str) -> Credential:
    """The token to call with: CXGOV_TOKEN, else `name`'s key file (any person's for a read without a name).

    Raises:
        BadRequest: No token and no key file to use.
    """
    if settings.token is not None:
        return Credential(settings.token, "CXGOV_TOKEN")
    folder = settings.keys_dir
    if name is None:
        # A read-only question with no name: any person's key the local operator holds will do.
        people = sorted(path for path in folder.glob("*") if path.is_file() and _is_person_key(path))
        if not people:
            raise BadRequest(f"say who is asking: {who} NAME, or set CXGOV_TOKEN", field=who)
        return Credential(people[0].read_text().strip(), f"the key file {people[0]}")
    path = folder / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise BadRequest(
            f"no key for {name!r} in {folder} (`cxgov up` issues one per actor and person); "
            "or set CXGOV_TOKEN to a key from `cxgov keys issue`",
            field=who,
        )
    return Credential(path.read_text().strip(), f"the key file {path}; `cxgov up` issues a fresh one when it starts")


def write_key(folder: Path, name: str, token: str, *, person: bool) -> None:
    """Store a principal's key where the CLI finds it, readable by this user only (0600)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    marker = folder / f".{name}.person"
    if person:
        marker.touch(mode=0o600)
    else:
        marker.unlink(missing_ok=True)


def _is_person_key(path: Path) -> bool:
    return (path.parent / f".{path.name}.person").exists()


async def api_request(
    url: str,
    token: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    wait: float = 0,
    params: dict[str, Any] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[httpx.Response, Any]:
    """One request on the API at `url` with a bearer `token`: the response and its JSON, whatever the status.

    The one way the CLI and the MCP tools reach the API (`transport`: the app in process, for `/mcp`).

    Raises:
        Unavailable: The API cannot be reached, did not answer in time, or answered without JSON.
    """
    try:
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=wait + TIMEOUT_MARGIN,
            transport=transport,
        ) as http:
            answer = await http.request(method, path, json=body, params=params)
    except httpx.TimeoutException:
        raise Unavailable(f"the cxgov API at {url} did not answer in time (outcome unknown)") from None
    except httpx.HTTPError as err:
        raise Unavailable(
            f"cannot reach the cxgov API at {url} ({type(err).__name__}); start it with `cxgov up` or "
            "`cxgov serve`, or set CXGOV_API_URL"
        ) from None
    try:
        return answer, answer.json()
    except ValueError:
        raise Unavailable(f"the cxgov API at {url} answered {answer.status_code} without JSON") from None


class FrontDoor:
    """Typed calls on the HTTP API for one principal.

    Args:
        url: The API's base URL.
        credential: The caller's token and where it came from.
    """

    def __init__(self, url: str, credential: Credential) -> None:
        self.url = url
        self.credential = credential

    async def call(self, method: str, path: str, *, body: Any = None, wait: float = 0, **params: Any) -> Any:
        """One request; the JSON answer, or `ApiError` carrying the API's message and exit code."""
        query = {name: value for name, value in params.items() if value is not None}
        answer, payload = await api_request(
            self.url, self.credential.token, method, path, body=body, wait=wait, params=query or None
        )
        if answer.status_code >= 400:
            message = str(payload.get("error", answer.reason_phrase)) if isinstance(payload, dict) else answer.text
            code = payload.get("exit_code") if isinstance(payload, dict) else None
            if answer.status_code == 401:
                message = f"{message} (from {self.credential.source})"
            raise _typed(answer.status_code, message, code, payload if isinstance(payload, dict) else {})
        return payload


def _typed(status: int, message: str, exit_code: Any, payload: dict[str, Any]) -> ApiError:
    """The API's error as the CLI reports it: its message, its exit code (by status when it names none)."""
    if not isinstance(exit_code, int):
        exit_code = 3 if status in (401, 403) else 2 if status < 500 else 1
    return ApiError(message, exit_code=exit_code, payload=payload)
