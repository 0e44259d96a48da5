"""Which system of record serves each charter action, and whether that fits the charter.

The charter (the signed governance document) names actions, their preconditions and the events that end
their reversals; which system carries each action out is deployment configuration (`CXGOV_SYSTEMS`). A worker
does not start unless the two fit: "no document update, no ship".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cxgov.charter.models import Charter
from cxgov.connectors.protocol import Connector, SystemOfRecord
from cxgov.errors import NotFound


class Systems:
    """The binding of charter actions to the systems of record that serve them.

    Args:
        by_action: The system serving each action.
    """

    def __init__(self, by_action: Mapping[str, SystemOfRecord]) -> None:
        self._by_action = MappingProxyType(dict(by_action))

    @classmethod
    def serving(cls, system: SystemOfRecord, actions: Iterable[str] | None = None) -> Systems:
        """`system` serving `actions`, or every action it has a connector for."""
        return cls({action: system for action in (system.connectors if actions is None else actions)})

    @property
    def actions(self) -> Mapping[str, SystemOfRecord]:
        """The system serving each bound action."""
        return self._by_action

    def system(self, action: str) -> SystemOfRecord:
        """The system serving `action`.

        Raises:
            NotFound: No system is bound to `action`.
        """
        found = self._by_action.get(action)
        if found is None:
            raise NotFound(f"no system of record serves action {action!r}; bind it in the systems file (CXGOV_SYSTEMS)")
        return found

    def connector(self, action: str) -> Connector:
        """The connector carrying out `action`.

        Raises:
            NotFound: No system is bound to `action`, or its system has no connector for it.
        """
        system = self.system(action)
        found = system.connectors.get(action)
        if found is None:
            raise NotFound(f"system {system.name} has no connector for action {action!r}")
        return found

    def describe(self) -> list[str]:
        """One line per system: what it is and the actions it serves."""
        served: dict[int, tuple[SystemOfRecord, list[str]]] = {}
        for action, system in self._by_action.items():
            served.setdefault(id(system), (system, []))[1].append(action)
        return [f"{', '.join(actions)} -> {system.description}" for system, actions in served.values()]

    def problems(self, charter: Charter) -> list[str]:
        """Every way the binding and the charter do not fit, one line each, naming the action."""
        found: list[str] = []
        where = f"charter {charter.charter} v{charter.version}"
        for action, definition in charter.actions.items():
            system = self._by_action.get(action)
            if system is None:
                found.append(f"action {action}: no system of record serves it; bind it in the systems file")
                continue
            connector = system.connectors.get(action)
            if connector is None:
                offered = ", ".join(sorted(system.connectors)) or "none"
                found.append(f"action {action}: system {system.name} has no connector for it (it has: {offered})")
                continue
            for name in definition.preconditions:
                if name not in connector.preconditions:
                    can = ", ".join(sorted(connector.preconditions)) or "none"
                    found.append(
                        f"action {action}: system {system.name} cannot check precondition {name} (it can check: {can})"
                    )
            until = definition.reversal.until
            if until is not None and until not in system.until_events:
                can = ", ".join(sorted(system.until_events)) or "none"
                found.append(
                    f"action {action}: system {system.name} cannot tell until event {until} (it can tell: {can})"
                )
        for action, system in self._by_action.items():
            if action not in charter.actions:
                found.append(f"action {action}: bound to system {system.name}, but {where} does not declare it")
        return found

    def close(self) -> None:
        """Close every bound system once."""
        closed: set[int] = set()
        for system in self._by_action.values():
            if id(system) not in closed:
                closed.add(id(system))
                system.close()
