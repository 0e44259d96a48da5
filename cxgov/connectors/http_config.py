"""The declarative HTTP connector's configuration: per system, the requests that answer each question.

Templates: `{customer}`, `{action}`, `{action_id}`, `{params.NAME}`, `{effect.NAME}` (what execute recorded)
and `{facts.NAME}` (what a precondition read recorded, for a conditional write such as `If-Match`). In a JSON
body, a string that is exactly one placeholder keeps the value's type (a list stays a list). Response fields
are picked by dotted path (`lines.0.sku`); `$` is the whole body.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxgov.charter.models import Duration, Name, parse_duration
from cxgov.wire import ParamValue

PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_-]+)*)\}")
ROOTS = ("customer", "action", "action_id", "params", "effect", "facts")
SECRET_HEADER = re.compile(r"authorization|token|secret|key|cookie|password", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_template(text: str) -> str:
    for match in PLACEHOLDER.finditer(text):
        root = match.group(1).split(".")[0]
        if root not in ROOTS:
            raise ValueError(f"unknown placeholder {{{match.group(1)}}}; placeholders start with {', '.join(ROOTS)}")
    return text


def _check_templates(value: Any) -> Any:
    if isinstance(value, str):
        _check_template(value)
    elif isinstance(value, dict):
        for item in value.values():
            _check_templates(item)
    elif isinstance(value, list):
        for item in value:
            _check_templates(item)
    return value


class HttpRequest(_Strict):
    """One request to the system, and how its answer is read."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(min_length=1, max_length=2000)
    """Appended to the system's base URL; each placeholder is URL-encoded."""
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, alias="json")
    """A JSON body (templates inside strings)."""
    pick: str | dict[str, str] | None = None
    """One path (a value), or name -> path (a mapping): what this read contributes."""
    expect: dict[str, Any] = Field(default_factory=dict)
    """path -> value: the condition holds (verify ok, precondition true, event happened) when every one equals."""
    record: dict[str, str] = Field(default_factory=dict)
    """name -> path, kept for later templates: execute's as `{effect.NAME}`, a precondition's as `{facts.NAME}`."""

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with /")
        return _check_template(path)

    @field_validator("query", "headers", "body")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        return _check_templates(value)

    @property
    def writes(self) -> bool:
        """Every method but GET changes the system: it carries an Idempotency-Key."""
        return self.method != "GET"


class HttpCheck(HttpRequest):
    """A read whose `expect` decides: a precondition that holds, an event that happened."""

    meaning: str = ""
    """What it means, for people: "the order has not shipped"."""

    @model_validator(mode="after")
    def _expects(self) -> HttpCheck:
        if not self.expect:
            raise ValueError("a precondition or event read needs `expect`: which response fields must equal what")
        return self


class HttpDrill(_Strict):
    """What a reversal drill acts on in the sandbox (`sandbox_url`): a customer, params, an optional setup."""

    customer: Name
    params: dict[str, ParamValue] = Field(default_factory=dict)
    setup: HttpRequest | None = None
    """A write to the sandbox run before each drill (a fresh order, say); its `record` fills params."""


class HttpAction(_Strict):
    """The requests that carry out one charter action."""

    owner: HttpRequest | None = None
    """Reads the customer owning what the action acts on (`pick`: one path); it must be the request's."""
    execute: HttpRequest
    """The effect; sent with `Idempotency-Key: <action id>`. `record` keeps what later steps address it by."""
    verify: HttpRequest
    """Reads the effect back; `expect` says what in place looks like."""
    compensate: HttpRequest | None = None
    """The undo (`Idempotency-Key: <action id>/compensate`); none for an irreversible action."""
    snapshot: dict[str, HttpRequest] = Field(default_factory=dict)
    """Part name -> a read with `pick`: the state this action touches (a 404 reads as null)."""
    expected_after_undo: dict[str, HttpRequest] | None = None
    """The same parts as the system says they must read once this effect is undone; without it, a reversal
    must leave exactly the pre-action snapshot."""
    preconditions: dict[Name, HttpCheck] = Field(default_factory=dict)
    drill: HttpDrill | None = None

    @model_validator(mode="after")
    def _parts(self) -> HttpAction:
        if self.expected_after_undo is not None and set(self.expected_after_undo) != set(self.snapshot):
            raise ValueError("expected_after_undo must name the same parts as snapshot")
        if not self.execute.writes:
            raise ValueError("execute must be a write (POST, PUT, PATCH or DELETE), not GET")
        return self


class HttpSystemConfig(_Strict):
    """A system of record that speaks HTTP."""

    url: str
    """Base URL of the live system."""
    sandbox_url: str | None = None
    """Base URL of the system's sandbox, where reversal drills run; a drill never calls `url`."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request; secrets as `${ENV}` references."""
    timeout: Duration = Field(default_factory=lambda: parse_duration("10s"))
    segment: HttpRequest
    """Reads a customer's segment (`pick`: one path); a 404 is a customer the system does not know."""
    events: dict[Name, HttpCheck] = Field(default_factory=dict)
    """Events that end `until` reversals: each read's `expect` holds once the event happened to the effect."""
    actions: dict[Name, HttpAction] = Field(min_length=1)

    @field_validator("url", "sandbox_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url.rstrip("/") if url is not None else None

    @model_validator(mode="after")
    def _distinct(self) -> HttpSystemConfig:
        if self.sandbox_url is not None and self.sandbox_url == self.url:
            raise ValueError("sandbox_url is the live url: drills must never touch the live system")
        return self


def literal_secrets(raw: Any) -> list[tuple[str, ...]]:
    """Header keys whose value looks like a secret written into the file instead of `${ENV}`, as locations."""
    found: list[tuple[str, ...]] = []

    def walk(node: Any, loc: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "headers" and isinstance(value, dict):
                for name, text in value.items():
                    if _secret(str(name)) and isinstance(text, str) and "${" not in text:
                        found.append((*loc, key, str(name)))
            else:
                walk(value, (*loc, str(key)))

    walk(raw, ())
    return found


def _secret(header: str) -> bool:
    return header.lower() != "idempotency-key" and SECRET_HEADER.search(header) is not None
