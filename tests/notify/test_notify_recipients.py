"""Who a notice goes to: people, roles (their own channel and their people), recipients without a route
(a recorded failure: nobody was told), notifications off, events switched off, one person with two channels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from notifykit import Hook, NotifierMaker, notice

from cxgov.notify import Delivery, Event, NotifyRoutes

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
MEMBERS = {"support-leads": ["maria", "sam"], "ops": []}


def _members(role: str) -> list[str]:
    return MEMBERS[role]


def test_a_person_without_a_route_is_a_recorded_failure_until_a_route_is_added(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    without_sam = routes_file(f"people:\n  maria: {hook.url()}\n")
    notifier = make_notifier(without_sam)
    deliveries = notifier.send(notice(people=["maria", "sam"]), now=NOW)
    assert deliveries == [
        Delivery(target="person:maria", ok=True, channel="json"),
        Delivery(target="person:sam", ok=False, error="no route for person sam"),
    ]
    notifier.send(notice(people=["maria", "sam"]), now=NOW + timedelta(minutes=1))
    [failure] = notifier.failures()
    assert (failure.target, failure.channel, failure.error, failure.attempts) == (
        "person:sam",
        None,
        "no route for person sam",
        2,
    )
    assert len(hook.requests) == 1  # maria was told once

    with_sam = routes_file(f"people:\n  maria: {hook.url()}\n  sam: {hook.url('json', '/sam')}\n")
    fixed = make_notifier(with_sam).send(notice(people=["maria", "sam"]), now=NOW + timedelta(minutes=2))
    assert fixed == [
        Delivery(target="person:maria", ok=True, channel="json", skipped=True),
        Delivery(target="person:sam", ok=True, channel="json"),
    ]
    assert [request.path for request in hook.requests] == ["/cxgov", "/sam"]
    assert notifier.failures() == []


def test_a_role_with_its_own_channel_covers_its_people_without_one(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(
        f"people:\n  maria: {hook.url('json', '/maria')}\nroles:\n  support-leads: {hook.url('json', '/leads')}\n"
    )
    notifier = make_notifier(routes, members=_members)
    deliveries = notifier.send(notice(people=[], roles=["support-leads"]), now=NOW)

    assert deliveries == [
        Delivery(target="role:support-leads", ok=True, channel="json"),
        Delivery(target="person:maria", ok=True, channel="json"),
    ]
    assert sorted(request.path for request in hook.requests) == ["/leads", "/maria"]
    assert notifier.failures() == []  # sam has no route of his own, but the role's channel told him


def test_a_role_without_a_channel_is_told_through_its_people(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    notifier = make_notifier(routes, members=_members)
    deliveries = notifier.send(notice(people=["maria"], roles=["support-leads", "ops"]), now=NOW)

    assert deliveries == [
        Delivery(target="person:maria", ok=True, channel="json"),
        Delivery(target="person:sam", ok=False, error="no route for person sam (role support-leads)"),
        Delivery(target="role:ops", ok=False, error="no route for role ops, and none for any of its people"),
    ]
    assert len(hook.requests) == 1  # maria is named directly and through her role: told once
    assert sorted(failure.target for failure in notifier.failures()) == ["person:sam", "role:ops"]


def test_without_the_charter_a_role_is_only_its_own_channel(
    routes_file: Callable[..., NotifyRoutes], hook: Hook, make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    [delivery] = make_notifier(routes).send(notice(people=[], roles=["support-leads"]), now=NOW)
    assert delivery == Delivery(
        target="role:support-leads", ok=False, error="no route for role support-leads, and none for any of its people"
    )


def test_a_failing_charter_lookup_is_a_recorded_failure_not_an_exception(
    routes_file: Callable[..., NotifyRoutes], hook: Hook, make_notifier: NotifierMaker
) -> None:
    def broken(role: str) -> list[str]:
        raise RuntimeError("charter not loaded")

    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    [delivery] = make_notifier(routes, members=broken).send(notice(people=[], roles=["ops"]), now=NOW)
    assert delivery.error == "cannot list the people of role ops: charter not loaded"


def test_a_notice_naming_no_one_is_a_recorded_failure(
    routes_file: Callable[..., NotifyRoutes], hook: Hook, make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    notifier = make_notifier(routes)
    assert notifier.send(notice(people=[], roles=[]), now=NOW) == [
        Delivery(target="nobody", ok=False, error="the notice names no person and no role")
    ]
    assert [failure.target for failure in notifier.failures()] == ["nobody"]
    assert hook.requests == []


def test_notifications_off_sends_and_records_nothing(make_notifier: NotifierMaker) -> None:
    notifier = make_notifier(None)
    assert notifier.send(notice(people=["maria", "nobody"]), now=NOW) == []
    assert notifier.failures() == []


def test_an_event_switched_off_in_the_file_is_not_sent(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n  ghost: {hook.url()}\nevents:\n  drill_overdue: false\n")
    notifier = make_notifier(routes)
    overdue = notice(key="drill-refund:drill_overdue:2026-01", event=Event.DRILL_OVERDUE, people=["maria", "sam"])
    assert notifier.send(overdue, now=NOW) == []
    assert hook.requests == [] and notifier.failures() == []
    assert notifier.send(notice(), now=NOW)[0].ok  # other events still go out


def test_each_channel_of_a_person_is_sent_once(
    routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    """maria's Slack-like hook fails while her other hook works: the working one is not sent again when the
    notice is retried, the failing one is; she counts as told meanwhile (not in failures())."""
    working, failing = Hook(), Hook(status=502)
    try:
        routes = routes_file(f'people:\n  maria: ["{working.url()}", "{failing.url("form")}"]\n')
        notifier = make_notifier(routes)
        first = notifier.send(notice(), now=NOW)
        assert [(d.channel, d.ok) for d in first] == [("json", True), ("form", False)]
        assert notifier.failures() == []

        failing.status = 200
        second = notifier.send(notice(), now=NOW + timedelta(minutes=1))
        assert [(d.channel, d.ok, d.skipped) for d in second] == [("json", True, True), ("form", True, False)]
        assert len(working.requests) == 1
        assert [request.answered for request in failing.requests] == [502, 200]
    finally:
        working.stop()
        failing.stop()


def test_values_from_the_environment_are_masked_in_recorded_errors(
    routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    closed = Hook()
    port = closed.port
    closed.stop()
    routes = routes_file(f'people:\n  maria: "json://${{HOOK_HOST}}:{port}/cxgov"\n', env={"HOOK_HOST": "127.0.0.1"})
    notifier = make_notifier(routes)
    [delivery] = notifier.send(notice(), now=NOW)

    assert delivery.error is not None and "****" in delivery.error
    assert "127.0.0.1" not in delivery.error
    assert "127.0.0.1" not in notifier.failures()[0].error


@pytest.mark.parametrize(
    ("action_id", "link"),
    [
        ("action-1", "https://cxgov.example.com/actions/action-1"),
        (None, "https://cxgov.example.com/drills"),
        ("action-a/b?c", "https://cxgov.example.com/actions/action-a%2Fb%3Fc"),
    ],
)
def test_the_link_points_at_the_console_page(make_notifier: NotifierMaker, action_id: str | None, link: str) -> None:
    notifier = make_notifier(None, public_url="https://cxgov.example.com/")
    assert notifier.link(notice(action_id=action_id)) == link
    assert notifier.body(notice(action_id=action_id, body="Line one.\n")) == f"Line one.\n\n{link}"
