"""The notification file: what loads, and one clear error (file, line, key) for each way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from notifykit import write

from cxgov.errors import BadRequest
from cxgov.notify import Event, NotifyError, NotifyRoutes, load_routes
from cxgov.settings import Settings

EXAMPLE = """\
# notify.yaml
people:
  maria: ["mailto://${SMTP_USER}:${SMTP_PASSWORD}@localhost:8025?to=maria@example.com"]
  sam: ["json://hooks.example.com/cxgov"]
roles:
  support-leads: ["slack://${SLACK_TOKEN}/#support-leads"]
  finance: "workflows://prod-01.westus.logic.azure.com:443/${TEAMS_WORKFLOW}/${TEAMS_SIGNATURE}"
events:              # optional; default: every event to its recipients
  drill_overdue: false
"""
ENV = {
    "SMTP_USER": "cxgov",
    "SMTP_PASSWORD": "mail-secret-1",
    "SLACK_TOKEN": "xoxb-1234-5678-slacksecret",
    "TEAMS_WORKFLOW": "a1b2c3d4e5",
    "TEAMS_SIGNATURE": "teams-signature-secret",
}


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> NotifyRoutes:
    return load_routes(write(tmp_path / "notify.yaml", text), env=ENV if env is None else env)


def _error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> NotifyError:
    with pytest.raises(NotifyError) as caught:
        _load(tmp_path, text, env)
    return caught.value


def test_the_example_file_loads(tmp_path: Path) -> None:
    routes = _load(tmp_path, EXAMPLE)

    assert {name: [c.scheme for c in channels] for name, channels in routes.people.items()} == {
        "maria": ["mailto"],
        "sam": ["json"],
    }
    assert {name: [c.scheme for c in channels] for name, channels in routes.roles.items()} == {
        "support-leads": ["slack"],
        "finance": ["workflows"],
    }
    assert [event for event in Event if not routes.sends(event)] == [Event.DRILL_OVERDUE]
    assert routes.person("nobody") == () and routes.role("nobody") == ()
    assert routes.person("maria")[0].url.startswith("mailto://cxgov:mail-secret-1@localhost:8025")
    shown = repr(routes)
    assert not any(secret in shown for secret in ENV.values())


def test_a_rotated_secret_keeps_the_channel(tmp_path: Path) -> None:
    """The delivery ledger knows a channel by the URL as written, so a new token does not resend old notices."""
    before = _load(tmp_path, EXAMPLE).role("support-leads")[0]
    after = _load(tmp_path, EXAMPLE, {**ENV, "SLACK_TOKEN": "xoxb-9999-9999-rotated"}).role("support-leads")[0]
    assert before.fingerprint == after.fingerprint
    assert before.url != after.url


def test_an_env_default_is_used_and_the_same_url_twice_is_one_channel(tmp_path: Path) -> None:
    routes = _load(
        tmp_path,
        'people:\n  sam: ["json://${HOOK_HOST:-hooks.example.com}/cxgov", "json://${HOOK_HOST:-hooks.example.com}/cxgov"]\n',
        env={},
    )
    [channel] = routes.person("sam")
    assert channel.url == "json://hooks.example.com/cxgov"


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        ("people:\n  sam: json://x/y\nchannels: {}\n", 3, "channels", "Extra inputs are not permitted"),
        ("people:\n  sam: json://x/y\nevents:\n  drill_overdu: false\n", 4, "events.drill_overdu", "Input should be"),
        ("people:\n  sam: []\n", 2, "people.sam", "should have at least 1 item"),
        ("people:\n  sam: [42]\n", 2, "people.sam[0]", "Input should be a valid string"),
        (
            "people:\n  sam:\n    - json://x/y\n    - ${HOOK}\n",
            4,
            "people.sam[1]",
            "environment variable HOOK is not set",
        ),
        ("roles:\n  leads: jsn://hooks.example.com\n", 2, "roles.leads[0]", "Apprise has no service jsn://"),
        ("roles:\n  leads: hooks.example.com/x\n", 2, "roles.leads[0]", "not an Apprise URL (scheme://...)"),
        ("roles:\n  leads: https://example.com/x\n", 2, "roles.leads[0]", "does not recognise this https:// address"),
        ("roles:\n  leads: slack://\n", 2, "roles.leads[0]", "Apprise cannot use this slack:// URL"),
    ],
    ids=[
        "unknown-key",
        "unknown-event",
        "no-url",
        "not-a-string",
        "unset-env",
        "bad-scheme",
        "no-scheme",
        "plain-https",
        "unusable",
    ],
)
def test_each_problem_is_one_error_naming_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, problem: str
) -> None:
    error = _error(tmp_path, text, env={})
    assert isinstance(error, BadRequest) and error.exit_code == 2
    assert (error.path, error.line, error.key) == (str(tmp_path / "notify.yaml"), line, key)
    assert problem in error.problem
    assert str(error).startswith(f"{tmp_path / 'notify.yaml'}:{line}: {key}: ")


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("mailto://cxgov:hunter2@smtp.example.com?to=maria@example.com", "the password of this mailto:// URL"),
        ("mailto://smtp.example.com?to=maria@example.com&user=cxgov&pass=hunter2", "the password of this mailto://"),
        ("slack://xoxb-1234-5678-abcdef/#support-leads", "the access token of this slack:// URL"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#leads", "token a of this slack:// URL"),
        (
            "workflows://prod-01.westus.logic.azure.com:443/${TEAMS_WORKFLOW}/sig123",
            "the signature of this workflows://",
        ),
        ("json://hooks.example.com/cxgov?+Authorization=Bearer%20abc123", "the header Authorization of this json://"),
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "of this slack:// URL"),
    ],
    ids=["mail-password", "mail-pass-param", "slack-bot-token", "slack-webhook", "teams-signature", "header", "native"],
)
def test_a_secret_written_into_the_file_is_refused(tmp_path: Path, url: str, part: str) -> None:
    error = _error(tmp_path, f'roles:\n  leads:\n    - "json://hooks.example.com/ok"\n    - "{url}"\n')
    assert (error.line, error.key) == (4, "roles.leads[1]")
    assert part in error.problem and "reference it as ${ENV}" in error.problem
    assert url not in str(error)  # the message names the part; it does not repeat the URL


@pytest.mark.parametrize(
    "url",
    [
        "json://hooks.example.com/cxgov?+Authorization=Bearer%20${HOOK_TOKEN}",
        "mailto://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com?to=maria@example.com",
        "mailto://smtp.example.com?to=maria@example.com&user=cxgov&pass=${SMTP_PASSWORD}",
        "${SLACK_WEBHOOK_URL}",
        "slack://${SLACK_TOKEN}/#support-leads",
        "mailto://localhost:25?to=maria@example.com&from=cxgov@example.com",
    ],
)
def test_secrets_from_the_environment_and_urls_without_secrets_load(tmp_path: Path, url: str) -> None:
    env = {
        **ENV,
        "HOOK_TOKEN": "hook-token-1",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
    }
    [channel] = _load(tmp_path, f'people:\n  maria: "{url}"\n', env).person("maria")
    assert channel.scheme in ("json", "mailto", "slack")


def test_a_file_that_routes_nobody_or_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    assert "routes nobody" in _error(tmp_path, "events:\n  expired: true\n").problem
    assert "must be a mapping" in _error(tmp_path, "- json://x/y\n").problem
    missing = tmp_path / "absent.yaml"
    with pytest.raises(NotifyError, match=r"absent\.yaml: file not found"):
        load_routes(missing, env={})


def test_names_the_charter_does_not_have_are_listed(tmp_path: Path) -> None:
    routes = _load(tmp_path, EXAMPLE)
    problems = routes.unknown_names(people=["maria"], roles=["support-leads", "finance"])
    assert problems == [f"{tmp_path / 'notify.yaml'}: people.sam: sam is not a person of the charter"]


def test_settings_read_the_notification_file_and_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXGOV_NOTIFY", raising=False)
    monkeypatch.delenv("CXGOV_PUBLIC_URL", raising=False)
    monkeypatch.setenv("CXGOV_HTTP_ADDRESS", "localhost:8123")
    default = Settings()
    assert default.notify_path is None
    assert default.public_url == "http://localhost:8123"

    monkeypatch.setenv("CXGOV_NOTIFY", "/etc/cxgov/notify.yaml")
    monkeypatch.setenv("CXGOV_PUBLIC_URL", "https://cxgov.example.com/")
    configured = Settings()
    assert configured.notify_path == Path("/etc/cxgov/notify.yaml")
    assert configured.public_url == "https://cxgov.example.com"
