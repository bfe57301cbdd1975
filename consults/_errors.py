"""Errors of the consults package, under eldercare's tree::

EldercareError
└── ConsultsError          a consult or referral request that cannot be carried out
    ├── IllegalTransition  a status move the FHIR Task state machine does not allow
    ├── NotFound           no such consult, referral, resident or site
    └── NetworkRuleError   the care network does not allow it (no route, wrong tier, no alliance)
"""

from __future__ import annotations

from collections.abc import Sequence

from eldercare.errors import EldercareError


class ConsultsError(EldercareError):
    """A consult or referral request that cannot be carried out."""


class IllegalTransition(ConsultsError):
    """A status move the state machine refuses; says the current state and the allowed moves."""

    def __init__(
        self,
        *,
        entity: str,
        entity_id: str,
        current: str,
        target: str,
        allowed: Sequence[str],
    ) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)
        moves = ", ".join(str(a) for a in self.allowed) or "none (final state)"
        super().__init__(
            f"{entity} {entity_id} is '{current}'; cannot move to '{target}'. "
            f"Allowed from '{current}': {moves}"
        )


class NotFound(ConsultsError):
    """No such consult, referral, resident or site."""


class NetworkRuleError(ConsultsError):
    """The care network does not allow the request."""
