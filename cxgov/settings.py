"""Settings from the environment, with defaults that make the embedded stack work with no setup."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import make_url

SEARCH_ATTRIBUTES: dict[str, str] = {
    "CxActor": "Keyword",
    "CxAction": "Keyword",
    "CxCustomer": "Keyword",
    "CxStatus": "Keyword",
    "CxAmount": "Double",
    "CxChannel": "Keyword",
    "CxCharterVersion": "Int",
}
"""Custom search attributes every action workflow upserts, with their Temporal types."""

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _examples() -> Path:
    """examples/ of a source checkout (editable install), else the copy a wheel installs under share/."""
    checkout = PACKAGE_ROOT / "examples"
    if (checkout / "charter.yaml").exists():
        return checkout
    return Path(sys.prefix) / "share" / "cxgov" / "examples"


EXAMPLES = _examples()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as err:
        from cxgov.errors import BadRequest

        raise BadRequest(f"{name}={raw!r} is not a number of seconds") from err


def _env_int(name: str, default: int, *, least: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if raw.strip().lstrip("+-").isdigit() else None
    if value is None or value < least:
        from cxgov.errors import BadRequest

        raise BadRequest(f"{name}={raw!r} is not a whole number of at least {least}")
    return value


COMPENSATION_ATTEMPTS = 10
"""The default of CXGOV_COMPENSATION_ATTEMPTS."""
RETENTION_FLOOR_DAYS = 365
"""The default of CXGOV_RETENTION_FLOOR_DAYS: the fewest days any charter may keep audit records."""


def retention_floor_days() -> int:
    """CXGOV_RETENTION_FLOOR_DAYS (default 365): a charter whose `retention_days` is lower is refused, and no purge
    ever removes a record younger than this. Set by whoever runs the workers, outside the charter, so that a
    charter change alone cannot shorten how long evidence is kept.

    Raises:
        BadRequest: The variable is not a whole number of days of at least 1.
    """
    raw = os.environ.get("CXGOV_RETENTION_FLOOR_DAYS", "").strip()
    if not raw:
        return RETENTION_FLOOR_DAYS
    if not raw.isdigit() or int(raw) < 1:
        from cxgov.errors import BadRequest

        raise BadRequest(f"CXGOV_RETENTION_FLOOR_DAYS={raw!r} is not a whole number of days (1 or more)")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    """Where cxgov keeps its state and how it reaches Temporal."""

    home: Path = field(default_factory=lambda: Path(os.environ.get("CXGOV_HOME", ".cxgov")))
    """Local state: sandbox database, Temporal dev server database, logs."""

    temporal_address: str = field(default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_ADDRESS", "localhost:7233"))
    """host:port of the Temporal frontend; `cxgov up` binds its embedded server here."""

    namespace: str = field(default_factory=lambda: os.environ.get("CXGOV_NAMESPACE", "default"))
    """Temporal namespace for every cxgov workflow."""

    task_queue: str = field(default_factory=lambda: os.environ.get("CXGOV_TASK_QUEUE", "cxgov"))
    """Task queue the worker polls and the client starts workflows on."""

    charter_path: Path = field(
        default_factory=lambda: Path(os.environ.get("CXGOV_CHARTER", str(EXAMPLES / "charter.yaml")))
    )
    """The signed charter the worker decides with."""

    sandbox_seed: Path = field(
        default_factory=lambda: Path(os.environ.get("CXGOV_SANDBOX", str(EXAMPLES / "sandbox.yaml")))
    )
    """Seed file the sandbox system of record loads its world from."""

    systems_path: Path | None = field(
        default_factory=lambda: Path(os.environ["CXGOV_SYSTEMS"]) if os.environ.get("CXGOV_SYSTEMS") else None
    )
    """The systems file binding each charter action to a system of record; None: the built-in sandbox serves all."""

    database_url: str | None = field(default_factory=lambda: os.environ.get("CXGOV_DATABASE_URL") or None)
    """Audit archive database URL; SQLite under `home` when unset."""
    retention_database_url: str | None = field(
        default_factory=lambda: os.environ.get("CXGOV_RETENTION_DATABASE_URL") or None, repr=False
    )
    """The retention purge's own connection (on PostgreSQL, a role that may delete past retention); unset: the
    audit database's URL. The app role of `cxgov audit migrate --app-role` may not delete."""

    activity_timeout: float = field(default_factory=lambda: _env_float("CXGOV_ACTIVITY_TIMEOUT", 10.0))
    """Start-to-close timeout (seconds) of connector activities: how soon a crashed worker's step is retried."""

    compensation_attempts: int = field(
        default_factory=lambda: _env_int("CXGOV_COMPENSATION_ATTEMPTS", COMPENSATION_ATTEMPTS, least=1)
    )
    """How many times the saga tries a compensation before it ends `compensation_failed` and tells the reversal
    owner role: 1 s apart at first, doubling to at most 30 s (10 attempts span about 2.5 minutes), so a system of
    record that is down for a moment is undone once it is back instead of paging a person."""

    http_address: str = field(default_factory=lambda: os.environ.get("CXGOV_HTTP_ADDRESS", "localhost:8000"))
    """host:port the HTTP server (API, MCP, console) binds."""

    api_url_setting: str | None = field(default_factory=lambda: os.environ.get("CXGOV_API_URL") or None)
    """Where the CLI reaches the HTTP API; default http://CXGOV_HTTP_ADDRESS."""

    public_url_setting: str | None = field(default_factory=lambda: os.environ.get("CXGOV_PUBLIC_URL") or None)
    """The console's address as people reach it, for the links in notifications; default http://CXGOV_HTTP_ADDRESS."""

    notify_path: Path | None = field(
        default_factory=lambda: Path(os.environ["CXGOV_NOTIFY"]) if os.environ.get("CXGOV_NOTIFY") else None
    )
    """The notification file routing events to people and roles (Apprise URLs); None: notifications are off."""

    token: str | None = field(default_factory=lambda: os.environ.get("CXGOV_TOKEN") or None, repr=False)
    """The CLI's credential (a key or an OIDC token); without it, the key file of --actor/--as in `keys_dir`."""

    temporal_tls_cert: str | None = field(default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_TLS_CERT") or None)
    """PEM client certificate for mTLS to Temporal (with CXGOV_TEMPORAL_TLS_KEY)."""

    temporal_tls_key: str | None = field(default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_TLS_KEY") or None)
    """PEM private key of the client certificate."""

    temporal_tls_ca: str | None = field(default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_TLS_CA") or None)
    """PEM CA bundle that signed the server's certificate (default: the system's roots)."""

    temporal_tls: bool = field(default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_TLS", "") in ("1", "true", "on"))
    """TLS without client certificates (Temporal Cloud with an API key); implied by any TLS file."""

    temporal_api_key: str | None = field(
        default_factory=lambda: os.environ.get("CXGOV_TEMPORAL_API_KEY") or None, repr=False
    )
    """An API key for Temporal Cloud or a secured cluster (sent as a bearer token; implies TLS)."""

    signing_key_setting: str | None = field(default_factory=lambda: os.environ.get("CXGOV_SIGNING_KEY") or None)
    """The HTTP server's Ed25519 key file; default CXGOV_HOME/signing.key (created when missing)."""

    worker_key_setting: str | None = field(default_factory=lambda: os.environ.get("CXGOV_WORKER_KEY") or None)
    """The workers' shared seal secret file; default CXGOV_HOME/worker.key (created when missing)."""

    trusted_keys_setting: str | None = field(default_factory=lambda: os.environ.get("CXGOV_TRUSTED_KEYS") or None)
    """Public keys of the servers whose signatures the worker accepts; default: the key of CXGOV_SIGNING_KEY."""

    oidc_issuer: str | None = field(default_factory=lambda: os.environ.get("CXGOV_OIDC_ISSUER") or None)
    """The OIDC issuer whose tokens sign people in (none: keys only)."""

    oidc_audience: str = field(default_factory=lambda: os.environ.get("CXGOV_OIDC_AUDIENCE", "cxgov"))
    """The audience an OIDC token must carry."""

    oidc_claim: str = field(default_factory=lambda: os.environ.get("CXGOV_OIDC_CLAIM", "preferred_username"))
    """The OIDC claim that names the person (it must be one of the charter's people)."""

    oidc_client_id: str | None = field(default_factory=lambda: os.environ.get("CXGOV_OIDC_CLIENT_ID") or None)
    """The console's OIDC client id: with CXGOV_OIDC_ISSUER, the console offers "Sign in with SSO" (code flow)."""

    oidc_client_secret: str | None = field(
        default_factory=lambda: os.environ.get("CXGOV_OIDC_CLIENT_SECRET") or None, repr=False
    )
    """The console's OIDC client secret (client_secret_basic at the issuer's token endpoint)."""

    tracing: str = field(default_factory=lambda: os.environ.get("CXGOV_TRACING", "off"))
    """`off` (default), `console`, or `otlp` (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT)."""

    @property
    def sandbox_path(self) -> Path:
        """SQLite file of the sandbox system of record."""
        return self.home / "sandbox.db"

    @property
    def api_url(self) -> str:
        """The HTTP API's base URL for clients: CXGOV_API_URL, or the address `cxgov up` serves it on."""
        return (self.api_url_setting or f"http://{self.http_address}").rstrip("/")

    @property
    def public_url(self) -> str:
        """The console's base URL in notification links: CXGOV_PUBLIC_URL, or the address `cxgov up` serves it on."""
        return (self.public_url_setting or f"http://{self.http_address}").rstrip("/")

    @property
    def signing_key_path(self) -> Path:
        return Path(self.signing_key_setting) if self.signing_key_setting else self.home / "signing.key"

    @property
    def worker_key_path(self) -> Path:
        return Path(self.worker_key_setting) if self.worker_key_setting else self.home / "worker.key"

    @property
    def keys_dir(self) -> Path:
        """Where `cxgov up` keeps one key file per actor and person (mode 0600): holding one is being them."""
        return self.home / "keys"

    @property
    def audit_url(self) -> str:
        """The audit archive's database URL: CXGOV_DATABASE_URL, or a SQLite file under `home`."""
        return self.database_url or f"sqlite:///{self.home / 'audit.db'}"

    @property
    def ui_address(self) -> str:
        """Temporal UI address: the frontend port + 1000."""
        host, _, port = self.temporal_address.rpartition(":")
        return f"http://{host or 'localhost'}:{int(port) + 1000}"


def shown_url(url: str) -> str:
    """A database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy parses: shown as given, it holds no password we could find
        return url
