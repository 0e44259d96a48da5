"""Reversal drills: prove each reversible action's undo works, in its system's own sandbox, on a schedule."""

DRILL_PREFIX = "drill-"


def drill_schedule_id(action: str) -> str:
    """The Temporal Schedule id of an action's reversal drill (its runs get ids that start with it)."""
    return f"{DRILL_PREFIX}{action}"
