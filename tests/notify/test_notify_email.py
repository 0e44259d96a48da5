"""Email through a real SMTP server (aiosmtpd on loopback): content, link, recipient, credentials from the
environment, exactly once, and a refused delivery that is recorded instead of raised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from notifykit import ACTION_ID, PUBLIC_URL, Mailbox, NotifierMaker, notice

from cxgov.notify import Delivery, NotifyRoutes, load_routes

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_an_approval_request_arrives_by_mail_with_summary_and_link(
    mailbox: Mailbox, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f'people:\n  maria: ["{mailbox.url("maria@example.com")}"]\n')
    deliveries = make_notifier(routes).send(notice(), now=NOW)

    assert deliveries == [Delivery(target="person:maria", ok=True, channel="mailto")]
    [mail] = mailbox.mails
    assert mail.recipients == ["maria@example.com"]
    assert mail.sender == "cxgov@example.com"
    assert mail.subject == "Approval needed: support-bot refund 120 USD for C-100"
    assert mail.text.replace("\r\n", "\n").strip() == (
        "support-bot asks to refund 120.00 USD on order O-1 for C-100.\n"
        "Decide before 2026-01-01 10:00 UTC.\n"
        "\n"
        f"{PUBLIC_URL}/actions/{ACTION_ID}"
    )


def test_smtp_credentials_come_from_the_environment(tmp_path: Path, make_notifier: NotifierMaker) -> None:
    server = Mailbox(login=("cxgov-mailer", "p@ss word/1"))
    try:
        path = tmp_path / "notify.yaml"
        path.write_text(
            "people:\n"
            f'  maria: ["mailto://${{SMTP_USER}}:${{SMTP_PASSWORD}}@127.0.0.1:{server.port}'
            '?to=maria@example.com&from=cxgov@example.com"]\n'
        )
        # Special characters in a secret are percent-encoded in the variable, as in any URL.
        routes = load_routes(path, env={"SMTP_USER": "cxgov-mailer", "SMTP_PASSWORD": "p%40ss%20word%2F1"})
        [delivery] = make_notifier(routes).send(notice(), now=NOW)
        assert delivery.ok, delivery.error
        assert server.logins == ["cxgov-mailer"]
        assert [mail.recipients for mail in server.mails] == [["maria@example.com"]]

        wrong = load_routes(path, env={"SMTP_USER": "cxgov-mailer", "SMTP_PASSWORD": "not-the-password"})
        [refused] = make_notifier(wrong).send(notice(key="other-key"), now=NOW)
        assert not refused.ok
        assert refused.error is not None and refused.error.startswith("mailto: ")
        assert "not-the-password" not in refused.error
        assert len(server.mails) == 1
    finally:
        server.stop()


def test_the_same_notice_is_mailed_once_even_by_a_restarted_worker(
    mailbox: Mailbox, routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    routes = routes_file(f'people:\n  maria: ["{mailbox.url("maria@example.com")}"]\n')
    first = make_notifier(routes)
    assert first.send(notice(), now=NOW) == [Delivery(target="person:maria", ok=True, channel="mailto")]
    again = first.send(notice(), now=NOW + timedelta(seconds=5))
    first.close()
    restarted = make_notifier(routes).send(notice(), now=NOW + timedelta(minutes=1))

    skipped = Delivery(target="person:maria", ok=True, channel="mailto", skipped=True)
    assert again == [skipped]
    assert restarted == [skipped]
    assert len(mailbox.mails) == 1
    # The next ladder phase is a new notice: it is sent.
    make_notifier(routes).send(notice(key=f"{ACTION_ID}:approval_requested:2"), now=NOW + timedelta(hours=1))
    assert len(mailbox.mails) == 2


def test_a_refused_mail_is_recorded_not_raised(
    routes_file: Callable[..., NotifyRoutes], make_notifier: NotifierMaker
) -> None:
    server = Mailbox(login=("cxgov-mailer", "right"))  # refuses mail without a login
    try:
        routes = routes_file(f'people:\n  maria: ["{server.url("maria@example.com")}"]\n')
        notifier = make_notifier(routes)
        [refused] = notifier.send(notice(), now=NOW)
        assert not refused.ok and refused.channel == "mailto" and refused.error
        [failure] = notifier.failures()
        assert (failure.target, failure.channel, failure.attempts, failure.action_id) == (
            "person:maria",
            "mailto",
            1,
            ACTION_ID,
        )
        assert server.mails == []
    finally:
        server.stop()
