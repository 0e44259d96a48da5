"""Apprise URLs as channels: checked when the notification file loads, and used to send one message each.

A channel is one Apprise URL of one person or role. Apprise speaks email (`mailto://`, `mailtos://`), Slack
(`slack://`), Microsoft Teams through Power Automate workflows (`workflows://`), webhooks (`json://`,
`form://`, `xml://`) and about a hundred other services; cxgov asks it for nothing else: no configuration
files, no plugin directories, no attachments, no persistent storage, so the only network it reaches is the
channel's own URL, within a timeout.

Secrets. A part of a URL that Apprise itself treats as private, that is the parts it masks when it logs a URL
(a password, as `user:password@` or `?pass=`; each token the service declares private: Slack tokens, Discord
webhook ids and tokens, the Teams workflow and signature, a Telegram bot token, ...), must come from the
environment: its value must be made of `${ENV}` values only (punctuation between them aside). So must a
webhook header (`?+Name=value`) whose name says it is a credential (authorization, token, secret, key, cookie,
password): as in the systems file, its value must contain an `${ENV}` value (`Bearer ${TOKEN}`). Everything else (hosts, ports, recipients, channel names) may be written
into the file. The values taken from the environment are masked in every error message cxgov records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from apprise import (
    Apprise,
    AppriseAsset,
    AppriseResult,
    AppriseResultStatus,
    NotificationManager,
    NotifyFormat,
    NotifyType,
    PersistentStoreMode,
)
from apprise.plugins import url_to_dict

from cxgov.connectors.http_config import SECRET_HEADER

DEFAULT_TIMEOUT = 15.0
"""Seconds one channel may take to accept a message before it counts as failed."""
MAX_ERROR = 500
"""Characters of an error kept in the delivery ledger."""
_SERVICES: Any = NotificationManager()  # type: ignore[no-untyped-call]  # Apprise's one registry of services
"""Apprise's services by scheme (a process-wide singleton)."""
_WEBHOOKS = "for a webhook use json://, form:// or xml:// (jsons://, forms://, xmls:// over HTTPS)"


@dataclass(frozen=True)
class Channel:
    """One Apprise URL of a person or role, with `${ENV}` references already replaced."""

    url: str = field(repr=False)
    """The URL Apprise sends to. It may hold secrets: never logged, stored or shown."""
    scheme: str
    """The Apprise service (`mailto`, `slack`, `json`...): what a delivery or failure shows."""
    fingerprint: str
    """A stable id of the URL as written in the file (its `${ENV}` references, not their values): the
    delivery ledger's key, so a rotated secret does not make a channel new."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """The values taken from the environment, masked in error messages."""

    def mask(self, text: str) -> str:
        """`text` with every value taken from the environment replaced by `****`."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "****")
        return text


def _asset(timeout: float) -> AppriseAsset:
    # Memory-only storage (nothing written under the home directory), no plugin directories scanned, secrets
    # masked in Apprise's own log lines, and a hard limit on how long one service may take.
    return AppriseAsset(
        storage_mode=PersistentStoreMode.MEMORY, secure_logging=True, service_timeout=timeout, plugin_paths=[]
    )


def open_channel(*, written: str, url: str, substituted: Sequence[str]) -> Channel:
    """Check one URL of the notification file with Apprise.

    Args:
        written: The URL as written in the file (with its `${ENV}` references).
        url: The same with the references replaced.
        substituted: The values that replaced them.

    Raises:
        ValueError: Apprise does not know the scheme or cannot use the URL, or a secret is written in it.
            The message never repeats the URL.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if not scheme:
        raise ValueError(f"not an Apprise URL (scheme://...); {_WEBHOOKS}")
    plugin = Apprise.instantiate(url, asset=_asset(DEFAULT_TIMEOUT))
    if plugin is None:
        if scheme in ("http", "https"):
            raise ValueError(f"Apprise does not recognise this {scheme}:// address as a service's URL; {_WEBHOOKS}")
        if scheme not in _SERVICES:
            raise ValueError(f"Apprise has no service {scheme}://; {_WEBHOOKS}")
        raise ValueError(f"Apprise cannot use this {scheme}:// URL: check it against the service's Apprise page")
    parts: dict[str, Any] = url_to_dict(url, secure_logging=True) or {}  # type: ignore[no-untyped-call]
    service = str(parts.get("schema") or scheme)
    for name in _literal_secrets(service, parts, substituted):
        raise ValueError(f"the {name} of this {service}:// URL is written into the file; reference it as ${{ENV}}")
    fingerprint = hashlib.sha256(written.encode()).hexdigest()[:24]
    return Channel(url=url, scheme=service, fingerprint=fingerprint, secrets=tuple(dict.fromkeys(substituted)))


def _literal_secrets(service: str, parts: dict[str, Any], substituted: Sequence[str]) -> list[str]:
    """The names of the URL's private parts whose values do not come from the environment."""
    found: list[str] = []
    for name in sorted(_private_names(service)):
        for value in _strings(parts.get(name)):
            if not _from_environment(value, substituted):
                found.append(name.replace("_", " "))
                break
    headers = parts.get("headers")
    if isinstance(headers, dict):
        for header, value in headers.items():
            # As in the systems file, a credential header needs an ${ENV} in it (`Bearer ${TOKEN}` is fine).
            text = str(value).casefold()
            if SECRET_HEADER.search(str(header)) and not any(s.casefold() in text for s in substituted if s):
                found.append(f"header {header}")
    return found


def _private_names(service: str) -> set[str]:
    """The constructor arguments Apprise declares private for `service` (it masks them in logged URLs)."""
    names = {"password"}
    if service not in _SERVICES:
        return names
    plugin = _SERVICES[service]
    for table in ("template_tokens", "template_args", "template_kwargs"):
        for key, spec in (getattr(plugin, table, None) or {}).items():
            if isinstance(spec, dict) and spec.get("private"):
                names.add(str(spec.get("map_to", key)))
    return names


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple | set):
        return [item for item in value if isinstance(item, str) and item]
    return []


def _from_environment(value: str, substituted: Sequence[str]) -> bool:
    """True when `value` is part of one environment value, or made only of such values and punctuation."""
    forms = sorted({form.casefold() for text in substituted if text for form in (text, unquote(text))}, key=len)
    wanted = value.casefold()
    if any(wanted in form for form in forms):
        return True
    for form in reversed(forms):
        wanted = wanted.replace(form, "")
    return not any(char.isalnum() for char in wanted)


def deliver(channel: Channel, *, title: str, body: str, warning: bool, timeout: float) -> str | None:
    """Send one message through `channel`, within `timeout` seconds.

    Returns:
        None when the service accepted it; otherwise why not, in one line, secrets masked. Never raises for
        a failed delivery.
    """
    try:
        apobj = Apprise(asset=_asset(timeout))
        if not apobj.add(channel.url):
            return f"Apprise no longer accepts this {channel.scheme}:// URL"
        result = apobj.notify(
            body=body,
            title=title,
            notify_type=NotifyType.WARNING if warning else NotifyType.INFO,
            body_format=NotifyFormat.TEXT,
            timeout=timeout,
        )
    except Exception as err:  # a service plugin's own bug must not block an action: it is a failed delivery
        return _short(channel.mask(f"{channel.scheme}: {type(err).__name__}: {err}"))
    if result:
        return None
    return _short(channel.mask(_why(result, channel.scheme, timeout)))


def _why(result: AppriseResult, scheme: str, timeout: float) -> str:
    if result.status == AppriseResultStatus.TIMEOUT:
        return f"{scheme}: no answer within {timeout:g}s"
    lines: list[str] = []
    for service in result:
        if service.status == AppriseResultStatus.TIMEOUT:
            lines.append(f"no answer within {timeout:g}s")
        lines.extend(entry.message.strip() for entry in service.logs() if entry.level in ("WARNING", "ERROR"))
    lines.extend(entry.message.strip() for entry in result.call_logs() if entry.level in ("WARNING", "ERROR"))
    reason = "; ".join(dict.fromkeys(line for line in lines if line))
    return f"{scheme}: {reason or 'the service did not accept the message'}"


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 1] + "…"
