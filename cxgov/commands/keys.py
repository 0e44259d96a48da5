"""`cxgov keys`: credentials for every actor and person. A name is not an identity; holding a key is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from cxgov.charter import load_charter, parse_duration
from cxgov.commands.common import JsonOpt, command, emit, settings
from cxgov.errors import BadRequest

keys_app = typer.Typer(
    help="Credentials: issue a key to an actor or a person of the charter, list keys, revoke one.",
    no_args_is_help=True,
)


@keys_app.command("issue")
@command
def keys_issue(
    actor: Annotated[str | None, typer.Option(help="An actor of the charter (support-bot, ...).")] = None,
    person: Annotated[str | None, typer.Option(help="A person of the charter (ana, ...).")] = None,
    expires: Annotated[
        str, typer.Option(help="How long the key is valid: 30d, 90d, 12h; 'never' for no expiry.")
    ] = "90d",
    as_json: JsonOpt = False,
) -> None:
    """Issue a key. The token is printed once and never again: only its hash is kept.

    Prints {"key_id", "principal", "kind", "expires", "token"}. Exit 2 when the name is not an actor or
    person of the active charter.
    """
    from cxgov.identity import KeyStore

    if (actor is None) == (person is None):
        raise BadRequest("give exactly one of --actor NAME or --person NAME", field="actor")
    config = settings()
    charter = load_charter(config.charter_path)
    name, kind = (actor, "actor") if actor is not None else (person, "person")
    assert name is not None
    known = charter.actors if kind == "actor" else charter.people
    if name not in known:
        raise BadRequest(
            f"{name!r} is not {'an actor' if kind == 'actor' else 'a person'} of charter {charter.charter} "
            f"v{charter.version} (known: {', '.join(known) or 'none'})",
            field=kind,
        )
    try:
        lifetime = None if expires == "never" else parse_duration(expires)
    except ValueError as err:
        raise BadRequest(f"--expires: {err}", field="expires") from None
    store = KeyStore(config.audit_url)
    try:
        issued = store.issue(
            principal=name, kind="actor" if kind == "actor" else "person", expires_in=lifetime, now=_now()
        )
    finally:
        store.close()
    until = issued.expires.isoformat(timespec="seconds") if issued.expires else "never"
    emit(
        issued.model_dump(mode="json"),
        f"key {issued.key_id} for {kind} {name}, expires {until}\n{issued.token}\n"
        "(this token is shown once: store it where only its holder can read it)",
    )


@keys_app.command("list")
@command
def keys_list(as_json: JsonOpt = False) -> None:
    """Every key ever issued: id, principal, kind, issued, expires, and whether it is active, expired or revoked."""
    from cxgov.identity import KeyStore

    store = KeyStore(settings().audit_url)
    try:
        keys = store.list(now=_now())
    finally:
        store.close()
    lines = [
        f"{key.key_id}  {key.kind:6} {key.principal:18} {key.state:8} issued {key.issued:%Y-%m-%d %H:%M}  "
        f"expires {key.expires.strftime('%Y-%m-%d %H:%M') if key.expires else 'never'}"
        for key in keys
    ]
    emit({"keys": [key.model_dump(mode="json") for key in keys]}, "\n".join(lines) or "no keys issued")


@keys_app.command("revoke")
@command
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id printed by `keys issue` or `keys list` (k...).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: every request with it is refused (401) from now on."""
    from cxgov.identity import KeyStore

    store = KeyStore(settings().audit_url)
    try:
        key = store.revoke(key_id=key_id, now=_now())
    finally:
        store.close()
    emit(key.model_dump(mode="json"), f"revoked {key.key_id} ({key.kind} {key.principal})")


def _now() -> datetime:
    return datetime.now(UTC)
