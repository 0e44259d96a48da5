"""Systems of record and connectors: the public extension point for governing your own systems.

- `SystemOfRecord` and `Connector` (`protocol`): what a system and one action's connector implement.
- `Systems` (`binding`): which system serves each charter action, and the problems that stop a worker.
- `load_systems` / `default_systems` (`config`): the systems file (`CXGOV_SYSTEMS`), or the built-in sandbox.
- `HttpSystem` (`http`): the declarative HTTP connector, for systems that only speak HTTP.

Connector steps take and return the wire models `ConnectorCall`, `EffectResult`, `VerifyResult` and
`CompensateResult`; refusals are `ConnectorRefused`, outages `SystemUnavailable` (both in `cxgov.errors`).
"""

from cxgov.connectors.binding import Systems
from cxgov.connectors.config import SystemContext, SystemFactory, default_systems, load_systems
from cxgov.connectors.protocol import Connector, DrillFixture, SystemOfRecord
from cxgov.errors import ConnectorRefused, SystemUnavailable
from cxgov.wire import CompensateResult, ConnectorCall, EffectResult, VerifyResult

__all__ = [
    "CompensateResult",
    "Connector",
    "ConnectorCall",
    "ConnectorRefused",
    "DrillFixture",
    "EffectResult",
    "SystemContext",
    "SystemFactory",
    "SystemOfRecord",
    "SystemUnavailable",
    "Systems",
    "VerifyResult",
    "default_systems",
    "load_systems",
]
