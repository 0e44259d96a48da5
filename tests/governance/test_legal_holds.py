"""Legal holds through the front door: `cxgov audit hold|holds|release` as people with their own keys, against a
real HTTP server and worker; the chain records who held and released what."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from interventions_kit import Served, serve
from temporalio.testing import WorkflowEnvironment

from cxgov.sandbox import Sandbox

HOLD_ROLES = ("grants:                        # anything", "hold_roles: [finance-ops]\n\ngrants:  # anything")
"""farid (finance-ops) releases holds; anyone with a person's key places them."""


@pytest_asyncio.fixture
async def held(dev_env: WorkflowEnvironment, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Served]:
    async for found in serve(dev_env, sandbox, tmp_path, HOLD_ROLES):
        yield found


async def cli(served: Served, *args: str, person: str, code: int = 0) -> dict[str, Any]:
    """`cxgov ARGS --json` as `person`, off the event loop that serves the API."""
    return await asyncio.to_thread(served.cli, *args, person=person, code=code)


async def test_a_person_holds_a_customer_and_only_the_hold_roles_release_it(held: Served) -> None:
    placed = await cli(held, "audit", "hold", "--customer", "C-100", "--reason", "case 2026-114", person="ana")
    assert (placed["kind"], placed["name"], placed["placed_by"]) == ("customer", "C-100", "ana")
    assert str(placed["placed_via"]).startswith("key k"), "the credential that proved the person is recorded"
    listed = await cli(held, "audit", "holds", person="ben")
    assert [hold["id"] for hold in listed["holds"]] == [placed["id"]]

    both = await cli(
        held, "audit", "hold", "--customer", "C-1", "--actor", "support-bot", "--reason", "x", person="ana", code=2
    )
    assert both["error"] == "name exactly one of --customer C or --actor A"
    bot = await cli(held, "audit", "hold", "--actor", "support-bot", "--reason", "x", person="support-bot", code=3)
    assert bot["error"] == "placing a legal hold is for people; support-bot calls with an actor key"

    refused = await cli(held, "audit", "release", placed["id"], "--reason", "case closed", person="ana", code=3)
    assert refused["error"] == "ana is not in the hold roles (finance-ops: farid)"
    released = await cli(held, "audit", "release", placed["id"], "--reason", "case closed", person="farid")
    assert (released["released_by"], released["release_reason"]) == ("farid", "case closed")
    assert (await cli(held, "audit", "holds", person="ben"))["holds"] == []
    every = await cli(held, "audit", "holds", "--all", person="ben")
    assert [hold["id"] for hold in every["holds"]] == [placed["id"]]
    missing = await cli(held, "audit", "release", placed["id"], "--reason", "again", person="farid", code=2)
    assert "no active legal hold" in missing["error"]

    trail = [(r.kind, r.actor, r.customer, r.reason) for r in held.records("hold_placed", "hold_released")]
    assert trail == [
        ("hold_placed", "ana", "C-100", "case 2026-114"),
        ("hold_released", "farid", "C-100", "case closed"),
    ]
