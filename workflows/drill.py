"""The reversal drill workflow: on a fresh fixture in the action's system sandbox, execute the action, verify
it, undo it, and prove what it touched is exactly as before. Started by the `drill-<action>` schedule or
`cxgov drills run`."""

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from cxgov.notices import drill_failed_notice
    from cxgov.notify.models import Notice
    from cxgov.snapshots import describe_differences
    from cxgov.summaries import drill_details
    from cxgov.wire import (
        ConnectorCall,
        DrillInput,
        DrillPlan,
        DrillResult,
        DrillStepInput,
        DrillStepResult,
        DrillWatchInput,
        StepRecord,
    )
    from workflows.notice import NOTIFY, tell

QUICK = timedelta(seconds=60)
Step = Literal["execute", "verify", "compensate", "snapshot"]


@workflow.defn(name="drill")
class DrillWorkflow:
    """One reversal drill of one action."""

    @workflow.run
    async def run(self, input: DrillInput) -> DrillResult:
        started = workflow.now()
        info = workflow.info()
        plan: DrillPlan = await workflow.execute_activity(
            "drill_prepare", input, result_type=DrillPlan, start_to_close_timeout=QUICK
        )
        steps: list[StepRecord] = []
        failing: tuple[str, str] | None = None
        if plan.problem is not None or plan.call is None:
            failing = ("prepare", plan.problem or "no drill call")
        else:
            call = plan.call
            for step in ("execute", "verify", "compensate"):
                done = await self._step(plan, call, step)
                steps.append(StepRecord(step=step, ok=done.ok, summary=done.summary, at=workflow.now()))
                if not done.ok:
                    failing = (step, done.summary)
                    break
                if done.record is not None:  # what execute recorded: how verify and compensate find the effect
                    call = call.model_copy(update={"effect": done.record})
            if failing is None:
                after = await self._step(plan, call, "snapshot")
                differs = describe_differences(plan.before, after.world) if after.ok else after.summary
                ok = after.ok and not differs
                summary = (
                    "the sandbox equals its snapshot" if ok else f"the sandbox differs from its snapshot: {differs}"
                )
                steps.append(StepRecord(step="verify_restored", ok=ok, summary=summary, at=workflow.now()))
                if not ok:
                    failing = ("verify_restored", summary)
        result = DrillResult(
            drill_id=f"{info.workflow_id}/{info.run_id}",
            action=input.action,
            charter_version=plan.charter_version,
            started=started,
            finished=workflow.now(),
            passed=failing is None,
            failing_step=failing[0] if failing else None,
            reason=failing[1] if failing else None,
            steps=steps,
            workspace=plan.workspace,
        )
        workflow.set_current_details(drill_details(result))
        await workflow.execute_activity(
            "drill_record",
            result,
            start_to_close_timeout=QUICK,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        if not result.passed and workflow.patched(NOTIFY):
            await tell(drill_failed_notice(result, owner_role=plan.owner_role))  # this undo is untrusted now
        return result

    async def _step(self, plan: DrillPlan, call: ConnectorCall, step: Step) -> DrillStepResult:
        result: DrillStepResult = await workflow.execute_activity(
            "drill_step",
            DrillStepInput(workspace=plan.workspace, call=call, step=step),
            result_type=DrillStepResult,
            start_to_close_timeout=timedelta(seconds=plan.step_timeout_seconds),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result


@workflow.defn(name="drills-watch")
class DrillWatchWorkflow:
    """Tells each reversible action's owners when its undo has gone unproven too long (the `drills-watch`
    schedule runs it hourly): once per overdue spell, however often it runs."""

    @workflow.run
    async def run(self, input: DrillWatchInput) -> int:
        notices: list[Notice] = await workflow.execute_activity(
            "overdue_drill_notices", input, result_type=list[Notice], start_to_close_timeout=QUICK
        )
        for notice in notices:
            await tell(notice)
        return len(notices)
