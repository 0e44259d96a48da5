"""Sending a notice: its targets from the notification file, each channel once, every outcome recorded.

A failure to notify never blocks an action: `send` returns failures instead of raising them, and records
them, so that `gaps` can say who was not told. Notifications off (no notification file) is a choice, not a
failure: nothing is sent and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from cxgov.audit.database import to_db_time
from cxgov.notify.channels import DEFAULT_TIMEOUT, Channel, deliver
from cxgov.notify.ledger import NO_CHANNEL, Claim, DeliveryLedger, Slot
from cxgov.notify.models import WARNING_EVENTS, Delivery, Notice, NoticeFailure
from cxgov.notify.routes import NotifyRoutes

MAX_PARALLEL = 8
"""Channels one notice is sent to at the same time."""
NOBODY = "nobody"
"""The target of a notice that names no recipient at all: recorded as a failure, since nobody was told."""


@dataclass(frozen=True)
class _Target:
    name: str
    """`person:maria` or `role:support-leads`."""
    channels: tuple[Channel, ...]
    problem: str | None = None
    """Why nobody can be told through this target (no route); None when it has channels."""


class Notifier:
    """Sends notices through Apprise, once per notice key and target channel, and lists who was not told.

    Args:
        routes: The loaded notification file; None: notifications are off.
        database_url: Where the delivery ledger lives: the audit archive's database (SQLite file or PostgreSQL).
        public_url: The console's base URL; each message ends with the link to the action's page
            (`{public_url}/actions/{action_id}`, or `{public_url}/drills`). None: no link.
        members: role -> the role's people, from the live charter; None: a role is reached only through its
            own route.
        timeout: Seconds each channel may take; one `send` takes about that long at most.
    """

    def __init__(
        self,
        routes: NotifyRoutes | None,
        *,
        database_url: str,
        public_url: str | None,
        members: Callable[[str], list[str]] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.routes = routes
        self.public_url = public_url.rstrip("/") if public_url else None
        self.members = members
        self.timeout = timeout
        self.lease = timedelta(seconds=2 * timeout + 10)
        """How long a claim holds: beyond it, a sender is taken to have stopped mid-send."""
        self.ledger = DeliveryLedger(database_url)

    def close(self) -> None:
        self.ledger.close()

    def send(self, notice: Notice, *, now: datetime) -> list[Delivery]:
        """Send `notice` to every target that has not had it yet; one Delivery per target channel.

        A target already reached for `notice.key` is skipped (ok, `skipped`); a failed send is recorded and
        sent again by the next `send` of the same key; a target without a route is a recorded failure. With
        notifications off, or the event switched off in the file, nothing is sent or recorded: [].

        Raises:
            Only when the ledger's database cannot be reached (the calling activity is retried then); never
            for a delivery that failed.
        """
        if self.routes is None or not self.routes.sends(notice.event):
            return []
        now = to_db_time(now)
        targets = self._targets(notice)
        results = self._unrouted(notice, targets, now=now)
        channels = {(target.name, channel.fingerprint): channel for target in targets for channel in target.channels}
        slots = [
            Slot(target=name, channel=fingerprint, scheme=channels[name, fingerprint].scheme)
            for name, fingerprint in channels
        ]
        claims = self.ledger.claim(notice=notice, slots=slots, now=now, lease=self.lease) if slots else []
        results |= {_slot(claim): _not_sent(claim) for claim in claims if claim.verdict != "send"}
        to_send = [(claim, channels[_slot(claim)]) for claim in claims if claim.verdict == "send"]
        if to_send:
            outcomes = self._deliver(notice, to_send)
            self.ledger.settle(key=notice.key, outcomes=outcomes, now=now)
            results |= {
                _slot(claim): Delivery(
                    target=claim.slot.target, ok=error is None, error=error, channel=claim.slot.scheme
                )
                for claim, error in outcomes
            }
        order = [
            (target.name, channel.fingerprint if channel is not None else NO_CHANNEL)
            for target in targets
            for channel in (target.channels or (None,))
        ]
        return [results[slot] for slot in order if slot in results]

    def _unrouted(self, notice: Notice, targets: list[_Target], *, now: datetime) -> dict[tuple[str, str], Delivery]:
        """Record each target without a route as a failure (unless it was told before, on a route since gone)."""
        results: dict[tuple[str, str], Delivery] = {}
        for target in targets:
            if target.problem is None:
                continue
            recorded = self.ledger.no_route(notice=notice, target=target.name, error=target.problem, now=now)
            results[(target.name, NO_CHANNEL)] = (
                Delivery(target=target.name, ok=False, error=target.problem)
                if recorded
                else Delivery(target=target.name, ok=True, skipped=True)
            )
        return results

    def failures(
        self, *, since: datetime | None = None, now: datetime | None = None, limit: int = 1000
    ) -> list[NoticeFailure]:
        """Notices that reached a target on none of its channels, and have not reached it since, newest first.

        For `gaps` ("nobody was told"). A send that stopped midway (its worker died) counts once its claim is
        older than the lease. A target reached on one of its channels counts as told.

        Args:
            since: Only failures whose last attempt is at or after this time.
            now: The current time (default: the clock), to tell a stopped send from a running one.
        """
        current = to_db_time(now) if now is not None else datetime.now(UTC)
        return self.ledger.failures(since=since, now=current, lease=self.lease, limit=limit)

    def link(self, notice: Notice) -> str | None:
        """The console page a notice links to, or None without a public URL."""
        if self.public_url is None:
            return None
        if notice.action_id is None:
            return f"{self.public_url}/drills"
        return f"{self.public_url}/actions/{quote(notice.action_id, safe='')}"

    def body(self, notice: Notice) -> str:
        """The message text: the notice's body and the link to its console page."""
        link = self.link(notice)
        text = notice.body.rstrip()
        return f"{text}\n\n{link}" if link else text

    def _targets(self, notice: Notice) -> list[_Target]:
        """People first, then roles (each role's own channel, then its people); each target once; `nobody`
        when the notice names no one."""
        assert self.routes is not None
        routes = self.routes
        found: dict[str, _Target] = {}

        def add(target: _Target) -> None:
            found.setdefault(target.name, target)

        for person in dict.fromkeys(notice.people):
            add(_Target(f"person:{person}", routes.person(person), _no_route(routes.person(person), person)))
        for role in dict.fromkeys(notice.roles):
            own = routes.role(role)
            if own:
                add(_Target(f"role:{role}", own))
            try:
                people = list(self.members(role)) if self.members is not None else []
            except Exception as err:  # the charter lookup failed: the role's people are unknown, not untold
                people = []
                if not own:
                    add(_Target(f"role:{role}", (), f"cannot list the people of role {role}: {err}"))
            for person in people:
                channels = routes.person(person)
                if channels or not own:  # a role with its own channel covers its people without one
                    add(_Target(f"person:{person}", channels, _no_route(channels, person, role)))
            if not own and not people:
                add(_Target(f"role:{role}", (), f"no route for role {role}, and none for any of its people"))
        if not found:
            add(_Target(NOBODY, (), "the notice names no person and no role"))
        return list(found.values())

    def _deliver(self, notice: Notice, work: list[tuple[Claim, Channel]]) -> list[tuple[Claim, str | None]]:
        body = self.body(notice)
        warning = notice.event in WARNING_EVENTS

        def one(item: tuple[Claim, Channel]) -> tuple[Claim, str | None]:
            claim, channel = item
            error = deliver(channel, title=notice.subject, body=body, warning=warning, timeout=self.timeout)
            return claim, error

        if len(work) == 1:
            return [one(work[0])]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(work)), thread_name_prefix="cxgov-notify") as pool:
            return list(pool.map(one, work))


def _slot(claim: Claim) -> tuple[str, str]:
    return claim.slot.target, claim.slot.channel


def _not_sent(claim: Claim) -> Delivery:
    """A slot that is not sent now: delivered before (ok, skipped), or being sent by another sender."""
    if claim.verdict == "delivered":
        return Delivery(target=claim.slot.target, ok=True, channel=claim.slot.scheme, skipped=True)
    since = claim.since.isoformat(timespec="seconds") if claim.since else "now"
    return Delivery(
        target=claim.slot.target,
        ok=False,
        channel=claim.slot.scheme,
        error=f"another sender has been sending it since {since}",
    )


def _no_route(channels: tuple[Channel, ...], person: str, role: str | None = None) -> str | None:
    if channels:
        return None
    return f"no route for person {person}" + (f" (role {role})" if role else "")
