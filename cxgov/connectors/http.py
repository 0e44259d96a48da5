"""The declarative HTTP connector: govern a system that only speaks HTTP, from configuration alone.

Each question cxgov asks (a customer's segment, an ownership read, a precondition, an event) and each step it
takes (execute, verify, compensate, snapshot) is one request from the systems file (see `http_config`).
Answers map onto the connector protocol the same way for every request:

- 2xx: the answer; a 404 on a read means "not there" (an unknown customer, an absent effect);
- any other 4xx: the system refuses, `ConnectorRefused` with the system's own message (exit 3 for the caller);
- 5xx, a timeout or no connection: `SystemUnavailable`, and Temporal's retry policy tries the step again.

Every write carries `Idempotency-Key`: the action id for execute, `<action id>/compensate` for the undo, so a
retried step is applied once by any system that honours the header. Preconditions are read again right
before the write; for an atomic check, make the write itself conditional (the system refuses it with a 409
or 412 when the facts changed), using what a precondition read recorded (`{facts.version}` in an `If-Match`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from cxgov.connectors.config import SystemContext
from cxgov.connectors.http_config import PLACEHOLDER, HttpAction, HttpRequest, HttpSystemConfig
from cxgov.connectors.protocol import Connector, DrillFixture
from cxgov.errors import BadRequest, ConnectorRefused, SystemUnavailable
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

MAX_MESSAGE = 300
REPLAY_HEADER = "Idempotent-Replay"


class Answer(NamedTuple):
    """A system's JSON answer, and whether it was an idempotent replay of an earlier one."""

    body: Any
    replayed: bool


class _Unset(BadRequest):
    """A template names a value this call does not have (an effect that was never recorded).

    Where no step handles it, it is bad input, never a crash that Temporal would retry forever.
    """


def open_system(context: SystemContext) -> HttpSystem:
    """The factory the systems file's `http:` entries use."""
    config = context.options["config"]
    if not isinstance(config, HttpSystemConfig):
        config = HttpSystemConfig.model_validate(config)
    return HttpSystem(name=context.name, config=config)


class HttpSystem:
    """A system of record reached over HTTP, at its live URL or (for drills) its sandbox URL.

    Args:
        name: The system's name in the systems file.
        config: Its requests.
        sandbox: Talk to `config.sandbox_url` instead of `config.url`.
        transport: An httpx transport (tests); the network by default.
    """

    def __init__(
        self,
        *,
        name: str,
        config: HttpSystemConfig,
        sandbox: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = config.sandbox_url if sandbox else config.url
        if base is None:
            raise BadRequest(f"system {name} has no sandbox_url", field="sandbox_url")
        self.config = config
        self.base_url = base
        self.sandbox = sandbox
        self._name = name
        self._transport = transport
        self._client = httpx.Client(
            base_url=base, headers=config.headers, timeout=config.timeout.total_seconds(), transport=transport
        )
        self._connectors: dict[str, Connector] = {
            action: HttpConnector(system=self, action=action, spec=spec) for action, spec in config.actions.items()
        }

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        where = "sandbox" if self.sandbox else "http"
        return f"{self._name} ({where} {self.base_url})"

    @property
    def connectors(self) -> Mapping[str, Connector]:
        return self._connectors

    @property
    def until_events(self) -> Mapping[str, str]:
        return {name: check.meaning or name for name, check in self.config.events.items()}

    def segment(self, customer: str) -> str | None:
        body = self.send(self.config.segment, {"customer": customer}, purpose="the segment read", missing_ok=True).body
        if body is None:
            return None
        found = pick(body, self.config.segment.pick if isinstance(self.config.segment.pick, str) else "$")
        return None if found is None else str(found)

    def happened(self, event: str, call: ConnectorCall) -> bool:
        check = self.config.events.get(event)
        if check is None:
            raise BadRequest(f"system {self._name} cannot tell event {event!r}", field="until")
        held, _ = self.holds(check, call_context(call), purpose=f"the {event} event read")
        return held

    def drill_system(self, workspace: Path) -> HttpSystem | None:
        if self.config.sandbox_url is None:
            return None
        return HttpSystem(name=self._name, config=self.config, sandbox=True, transport=self._transport)

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        request: HttpRequest,
        context: Mapping[str, Any],
        *,
        purpose: str,
        key: str | None = None,
        missing_ok: bool = False,
    ) -> Answer:
        """Send `request` rendered from `context`: the JSON answer (None for a 404 when `missing_ok`), and
        whether the system marked it as an idempotent replay (`Idempotent-Replay: true`).

        Raises:
            ConnectorRefused: A 4xx (but a tolerated 404): the system's own message.
            SystemUnavailable: A 5xx, a timeout, or no connection.
            _Unset: A template names a value the context does not have.
        """
        headers = {name: render(text, context) for name, text in request.headers.items()}
        if request.writes:
            headers["Idempotency-Key"] = key or str(context.get("action_id", ""))
        path = render(request.path, context, encode=True)
        try:
            response = self._client.request(
                request.method,
                path,
                params={name: render(text, context) for name, text in request.query.items()} or None,
                headers=headers,
                json=render_body(request.body, context) if request.body is not None else None,
            )
        except httpx.TimeoutException:
            raise SystemUnavailable(
                f"system {self._name} did not answer {purpose} ({request.method} {path}) within "
                f"{self.config.timeout.total_seconds():g}s"
            ) from None
        except httpx.HTTPError as err:
            raise SystemUnavailable(f"system {self._name} cannot be reached for {purpose}: {err}") from None
        status = response.status_code
        if status >= 500:
            raise SystemUnavailable(f"system {self._name} answered {purpose} with {status}: {message_of(response)}")
        if status == 404 and missing_ok:
            return Answer(None, replayed=False)
        if status >= 400:
            raise ConnectorRefused(f"{self._name} refused {purpose}: {message_of(response)}")
        replayed = response.headers.get(REPLAY_HEADER, "").lower() == "true"
        if not response.content:
            return Answer({}, replayed=replayed)
        try:
            return Answer(response.json(), replayed=replayed)
        except ValueError:
            raise SystemUnavailable(f"system {self._name} answered {purpose} with a body that is not JSON") from None

    def holds(self, check: HttpRequest, context: Mapping[str, Any], *, purpose: str) -> tuple[bool, str]:
        """Whether every `expect` of `check` holds, and what differs when not."""
        body = self.send(check, context, purpose=purpose, missing_ok=True).body
        if body is None:
            return False, f"{check.method} {render(check.path, context)} found nothing"
        differs = [
            f"{path} is {_shown(pick(body, path))}, not {_shown(want)}"
            for path, want in check.expect.items()
            if not same(pick(body, path), want)
        ]
        if isinstance(context.get("facts"), dict):
            context["facts"].update({name: pick(body, path) for name, path in check.record.items()})
        return not differs, "; ".join(differs)


class HttpConnector:
    """One action of an `HttpSystem`, carried out by the requests of its `HttpAction`."""

    def __init__(self, *, system: HttpSystem, action: str, spec: HttpAction) -> None:
        self.system = system
        self.spec = spec
        self._action = action

    @property
    def action(self) -> str:
        return self._action

    @property
    def preconditions(self) -> Mapping[str, str]:
        return {name: check.meaning or name for name, check in self.spec.preconditions.items()}

    def check(self, call: ConnectorCall, *, preconditions: Sequence[str], now: datetime) -> list[str]:
        return self._reasons(call, preconditions, call_context(call))

    def execute(self, call: ConnectorCall, *, now: datetime | None = None) -> EffectResult:
        context = call_context(call)
        if call.attempt <= 1:
            # A retry may follow a write that landed: the system's idempotent replay answers it, and a fresh
            # precondition read (the order is cancelled now, by us) would refuse an effect that happened.
            reasons = self._reasons(call, call.preconditions, context)
            if reasons:
                raise ConnectorRefused(f"{self._action} {call.action_id} refused: {'; '.join(reasons)}")
        request = self.spec.execute
        body, replayed = self.system.send(
            request, context, purpose=f"{self._action} {call.action_id}", key=call.action_id
        )
        record = {name: pick(body, path) for name, path in request.record.items()}
        what = f"{request.method} {render(request.path, context)}"
        summary = f"{what}: {_fields(record)}" if record else f"{what}: done"
        return EffectResult(
            applied=not replayed,
            summary=summary + (" (a replay; not applied again)" if replayed else ""),
            record=record,
        )

    def verify(self, call: ConnectorCall) -> VerifyResult:
        request = self.spec.verify
        context = call_context(call)
        try:
            held, differs = self.system.holds(request, context, purpose=f"the read-back of {call.action_id}")
            what = f"{request.method} {render(request.path, context)}"
        except _Unset as err:
            return VerifyResult(ok=False, summary=f"no effect recorded for {call.action_id}: {err}")
        if held:
            return VerifyResult(ok=True, summary=f"{what}: {_fields(request.expect) or 'found'}")
        return VerifyResult(ok=False, summary=f"{what}: {differs}")

    def compensate(self, call: ConnectorCall) -> CompensateResult:
        request = self.spec.compensate
        if request is None:
            raise ConnectorRefused(f"irreversible: system {self.system.name} has no undo for {self._action}")
        context = call_context(call)
        try:
            body = self.system.send(
                request,
                context,
                purpose=f"the undo of {call.action_id}",
                key=f"{call.action_id}/compensate",
                missing_ok=True,
            ).body
        except _Unset:
            return CompensateResult(undone=False, summary=f"nothing to undo: no effect recorded for {call.action_id}")
        what = f"{request.method} {render(request.path, context)}"
        if body is None:
            return CompensateResult(undone=False, summary=f"nothing to undo: {what} found nothing")
        picked = _picked(body, request.pick)
        return CompensateResult(undone=True, summary=f"{what}: {_fields(picked)}" if picked else f"{what}: undone")

    def snapshot(self, call: ConnectorCall) -> dict[str, Any]:
        return self._parts(self.spec.snapshot, call)

    def expected_after_undo(self, call: ConnectorCall) -> dict[str, Any] | None:
        if self.spec.expected_after_undo is None:
            return None
        return self._parts(self.spec.expected_after_undo, call)

    def drill_fixture(self) -> DrillFixture | None:
        drill = self.spec.drill
        if drill is None:
            return None
        params = dict(drill.params)
        if drill.setup is not None:
            key = f"drill-setup-{uuid.uuid4()}"
            context = {"customer": drill.customer, "action": self._action, "action_id": key, "params": params}
            body = self.system.send(drill.setup, context, purpose=f"the drill setup of {self._action}", key=key).body
            params.update({name: _param(pick(body, path)) for name, path in drill.setup.record.items()})
        return DrillFixture(customer=drill.customer, params=params)

    def _reasons(self, call: ConnectorCall, preconditions: Sequence[str], context: dict[str, Any]) -> list[str]:
        unsupported = sorted(set(preconditions) - set(self.spec.preconditions))
        if unsupported:
            raise ValueError(
                f"system {self.system.name} cannot check precondition {', '.join(unsupported)} for {self._action}"
            )
        reasons: list[str] = []
        try:
            owner = self.spec.owner
            if owner is not None:
                body = self.system.send(owner, context, purpose="the ownership read", missing_ok=True).body
                what = render(owner.path, context)
                if body is None:
                    reasons.append(f"{what} does not exist in {self.system.name}")
                    return reasons
                found = pick(body, owner.pick if isinstance(owner.pick, str) else "customer")
                if str(found) != call.customer:
                    reasons.append(f"{what} is not customer {call.customer}'s")
                    return reasons
            for name in dict.fromkeys(preconditions):
                held, differs = self.system.holds(
                    self.spec.preconditions[name], context, purpose=f"the {name} precondition read"
                )
                if not held:
                    reasons.append(f"precondition {name} is false: {differs}")
        except ConnectorRefused as refused:
            reasons.append(str(refused))
        return reasons

    def _parts(self, parts: Mapping[str, HttpRequest], call: ConnectorCall) -> dict[str, Any]:
        context = call_context(call)
        shown: dict[str, Any] = {}
        for part, request in parts.items():
            try:
                body = self.system.send(request, context, purpose=f"the {part} read", missing_ok=True).body
            except _Unset:
                body = None
            shown[part] = None if body is None else _picked(body, request.pick)
        return shown


def call_context(call: ConnectorCall) -> dict[str, Any]:
    """What templates may name for `call`."""
    return {
        "customer": call.customer,
        "action": call.action,
        "action_id": call.action_id,
        "params": dict(call.params),
        "effect": dict(call.effect) if call.effect is not None else None,
        "facts": {},
    }


def lookup(context: Mapping[str, Any], dotted: str) -> Any:
    """The value a placeholder names; `_Unset` when the context does not have it."""
    node: Any = context
    for part in dotted.split("."):
        if isinstance(node, Mapping) and node.get(part) is not None:
            node = node[part]
        else:
            raise _Unset(f"{{{dotted}}} has no value", field=dotted)
    return node


def render(text: str, context: Mapping[str, Any], *, encode: bool = False) -> str:
    """`text` with every placeholder replaced by its value (URL-encoded with `encode`)."""

    def value(match: Any) -> str:
        found = str(lookup(context, match.group(1)))
        return quote(found, safe="") if encode else found

    return PLACEHOLDER.sub(value, text)


def render_body(body: Any, context: Mapping[str, Any]) -> Any:
    """A JSON body with its templates filled; a string that is one placeholder keeps the value's type."""
    if isinstance(body, dict):
        return {key: render_body(value, context) for key, value in body.items()}
    if isinstance(body, list):
        return [render_body(value, context) for value in body]
    if isinstance(body, str):
        whole = PLACEHOLDER.fullmatch(body)
        if whole is not None:
            found = lookup(context, whole.group(1))
            return found if isinstance(found, list | dict | int | bool) else str(found)
        return render(body, context)
    return body


def pick(body: Any, path: str) -> Any:
    """The value at dotted `path` in a JSON answer (`$` is the whole), or None when it is not there."""
    if path == "$":
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def same(found: Any, want: Any) -> bool:
    """Equal, reading numbers written as text as numbers ("40.00" is 40); true is never 1."""
    if isinstance(found, bool) or isinstance(want, bool):
        return isinstance(found, bool) and isinstance(want, bool) and found == want
    if found == want:
        return True
    try:
        return float(found) == float(want)
    except (TypeError, ValueError):
        return False


def message_of(response: httpx.Response) -> str:
    """The system's own words for a refusal: `error`, `message`, `detail` or `title`, else the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "title"):
            if isinstance(body.get(key), str):
                return str(body[key])[:MAX_MESSAGE]
    text = response.text.strip().splitlines()
    return text[0][:MAX_MESSAGE] if text else f"{response.status_code} {response.reason_phrase}"


def _picked(body: Any, spec: str | dict[str, str] | None) -> Any:
    if spec is None:
        return body
    if isinstance(spec, str):
        return pick(body, spec)
    return {name: pick(body, path) for name, path in spec.items()}


def _param(value: Any) -> Any:
    return value if isinstance(value, list) else str(value)


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {_shown(value)}" for name, value in values.items())


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return str(value)
