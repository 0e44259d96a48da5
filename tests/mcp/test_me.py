"""`GET /v1/me`: who the credential proves and what the charter lets them do, which each agent's MCP tools are
built from. The principal comes from the credential; a person holds the grants of their roles."""

from __future__ import annotations

from api.apikit import Api


async def me(api: Api, name: str) -> dict[str, object]:
    async with api.client(name) as http:
        answer = await http.get("/v1/me")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, dict)
    return body


async def test_an_agent_sees_its_grants_with_their_limits_and_the_ladder_above_them(api: Api) -> None:
    bot = await me(api, "support-bot")
    assert (bot["principal"], bot["kind"], bot["actor_kind"], bot["currency"]) == (
        "support-bot",
        "actor",
        "ai_agent",
        "USD",
    )
    assert str(bot["via"]).startswith("key k")
    actions = {entry["action"]: entry for entry in bot["actions"]}  # type: ignore[attr-defined]
    assert list(actions) == ["refund", "change_address", "cancel_order", "book_appointment"]
    refund = actions["refund"]
    assert refund["params"] == {"order_id": "string", "sku": "string", "amount": "money"}
    assert refund["amount_param"] == "amount" and refund["excluded_skus"] == ["FINAL-*", "GIFT-*"]
    assert refund["grant"] == {
        "grantee": "actor support-bot",
        "max_amount": "200",
        "approve_above": "50",
        "require_approval": False,
        "channels": ["chat", "email"],
        "segments": ["standard", "gold"],
        "budget": {"per": "1d", "count": 300, "amount": "5000"},
    }
    assert refund["reversal"]["reversible"] is True and refund["reversal"]["owner"] == "finance-ops"
    steps = [
        (step["role"], [p["person"] for p in step["people"]], step["covering"]) for step in refund["approval"]["steps"]
    ]
    assert steps == [("support-lead", ["ana", "ben"], None), ("duty-manager", ["carla"], "support-lead")]
    assert refund["approval"]["step_timeout"] == "4h"
    assert bot["standing"] == {"suspended": False, "overdue_since": None, "owner": "ana"}


async def test_a_person_holds_the_grants_of_their_roles_and_a_person_without_any_holds_none(api: Api) -> None:
    omar = await me(api, "omar")
    assert (omar["kind"], omar["roles"]) == ("person", ["tier1"])
    grants = {entry["action"]: entry["grant"] for entry in omar["actions"]}  # type: ignore[attr-defined]
    assert list(grants) == ["refund", "cancel_order"]
    assert (grants["refund"]["grantee"], grants["refund"]["max_amount"], grants["refund"]["approve_above"]) == (
        "role tier1",
        "1000",
        "300",
    )
    dana = await me(api, "dana")
    assert (dana["roles"], dana["actions"]) == (["legal"], [])


async def test_an_overdue_actor_sees_its_irreversible_grant_and_why_it_is_blocked(api: Api) -> None:
    partner = await me(api, "insights-partner")
    assert partner["standing"] == {"suspended": False, "overdue_since": "2026-06-01", "owner": "ana"}
    [share] = partner["actions"]  # type: ignore[misc]
    assert share["action"] == "share_customer_data" and share["params"] == {"recipient": "string", "fields": "list"}
    assert (share["reversal"]["kind"], share["reversal"]["reversible"]) == ("irreversible", False)
    assert share["grant"]["require_approval"] is True


async def test_me_needs_a_credential_and_is_in_the_openapi_document_while_mcp_is_not(api: Api) -> None:
    async with api.client() as anonymous:
        assert (await anonymous.get("/v1/me")).status_code == 401
        spec = (await anonymous.get("/openapi.json")).json()
    assert "/v1/me" in spec["paths"] and "/mcp" not in spec["paths"]
    assert "PrincipalGrants" in spec["components"]["schemas"]
