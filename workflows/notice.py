"""The notice workflow `notice-<key>`: tell people about one governance event, retried on its own schedule.

Workflows that have something to tell start one (through the start_notice activity) and go on: a slow or broken
channel never holds up an action, and the notice keeps retrying after the action has closed. Its id is the notice's key (action,
event, ladder phase), so each notice is started once however often its parent replays or retries.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from cxgov.notify.models import Delivery, Notice

NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=12,
    non_retryable_error_types=["NoRoute"],
)
"""About 40 minutes of retries for a channel that fails; a recipient without a route is not retried. Every failed
attempt is in the delivery ledger, and one that never succeeded shows in `gaps` (nobody was told)."""
NOTIFY = "notify"
"""Patch: action, reversal and drill workflows start a notice workflow for the events people must hear about."""


def notice_workflow_id(key: str) -> str:
    return f"notice-{key}"


@workflow.defn(name="notice")
class NoticeWorkflow:
    """One notice, delivered once per target by the notify activity (see activities.notify)."""

    @workflow.run
    async def run(self, notice: Notice) -> list[Delivery]:
        deliveries: list[Delivery] = await workflow.execute_activity(
            "notify",
            notice,
            result_type=list[Delivery],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=NOTICE_RETRY,
        )
        return deliveries


async def tell(notice: Notice) -> None:
    """Start `notice`'s own workflow (by the start_notice activity) and return once it has started, not once it
    is delivered. Not a child workflow: the notice outlives its parent, and nothing ties their histories."""
    await workflow.execute_activity(
        "start_notice",
        notice,
        result_type=bool,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
    )
