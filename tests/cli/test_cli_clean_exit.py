"""The real `cxgov` process exits cleanly with the exact code, run after run (TEMPORAL-NOTES trap 1).

A short script that used a Temporal client can abort or segfault at interpreter exit (sdk-python#300) in
5-45 % of runs; `cxgov.cli.main` flushes and calls os._exit. Fifty runs in a row make a regression visible.
"""

from __future__ import annotations

from collections.abc import Callable

from clikit import CliStack, act, refund
from harness import Outcome

RUNS = 50

CHANGE_ADDRESS = act(
    "change_address",
    reason="customer moved",
    customer="C-300",
    channel="email",
    order_id="O-1003",
    address="7 Pine Rd, Capital City",
)


def test_fifty_real_runs_all_exit_with_the_expected_code(cli_stack: CliStack) -> None:
    last_action: list[str] = []

    def remember(outcome: Outcome) -> None:
        last_action.append(outcome.json()["action_id"])

    # (arguments, expected exit code, what to do with the outcome); the status step reads the last action.
    steps: list[tuple[Callable[[], tuple[str, ...]], int, Callable[[Outcome], None] | None]] = [
        (lambda: refund("1", sku="TEE-RED-M"), 0, remember),
        (lambda: ("status", last_action[-1], "--json"), 0, None),
        (lambda: ("approvals", "--json"), 0, None),
        (lambda: ("charter", "check"), 0, None),
        (lambda: CHANGE_ADDRESS, 0, remember),
        (lambda: ("approvals", "--as", "ana"), 0, None),
        (lambda: ("status", last_action[-1]), 0, None),
        (lambda: refund("500"), 3, None),
    ]
    failures: list[str] = []
    for run in range(RUNS):
        make_args, expected, then = steps[run % len(steps)]
        args = make_args()
        outcome = cli_stack.subprocess(*args)
        problems = []
        if outcome.code != expected:
            problems.append(f"exit {outcome.code}, expected {expected}")
        for sign in ("Traceback", "Segmentation", "PyGILState", "Fatal Python error", "Aborted"):
            if sign in outcome.err:
                problems.append(f"stderr shows {sign!r}")
        if problems:
            failures.append(f"run {run} `cxgov {' '.join(args)}`: {'; '.join(problems)}: {outcome.err[-300:]!r}")
        elif then is not None:
            then(outcome)
    assert not failures, "\n".join(failures)
    world = cli_stack.sandbox.world_snapshot()
    assert world["orders"]["O-1001"]["lines"]["TEE-RED-M"]["refunded"] == str(len(range(0, RUNS, len(steps))))
    assert world["orders"]["O-1003"]["address"] == "7 Pine Rd, Capital City"
