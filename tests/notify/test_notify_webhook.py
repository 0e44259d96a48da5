"""Webhooks through a real HTTP receiver on loopback: JSON and form content, exactly once (also with two
senders at once), a 500 that is recorded, listed by failures() and delivered once after the fix, timeouts and
unreachable receivers that are recorded instead of raised or waited on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from notifykit import ACTION_ID, PUBLIC_URL, Hook, NotifierMaker, notice

from cxgov.notify import Delivery, Event, NotifyRoutes
from cxgov.notify.ledger import Slot

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_a_json_webhook_gets_subject_body_and_link(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"roles:\n  support-leads: {hook.url('json')}\n")
    failed = notice(
        key=f"{ACTION_ID}:compensation_failed:0",
        event=Event.COMPENSATION_FAILED,
        subject="Compensation failed: refund for C-100 could not be undone",
        body="The refund of 120.00 USD was executed, verify failed, and the compensation failed.",
        people=[],
        roles=["support-leads"],
    )
    deliveries = make_notifier(routes).send(failed, now=NOW)

    assert deliveries == [Delivery(target="role:support-leads", ok=True, channel="json")]
    [request] = hook.requests
    assert request.path == "/cxgov"
    assert request.headers["Content-Type"] == "application/json"
    payload = request.json()
    assert payload["title"] == "Compensation failed: refund for C-100 could not be undone"
    assert payload["message"] == (
        "The refund of 120.00 USD was executed, verify failed, and the compensation failed.\n\n"
        f"{PUBLIC_URL}/actions/{ACTION_ID}"
    )
    assert payload["type"] == "warning"  # something broke: not an informational notice


def test_a_form_webhook_gets_the_same_fields(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url('form', '/hooks/cxgov')}\n")
    drill = notice(
        key="drill-refund:drill_failed:2026-01-01T09:00:00Z",
        event=Event.DRILL_FAILED,
        subject="Drill failed: refund",
        body="The reversal drill of refund failed at step verify_restored.",
        action_id=None,
    )
    [delivery] = make_notifier(routes).send(drill, now=NOW)

    assert delivery.ok and delivery.channel == "form"
    [request] = hook.requests
    assert request.path == "/hooks/cxgov"
    form = request.form()
    assert form["title"] == "Drill failed: refund"
    assert form["message"] == f"The reversal drill of refund failed at step verify_restored.\n\n{PUBLIC_URL}/drills"


def test_text_from_requests_arrives_as_written(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    """A reason is the requester's text: nothing in it is expanded (no ${ENV}, no templates) or dropped."""
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    body = "Reason: customer wrote ${HOME} and {{ app_id }} <b>loudly</b> & 100% sure"
    make_notifier(routes, public_url=None).send(notice(subject="Approval needed: ${HOME}", body=body), now=NOW)
    payload = hook.requests[0].json()
    assert (payload["title"], payload["message"]) == ("Approval needed: ${HOME}", body)


def test_without_a_public_url_there_is_no_link(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    make_notifier(routes, public_url=None).send(notice(body="Approve or deny."), now=NOW)
    assert hook.requests[0].json()["message"] == "Approve or deny."


def test_a_500_is_recorded_listed_and_delivered_once_after_the_fix(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    notifier = make_notifier(routes)
    hook.status = 500

    [first] = notifier.send(notice(), now=NOW)
    [second] = notifier.send(notice(), now=NOW + timedelta(minutes=1))
    assert not first.ok and not second.ok
    assert first.error is not None and "500" in first.error and first.error.startswith("json: ")
    [failure] = notifier.failures()
    assert failure.model_dump(exclude={"error"}) == {
        "key": f"{ACTION_ID}:approval_requested:1",
        "event": Event.APPROVAL_REQUESTED,
        "action_id": ACTION_ID,
        "target": "person:maria",
        "channel": "json",
        "at": NOW + timedelta(minutes=1),
        "attempts": 2,
        "subject": "Approval needed: support-bot refund 120 USD for C-100",
    }
    assert "500" in failure.error
    assert notifier.failures(since=NOW + timedelta(minutes=2)) == []

    hook.status = 200
    [fixed] = notifier.send(notice(), now=NOW + timedelta(minutes=2))
    [after] = notifier.send(notice(), now=NOW + timedelta(minutes=3))
    assert fixed == Delivery(target="person:maria", ok=True, channel="json")
    assert after.skipped
    assert [request.answered for request in hook.requests] == [500, 500, 200]
    assert notifier.failures() == []


def test_failures_are_newest_first_and_filtered_by_time(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n  sam: {hook.url()}\n")
    notifier = make_notifier(routes)
    hook.status = 503
    notifier.send(notice(key="k-1"), now=NOW)
    notifier.send(notice(key="k-2", people=["sam"]), now=NOW + timedelta(hours=1))
    notifier.send(notice(key="k-3", people=["maria", "sam"]), now=NOW + timedelta(hours=2))

    listed = [(failure.key, failure.target) for failure in notifier.failures()]
    assert listed[:2] in (
        [("k-3", "person:maria"), ("k-3", "person:sam")],
        [("k-3", "person:sam"), ("k-3", "person:maria")],
    )
    assert listed[2:] == [("k-2", "person:sam"), ("k-1", "person:maria")]
    recent = notifier.failures(since=NOW + timedelta(minutes=30))
    assert sorted((failure.key, failure.target) for failure in recent) == [
        ("k-2", "person:sam"),
        ("k-3", "person:maria"),
        ("k-3", "person:sam"),
    ]


def test_two_senders_at_once_post_once(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    """Two workers running the same notice at the same moment (an activity retried while the first attempt
    still runs): the ledger's claim lets one send; the other reports it busy, then skipped once it is done."""
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    hook.delay = 0.5
    workers = [make_notifier(routes), make_notifier(routes)]
    results: list[list[Delivery]] = []
    start = threading.Barrier(2)

    def run(notifier_index: int) -> None:
        start.wait()
        results.append(workers[notifier_index].send(notice(), now=NOW))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(hook.requests) == 1
    outcomes = sorted((delivery.ok, delivery.error or "") for [delivery] in results)
    assert outcomes[0][0] is False and outcomes[0][1].startswith("another sender has been sending it since")
    assert outcomes[1] == (True, "")
    [later] = workers[0].send(notice(), now=NOW + timedelta(seconds=1))
    assert later.ok and later.skipped
    assert len(hook.requests) == 1


def test_a_sender_that_died_mid_send_is_replaced_after_the_lease(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    notifier = make_notifier(routes, timeout=2.0)
    # A worker claimed the delivery and died before it could send (or record having sent).
    [slot] = notifier.ledger.claim(
        notice=notice(),
        slots=[_slot(routes)],
        now=NOW,
        lease=notifier.lease,
    )
    assert slot.verdict == "send"

    [busy] = notifier.send(notice(), now=NOW + timedelta(seconds=1))
    assert not busy.ok and hook.requests == []
    assert notifier.failures(now=NOW + timedelta(seconds=1)) == []  # still within the lease: not a failure yet
    [stale] = notifier.failures(now=NOW + notifier.lease + timedelta(seconds=1))
    assert stale.error == "the sender stopped while sending: not known whether it arrived"

    [resent] = notifier.send(notice(), now=NOW + notifier.lease + timedelta(seconds=1))
    assert resent.ok and not resent.skipped
    assert len(hook.requests) == 1
    assert notifier.failures(now=NOW + timedelta(hours=1)) == []


def _slot(routes: NotifyRoutes) -> Slot:
    [channel] = routes.person("maria")
    return Slot(target="person:maria", channel=channel.fingerprint, scheme=channel.scheme)


def test_a_receiver_that_does_not_answer_times_out_and_is_recorded(
    hook: Hook, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f"people:\n  maria: {hook.url()}\n")
    hook.delay = 5.0
    started = time.monotonic()
    [delivery] = make_notifier(routes, timeout=1.0).send(notice(), now=NOW)
    elapsed = time.monotonic() - started

    assert not delivery.ok and delivery.error is not None
    assert elapsed < 4.0, f"send waited {elapsed:.1f}s for a receiver that never answers"


def test_an_unreachable_receiver_is_a_recorded_failure(
    routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    closed = Hook()
    url = closed.url()
    closed.stop()  # nothing listens on that port any more
    routes = routes_file(f"people:\n  maria: {url}\n")
    notifier = make_notifier(routes)

    [delivery] = notifier.send(notice(), now=NOW)
    assert not delivery.ok and delivery.error is not None and "json" in delivery.error
    assert [failure.target for failure in notifier.failures()] == ["person:maria"]
