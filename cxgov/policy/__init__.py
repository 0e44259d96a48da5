"""Policy decisions: pure functions from charter, request and system-of-record facts to a decision."""

from cxgov.policy.decide import BudgetState, DrillState, Facts, Screened, decide, digest, screen
from cxgov.policy.params import check_request_shape, validate_params
from cxgov.policy.reversal import ReversalVerdict, decide_reversal

__all__ = [
    "BudgetState",
    "DrillState",
    "Facts",
    "ReversalVerdict",
    "Screened",
    "check_request_shape",
    "decide",
    "decide_reversal",
    "digest",
    "screen",
    "validate_params",
]
