"""Compare connector snapshots: what differs between the pre-action state and the state now. Pure."""

from __future__ import annotations

from typing import Any

MAX_SHOWN = 3


def differences(before: Any, after: Any, *, path: str = "") -> list[str]:
    """Human-readable differences, `order.address: '1 Main St' -> '2 Side Rd'`; empty when equal."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            found += differences(before.get(key), after.get(key), path=f"{path}.{key}" if path else str(key))
        return found
    if before != after:
        return [f"{path or 'value'}: {before!r} -> {after!r}"]
    return []


def describe_differences(before: Any, after: Any) -> str:
    """At most three differences on one line, and how many more there are."""
    found = differences(before, after)
    shown = "; ".join(found[:MAX_SHOWN])
    return shown + (f"; and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else "")
