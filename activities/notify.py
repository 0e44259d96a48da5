"""The notify activity: tell people through the notification file's channels, once per notice and target.

Every failed delivery is recorded by the notifier (and `gaps` shows who was not told); the activity then fails,
so that the notice workflow retries the targets not yet reached, and only those.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from cxgov.notify import Delivery, Notice, Notifier
from workflows.notice import NoticeWorkflow, notice_workflow_id

MAX_SUMMARY = 200


class NotifyActivities:
    """Sends notices through `notifier`; None means notifications are off (every notice is a no-op)."""

    def __init__(
        self,
        notifier: Notifier | None,
        *,
        client: Client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.notifier = notifier
        self.client = client
        self.clock = clock

    @activity.defn(name="start_notice")
    async def start_notice(self, notice: Notice) -> bool:
        """Start the notice workflow `notice-<key>` on this task queue; False when it was started before."""
        try:
            await self.client.start_workflow(
                NoticeWorkflow.run,
                notice,
                id=notice_workflow_id(notice.key),
                task_queue=activity.info().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=notice.subject[:MAX_SUMMARY],
            )
        except WorkflowAlreadyStartedError:
            return False  # told already: a retried parent, or a second watch over the same overdue drill
        return True

    @activity.defn(name="notify")
    def notify(self, notice: Notice) -> list[Delivery]:
        """Send `notice` to every target not yet reached; raise while some target has not been reached, so the
        notice workflow retries (a target without a route is not retried: the file has to change)."""
        if self.notifier is None:
            return []
        deliveries = self.notifier.send(notice, now=self.clock())
        failed = [delivery for delivery in deliveries if not delivery.ok]
        if not failed:
            return deliveries
        told = ", ".join(f"{failure.target}: {failure.error}" for failure in failed)
        unroutable = all(failure.channel is None for failure in failed)
        raise ApplicationError(
            f"{notice.key} not delivered to {told}",
            type="NoRoute" if unroutable else "NotDelivered",
            non_retryable=unroutable,
        )
