"""The authorize activity: load the signed charter, gather facts from the system of record, decide."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity

from cxgov.budgets import BudgetLedger
from cxgov.charter import Charter, CharterCache
from cxgov.charter.shadow import ShadowGate
from cxgov.connectors import Systems
from cxgov.drills.ledger import DrillGate
from cxgov.errors import CxgovError, SystemUnavailable
from cxgov.identity.signing import action_payload, override_payload, seal, verify
from cxgov.killswitch import FreezeBook
from cxgov.overrides import OVERRIDE_RULE, grant_refusal, overridden
from cxgov.policy import BudgetState, Facts, decide, digest, screen
from cxgov.settings import COMPENSATION_ATTEMPTS
from cxgov.wire import (
    ActionRequest,
    ApprovalPhase,
    ApprovalPlan,
    Approver,
    AuthorizeInput,
    AuthorizeResult,
    ConnectorCall,
    Decision,
    Outcome,
)

UNAVAILABLE_ATTEMPTS = 3
"""Authorize asks a system of record that does not answer this many times, then denies: deny by default."""


class AuthorizeActivities:
    """Decides requests against the charter file and the systems of record that serve its actions."""

    def __init__(
        self,
        *,
        charters: CharterCache,
        systems: Systems,
        step_timeout_seconds: float = 10.0,
        compensation_attempts: int = COMPENSATION_ATTEMPTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        drills: DrillGate | None = None,
        budgets: BudgetLedger | None = None,
        trusted_keys: dict[str, str] | None = None,
        seal_secret: bytes = b"",
        shadow: ShadowGate | None = None,
        freezes: FreezeBook | None = None,
    ) -> None:
        self.charters = charters
        self.freezes = freezes
        """The kill switch, read before every decision (rule 0-frozen); None leaves freezes out (tests only)."""
        self.shadow = shadow
        """The shadow candidate, decided beside the live charter without effect; None leaves shadow mode out."""
        self.trusted_keys = dict(trusted_keys or {})
        """key id -> base64 public key of each cxgov server whose signature counts; none: nothing counts."""
        self.seal_secret = seal_secret
        """The workers' shared secret sealing each allowed call for the effect activities."""
        self.systems = systems
        self.drills = drills
        """Drill state for rule 5; None leaves it out (a worker without a drill ledger)."""
        self.budgets = budgets
        """Budget reservations for rule 4; None leaves budgets out (a worker without a budget ledger)."""
        self.step_timeout_seconds = step_timeout_seconds
        self.compensation_attempts = compensation_attempts
        self.clock = clock

    @activity.defn(name="authorize")
    def authorize(self, input: AuthorizeInput) -> AuthorizeResult:
        """Decide one request (rules 1-6). Anything that stops a decision is a deny: deny by default.

        The decision carries the charter's version and sha256. With a shadow candidate running, the candidate
        decides the same request too, without any effect, and both decisions are recorded for `shadow report`.
        """
        request = input.request
        try:
            loaded = self.charters.loaded()
        except CxgovError as err:
            return self._result(request, _deny("0-charter-unavailable", f"the charter does not load: {err}"))
        gathered: list[tuple[Facts, tuple[str, ...]]] = []
        result = self._authorize(request, loaded.charter, gathered)
        result.decision = result.decision.model_copy(update={"charter_sha256": loaded.sha256})
        if self.shadow is not None and result.decision.rule not in ("0-unauthenticated", "0-frozen"):
            self._shadow(request, result.decision, gathered)
        return result

    def _authorize(
        self, request: ActionRequest, charter: Charter, gathered: list[tuple[Facts, tuple[str, ...]]]
    ) -> AuthorizeResult:
        unsigned = verify(
            request.assertion,
            action_payload(request),
            principal=request.actor,
            trusted=self.trusted_keys,
        )
        if unsigned is not None:
            denial = _deny("0-unauthenticated", f"request refused: {unsigned}", version=charter.version)
            return self._result(request, denial, charter=charter)
        frozen = self._frozen(request, charter)
        if frozen is not None:
            return self._result(request, frozen, charter=charter)
        now = self.clock()
        today = now.date()
        reserved = False
        try:
            screened = screen(charter, request, today=today)
            if isinstance(screened, Decision):
                return self._result(request, screened, charter=charter)
            definition = charter.actions[request.action]
            call = ConnectorCall(
                action_id=request.action_id,
                action=request.action,
                customer=request.customer,
                params=screened.params,
                preconditions=list(definition.preconditions),
            )
            system = self.systems.system(request.action)
            connector = self.systems.connector(request.action)
            drill = None
            if self.drills is not None and definition.reversal.kind != "irreversible":
                drill = self.drills.state(action=request.action, max_age=charter.drills.max_age)
            facts = Facts(
                segment=system.segment(request.customer),
                blockers=connector.check(call, preconditions=definition.preconditions, now=now),
                drill=drill,
            )
            gathered.append((facts, tuple(definition.preconditions)))
            typed = request.model_copy(update={"params": screened.params})
            decision = decide(charter, typed, facts, today=today)
            if request.override is not None:
                decision = self._override(typed, charter, decision, blocked=bool(facts.blockers))
            budget = screened.grant.budget
            # An override acts outside the grant's budget: nothing is reserved, and nothing is released after.
            metered = decision.outcome != Outcome.DENY and decision.rule != OVERRIDE_RULE
            if self.budgets is not None and budget is not None and metered:
                exhausted = self.budgets.reserve(
                    action_id=request.action_id,
                    actor=request.actor,
                    action=request.action,
                    amount=screened.amount,
                    budget=budget,
                    now=now,
                )
                if exhausted is None:
                    reserved = True
                else:
                    facts = replace(facts, budget=BudgetState(exhausted_reason=exhausted))
                    gathered[-1] = (facts, gathered[-1][1])
                    decision = decide(charter, typed, facts, today=today)
            snapshot = connector.snapshot(call) if decision.outcome == Outcome.ALLOW else None
        except CxgovError as err:
            # Bad params that slipped past the client (or a charter changed in between), no connector, a system
            # of record that stays down, ...
            if reserved and self.budgets is not None:
                self.budgets.release(action_id=request.action_id, now=now)
            if isinstance(err, SystemUnavailable) and activity.info().attempt < UNAVAILABLE_ATTEMPTS:
                raise  # retried by the local activity's retry policy
            rule = "2-bad-params" if err.exit_code == 2 else "4-system-of-record"
            decision = _deny(rule, str(err), version=charter.version)
            return self._result(request, decision, charter=charter)
        except SQLAlchemyError as err:
            # The budget or drill ledger (the audit database) cannot be read: never decide without them. Retried
            # (a reservation made before the failure is found again, not made twice), then denied.
            if activity.info().attempt < UNAVAILABLE_ATTEMPTS:
                raise SystemUnavailable(f"the audit database cannot be reached: {type(err).__name__}") from None
            if reserved and self.budgets is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self.budgets.release(action_id=request.action_id, now=now)
            reason = (
                f"the budget and drill ledgers cannot be read ({type(err).__name__}): denied until the audit "
                "database is back (deny by default)"
            )
            return self._result(
                request, _deny("0-ledger-unavailable", reason, version=charter.version), charter=charter
            )
        result = self._result(typed, decision, charter=charter, amount=screened.amount)
        result.snapshot = snapshot
        result.preconditions = list(definition.preconditions)
        if decision.outcome != Outcome.DENY:
            result.seal = seal(self.seal_secret, call)
        result.budget_reserved = reserved
        return result

    def _frozen(self, request: ActionRequest, charter: Charter) -> Decision | None:
        """The 0-frozen denial when a freeze covers the request; fails closed when the freezes cannot be read."""
        if self.freezes is None:
            return None
        try:
            freeze = self.freezes.covering(actor=request.actor, action=request.action)
        except SQLAlchemyError as err:
            if activity.info().attempt < UNAVAILABLE_ATTEMPTS:
                raise SystemUnavailable(f"the kill switch cannot be read: {type(err).__name__}") from None
            reason = f"the kill switch cannot be read ({type(err).__name__}): denied until it can be"
            return _deny("0-kill-switch-unknown", reason, version=charter.version)
        return None if freeze is None else _deny("0-frozen", freeze.sentence(), version=charter.version)

    def _override(self, request: ActionRequest, charter: Charter, decision: Decision, *, blocked: bool) -> Decision:
        """A break-glass request: the person's signed grant turns an overridable deny into an allow (0-override)."""
        grant = request.override
        assert grant is not None
        payload = override_payload(
            action_id=request.action_id, of_action=grant.of_action, person=grant.person, reason=grant.reason
        )
        unsigned = verify(grant.assertion, payload, principal=grant.person, trusted=self.trusted_keys)
        if unsigned is not None:
            return _deny("0-unauthenticated", f"override refused: {unsigned}", version=charter.version)
        if decision.outcome != Outcome.DENY:
            note = f"the override by {grant.person} was not needed: decided as any request"
            return decision.model_copy(update={"reasons": [*decision.reasons, note]})
        refusal = grant_refusal(charter, request, decision, person=grant.person, blocked=blocked)
        if refusal is not None:
            note = f"the override by {grant.person} does not apply: {refusal}"
            return decision.model_copy(update={"reasons": [*decision.reasons, note]})
        return overridden(decision, person=grant.person, reason=grant.reason)

    def _shadow(self, request: ActionRequest, live: Decision, gathered: list[tuple[Facts, tuple[str, ...]]]) -> None:
        """Decide `request` against the shadow candidate too and record both decisions. Nothing here can change
        the live decision: every failure is recorded as the candidate's `error` and otherwise ignored."""
        assert self.shadow is not None
        try:
            active = self.shadow.active()
            if active is None:
                return
            candidate_id, candidate = active
            try:
                shadow: Decision | None = self._shadow_decision(request, candidate.charter, gathered)
                failure = None
            except Exception as err:  # the candidate could not decide: recorded, never raised
                shadow, failure = None, f"{type(err).__name__}: {err}"
            self.shadow.ledger.record(
                candidate_id=candidate_id,
                action_id=request.action_id,
                actor=request.actor,
                action=request.action,
                live=live,
                shadow=shadow,
                failure=failure,
                now=self.clock(),
            )
        except Exception as err:  # the shadow ledger is unreachable: the live decision stands regardless
            activity.logger.warning("shadow evaluation of %s failed: %s", request.action_id, err)

    def _shadow_decision(
        self, request: ActionRequest, candidate: Charter, gathered: list[tuple[Facts, tuple[str, ...]]]
    ) -> Decision:
        """The candidate's decision, with no effect: facts the live decision gathered are reused (its budget
        state included: the candidate never reserves), and missing ones are only read."""
        now = self.clock()
        today = now.date()
        try:
            screened = screen(candidate, request, today=today)
            if isinstance(screened, Decision):
                return screened
            definition = candidate.actions[request.action]
            typed = request.model_copy(update={"params": screened.params})
            live_facts, live_preconditions = gathered[0] if gathered else (None, ())
            if live_facts is not None and live_preconditions == tuple(definition.preconditions):
                segment, blockers, budget = live_facts.segment, live_facts.blockers, live_facts.budget
            else:
                call = ConnectorCall(
                    action_id=request.action_id,
                    action=request.action,
                    customer=request.customer,
                    params=screened.params,
                    preconditions=list(definition.preconditions),
                )
                segment = self.systems.system(request.action).segment(request.customer)
                connector = self.systems.connector(request.action)
                blockers = connector.check(call, preconditions=definition.preconditions, now=now)
                budget = live_facts.budget if live_facts is not None else None
            drill = None
            if self.drills is not None and definition.reversal.kind != "irreversible":
                drill = self.drills.state(action=request.action, max_age=candidate.drills.max_age)
            facts = Facts(segment=segment, blockers=blockers, budget=budget, drill=drill)
            return decide(candidate, typed, facts, today=today)
        except CxgovError as err:
            if err.exit_code != 2:
                raise
            return _deny("2-bad-params", str(err), version=candidate.version)

    @activity.defn(name="frozen")
    def frozen(self, request: ActionRequest) -> Decision | None:
        """Read the kill switch again for an approved action, just before it executes: a freeze set while it
        waited denies it (0-frozen). Unreadable freezes fail closed, as for a decision."""
        try:
            charter = self.charters.get()
        except CxgovError as err:
            return _deny("0-charter-unavailable", f"the charter does not load: {err}")
        return self._frozen(request, charter)

    @activity.defn(name="release_budget")
    def release_budget(self, action_id: str) -> bool:
        """Give back the budget share of an action that ended without its effect."""
        return self.budgets.release(action_id=action_id, now=self.clock()) if self.budgets is not None else False

    def _result(
        self,
        request: ActionRequest,
        decision: Decision,
        *,
        charter: Charter | None = None,
        amount: Decimal | None = None,
    ) -> AuthorizeResult:
        version = charter.version if charter is not None else 0
        result = AuthorizeResult(
            decision=decision,
            digest=digest(request, charter_version=version),
            params=dict(request.params),
            step_timeout_seconds=self.step_timeout_seconds,
            compensation_attempts=self.compensation_attempts,
            trusted_keys=self.trusted_keys,
        )
        if charter is None or request.action not in charter.actions:
            return result
        action = charter.actions[request.action]
        result.amount = amount
        result.currency = charter.currency
        actor = charter.actors.get(request.actor)
        result.actor_kind = actor.kind if actor is not None else ("person" if request.actor in charter.people else None)
        if actor is not None:
            result.requester_owner = actor.owner
        elif result.actor_kind == "person":
            result.requester_owner = request.actor
        owner = action.reversal.owner
        result.reversal_owner = owner
        result.reversal_owner_people = charter.active_members(owner) if owner else []
        if decision.outcome == Outcome.ESCALATE and action.approval is not None:
            result.approval = _plan(charter, request.action, amount=result.amount)
        return result


def _plan(charter: Charter, action: str, *, amount: Decimal | None) -> ApprovalPlan:
    approval = charter.actions[action].approval
    assert approval is not None
    phases = [
        ApprovalPhase(
            role=phase.role,
            people=[Approver(person=name, approve_limit=limit) for name, limit in phase.approvers],
            coverage_for=phase.covering,
        )
        for phase in charter.ladder(action) or []
    ]
    return ApprovalPlan(
        phases=phases,
        step_timeout_seconds=approval.step_timeout.total_seconds(),
        on_timeout=approval.on_timeout,
        amount=amount,
    )


def _deny(rule: str, reason: str, *, version: int | None = None) -> Decision:
    return Decision(outcome=Outcome.DENY, rule=rule, reasons=[reason], charter_version=version)
