"""The notification file (`CXGOV_NOTIFY`): where each person and role hears about events, as Apprise URLs.

```yaml
people:                        # charter people -> their Apprise URLs (one URL, or a list)
  maria: ["mailto://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.com:587?to=maria@example.com"]
  sam: "json://hooks.example.com/cxgov"
roles:                         # charter roles -> a channel of the whole role (optional)
  support-leads: ["slack://${SLACK_TOKEN}/#support-leads"]
events:                        # optional; every event is sent unless switched off here
  drill_overdue: false
```

`${NAME}` (or `${NAME:-default}`) is replaced by the environment variable NAME when the file loads, as in the
systems file; an unset variable is an error naming it. Secrets must come that way: see `cxgov.notify.channels`
for the exact rule. Every URL is checked with Apprise when the file loads, so that a typo stops the worker at
start, not a notification at 3 a.m. Any problem names the file, the line and the key, and nothing loads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cxgov.charter.models import Name
from cxgov.errors import SourceError
from cxgov.notify.channels import Channel, open_channel
from cxgov.notify.models import Event
from cxgov.yamlsource import Loc, YamlSource, expand_env, load_yaml


class NotifyError(SourceError):
    """The notification file (CXGOV_NOTIFY) does not load; nothing from it is used."""


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


UrlList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4000)]],
    BeforeValidator(_one_or_many),
    Field(min_length=1, max_length=20),
]


class _NotifyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    people: dict[Name, UrlList] = Field(default_factory=dict)
    roles: dict[Name, UrlList] = Field(default_factory=dict)
    events: dict[Event, bool] = Field(default_factory=dict)


@dataclass(frozen=True)
class NotifyRoutes:
    """The loaded notification file: each person's and role's channels, and the events switched off."""

    path: str
    people: Mapping[str, tuple[Channel, ...]] = field(default_factory=dict)
    roles: Mapping[str, tuple[Channel, ...]] = field(default_factory=dict)
    switched_off: frozenset[Event] = frozenset()

    def sends(self, event: Event) -> bool:
        """Whether notices of `event` are sent at all (the file's `events` may switch one off)."""
        return event not in self.switched_off

    def person(self, name: str) -> tuple[Channel, ...]:
        """The person's channels; empty when the file has no route for them."""
        return self.people.get(name, ())

    def role(self, name: str) -> tuple[Channel, ...]:
        """The role's own channels (a team channel or list); empty when it has none."""
        return self.roles.get(name, ())

    def unknown_names(self, *, people: Iterable[str], roles: Iterable[str]) -> list[str]:
        """Names the file routes that the charter does not have (a typo, or someone who left), one line each."""
        known_people, known_roles = set(people), set(roles)
        problems = [
            f"{self.path}: people.{name}: {name} is not a person of the charter"
            for name in self.people
            if name not in known_people
        ]
        problems += [
            f"{self.path}: roles.{name}: {name} is not a role of the charter"
            for name in self.roles
            if name not in known_roles
        ]
        return problems


def load_routes(path: Path, *, env: Mapping[str, str] = os.environ) -> NotifyRoutes:
    """Load and check the notification file at `path`.

    Args:
        path: The file (CXGOV_NOTIFY).
        env: Where `${NAME}` references are looked up (default: the process environment).

    Raises:
        NotifyError: A BadRequest naming the file, the line and the key: the file is missing or not YAML, a
            key is unknown, a variable is not set, Apprise cannot use a URL, or a secret is written in one.
    """
    source = load_yaml(path, NotifyError)
    if not isinstance(source.data, dict):
        raise source.error(NotifyError, (), "the notification file must be a mapping with `people` and `roles`")
    config = source.validate(_NotifyFile, NotifyError)
    if not config.people and not config.roles:
        raise source.error(NotifyError, (), "the notification file routes nobody: give `people` or `roles` URLs")
    return NotifyRoutes(
        path=str(path),
        people={name: _channels(source, ("people", name), urls, env) for name, urls in config.people.items()},
        roles={name: _channels(source, ("roles", name), urls, env) for name, urls in config.roles.items()},
        switched_off=frozenset(event for event, on in config.events.items() if not on),
    )


def _channels(source: YamlSource, loc: Loc, urls: list[str], env: Mapping[str, str]) -> tuple[Channel, ...]:
    channels: dict[str, Channel] = {}
    for index, written in enumerate(urls):
        where = (*loc, index)
        substituted: list[str] = []
        url = expand_env(source, written, where, NotifyError, env=env, used=substituted).strip()
        try:
            channel = open_channel(written=written.strip(), url=url, substituted=substituted)
        except ValueError as err:
            raise source.error(NotifyError, where, str(err)) from None
        channels.setdefault(channel.fingerprint, channel)  # the same URL twice is one channel
    return tuple(channels.values())
