"""Policy decisions: pure functions from charter, request and system-of-record facts to a decision."""

from cxgov.policy.decide import BudgetState, DrillState, Facts, Screened, decide, digest, screen
from cxgov.policy.params import check_request_shape, validate_params

__all__ = [
    "BudgetState",
    "DrillState",
    "Facts",
    "Screened",
    "check_request_shape",
    "decide",
    "digest",
    "screen",
    "validate_params",
]
