"""Property: a bad body sent to any write endpoint of the HTTP API gets a 4xx answer `{"error", "exit_code"}` with one
clear line, never a 500, and nothing happens: no workflow starts, no audit record, freeze or override is written.

The API runs on a real server on a free loopback port, in front of a real worker and the session's Temporal dev
server. The generated requests go from a thread (hypothesis drives them one by one) while the server and the
worker run on the test's event loop."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from api.apikit import Api, serving
from harness import Stack, eventually
from hypothesis import given, settings
from hypothesis import strategies as st
from propkit import PROPERTIES, assert_one_clear_line, deep_junk, huge_texts, json_bytes, junk, texts

from cxgov.audit.store import AuditArchive
from cxgov.killswitch import FreezeBook
from cxgov.overrides import OverrideBook

GOOD_ACTION = {
    "action": "refund",
    "customer": "C-100",
    "channel": "chat",
    "reason": "arrived torn",
    "params": {"order_id": "O-1001", "sku": "TEE-RED-M", "amount": "40"},
}


@dataclass(frozen=True)
class Endpoint:
    """A write endpoint, who calls it, a body it would act on, and how each of its fields may be made wrong."""

    path: Callable[[str], str]
    caller: str
    template: dict[str, Any]
    text_fields: dict[str, int]
    """Field -> max length, for every text field."""
    required: tuple[str, ...]
    numbers: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    names_caller: tuple[str, ...] = ()
    """Fields that may only name the caller: naming anyone else is refused (403)."""


DECISION = {"reason": "checked the order", "digest": None, "person": None}
ENDPOINTS: dict[str, Endpoint] = {
    "act": Endpoint(
        path=lambda _: "/v1/actions",
        caller="support-bot",
        template=GOOD_ACTION,
        text_fields={"action": 100, "customer": 100, "channel": 100, "reason": 2000, "action_id": 107, "actor": 100},
        required=("action", "customer", "channel", "reason"),
        numbers=("wait",),
        names_caller=("actor",),
    ),
    "approve": Endpoint(
        path=lambda action_id: f"/v1/actions/{action_id}/approve",
        caller="ana",
        template={"reason": "checked the order"},
        text_fields={"reason": 2000, "digest": 64, "person": 100},
        required=("reason",),
        numbers=("wait",),
        names_caller=("person",),
    ),
    "deny": Endpoint(
        path=lambda action_id: f"/v1/actions/{action_id}/deny",
        caller="ana",
        template={"reason": "not covered"},
        text_fields={"reason": 2000, "digest": 64, "person": 100},
        required=("reason",),
        numbers=("wait",),
        names_caller=("person",),
    ),
    "reverse": Endpoint(
        path=lambda action_id: f"/v1/actions/{action_id}/reverse",
        caller="farid",
        template={"reason": "customer changed their mind"},
        text_fields={"reason": 2000, "person": 100},
        required=("reason",),
        names_caller=("person",),
    ),
    "override": Endpoint(
        path=lambda action_id: f"/v1/actions/{action_id}/override",
        caller="ana",
        template={"reason": "the customer is right"},
        text_fields={"reason": 2000, "person": 100},
        required=("reason",),
        numbers=("wait",),
        names_caller=("person",),
    ),
    "review": Endpoint(
        path=lambda action_id: f"/v1/overrides/{action_id}/review",
        caller="carla",
        template={"reason": "looked at it"},
        text_fields={"reason": 2000, "person": 100},
        required=("reason",),
        names_caller=("person",),
    ),
    "freeze": Endpoint(
        path=lambda _: "/v1/freezes",
        caller="ana",
        template={"actor": "support-bot", "reason": "it misbehaves"},
        text_fields={"actor": 100, "action": 100, "reason": 2000, "person": 100},
        required=("reason",),
        flags=("all",),
        names_caller=("person",),
    ),
    "unfreeze": Endpoint(
        path=lambda _: "/v1/freezes/lift",
        caller="ana",
        template={"actor": "support-bot", "reason": "fixed"},
        text_fields={"actor": 100, "action": 100, "reason": 2000, "person": 100},
        required=("reason",),
        flags=("all",),
        names_caller=("person",),
    ),
    "sign drill": Endpoint(
        path=lambda _: "/v1/drills/refund/signatures",
        caller="farid",
        template={"reason": "watched it pass"},
        text_fields={"reason": 2000, "person": 100},
        required=("reason",),
        names_caller=("person",),
    ),
    "sign charter": Endpoint(
        path=lambda _: "/v1/charter/signatures",
        caller="dana",
        template={"text": "charter: x\n", "function": "legal"},
        text_fields={"text": 60_000, "function": 100, "person": 100},
        required=("text", "function"),
        names_caller=("person",),
    ),
    "shadow": Endpoint(
        path=lambda _: "/v1/charter/shadow",
        caller="dana",
        template={"text": "charter: x\n"},
        text_fields={"text": 60_000, "person": 100},
        required=("text",),
        names_caller=("person",),
    ),
}
"""Every endpoint but `act` is called on actions that do not exist, or by people the reference charter does not
let do it (nobody is in freeze or override roles), or with charters that do not load: only the body is varied,
and a body the endpoint accepted could still change nothing. `act` and `reverse` would start a workflow for a good
body, so they only ever get bad ones."""

not_text = st.one_of(
    st.booleans(), st.integers(), st.floats(), st.lists(junk, max_size=3), st.dictionaries(texts, junk, max_size=3)
)
not_a_wait = st.one_of(
    st.floats(max_value=-0.001),
    st.floats(min_value=300.001),
    st.sampled_from([float("nan"), float("inf"), "soon", "", [], {}, None]),  # (true reads as 1 second)
)
not_a_flag = st.one_of(
    st.sampled_from(["maybe", "", 2, -1, 0.5, [], {}, None]), st.dictionaries(texts, junk, max_size=2)
)
bad_names = st.one_of(
    st.sampled_from(["", " ", "a b", "C-1'", 'C-1"', "C\\1", "C`1", "C\x00", "C\t1", "C\n1"]), huge_texts
)
bad_reasons = st.sampled_from(["", "   ", "\t\n", "why\x00"])
bad_action_ids = st.one_of(
    st.sampled_from(["", "action", "action-", "order-1", "action-a b", "action-%2F", "action-" + "1" * 101]),
    texts.filter(lambda text: not text.startswith("action-")),
)
bad_amounts = st.one_of(
    st.sampled_from(
        ["-5", "-0.01", "40.001", "NaN", "Infinity", "1e400", "forty", "4O", "", "1,000", True, None, [], {}]
    ),
    st.integers(max_value=-1),
    st.floats(max_value=-0.01),
    st.sampled_from([10**13, 1e300, float("nan"), float("-inf")]),
)
bad_charters = st.one_of(
    st.text(max_size=100),
    junk.map(json.dumps),
    st.sampled_from(
        [
            "",
            "charter: x\n",
            "[" * 10_000 + "]" * 10_000,
            "a: &a [*a]",
            "\n".join(
                ['l0: &l0 "lol"', *(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]" for n in range(1, 10))]
            ),
            "version: 1" + "0" * 5000,
        ]
    ),
)


@st.composite
def bad_bodies(draw: st.DrawFn, name: str) -> bytes:
    """A body for endpoint `name` that must be refused before anything happens: not JSON, not an object, a field
    missing, of the wrong type, too long or unknown, a name that is not the caller, or (for actions) a malformed
    name, reason, id or param."""
    endpoint = ENDPOINTS[name]
    body = dict(endpoint.template)
    kinds = ["not json", "not an object", "missing", "wrong type", "too long", "unknown field", "not the caller"]
    if endpoint.numbers:
        kinds.append("bad number")
    if endpoint.flags:
        kinds.append("bad flag")
    if name == "act":
        kinds += ["bad name", "bad reason", "bad action id", "bad params", "bad amount", "missing param", "extra param"]
    if name in ("sign charter", "shadow"):
        kinds.append("bad charter")
    kind = draw(st.sampled_from(kinds))
    if kind == "not json":
        return draw(
            st.one_of(
                st.binary(max_size=50).filter(lambda raw: not _is_json(raw)),
                st.just(b'{"reason": "x", "wait": 1' + b"0" * 5000 + b"}"),
                st.sampled_from([2_000, 30_000]).map(lambda depth: b"[" * depth + b"]" * depth),
                st.just(b'{"reason": "' + b"x" * 70_000 + b'"}'),
            )
        )
    if kind == "not an object":
        return json_bytes(
            draw(st.one_of(st.none(), st.booleans(), st.integers(), texts, st.lists(junk, max_size=3), deep_junk))
        )
    if kind == "missing":
        del body[draw(st.sampled_from(endpoint.required))]
    elif kind == "wrong type":
        field = draw(st.sampled_from(sorted(endpoint.text_fields)))
        body[field] = draw(not_text if field not in endpoint.required else st.one_of(not_text, st.none()))
    elif kind == "too long":
        field = draw(st.sampled_from(sorted(endpoint.text_fields)))
        body[field] = "x" * (endpoint.text_fields[field] + draw(st.sampled_from([1, 1000, 70_000])))
    elif kind == "unknown field":
        field = draw(st.one_of(texts, huge_texts, st.sampled_from(["Reason", "params ", "__proto__", "constructor"])))
        if field in endpoint.text_fields or field in (*endpoint.numbers, *endpoint.flags, *body):
            field = f"{field}_unknown"
        body[field] = draw(junk)
    elif kind == "not the caller":
        field = draw(st.sampled_from(endpoint.names_caller))
        body[field] = draw(
            st.sampled_from(["support-bot", "returns-sync", "ana", "ben", "farid", "nobody"]).filter(
                lambda n: n != endpoint.caller
            )
        )
    elif kind == "bad number":
        body[draw(st.sampled_from(endpoint.numbers))] = draw(not_a_wait)
    elif kind == "bad flag":
        body[draw(st.sampled_from(endpoint.flags))] = draw(not_a_flag)
    elif kind == "bad name":
        body[draw(st.sampled_from(["action", "customer", "channel"]))] = draw(bad_names)
    elif kind == "bad reason":
        body["reason"] = draw(bad_reasons)
    elif kind == "bad action id":
        body["action_id"] = draw(bad_action_ids)
    elif kind == "bad params":
        body["params"] = draw(
            st.one_of(st.none(), st.booleans(), st.integers(), texts, st.lists(junk, max_size=3), deep_junk)
        )
    elif kind == "bad amount":
        body["params"] = {**body["params"], "amount": draw(bad_amounts)}
    elif kind == "missing param":
        params = dict(body["params"])
        del params[draw(st.sampled_from(sorted(params)))]
        body["params"] = params
    elif kind == "extra param":
        params = dict(body["params"])
        params[draw(st.one_of(texts, huge_texts).filter(lambda key: key not in params))] = draw(junk)
        body["params"] = params
    elif kind == "bad charter":
        body["text"] = draw(bad_charters)
    return json_bytes(body)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def assert_refused_clearly(response: httpx.Response) -> None:
    """4xx, the error shape with the CLI's exit code, one clear line; never a 500."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body = response.json()
    assert isinstance(body.get("error"), str), body
    assert body.get("exit_code") == (3 if response.status_code in (401, 403) else 2), (response.status_code, body)
    assert_one_clear_line(body["error"])


action_ids = st.one_of(st.builds(lambda: f"action-{uuid.uuid4()}"), st.sampled_from(["action-1", "action-x"]))


def hammer(api: Api, names: list[str], examples: int) -> Counter[int]:
    """Send `examples` generated bad bodies to the endpoints `names` (from this thread), checking every answer;
    how many answers had each status."""
    seen: Counter[int] = Counter()
    with httpx.Client(base_url=api.url, timeout=60) as http:

        @settings(PROPERTIES, max_examples=examples)
        @given(case=st.sampled_from(names).flatmap(lambda name: st.tuples(st.just(name), action_ids, bad_bodies(name))))
        def sent(case: tuple[str, str, bytes]) -> None:
            name, action_id, body = case
            endpoint = ENDPOINTS[name]
            response = http.post(
                endpoint.path(action_id),
                content=body,
                headers={"Authorization": f"Bearer {api.token(endpoint.caller)}", "Content-Type": "application/json"},
            )
            seen[response.status_code] += 1
            assert_refused_clearly(response)

        sent()
    return seen


def audit_count(api: Api) -> int:
    archive = AuditArchive(api.gate.settings.audit_url)
    try:
        return sum(1 for _ in archive.query())
    finally:
        archive.close()


async def nothing_started_but(stack: Stack, sentinel: str) -> None:
    """Only `sentinel` ever started on the stack's task queue: visibility lags, so wait until it shows, then look."""

    async def started() -> list[str]:
        query = f'TaskQueue = "{stack.task_queue}"'
        return sorted([execution.id async for execution in stack.temporal.list_workflows(query)])

    found = await eventually(started, lambda ids: sentinel in ids, what="the sentinel action in visibility")
    assert found == [sentinel]


async def run_and_check(stack: Stack, tmp_path: Path, names: list[str], *, examples: int) -> None:
    async with serving(stack, tmp_path) as api:
        for endpoint in {ENDPOINTS[name].caller for name in names} | {"support-bot"}:
            api.token(endpoint)  # issuing a key is audited: issue every key before counting
        before = audit_count(api)
        seen = await asyncio.to_thread(hammer, api, names, examples)
        assert sum(seen.values()) >= examples and len(seen) >= 3, seen  # the bodies reached every kind of check
        assert audit_count(api) == before, "a refused request left an audit record"
        freezes, overrides = FreezeBook(api.gate.settings.audit_url), OverrideBook(api.gate.settings.audit_url)
        try:
            assert freezes.all() == [] and overrides.all() == []
        finally:
            freezes.close()
            overrides.close()
        # The sentinel: one good request, so that "nothing else started" is read from visibility that is current.
        sentinel = f"action-{uuid.uuid4()}"
        async with api.client("support-bot") as bot:
            answer = await bot.post("/v1/actions", json={**GOOD_ACTION, "action_id": sentinel, "wait": 0})
        assert answer.status_code in (200, 202), answer.text
        await nothing_started_but(stack, sentinel)


async def test_bad_action_requests_are_refused_clearly_and_start_nothing(stack: Stack, tmp_path: Path) -> None:
    await run_and_check(stack, tmp_path, ["act"], examples=200)


async def test_bad_bodies_for_every_other_write_endpoint_are_refused_clearly_and_do_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    await run_and_check(stack, tmp_path, sorted(name for name in ENDPOINTS if name != "act"), examples=200)
